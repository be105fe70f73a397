"""One cover request: claim, generate (once per music task), record the cover task id, start the workflow.
(The batch around it: ``covers_core.logic.batch``.) The decision table (docs/design.md, error taxonomy,
generate column):

* 200: store the cover task id at once, then start the workflow (idempotent by execution name).
* 400 "cover exists": REJECTED, unless an earlier attempt of ours may have spent the credit and lost
  the answer, in which case NEEDS_ATTENTION (an operator must look the cover up with the vendor).
* 401/402: BLOCKED, message kept for retry/redrive; the rest of the batch is parked without vendor calls.
* 404: retried through the queue ``not_found_attempts`` times, then REJECTED.
* transient: the claim is released (marked uncertain when the request may have been processed) and the
  message retried through the queue.

Credit budgets (docs/operations.md, "Credit budgets"), when a gate is given: after the claim and before
generate, one unit of each of the request's budgets is taken (one conditional write each) and noted on the
record, so a redelivery or a takeover does not take it again. A cap with no room parks the request as
BUDGET_EXCEEDED (no vendor call; the reconciler queues it again). The units are given back when the call
surely spent no credit (404, 401/402, a transient error that reached no vendor, 400 "cover exists" when no
earlier attempt may have spent one); they are kept when it may have (an ambiguous error, a crash).

The cover task id generate returns is logged at once (INFO, ``coverTaskId``) and stored before anything
else can fail; a store that keeps failing raises :class:`CoverTaskIdNotStoredError` carrying the id, and
the batch hands it on (an adoption message, or the DLQ copy) so nothing is paid for and lost.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from covers_core.domain import outcomes
from covers_core.domain.budget import Refused
from covers_core.domain.claim import Claim, Settled
from covers_core.domain.cost import LambdaShare, billed_ms
from covers_core.domain.model import CoverError, CoverRecord, CoverRequest, Status, WorkflowInput
from covers_core.domain.schedule import Plan
from covers_core.errors import (
    AwsTransientError,
    ClaimBusyError,
    CoverAlreadyExistsError,
    CoverTaskIdNotStoredError,
    ErrorCode,
    EventClaimHeldError,
    MusicTaskNotReadyError,
    RetryLaterError,
    VendorAmbiguousError,
    VendorBlockedError,
    VendorError,
    VendorNotFoundError,
    VendorTransientError,
)
from covers_core.logic.budget import BudgetGate
from covers_core.logic.finalize import Finalizer
from covers_core.logic.ports import RecordStore, Vendor, WorkflowEngine

log = logging.getLogger(__name__)
#: Pauses between the attempts to store a cover task id generate returned (then it is handed on).
STORE_PAUSES = (0.2, 1.0)
Action = Literal["started", "resumed", "duplicate", "rejected", "needs_attention", "budget_exceeded"]


@dataclass(frozen=True)
class Metering:
    """How a request's share of its start invocation's billed time is counted (docs/operations.md, "Cost
    per cover"): the function's memory size, how many requests the invocation runs side by side, and how
    many it runs in all (its share of the one Lambda request)."""

    memory_mb: int
    parallel: int = 1
    requests: int = 1

    def share(self, seconds: float) -> LambdaShare:
        """This request's share of ``seconds`` it took in its worker (from its claim to generate's answer)."""
        return LambdaShare(
            billed_ms(seconds / max(1, self.parallel)), self.memory_mb, 1 / max(1, self.requests)
        )


@dataclass(frozen=True)
class StartResult:
    music_task_id: str
    action: Action
    status: Status
    cover_task_id: str | None = None
    execution_arn: str | None = None
    #: The cap that parked it (action ``budget_exceeded``): one alarm data point per window and batch.
    refused: Refused | None = None

    @classmethod
    def of(cls, record: CoverRecord, action: Action) -> StartResult:
        return cls(record.music_task_id, action, record.status, record.cover_task_id, record.execution_arn)


class CoverStarter:
    """Starts one request. ``blocked`` (the refusal already seen in this batch) parks it as BLOCKED."""

    def __init__(
        self,
        store: RecordStore,
        vendor: Vendor,
        workflow: WorkflowEngine,
        finalizer: Finalizer,
        *,
        claim_lease_seconds: int,
        not_found_attempts: int,
        plan: Callable[[Mapping[str, Any]], Plan],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
        budget: BudgetGate | None = None,
    ) -> None:
        self.store = store
        self.vendor = vendor
        self.workflow = workflow
        self.finalizer = finalizer
        self.claim_lease_seconds = claim_lease_seconds
        self.not_found_attempts = not_found_attempts
        self.plan = plan  # the first wait and poll interval of a new cover, by its metadata (tenant)
        self.clock = clock
        self.sleep = sleep
        self.budget = budget

    def start(
        self,
        request: CoverRequest,
        *,
        blocked: VendorBlockedError | None = None,
        metering: Metering | None = None,
    ) -> StartResult:
        """Handle one request. ``metering``: how to count its share of the invocation's billed time (none:
        the record keeps no start share).

        Raises :class:`RetryLaterError`, :class:`VendorBlockedError` or :class:`VendorTransientError`
        when the message should stay on the queue."""
        began = self.clock()
        claim = self.store.claim(request, began, self.claim_lease_seconds)
        if isinstance(claim, Settled):
            return self._settled(claim.record)
        if blocked is not None:
            self.store.block(request.music_task_id, claim.token, _error(blocked), self.clock())
            raise type(blocked)(f"not calling the vendor: {blocked.message}")
        charged = claim.budget_charged
        if self.budget is not None and not charged:
            try:
                taken = self._charge(request, claim)
            except AwsTransientError as exc:  # no vendor call made: the next delivery may start it at once
                now = self.clock()
                self.store.release(
                    request.music_task_id, claim.token, uncertain=False, error=_error(exc), now=now
                )
                raise
            if isinstance(taken, Refused):
                return StartResult(
                    request.music_task_id, "budget_exceeded", Status.BUDGET_EXCEEDED, refused=taken
                )
            charged = taken
        return self._generate(request, claim, charged, lambda: _share(metering, began, self.clock()))

    def _charge(self, request: CoverRequest, claim: Claim) -> tuple[str, ...] | Refused:
        """Take the request's budget units and note them on the record, or park it BUDGET_EXCEEDED."""
        assert self.budget is not None
        task = request.music_task_id
        taken = self.budget.charge(request.metadata, self.clock())
        if isinstance(taken, Refused):
            log.warning("not calling the vendor: %s", taken.describe(), extra={"budget": taken.scope})
            error = CoverError.of(ErrorCode.BUDGET_EXCEEDED, taken.describe())
            self.store.block(task, claim.token, error, self.clock(), status=Status.BUDGET_EXCEEDED)
            return taken
        keys = tuple(counter.key() for counter in taken)
        # A write that fails leaves the units taken (a counter one high, never low); a lost claim gives
        # them back (its new holder takes its own).
        if not self.store.note_budget(task, claim.token, keys):
            self.budget.refund(keys)
            raise ClaimBusyError(f"music task {task} was claimed by another invocation meanwhile")
        return keys

    def _give_back(self, task: str, claim: Claim, charged: tuple[str, ...]) -> None:
        """Give the units back: the generate call surely spent no credit (nor, unless uncertain, an earlier
        one). The record forgets them first, while the claim is still ours; any failure keeps them."""
        if self.budget is None or not charged or claim.uncertain:
            return
        try:
            if not self.store.note_budget(task, claim.token, ()):
                return
        except AwsTransientError as exc:
            log.warning("keeping the budget units taken: %s", exc.message)
            return
        self.budget.refund(charged)

    def _generate(
        self,
        request: CoverRequest,
        claim: Claim,
        charged: tuple[str, ...] = (),
        share: Callable[[], LambdaShare | None] = lambda: None,
    ) -> StartResult:
        task = request.music_task_id
        try:
            cover_task_id = self.vendor.generate(task)
        except CoverAlreadyExistsError as exc:
            self._give_back(task, claim, charged)
            outcome = outcomes.cover_exists(exc.message, credit_uncertain=claim.uncertain)
            action: Action = "needs_attention" if outcome.status == Status.NEEDS_ATTENTION else "rejected"
            return StartResult.of(self.finalizer.finish(task, outcome, request=request), action)
        except VendorNotFoundError as exc:
            self._give_back(task, claim, charged)
            count = self.store.release(
                task, claim.token, uncertain=False, error=_error(exc), now=self.clock(), count_not_found=True
            )
            if count >= self.not_found_attempts:
                outcome = outcomes.music_task_unknown(exc.message, count)
                return StartResult.of(self.finalizer.finish(task, outcome, request=request), "rejected")
            raise MusicTaskNotReadyError(
                f"{exc.message} (attempt {count} of {self.not_found_attempts}; retrying later)"
            ) from exc
        except VendorBlockedError as exc:
            self._give_back(task, claim, charged)
            self.store.block(task, claim.token, _error(exc), self.clock())
            raise
        except VendorTransientError as exc:
            uncertain = isinstance(exc, VendorAmbiguousError)
            if not uncertain:
                self._give_back(task, claim, charged)
            self.store.release(task, claim.token, uncertain=uncertain, error=_error(exc), now=self.clock())
            raise
        # Anything else (a bug, a Lambda timeout) leaves the claim to lapse: the next holder treats the
        # credit as possibly spent.
        log.info("generate returned cover task %s", cover_task_id, extra={"coverTaskId": cover_task_id})
        record = self._keep(task, claim.token, cover_task_id, share())
        return self._start_workflow(record, "started")

    def _keep(
        self, music_task_id: str, token: str, cover_task_id: str, start_lambda: LambdaShare | None = None
    ) -> CoverRecord:
        """Store the cover task id, trying again briefly: a lost id means a paid cover nobody can find.
        Raises :class:`CoverTaskIdNotStoredError` (carrying the id) when every attempt failed."""
        for attempt, pause in enumerate((*STORE_PAUSES, None), start=1):
            try:
                return self.store.record_cover_task(
                    music_task_id, token, cover_task_id, self.clock(), start_lambda=start_lambda
                )
            except AwsTransientError as exc:
                if pause is None:
                    raise CoverTaskIdNotStoredError(
                        f"could not store cover task {cover_task_id} after {attempt} attempts: {exc.message}",
                        cover_task_id=cover_task_id,
                    ) from exc
                log.warning(
                    "storing cover task %s failed (attempt %d): %s", cover_task_id, attempt, exc.message
                )
                self.sleep(pause)
        raise AssertionError("unreachable")  # pragma: no cover

    def adopt(self, request: CoverRequest, cover_task_id: str) -> StartResult:
        """Store a cover task id that generate returned for ``request`` earlier but that its record could not
        keep then (the message carried it on), and start the workflow. Never calls generate."""
        record = self.store.adopt(request.music_task_id, cover_task_id, self.clock())
        if record is None:
            raise RetryLaterError(f"no record yet to adopt cover task {cover_task_id} into")
        if record.cover_task_id != cover_task_id:
            log.error(
                "not adopting cover task %s: the record is %s with cover task %s",
                cover_task_id,
                record.status,
                record.cover_task_id,
                extra={"coverTaskId": cover_task_id},
            )
            return StartResult.of(record, "duplicate")
        return self._settled(record)

    def _settled(self, record: CoverRecord) -> StartResult:
        if record.status == Status.IN_PROGRESS:
            if record.execution_arn:
                return StartResult.of(record, "duplicate")
            # Crashed after storing the cover task id: start (or find) the workflow, no new credit.
            return self._start_workflow(record, "resumed")
        # Terminal: nothing to do, but finish publishing if an earlier run crashed before it.
        try:
            self.finalizer.publish_once(record)
        except EventClaimHeldError as exc:  # its holder publishes, or the reconciler once it lapses
            log.info("not publishing: %s", exc.message)
        return StartResult.of(record, "duplicate")

    def _start_workflow(self, record: CoverRecord, action: Action) -> StartResult:
        plan = self.plan(record.metadata)
        arn = self.workflow.start(
            WorkflowInput.for_record(record, plan.first_wait, plan.poll_interval, plan.in_lambda)
        )
        self.store.record_execution(record.music_task_id, arn, self.clock())
        return StartResult.of(record.with_execution(arn), action)


def _share(metering: Metering | None, began: datetime, now: datetime) -> LambdaShare | None:
    return None if metering is None else metering.share((now - began).total_seconds())


def _error(exc: VendorError | AwsTransientError) -> CoverError:
    return CoverError.of(exc.code, exc.message)
