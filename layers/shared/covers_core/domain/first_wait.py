"""How long to wait before the first status check, and how often to poll after it, learned from how long the
vendor took for recent covers. Pure: the counts come from ``adapters/poll_stats.py``.

Each SUCCEEDED cover says one of two things, both exact whatever the schedule was (docs/design.md, "The
poll schedule"): it was ready at the first check, ``w`` seconds after generation (so it took *at most*
``w``: a censored observation), or it was not, and a later check saw it ready ``t`` seconds after
generation (it took about ``t``). Counts of both, in log-spaced buckets of seconds, are added up per minute
and per tenant with atomic ``ADD`` (no read-modify-write, nothing lost under any rate). The first wait is
then estimated from the counts of the last minutes, not stepped towards it, so it cannot oscillate however
late the covers' outcomes arrive:

* when at most a fraction ``p`` of covers was ready at its first check, the ``p``-quantile lies above the
  waits used and the detected times say where: the smallest ``t`` with ``early + detected(<= t) >= p n``;
* when more were (the waits were too long), a lognormal tail (its spread measured from the detected
  times) says how far below the waits used the quantile lies: ``w * exp(s * (z(p) - z(early / n)))``.

The poll interval is the spread between that quantile and the median, over ``POLLS_TO_MEDIAN`` polls: a
vendor whose covers take 45 s gets polled every few seconds, one taking 10 minutes every half a minute.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from statistics import NormalDist

#: Bucket edges in seconds (about 12% apart): a count at index k is for durations in [EDGES[k], EDGES[k+1]).
EDGES: tuple[float, ...] = (0.0, *(round(1.12**k, 2) for k in range(70)))
#: Minutes a plan may look back (the newest ones first, until they hold enough covers).
WINDOW_MINUTES = 60
#: Counts of fewer covers than this say nothing yet (the template's first wait applies).
MIN_COVERS = 40
#: Polls between the first check and the median time to ready: sets the poll interval.
POLLS_TO_MEDIAN = 4.0
#: The spread (log-space sigma) assumed while too few covers were detected after their first check.
DEFAULT_SPREAD = 0.5


def bucket(seconds: float) -> int:
    """The bucket index of a duration in seconds."""
    return max(0, bisect.bisect_right(EDGES, max(0.0, seconds)) - 1)


def _middle(k: int) -> float:
    low = EDGES[k]
    high = EDGES[k + 1] if k + 1 < len(EDGES) else low * 1.12
    return math.sqrt(max(low, 0.5) * high)


@dataclass
class Counts:
    """What a window of minutes says: per bucket, covers whose first wait fell there (``waited``), those
    ready at that first check (``early``), and those detected later at that elapsed time (``detected``)."""

    waited: dict[int, int] = field(default_factory=dict)
    early: dict[int, int] = field(default_factory=dict)
    detected: dict[int, int] = field(default_factory=dict)

    @property
    def covers(self) -> int:
        return sum(self.waited.values())

    def add(self, other: Counts) -> Counts:
        for mine, theirs in (
            (self.waited, other.waited),
            (self.early, other.early),
            (self.detected, other.detected),
        ):
            for k, n in theirs.items():
                mine[k] = mine.get(k, 0) + n
        return self

    @classmethod
    def total(cls, windows: Iterable[Counts]) -> Counts:
        result = cls()
        for counts in windows:
            result.add(counts)
        return result


@dataclass(frozen=True)
class Observation:
    """One SUCCEEDED cover: its first wait, whether it was ready then, when it was seen ready."""

    first_wait: float
    ready_at_first_check: bool
    detected_after: float

    def fields(self) -> dict[str, int]:
        """The counters it adds to (attribute names of the minute's item: ``w``/``e``/``d`` + bucket)."""
        added = {f"w{bucket(self.first_wait)}": 1}
        if self.ready_at_first_check:
            added[f"e{bucket(self.first_wait)}"] = 1
        else:
            added[f"d{bucket(self.detected_after)}"] = 1
        return added


def counts_from_item(item: Mapping[str, object]) -> Counts:
    """A minute's counters as stored (``w12: 3, e12: 1, d17: 2, ...``; other attributes are ignored)."""
    counts = Counts()
    kinds = {"w": counts.waited, "e": counts.early, "d": counts.detected}
    for name, value in item.items():
        target = kinds.get(name[:1])
        if target is not None and name[1:].isdigit() and isinstance(value, int | float | Decimal):
            target[int(name[1:])] = target.get(int(name[1:]), 0) + int(value)
    return counts


@dataclass(frozen=True)
class Learned:
    """The estimate, in seconds: the first wait (the percentile asked for), the median time to ready and the
    log-space spread around it; and how many covers it rests on."""

    first_wait: float
    median: float
    spread: float
    covers: int

    def poll_interval(self, first_wait: float) -> float:
        """The spread between the first wait used and the median, over ``POLLS_TO_MEDIAN`` polls."""
        return max(self.median - first_wait, 0.0) / POLLS_TO_MEDIAN

    def polling_seconds(self, first_wait: float) -> float:
        """The expected time between the first check at ``first_wait`` and the cover being ready (0 for a
        cover ready by then): ``E[(T - w)+]`` for a lognormal ``T`` with this median and spread."""
        if first_wait <= 0:
            return self.median * math.exp(self.spread**2 / 2)
        d2 = math.log(self.median / first_wait) / self.spread
        phi = NormalDist().cdf
        return self.median * math.exp(self.spread**2 / 2) * phi(d2 + self.spread) - first_wait * phi(d2)


def quantile_of_detected(counts: Counts, q: float) -> float | None:
    """The ``q``-quantile of time to ready where the detected times alone can say (None otherwise),
    interpolated in log space within the bucket where it falls."""
    n = counts.covers
    need = q * n - sum(counts.early.values())
    if n == 0 or need < 0:
        return None
    seen = 0.0
    for k in sorted(counts.detected):
        count = counts.detected[k]
        if seen + count >= need:
            low = max(EDGES[k], 0.5)
            high = EDGES[k + 1] if k + 1 < len(EDGES) else low * 1.12
            share = (need - seen) / count
            return math.exp(math.log(low) + share * (math.log(high) - math.log(low)))
        seen += count
    return None


def _spread(counts: Counts) -> float:
    """The log-space sigma of the detected times (from their quartiles), or the default."""
    detected = sum(counts.detected.values())
    if detected < 20:
        return DEFAULT_SPREAD
    marks = []
    for target in (0.25, 0.75):
        seen = 0
        for k in sorted(counts.detected):
            seen += counts.detected[k]
            if seen >= target * detected:
                marks.append(math.log(_middle(k)))
                break
    return min(1.5, max(0.1, (marks[1] - marks[0]) / 1.349))


def _below_the_waits(counts: Counts, p: float, spread: float) -> float:
    """The ``p``-quantile when more than ``p`` of the covers were ready at their first check: from each wait
    at which more than ``p`` were (each says how far below it the quantile lies), averaged in log space by
    covers. Waits at which fewer were say only that the quantile lies above them: they are left out, so a
    window that mixes a short wait (a new stack's template wait) with long learned ones is not averaged
    into a wait neither of them supports."""
    z = NormalDist().inv_cdf
    logs, weights = 0.0, 0
    for k, n in counts.waited.items():
        fraction = counts.early.get(k, 0) / n
        if fraction > p:
            logs += n * (math.log(_middle(k)) + spread * (z(p) - z(min(fraction, 0.999))))
            weights += n
    return math.exp(logs / weights)


def estimate(counts: Counts, percentile: float) -> Learned | None:
    """The first wait at ``percentile`` of time to ready, the median and spread; None with too few covers."""
    n = counts.covers
    if n < MIN_COVERS:
        return None
    p = percentile / 100
    wait = quantile_of_detected(counts, p)
    # When the waits were too long, the detected times are the slow side only: their spread understates the
    # whole one, so the step down uses at least the default (an overshoot is corrected by the next estimate).
    spread = _spread(counts) if wait is not None else max(_spread(counts), DEFAULT_SPREAD)
    if wait is None:  # more than p were ready at their first check: the quantile is below the waits used
        wait = _below_the_waits(counts, p, spread)
    median = quantile_of_detected(counts, 0.5)
    if median is None or median <= wait:  # most covers were ready at their first check
        median = wait * math.exp(spread * (NormalDist().inv_cdf(0.5) - NormalDist().inv_cdf(p)))
    return Learned(first_wait=wait, median=median, spread=spread, covers=n)
