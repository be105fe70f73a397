"""Vendor latency mixes (time from generate to ready) and the scenarios the default run covers."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

from bench.load.vendor import RateLimit
from bench.schedule import bimodal

#: Arrival rates (covers per second) of the default run.
RATES = (0.3, 1.0, 11.6, 35.0, 116.0)
#: The tenant whose covers the "slow tenant" mix makes slower, and by how much.
SLOW_TENANT, SLOW_TENANT_FACTOR = "slow", 3.0

Draw = Callable[[random.Random], float]


def lognormal(median: float, sigma: float) -> Draw:
    return lambda rng: median * math.exp(rng.gauss(0.0, sigma))


@dataclass(frozen=True)
class Mix:
    """One scenario: how long the vendor takes, and what else differs from the defaults.

    ``change_at``/``change_factor``: the latency is multiplied by ``change_factor`` for covers generated
    after ``change_at`` seconds. ``slow_share``: the share of covers carrying metadata tenant "slow",
    ``SLOW_TENANT_FACTOR`` times slower. ``rates``/``duration``: this mix's own, when not the run's."""

    name: str
    draw: Draw
    rates: tuple[float, ...] | None = None
    duration: float | None = None
    change_at: float | None = None
    change_factor: float = 2.0
    slow_share: float = 0.0
    vendor_limit: RateLimit | None = None
    tail: float | None = None  # arrivals after the measured window (None: the run's); >= a cover's life

    def latency(self, rng: random.Random, generated_at: float, tenant: str | None) -> float:
        seconds = self.draw(rng)
        if self.change_at is not None and generated_at >= self.change_at:
            seconds *= self.change_factor
        if tenant == SLOW_TENANT:
            seconds *= SLOW_TENANT_FACTOR
        return seconds


LOGNORMAL = lognormal(45, 0.5)

MIXES: dict[str, Mix] = {
    m.name: m
    for m in (
        Mix("lognormal(45s, 0.5)", LOGNORMAL),
        Mix("bimodal 90% ~35s / 10% ~150s", bimodal),
        # Doubles 10 minutes in; the run goes on 15 minutes after, so the window after it is whole. At the
        # production rate (11.6/s, 1M covers a day) by default: above it the account's concurrency is
        # already saturated without a doubling (and a 25-minute run at 116/s takes minutes of CPU).
        Mix("lognormal, doubling at 10 min", LOGNORMAL, rates=(11.6,), duration=1500, change_at=600),
        Mix("slow vendor (~10 min)", lognormal(600, 0.15), rates=(0.3, 1.0, 11.6), tail=600),
        Mix("lognormal, 10% tenant 'slow' x3", LOGNORMAL, slow_share=0.1, rates=(1.0, 11.6)),
        # About half the status calls the production rate needs (~115/s): 429s, Retry-After ignored.
        Mix(
            "lognormal, vendor limit 60 status/s",
            LOGNORMAL,
            rates=(11.6,),
            vendor_limit=RateLimit(60.0, 120.0),
        ),
    )
}
