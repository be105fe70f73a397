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
