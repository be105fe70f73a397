"""The poll schedule in virtual time: cost and detection delay per cover, for several schedules and mixes.

Replays the REAL code: ``covers_core.logic.check.CoverChecker`` (the in-invocation loop), the template's
``PollSchedule`` and the adaptive ``FirstWaitPolicy``/``LatencyStats``, with a fake clock (sleeping
advances it) and a fake vendor whose ready time is drawn from a distribution. The Step Functions side
(Wait -> Check -> Choice -> ... -> Finalize) is modelled here, one state transition per state entered.

Run alone: ``python -m bench.schedule`` (seeded: the same figures every run).
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from covers_core.adapters.vendor import CoverStatus
from covers_core.domain.model import CheckStatus, VendorStatus
from covers_core.domain.schedule import (
    ONE_CALL,
    FirstWaitPolicy,
    InvocationPolling,
    LearnedWait,
    PollSchedule,
)
from covers_core.logic.check import CheckInput, CoverChecker

from bench.prices import usd
from covers_local.stack import parameter_defaults

# --- list prices (bench/prices.py: one place, with sources), per unit --------------------------------
PRICES = {
    name: usd(name)
    for name in (
        "sfn_standard_transition",
        "sfn_express_request",
        "sfn_express_gb_second",  # duration, billed in 64 MB steps (64 MB here)
        "lambda_request",
        "lambda_arm_gb_second",
        "dynamodb_write",  # on-demand, per write request unit (the record's poll count)
    )
}
EXPRESS_MEMORY_GB = 64 / 1024
#: Modelled times: one vendor status call, the rest of an invocation, and finalize (an Express execution
#: pays its duration until finalize ends).
CALL_SECONDS = 0.25
INVOCATION_OVERHEAD_SECONDS = 0.05
FINALIZE_SECONDS = 0.5
EXPRESS_LIMIT_SECONDS = 300
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


# --- latency mixes ------------------------------------------------------------------------------------


def lognormal(median: float, sigma: float) -> Callable[[random.Random], float]:
    return lambda rng: median * math.exp(rng.gauss(0.0, sigma))


def bimodal(rng: random.Random) -> float:
    """90 % around 35 s, a slow tail of 10 % around 150 s."""
    if rng.random() < 0.9:
        return 35 * math.exp(rng.gauss(0.0, 0.35))
    return 150 * math.exp(rng.gauss(0.0, 0.4))


MIXES: dict[str, Callable[[random.Random], float]] = {
    "lognormal(45s, 0.5)": lognormal(45, 0.5),
    "bimodal 90% ~35s / 10% ~150s": bimodal,
}


# --- schedules ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scheme:
    name: str
    schedule: PollSchedule
    polling: InvocationPolling
    first_wait: FirstWaitPolicy
    memory_mb: int
    express: bool = False


def default_scheme(*, express: bool = False) -> Scheme:
    """What a default deployment does (EXPRESS: the check polls once per invocation, as the template sets)."""
    d = parameter_defaults()
    schedule = PollSchedule(
        interval=int(d["PollIntervalSeconds"]),
        deadline=int(d["PollMaxWaitSeconds"]) if not express else 240,
        backoff=float(d["PollBackoffRate"]),
        max_interval=int(d["PollMaxIntervalSeconds"]),
        max_polls=int(d["PollMaxPolls"]),
    )
    polling = (
        ONE_CALL
        if express
        else InvocationPolling(int(d["PollInvocationBudgetSeconds"]), int(d["PollInvocationIntervalSeconds"]))
    )
    policy = FirstWaitPolicy(
        fallback=int(d["PollFirstWaitSeconds"]),
        minimum=int(d["PollFirstWaitMinSeconds"]),
        maximum=int(d["PollFirstWaitMaxSeconds"]),
        percentile=float(d["PollFirstWaitPercentile"]),
    )
    name = "new default, EXPRESS" if express else "new default (adaptive + in-invocation)"
    return Scheme(name, schedule, polling, policy, memory_mb=128, express=express)


def fixed(name: str, first_wait: int, interval: int) -> Scheme:
    """The old behaviour: a fixed first wait, then one call per invocation every ``interval`` s (256 MB)."""
    schedule = PollSchedule(interval=interval, deadline=900, backoff=1.0, max_interval=60, max_polls=500)
    never = FirstWaitPolicy(first_wait, first_wait, first_wait, 50)
    return Scheme(name, schedule, ONE_CALL, never, memory_mb=256)


def schemes() -> list[Scheme]:
    return [
        fixed("fixed baseline (30 s, then 10 s)", 30, 10),
        fixed("naive 5 s loop", 5, 5),
        default_scheme(),
        default_scheme(express=True),
    ]


# --- the replay ---------------------------------------------------------------------------------------


class VirtualClock:
    def __init__(self) -> None:
        self.seconds = 0.0

    def now(self) -> datetime:
        return EPOCH + timedelta(seconds=self.seconds)

    def sleep(self, seconds: float) -> None:
        self.seconds += seconds


class FakeVendor:
    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.ready_at = 0.0
        self.calls = 0

    def status(self, cover_task_id: str) -> CoverStatus:
        self.calls += 1
        self.clock.sleep(CALL_SECONDS)
        if self.clock.seconds >= self.ready_at:
            return CoverStatus(cover_task_id, VendorStatus.SUCCESS, images=("https://img/1.png",))
        return CoverStatus(cover_task_id, VendorStatus.IN_PROGRESS)


class CountingStore:
    def __init__(self) -> None:
        self.writes = 0

    def record_poll(self, music_task_id: str, poll_count: int, now: datetime) -> None:
        self.writes += 1


@dataclass
class Cover:
    first_wait: int
    calls: int = 0
    invocations: int = 0
    transitions: int = 0
    lambda_seconds: float = 0.0
    writes: int = 0
    duration: float = 0.0
    delay: float | None = None  # None: not detected (timed out, or an EXPRESS execution killed at 5 min)
    ready_at: float = 0.0

    def cost(self, scheme: Scheme) -> float:
        p = PRICES
        lam = self.invocations * p["lambda_request"]
        lam += self.lambda_seconds * scheme.memory_mb / 1024 * p["lambda_arm_gb_second"]
        db = self.writes * p["dynamodb_write"]
        if scheme.express:
            sfn = p["sfn_express_request"] + self.duration * EXPRESS_MEMORY_GB * p["sfn_express_gb_second"]
        else:
            sfn = self.transitions * p["sfn_standard_transition"]
        return sfn + lam + db


def run_cover(scheme: Scheme, ready_at: float, first_wait: int) -> Cover:
    clock = VirtualClock()
    store: Any = CountingStore()  # duck-typed stand-ins for CoverStore and VendorClient
    vendor: Any = FakeVendor(clock)
    vendor.ready_at = ready_at
    checker = CoverChecker(
        vendor,
        scheme.schedule,
        store,
        polling=scheme.polling,
        clock=clock.now,
        sleep=clock.sleep,
    )
    cover = Cover(first_wait=first_wait, ready_at=ready_at)
    clock.seconds = first_wait
    cover.transitions = 1  # WaitBeforeFirstCheck
    polls = 0
    while True:
        started = clock.seconds
        result = checker.check(CheckInput("m", "c", EPOCH, polls))
        cover.invocations += 1
        cover.lambda_seconds += clock.seconds - started + INVOCATION_OVERHEAD_SECONDS
        cover.transitions += 2  # CheckCoverStatus, IsCoverReady
        polls = result.poll_count
        if result.status != CheckStatus.IN_PROGRESS:
            break
        cover.transitions += 1  # WaitForNextCheck
        clock.sleep(result.next_poll_seconds or 1)
    cover.transitions += 1  # FinalizeCover
    cover.calls, cover.writes = vendor.calls, store.writes
    cover.duration = clock.seconds + FINALIZE_SECONDS
    killed = scheme.express and cover.duration > EXPRESS_LIMIT_SECONDS
    if result.status == CheckStatus.SUCCESS and not killed:
        cover.delay = clock.seconds - ready_at
    return cover


def replay(scheme: Scheme, latencies: list[float]) -> Iterator[Cover]:
    """Covers in arrival order; the adaptive first wait learns from each success, as finalize records it
    (was the cover ready at the first status call?)."""
    learned: LearnedWait | None = None
    for ready_at in latencies:
        cover = run_cover(scheme, ready_at, scheme.first_wait.first_wait(learned))
        if cover.delay is not None:
            learned = scheme.first_wait.observe(learned, ready_at_first_check=cover.calls == 1)
        yield cover


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summarise(scheme: Scheme, covers: list[Cover]) -> dict[str, Any]:
    n = len(covers)
    delays = [c.delay for c in covers if c.delay is not None]
    lambda_seconds = sum(c.lambda_seconds for c in covers) / n
    return {
        "scheme": scheme.name,
        "covers": n,
        "status_calls": sum(c.calls for c in covers) / n,
        "invocations": sum(c.invocations for c in covers) / n,
        "transitions": 0.0 if scheme.express else sum(c.transitions for c in covers) / n,
        "lambda_seconds": lambda_seconds,
        "lambda_mb": scheme.memory_mb,
        # Little's law: concurrent check invocations per cover/s of arrivals
        "concurrency_per_cover_per_second": lambda_seconds,
        "delay_mean": statistics.fmean(delays),
        "delay_p50": percentile(delays, 0.50),
        "delay_p95": percentile(delays, 0.95),
        "timed_out": n - len(delays),
        "first_wait_mean": sum(c.first_wait for c in covers) / n,
        "cost_per_million": sum(c.cost(scheme) for c in covers) / n * 1e6,
    }


def shift(scheme: Scheme, *, seed: int = 7, per_phase: int = 400, window: int = 50) -> list[dict[str, Any]]:
    """The adaptive first wait tracking a vendor whose latency moves from ~20 s to ~90 s."""
    rng = random.Random(seed)  # noqa: S311 - a seeded simulation, not a secret
    latencies = [lognormal(20, 0.3)(rng) for _ in range(per_phase)]
    latencies += [lognormal(90, 0.3)(rng) for _ in range(per_phase)]
    covers = list(replay(scheme, latencies))
    rows = []
    for start in range(0, len(covers), window):
        chunk = covers[start : start + window]
        rows.append({**summarise(scheme, chunk), "window": f"{start + 1}-{start + len(chunk)}"})
    return rows


def run(*, covers: int = 10000, seed: int = 42) -> dict[str, Any]:
    result: dict[str, Any] = {"prices": PRICES, "mixes": {}}
    for mix, draw in MIXES.items():
        rng = random.Random(seed)  # noqa: S311 - a seeded simulation, not a secret
        latencies = [draw(rng) for _ in range(covers)]
        result["mixes"][mix] = [summarise(s, list(replay(s, latencies))) for s in schemes()]
    result["shift"] = shift(default_scheme())
    return result


COLUMNS = [
    ("scheme", "{:<40}"),
    ("status_calls", "{:>6.1f}"),
    ("transitions", "{:>6.1f}"),
    ("lambda_seconds", "{:>7.1f}"),
    ("delay_p50", "{:>6.1f}"),
    ("delay_p95", "{:>6.1f}"),
    ("delay_mean", "{:>6.1f}"),
    ("timed_out", "{:>6}"),
    ("cost_per_million", "{:>8.0f}"),
]
HEADER = (
    f"{'schedule':<40} {'calls':>6} {'trans':>6} {'λ-sec':>7} {'p50':>6} {'p95':>6} {'mean':>6} "
    f"{'t-out':>6} {'$/1M':>8}"
)


def print_table(result: dict[str, Any]) -> None:
    p = result["prices"]
    print(
        "Prices (us-east-1): Step Functions STANDARD ${:.3f}/1k transitions, EXPRESS ${:.2f}/1M requests + "
        "${:.8f}/GB-s (64 MB); Lambda arm64 ${:.10f}/GB-s + ${:.2f}/1M requests; DynamoDB ${:.3f}/1M writes. "
        "Delays in seconds; λ-sec = check Lambda seconds per cover = concurrent check invocations held per "
        "cover/s of arrivals.".format(
            p["sfn_standard_transition"] * 1e3,
            p["sfn_express_request"] * 1e6,
            p["sfn_express_gb_second"],
            p["lambda_arm_gb_second"],
            p["lambda_request"] * 1e6,
            p["dynamodb_write"] * 1e6,
        )
    )
    for mix, rows in result["mixes"].items():
        print(f"\n{mix}\n{HEADER}")
        for row in rows:
            print(" ".join(fmt.format(row[key]) for key, fmt in COLUMNS))
    print("\nAdaptive first wait, vendor latency ~20 s then ~90 s (windows of 50 covers)")
    print(f"{'covers':<12} {'first wait':>10} {'calls':>6} {'p95':>6} {'mean':>6} {'$/1M':>8}")
    for row in result["shift"]:
        print(
            f"{row['window']:<12} {row['first_wait_mean']:>10.1f} {row['status_calls']:>6.1f} "
            f"{row['delay_p95']:>6.1f} {row['delay_mean']:>6.1f} {row['cost_per_million']:>8.0f}"
        )


if __name__ == "__main__":
    print_table(run())
