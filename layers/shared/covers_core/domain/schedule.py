"""The poll schedule: when to check a cover task next, and when to give up."""

from __future__ import annotations

import math
from dataclasses import dataclass

from covers_core.domain.first_wait import Counts, estimate


@dataclass(frozen=True)
class PollSchedule:
    """After the first check (the start function's ``first_wait``), check every ``interval`` seconds
    (growing by ``backoff`` up to ``max_interval``) until ``deadline`` seconds after generation or
    ``max_polls``. The template's Poll* parameters (read by ``covers_core.settings``) set every field."""

    interval: int
    deadline: int
    backoff: float
    max_interval: int
    max_polls: int

    def __post_init__(self) -> None:
        if self.interval < 1 or self.deadline < 1 or self.max_polls < 1:
            raise ValueError("poll schedule: interval, deadline and max polls >= 1")
        if self.backoff < 1.0 or self.max_interval < self.interval:
            raise ValueError("poll schedule: backoff must be >= 1 and max interval >= interval")

    def next_wait(self, poll_count: int, elapsed: float) -> int | None:
        """Seconds to wait before poll number ``poll_count + 1``, or None when it is time to give up."""
        if poll_count >= self.max_polls or elapsed >= self.deadline:
            return None
        wait = min(self.interval * self.backoff ** max(0, poll_count - 1), self.max_interval)
        # Never sleep past the deadline: the last check happens right at it.
        return max(1, math.ceil(min(wait, self.deadline - elapsed)))


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
