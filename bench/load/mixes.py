"""Vendor latency mixes (time from generate to ready) and the scenarios the default run covers."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bench.load.vendor import RateLimit

#: Arrival rates (covers per second) of the default run.
RATES = (0.3, 1.0, 11.6, 35.0, 116.0)
#: The tenant whose covers the "slow tenant" mix makes slower (metadata ``{"tenant": "slow"}``, the
#: template's default FirstWaitTenantField), and by how much; the mix's other covers name tenant "regular"
#: or none.
SLOW_TENANT, SLOW_TENANT_FACTOR, REGULAR_TENANT = "slow", 3.0, "regular"

Draw = Callable[[random.Random], float]


def lognormal(median: float, sigma: float) -> Draw:
    return lambda rng: median * math.exp(rng.gauss(0.0, sigma))


def bimodal(rng: random.Random) -> float:
    """90 % around 35 s, a slow tail of 10 % around 150 s."""
    if rng.random() < 0.9:
        return 35 * math.exp(rng.gauss(0.0, 0.35))
    return 150 * math.exp(rng.gauss(0.0, 0.4))


@dataclass(frozen=True)
class Tenant:
    """A share of a mix's covers that name ``name`` in their metadata (None: no tenant field), whose
    latency is ``factor`` times the mix's."""

    name: str | None
    share: float
    factor: float = 1.0


@dataclass(frozen=True)
class Arrival:
    """One cover request of a given workload: when it arrives (seconds from the run's start) and how long
    the vendor takes from generate to ready for it."""

    at: float
    latency: float


@dataclass(frozen=True)
class Mix:
    """One scenario: how long the vendor takes, and what else differs from the defaults.

    ``change_at``/``change_factor``: the latency is multiplied by ``change_factor`` for covers generated
    after ``change_at`` seconds. ``tenants``: shares of covers naming a tenant (the rest name none).
    ``rates``/``duration``/``warmup``: this mix's own, when not the run's."""

    name: str
    draw: Draw
    rates: tuple[float, ...] | None = None
    duration: float | None = None
    warmup: float | None = None
    change_at: float | None = None
    change_factor: float = 2.0
    tenants: tuple[Tenant, ...] = ()
    vendor_limit: RateLimit | None = None
    tail: float | None = None  # arrivals after the measured window (None: the run's); >= a cover's life
    #: Given arrivals, replayed instead of Poisson ones at the run's rate (see :func:`replay`).
    arrivals: tuple[Arrival, ...] | None = None

    def latency(self, rng: random.Random, generated_at: float, tenant: str | None) -> float:
        seconds = self.draw(rng)
        if self.change_at is not None and generated_at >= self.change_at:
            seconds *= self.change_factor
        return seconds * next((t.factor for t in self.tenants if t.name == tenant), 1.0)

    def tenant(self, draw: float) -> str | None:
        """The tenant of a cover, by a uniform ``draw`` in [0, 1)."""
        for tenant in self.tenants:
            if draw < tenant.share:
                return tenant.name
            draw -= tenant.share
        return None


def _no_draw(rng: random.Random) -> float:
    raise ValueError("a replayed mix's covers carry their own latency")


def replay(name: str, arrivals: Iterable[Arrival]) -> Mix:
    """A mix of exactly these arrivals (in time order), each cover with its own latency: the same workload
    another run saw (bench/crosscheck.py feeds the local pipeline's)."""
    return Mix(name, _no_draw, arrivals=tuple(sorted(arrivals, key=lambda a: a.at)))


LOGNORMAL = lognormal(45, 0.5)

MIXES: dict[str, Mix] = {
    m.name: m
    for m in (
        Mix("lognormal(45s, 0.5)", LOGNORMAL),
        # Not at 116/s by default (a minute of CPU; the account's concurrency binds there as for lognormal).
        Mix("bimodal 90% ~35s / 10% ~150s", bimodal, rates=(0.3, 1.0, 11.6, 35.0)),
        # Doubles 10 minutes in; the run goes on 15 minutes after, so the window after it is whole. At the
        # production rate (11.6/s, 1M covers a day) by default: above it the account's concurrency is
        # already saturated without a doubling (and a 25-minute run at 116/s takes minutes of CPU).
        Mix("lognormal, doubling at 10 min", LOGNORMAL, rates=(11.6,), duration=1500, change_at=600),
        # Measured once learned: the schedule needs 40 finished covers (~12 minutes at 1/s with 10-minute
        # covers) and a window of them; the first 40 minutes are warm-up. Not at 11.6/s by default (minutes
        # of CPU): `--rates 11.6` runs it.
        Mix(
            "slow vendor (~10 min)",
            lognormal(600, 0.15),
            rates=(0.3, 1.0),
            duration=3600,
            warmup=2400,
            tail=600,
        ),
        Mix(
            "lognormal, 10% tenant 'slow' x3",
            LOGNORMAL,
            tenants=(Tenant(SLOW_TENANT, 0.1, SLOW_TENANT_FACTOR), Tenant(REGULAR_TENANT, 0.45)),
            rates=(1.0, 11.6),
        ),
        # About half the status calls the production rate needs (~115/s): 429s, Retry-After ignored.
        Mix(
            "lognormal, vendor limit 60 status/s",
            LOGNORMAL,
            rates=(11.6,),
            vendor_limit=RateLimit(60.0, 120.0),
        ),
    )
}
