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
class LatencyStats:
    """Rolling statistics of the vendor's time-to-ready: an exponentially weighted mean and variance of
    log(seconds), over ``count`` observations. Stored as one small item; updated by finalize."""

    count: int
    mean_log: float
    var_log: float

    def observe(self, seconds: float, alpha: float) -> LatencyStats:
        """These statistics after one more observation (weight ``alpha``; the first sets the mean)."""
        x = math.log(max(seconds, 1.0))
        if self.count == 0:
            return LatencyStats(1, x, 0.0)
        delta = x - self.mean_log
        mean = self.mean_log + alpha * delta
        var = (1 - alpha) * (self.var_log + alpha * delta * delta)
        return LatencyStats(self.count + 1, mean, var)

    def quantile(self, z: float) -> float:
        """The time-to-ready at ``z`` standard deviations (lognormal model), in seconds."""
        return math.exp(self.mean_log + z * math.sqrt(max(self.var_log, 0.0)))


EMPTY_STATS = LatencyStats(0, 0.0, 0.0)


@dataclass(frozen=True)
class FirstWaitPolicy:
    """The first wait from observed latencies: the ``quantile_z`` quantile of the time-to-ready (a low
    one, so few covers are ready before the first check), clamped to [``minimum``, ``maximum``]; the
    template's fixed ``fallback`` until ``min_samples`` observations exist."""

    fallback: int
    minimum: int
    maximum: int
    quantile_z: float
    min_samples: int
    alpha: float

    def __post_init__(self) -> None:
        if not 0 <= self.minimum <= self.maximum or self.fallback < 0:
            raise ValueError("first wait: 0 <= minimum <= maximum and fallback >= 0")
        if not 0 < self.alpha <= 1 or self.min_samples < 1:
            raise ValueError("first wait: 0 < alpha <= 1 and min samples >= 1")

    def first_wait(self, stats: LatencyStats | None) -> int:
        if stats is None or stats.count < self.min_samples:
            return self.fallback
        wait = math.floor(stats.quantile(self.quantile_z))
        return max(self.minimum, min(self.maximum, wait))
