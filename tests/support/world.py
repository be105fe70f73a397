"""The pipeline's logic wired to in-memory fakes: what unit tests drive (no moto, no sockets).

One :class:`World` holds one of each fake, all recording into one journal and reading one clock, and builds
the logic objects as the composition roots (``covers_core/wiring``) do, with the template's defaults."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from covers_core.domain.budget import Caps
from covers_core.domain.model import CoverRecord, WorkflowInput
from covers_core.domain.reconcile import Timing
from covers_core.domain.schedule import ONE_CALL, InvocationPolling, Plan
from covers_core.errors import CoverNotReadyError
from covers_core.logic.batch import Message, StartBatch
from covers_core.logic.budget import BudgetGate
from covers_core.logic.check import CheckInput, CoverChecker
from covers_core.logic.finalize import Finalizer
from covers_core.logic.ports import Archiver
from covers_core.logic.reconcile import Reconciler
from covers_core.logic.start import CoverStarter

from covers_local.asl import Catch, Retry, TaskErrors, load_definition
from covers_local.fakes import (
    FakeClock,
    FakeDeadLetters,
    FakeEventBus,
    FakeRequestQueue,
    FakeVendor,
    FakeWorkflows,
    Journal,
    Killed,
    MemoryBudgets,
    MemoryRecordStore,
)

#: The template's defaults that the logic objects take as arguments.
CLAIM_LEASE_SECONDS = 120
NOT_FOUND_ATTEMPTS = 3
MAX_RECEIVES = 5
#: The reconciler's timing with the template's defaults (visibility 180 s x 5 receives + the lease).
TIMING = Timing(
    redelivery_seconds=180 * MAX_RECEIVES + CLAIM_LEASE_SECONDS,
    deadline_seconds=900,
    min_age_seconds=CLAIM_LEASE_SECONDS,
)
RECONCILE_INTERVAL_SECONDS = 300
DEADLINE, MAX_POLLS = 900, 500


@dataclass
class World:
    journal: Journal = field(default_factory=Journal)
    clock: FakeClock = field(default_factory=FakeClock)

    definition: dict[str, Any] = field(default_factory=load_definition)
    #: The first wait and poll interval the start function gives every cover.
    plan: Plan = field(default_factory=lambda: Plan(20, 3))
    #: The stack's credit budget caps (template parameters); None: no budget gate at all.
    budget_caps: Caps | None = None

    def __post_init__(self) -> None:
        self.store = MemoryRecordStore(self.journal)
        self.vendor = FakeVendor(self.journal, clock=self.clock.now)
        self.workflows = FakeWorkflows(self.journal)
        self.events = FakeEventBus(self.journal)
        self.requests = FakeRequestQueue(self.journal)
        self.dead_letters = FakeDeadLetters(self.journal)
        self.slept: list[float] = []
        self.budgets = MemoryBudgets(self.journal)
        self.gate = (
            BudgetGate(self.budgets, self.budget_caps, "tenant", cache_seconds=0, clock=self.clock.now)
            if self.budget_caps is not None
            else None
        )

    # --- the logic, wired -----------------------------------------------------------------------

    def finalizer(self, archiver: Archiver | None = None) -> Finalizer:
        return Finalizer(self.store, self.events, archiver=archiver, clock=self.clock.now)

    def starter(self) -> CoverStarter:
        return CoverStarter(
            self.store,
            self.vendor,
            self.workflows,
            self.finalizer(),
            claim_lease_seconds=CLAIM_LEASE_SECONDS,
            not_found_attempts=NOT_FOUND_ATTEMPTS,
            plan=lambda metadata: self.plan,
            clock=self.clock.now,
            sleep=self._sleep,
            budget=self.gate,
        )

    def batch(self, *, concurrency: int = 1) -> StartBatch:
        return StartBatch(
            self.starter(),
            self.dead_letters,
            reserve_seconds=23.05,
            concurrency=concurrency,
            requests=self.requests,
            max_receives=MAX_RECEIVES,
        )

    def reconciler(self, *, limit: int = 1000) -> Reconciler:
        return Reconciler(
            self.store,
            self.workflows,
            self.finalizer(),
            self.requests,
            timing=TIMING,
            interval_seconds=RECONCILE_INTERVAL_SECONDS,
            limit=limit,
            clock=self.clock.now,
            budget=self.gate,
        )

    def checker(self, polling: InvocationPolling = ONE_CALL) -> CoverChecker:
        return CoverChecker(
            self.vendor,
            deadline=DEADLINE,
            max_polls=MAX_POLLS,
            polling=polling,
            clock=self.clock.now,
            sleep=self._sleep,
        )

    def _sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.clock.advance(seconds)

    # --- driving it ------------------------------------------------------------------------------

    def deliver(self, *bodies: str, time_left: float = 30.0, receive_count: int = 1) -> list[str]:
        """One start invocation on a batch of message bodies; the message ids reported failed."""
        messages = [Message(f"m{i}", body, receive_count) for i, body in enumerate(bodies)]
        return self.batch().run(messages, time_left=lambda: time_left).failed

    def deliver_messages(self, *messages: Message, time_left: float = 30.0) -> list[str]:
        return self.batch().run(messages, time_left=lambda: time_left).failed

    def execution_input(self, music_task_id: str) -> WorkflowInput:
        name = next(n for n, (i, _) in self.workflows.executions.items() if i.music_task_id == music_task_id)
        return self.workflows.executions[name][0]

    def check_state(self, music_task_id: str) -> dict[str, Any]:
        return self.execution_input(music_task_id).to_state()

    def check_until_done(
        self, state: dict[str, Any], polling: InvocationPolling = ONE_CALL
    ) -> dict[str, Any]:
        """The poll loop as the state machine runs it: the check again after each not-ready error's
        cadence (``attempt``: ``$$.State.RetryCount``), until it returns; the state with ``check`` set."""
        attempt = 0
        while True:
            try:
                result = self.checker(polling).check(CheckInput.from_state({**state, "attempt": attempt}))
            except CoverNotReadyError as exc:
                self.clock.advance(exc.cadence)
                attempt += 1
                continue
            return {**state, "check": result.to_state()}

    def run_workflow(self, music_task_id: str, *, polling: InvocationPolling = ONE_CALL) -> CoverRecord:
        """The state machine's happy path: the first wait, the poll loop, then finalize."""
        state = self.check_state(music_task_id)
        self.clock.advance(state["firstWaitSeconds"])
        return self.finalizer().finish_workflow(self.check_until_done(state, polling))

    def run_finalize_states(
        self,
        state: dict[str, Any],
        *,
        archiver: Archiver | None = None,
        killed_as: str = "Sandbox.Timedout",
        killed_after: float = 90.0,
    ) -> str:
        """FinalizeCover and its safety net as the state machine runs them, by the real definition's Retry
        and Catch blocks (worst-case jitter); a killed invocation is reported as ``killed_as`` after
        ``killed_after`` seconds, as Lambda reports a function timeout. Returns how the run ended:
        ``"End"`` or the error it failed with."""
        current = "FinalizeCover"
        while True:
            errors = TaskErrors(self.definition, current, jitter="max")
            while True:
                try:
                    self.finalizer(archiver).finish_workflow(state)
                    return "End"
                except Killed:
                    error = killed_as
                    self.clock.advance(killed_after)
                except Exception as exc:  # as Lambda reports an unhandled error: by its class name
                    error = type(exc).__name__
                decision = errors.on_error(error)
                if isinstance(decision, Retry):
                    self.clock.advance(decision.delay)
                    continue
                if isinstance(decision, Catch):
                    state[(decision.result_path or "$.failure").removeprefix("$.")] = {
                        "Error": error,
                        "Cause": "",
                    }
                    current = decision.next_state
                    break
                return decision.error
            if self.definition["States"][current]["Type"] == "Fail":
                return str(self.definition["States"][current]["Error"])

    def record(self, music_task_id: str) -> CoverRecord:
        record = self.store.get(music_task_id)
        assert record is not None, f"no record for {music_task_id}"
        return record
