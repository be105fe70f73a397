"""The poll schedule: when to check a cover task next, and when to give up."""

from __future__ import annotations

import math
from dataclasses import dataclass


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
    ``budget`` plus the longest vendor call (checked in ``covers_core.settings``)."""

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
class LearnedWait:
    """The adaptive first wait as stored (one small item), and how many covers taught it."""

    seconds: float
    count: int


#: Step of the first-wait tracker in log space (about 1/step covers to follow a latency shift).
FIRST_WAIT_STEP = 0.15


@dataclass(frozen=True)
class FirstWaitPolicy:
    """The first wait learned from outcomes: it tracks the ``percentile`` of the vendor's time-to-ready.

    Each SUCCEEDED cover says one thing that is exact whatever the schedule: was it already ready at the
    first status call (``poll_count == 1``)? A stochastic quantile tracker (Robbins-Monro, in log space)
    moves the wait down by ``exp(-step * (1 - p))`` when it was, up by ``exp(step * p)`` when not, so it
    settles where a fraction ``p`` of covers are ready before the first check. (An average of observed
    latencies would be biased: a cover found ready at the first check only says it was ready by then.)
    ``fallback`` (the template's PollFirstWaitSeconds) applies with no history; [``minimum``, ``maximum``]
    bound it."""

    fallback: int
    minimum: int
    maximum: int
    percentile: float
    step: float = FIRST_WAIT_STEP

    def __post_init__(self) -> None:
        if not 0 <= self.minimum <= self.maximum or self.fallback < 0:
            raise ValueError("first wait: 0 <= minimum <= maximum and fallback >= 0")
        if not 0 < self.percentile < 100 or not 0 < self.step <= 1:
            raise ValueError("first wait: 0 < percentile < 100 and 0 < step <= 1")

    def first_wait(self, learned: LearnedWait | None) -> int:
        if learned is None:
            return self.fallback
        return self._clamp(learned.seconds)

    def observe(self, learned: LearnedWait | None, *, ready_at_first_check: bool) -> LearnedWait:
        """The learned wait after one more SUCCEEDED cover."""
        seconds = learned.seconds if learned is not None else float(self.fallback)
        p = self.percentile / 100
        seconds *= math.exp(self.step * (p - (1.0 if ready_at_first_check else 0.0)))
        bounded = min(max(seconds, float(max(self.minimum, 1))), float(self.maximum))
        return LearnedWait(bounded, (learned.count if learned is not None else 0) + 1)

    def _clamp(self, seconds: float) -> int:
        return max(self.minimum, min(self.maximum, round(seconds)))
