"""The poll schedule: how long the first wait is, how often to poll after it, and polling inside one check
invocation (docs/design.md, "The poll schedule" and "The poll loop")."""

from __future__ import annotations

from dataclasses import dataclass

from covers_core.domain.first_wait import Counts, estimate


@dataclass(frozen=True)
class InvocationPolling:
    """Polling inside one check invocation: every ``interval`` seconds for at most ``budget`` seconds
    before the check returns IN_PROGRESS to the workflow's Wait. ``budget`` 0 = one status call per
    invocation (the old behaviour; the right choice for EXPRESS, which bills the execution's duration
    anyway). A status call may start up to ``budget`` seconds in, so the function's timeout must exceed
    ``budget`` plus the longest vendor call (the template's bounds keep it so; a contract test checks)."""

    budget: int
    interval: int

    def __post_init__(self) -> None:
        if self.budget < 0 or self.interval < 1:
            raise ValueError("invocation polling: budget >= 0 and interval >= 1")

    def may_poll_again(self, spent: float) -> bool:
        """Whether another status call (after sleeping ``interval``) still fits the budget."""
        return self.budget > 0 and spent + self.interval <= self.budget


#: One status call per invocation.
ONE_CALL = InvocationPolling(budget=0, interval=1)


@dataclass(frozen=True)
class Plan:
    """A new cover's schedule: seconds before its first status check, and between checks after it."""

    first_wait: int
    poll_interval: int


@dataclass(frozen=True)
class FirstWaitPolicy:
    """The first wait at ``percentile`` of the vendor's time to ready and the poll interval, learned from
    recent covers (``covers_core.domain.first_wait``); ``fallback`` (the template's PollFirstWaitSeconds)
    and ``interval`` (PollInvocationIntervalSeconds) apply until enough covers have taught it. The first wait
    stays within [``minimum``, ``maximum``], the interval within [``interval``, ``max_interval``]."""

    fallback: int
    minimum: int
    maximum: int
    percentile: float
    interval: int = 3
    max_interval: int = 60

    def __post_init__(self) -> None:
        if not 0 <= self.minimum <= self.maximum or self.fallback < 0:
            raise ValueError("first wait: 0 <= minimum <= maximum and fallback >= 0")
        if not 0 < self.percentile < 100:
            raise ValueError("first wait: 0 < percentile < 100")
        if not 1 <= self.interval <= self.max_interval:
            raise ValueError("first wait: 1 <= interval <= max interval")

    def plan(self, counts: Counts | None) -> Plan:
        learned = estimate(counts, self.percentile) if counts is not None else None
        if learned is None:
            return Plan(self.fallback, self.interval)
        wait = max(self.minimum, min(self.maximum, round(learned.first_wait)))
        interval = max(self.interval, min(self.max_interval, round(learned.poll_interval)))
        return Plan(wait, interval)
