"""The reconciler's entry point: one scheduled run over the open records (``domain/reconcile.py`` decides,
this applies). Bounded work per run (``limit`` records), idempotent (a repair is a conditional write or a
request the pipeline deduplicates), never a generate call. ``covers resume`` runs the same resume code."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from covers_core import log_context
from covers_core.domain import reconcile, resume
from covers_core.domain.budget import Usage
from covers_core.domain.model import CoverRecord, CoverRequest, Status, WorkflowInput
from covers_core.domain.names import execution_name, resumed_execution_name
from covers_core.domain.outcomes import Outcome
from covers_core.domain.reconcile import Repair, Timing
from covers_core.errors import CoverPipelineError, ErrorCode, EventClaimHeldError
from covers_core.logic.budget import BudgetGate
from covers_core.logic.finalize import Finalizer
from covers_core.logic.ports import RecordStore, RequestSink, WorkflowEngine
from covers_core.logic.resume import Resumer

log = logging.getLogger(__name__)

LOST_CLAIM = (
    "the start function stopped while calling generate and its message is gone: a credit may be spent and "
    "the cover task id is lost. Look for 'generate returned cover task' with this musicTaskId in the start "
    "function's log (or the vendor dashboard), then `covers resume <musicTaskId> --cover-task-id <id>`"
)


@dataclass
class ReconcileReport:
    examined: int = 0
    repaired: Counter[Repair] = field(default_factory=Counter)
    failed: int = 0
    truncated: bool = False  # more open records than one run may look at


class Reconciler:
    def __init__(
        self,
        store: RecordStore,
        workflows: WorkflowEngine,
        finalizer: Finalizer,
        requests: RequestSink,
        *,
        timing: Timing,
        interval_seconds: int,
        limit: int,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        budget: BudgetGate | None = None,
    ) -> None:
        self.store = store
        self.workflows = workflows
        self.finalizer = finalizer
        self.requests = requests
        self.resumer = Resumer(store, workflows, clock)
        self.timing = timing
        self.interval_seconds = interval_seconds
        self.limit = limit
        self.clock = clock
        self.budget = budget

    def run(self) -> ReconcileReport:
        now = self.clock()
        report = ReconcileReport()
        blocked: list[CoverRecord] = []
        parked: list[CoverRecord] = []  # BUDGET_EXCEEDED
        for record in self.store.open_records(
            now - timedelta(seconds=self.timing.min_age_seconds), self.limit + 1
        ):
            if report.examined == self.limit:
                report.truncated = True
                break
            report.examined += 1
            if record.status is Status.BLOCKED:
                blocked.append(record)
                continue
            if record.status is Status.BUDGET_EXCEEDED:
                parked.append(record)
                continue
            repair = reconcile.decide(record, now, self.timing, self._execution_status(record, now))
            if repair is not None:
                self._apply(repair, record, report)
        since = now - timedelta(seconds=self.interval_seconds)
        for record in reconcile.blocked_to_requeue(blocked, since):
            self._apply(Repair.REQUEUE, record, report)
        # Parked by a budget: the same canary rule, for those whose caps have room now (the window rolled
        # over or the cap was raised); the start function takes their budget again.
        read: dict[str, Usage] = {}  # each counter once per run
        fitting = [r for r in parked if self.budget is None or self._fits(r, now, read)]
        for record in reconcile.blocked_to_requeue(fitting, since):
            self._apply(Repair.REQUEUE, record, report)
        return report

    def _fits(self, record: CoverRecord, now: datetime, read: dict[str, Usage]) -> bool:
        assert self.budget is not None
        try:
            return self.budget.allows(record.metadata, now, read)
        except CoverPipelineError as exc:
            log.warning("could not read the credit budget: %s", exc.message)
            return False

    def _execution_status(self, record: CoverRecord, now: datetime) -> str | None:
        if not record.execution_arn or not reconcile.needs_execution_status(record, now, self.timing):
            return None
        return self.workflows.status(record.execution_arn) or resume.EXECUTION_GONE

    def _apply(self, repair: Repair, record: CoverRecord, report: ReconcileReport) -> None:
        with log_context.task(record.music_task_id, record.correlation_id):
            try:
                done = self._repair(repair, record)
            except CoverPipelineError as exc:
                report.failed += 1
                log.warning("repair %s failed: %s", repair, exc.message)
                return
            if done:
                report.repaired[repair] += 1
                log.info("repaired: %s", repair, extra={"repair": repair.value, "status": record.status})

    def _repair(self, repair: Repair, record: CoverRecord) -> bool:
        task = record.music_task_id
        if repair is Repair.PUBLISH_EVENT:
            try:
                return self.finalizer.publish_once(record)
            except EventClaimHeldError:
                return False  # its holder is alive after all, or the next run
        if repair is Repair.START_WORKFLOW:
            name = (
                execution_name(task)
                if not record.resume_count
                else resumed_execution_name(task, record.resume_count)
            )
            arn = self.workflows.start(
                WorkflowInput.for_record(record, resume.RESUME_FIRST_WAIT_SECONDS), name=name
            )
            self.store.record_execution(task, arn, self.clock())
            return True
        if repair is Repair.RESUME_WORKFLOW:
            self.resumer.resume(task)
            return True
        if repair is Repair.SETTLE_LOST_CLAIM:
            outcome = Outcome.failed(Status.NEEDS_ATTENTION, ErrorCode.COVER_TASK_ID_LOST, LOST_CLAIM)
            return self.finalizer.finish(task, outcome).status is Status.NEEDS_ATTENTION
        # Noted first, so the next run leaves it alone while the request is on its way (idempotent).
        if not self.store.touch(task, record.status, self.clock()):
            return False  # it moved on meanwhile
        self.requests.send(CoverRequest(task, record.correlation_id, record.metadata))
        return True
