"""The pipeline's logic wired to in-memory fakes: what unit tests drive (no moto, no sockets).

One :class:`World` holds one of each fake, all recording into one journal and reading one clock, and builds
the logic objects as the composition roots (``covers_core/wiring``) do, with the template's defaults."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from covers_core.domain.model import CoverRecord, WorkflowInput
from covers_core.domain.schedule import ONE_CALL, InvocationPolling, PollSchedule
from covers_core.logic.check import CheckInput, CoverChecker
from covers_core.logic.finalize import Finalizer
from covers_core.logic.ports import Archiver
from covers_core.logic.start import CoverStarter, Message, StartBatch

from covers_local.fakes import (
    FakeClock,
    FakeDeadLetters,
    FakeEventBus,
    FakeRequestQueue,
    FakeVendor,
    FakeWorkflows,
    Journal,
    MemoryRecordStore,
    constant,
)

#: The template's defaults that the logic objects take as arguments.
CLAIM_LEASE_SECONDS = 120
NOT_FOUND_ATTEMPTS = 3
SCHEDULE = PollSchedule(interval=2, deadline=900, backoff=1.0, max_interval=60, max_polls=500)


@dataclass
class World:
    journal: Journal = field(default_factory=Journal)
    clock: FakeClock = field(default_factory=FakeClock)

    def __post_init__(self) -> None:
        self.store = MemoryRecordStore(self.journal)
        self.vendor = FakeVendor(self.journal)
        self.workflows = FakeWorkflows(self.journal)
        self.events = FakeEventBus(self.journal)
        self.requests = FakeRequestQueue(self.journal)
        self.dead_letters = FakeDeadLetters(self.journal)
        self.slept: list[float] = []

    # --- the logic, wired -----------------------------------------------------------------------

    def finalizer(self, archiver: Archiver | None = None) -> Finalizer:
        return Finalizer(self.store, self.events, archiver=archiver, clock=self.clock.now)

    def starter(self, *, first_wait: int = 20) -> CoverStarter:
        return CoverStarter(
            self.store,
            self.vendor,
            self.workflows,
            self.finalizer(),
            claim_lease_seconds=CLAIM_LEASE_SECONDS,
            not_found_attempts=NOT_FOUND_ATTEMPTS,
            first_wait_seconds=constant(first_wait),
            clock=self.clock.now,
        )

    def batch(self, *, concurrency: int = 1) -> StartBatch:
        return StartBatch(self.starter(), self.dead_letters, reserve_seconds=23.05, concurrency=concurrency)

    def checker(self, polling: InvocationPolling = ONE_CALL) -> CoverChecker:
        return CoverChecker(
            self.vendor, SCHEDULE, self.store, polling=polling, clock=self.clock.now, sleep=self._sleep
        )

    def _sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.clock.advance(seconds)

    # --- driving it ------------------------------------------------------------------------------

    def deliver(self, *bodies: str, time_left: float = 30.0) -> list[str]:
        """One start invocation on a batch of message bodies; the message ids reported failed."""
        messages = [Message(f"m{i}", body) for i, body in enumerate(bodies)]
        return self.batch().run(messages, time_left=lambda: time_left).failed

    def execution_input(self, music_task_id: str) -> WorkflowInput:
        name = next(n for n, (i, _) in self.workflows.executions.items() if i.music_task_id == music_task_id)
        return self.workflows.executions[name][0]

    def check_state(self, music_task_id: str) -> dict[str, Any]:
        return self.execution_input(music_task_id).to_state()

    def run_workflow(self, music_task_id: str, *, polling: InvocationPolling = ONE_CALL) -> CoverRecord:
        """The state machine's happy path: check until not IN_PROGRESS, then finalize."""
        from covers_core.domain import outcomes

        state = self.check_state(music_task_id)
        while True:
            result = self.checker(polling).check(CheckInput.from_state(state))
            state["check"] = result.to_state()
            if result.status.value != "IN_PROGRESS":
                break
            self.clock.advance(result.next_poll_seconds or 1)
        return self.finalizer().finish(
            music_task_id,
            outcomes.from_workflow(state),
            cover_task_id=state["coverTaskId"],
            generated_at=state["generatedAt"],
        )

    def record(self, music_task_id: str) -> CoverRecord:
        record = self.store.get(music_task_id)
        assert record is not None, f"no record for {music_task_id}"
        return record
