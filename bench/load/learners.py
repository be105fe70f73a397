"""The poll schedule's learner: what the start function plans for a new cover (its first wait and poll
interval) and what finalize teaches, behind one interface so a redesigned policy or store plugs in without
touching the pipeline.

A learner's methods run inside a simulated Lambda invocation: any store call it makes takes virtual time
(``SimPollStatsTable`` calls do), as its real store's would.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Protocol

from covers_core.adapters.poll_stats import LearnedWaitStore
from covers_core.domain.model import CheckResult, CoverRecord
from covers_core.domain.schedule import FirstWaitPolicy, Plan
from covers_core.logic.learning import Planner, Teacher

from bench.load.dynamo import SimPollStatsTable
from bench.load.lambdas import Container


class Learner(Protocol):
    name: str

    def plan(self, container: Container, metadata: Mapping[str, Any]) -> Plan:
        """The first wait and poll interval a start container gives a new execution (its cache is the
        learner's business: keep it in ``container.state``)."""

    def learn(self, record: CoverRecord, check: CheckResult | None) -> bool | None:
        """Learn from one cover finalize just ended SUCCEEDED (``check``: its check result): True when the
        lesson was stored, False when it was not, None when this learner learns nothing."""


class LearnedSchedule:
    """Today's learner, as ``covers_core.wiring`` builds it: the REAL ``Planner`` (one per start container,
    on the simulation's clocks, with its own 60 s cache per key) and the REAL ``Teacher``, both over the
    REAL ``LearnedWaitStore`` on the simulated PollStatsTable."""

    name = "learned schedule (Planner/Teacher + LearnedWaitStore)"

    def __init__(
        self,
        policy: FirstWaitPolicy,
        tenant_field: str | None,
        table: SimPollStatsTable,
        *,
        clock: Callable[[], datetime],
        monotonic: Callable[[], float],
    ) -> None:
        self.policy = policy
        self.tenant_field = tenant_field
        self.table = table
        self.clock = clock
        self.monotonic = monotonic
        self.teacher = Teacher(LearnedWaitStore(table), tenant_field, clock=clock)

    def plan(self, container: Container, metadata: Mapping[str, Any]) -> Plan:
        planner = container.state.get("planner")
        if planner is None:
            planner = container.state["planner"] = Planner(
                LearnedWaitStore(self.table),
                self.policy,
                self.tenant_field,
                clock=self.clock,
                monotonic=self.monotonic,
            )
        return planner.plan(metadata)

    def learn(self, record: CoverRecord, check: CheckResult | None) -> bool | None:
        return self.teacher.learn(record, check)


class FixedSchedule:
    """No learning: every execution waits ``first_wait`` s, then polls every ``interval`` s (a baseline, and
    an example of the interface)."""

    name = "fixed schedule"

    def __init__(self, first_wait: int, interval: int = 3) -> None:
        self.fixed = Plan(first_wait, interval)

    def plan(self, container: Container, metadata: Mapping[str, Any]) -> Plan:
        return self.fixed

    def learn(self, record: CoverRecord, check: CheckResult | None) -> bool | None:
        return None
