"""The first-wait learner: what the start function reads and what finalize teaches, behind one interface
so a redesigned policy or store plugs in without touching the pipeline.

A learner's methods run inside a simulated Lambda invocation: any store call it makes may take virtual
time (``SimStatsTable`` calls do) and may lose to a concurrent writer, exactly as its real store would.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from covers_core.adapters.poll_stats import CachedFirstWait, LearnedWaitStore
from covers_core.domain.model import CoverRecord, Status
from covers_core.domain.schedule import FirstWaitPolicy

from bench.load.dynamo import SimStatsTable
from bench.load.lambdas import Container


@dataclass(frozen=True)
class CoverOutcome:
    """What finalize knows when a cover ends: the record it just wrote (status, poll count, metadata,
    timestamps) and the first wait its execution used."""

    record: CoverRecord
    first_wait: int | None


class Learner(Protocol):
    name: str

    def first_wait(self, container: Container, now: float) -> int:
        """The first wait a start container gives a new execution (its cache is the learner's business:
        keep it in ``container.state``)."""

    def observe(self, outcome: CoverOutcome, now: float) -> bool | None:
        """Learn from one finalized cover: True when the lesson was stored, False when it was dropped
        (lost conditional writes), None when this outcome teaches nothing."""


class AdaptiveFirstWait:
    """Today's learner: the REAL ``CachedFirstWait`` (one per start container, on the sim's clock) over the
    REAL ``LearnedWaitStore``, taught by finalize from each SUCCEEDED cover (ready at the first check?),
    as ``covers_core.wiring.finalize_cover`` wires it."""

    name = "adaptive first wait (FirstWaitPolicy + LearnedWaitStore)"

    def __init__(self, policy: FirstWaitPolicy, table: SimStatsTable, monotonic: Callable[[], float]) -> None:
        self.policy = policy
        self.table = table
        self.store = LearnedWaitStore(table)
        self.monotonic = monotonic

    def first_wait(self, container: Container, now: float) -> int:
        cached = container.state.get("first_wait")
        if cached is None:
            cached = container.state["first_wait"] = CachedFirstWait(
                LearnedWaitStore(self.table), self.policy, monotonic=self.monotonic
            )
        return int(cached())

    def observe(self, outcome: CoverOutcome, now: float) -> bool | None:
        if outcome.record.status != Status.SUCCEEDED:
            return None
        learned = self.store.observe(self.policy, ready_at_first_check=outcome.record.poll_count == 1)
        return learned is not None

    def learned_seconds(self) -> float | None:
        item = self.table.items.get("firstWait")
        return float(item["seconds"]) if item else None


class FixedFirstWait:
    """No learning: every execution waits ``seconds`` (a baseline, and an example of the interface)."""

    name = "fixed first wait"

    def __init__(self, seconds: int) -> None:
        self.seconds = seconds

    def first_wait(self, container: Container, now: float) -> int:
        return self.seconds

    def observe(self, outcome: CoverOutcome, now: float) -> bool | None:
        return None
