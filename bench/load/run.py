"""Every (mix, rate) of a run, side by side on worker processes (each run is independent and seeded)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from typing import Any

from bench.load.mixes import MIXES, RATES
from bench.load.pipeline import simulate
from bench.load.report import summarise
from bench.load.stack import CHECK, FINALIZE, START, Config
from bench.prices import PRICES

#: The functions a cover goes through, in order (the table's peak concurrency column).
PIPELINE = (START, CHECK, FINALIZE)
#: ``--quick``: a short run (a first look; the figures are not steady state).
QUICK_DURATION, QUICK_WARMUP = 300.0, 60.0
QUICK_RATES = (1.0, 11.6)
QUICK_MIXES = ("lognormal(45s, 0.5)", "bimodal 90% ~35s / 10% ~150s")


def one(mix_name: str, rate: float, config: Config) -> dict[str, Any]:
    logging.disable(logging.CRITICAL)  # the real code logs warnings (lost writes, throttles) by design
    began, cpu = time.perf_counter(), time.process_time()
    stack = simulate(MIXES[mix_name], rate, config)
    result = summarise(stack, time.perf_counter() - began)
    result["cpu_seconds"] = round(time.process_time() - cpu, 1)  # the machine may be shared: CPU too
    return result


def plan(mixes: Iterable[str], rates: Iterable[float] | None) -> list[tuple[str, float]]:
    runs = []
    for name in mixes:
        mix = MIXES[name]
        chosen = tuple(rates) if rates is not None else (mix.rates or RATES)
        runs += [(name, rate) for rate in chosen]
    return runs


def run(
    *,
    mixes: Iterable[str] | None = None,
    rates: Iterable[float] | None = None,
    config: Config | None = None,
    workers: int = 2,
) -> dict[str, Any]:
    config = config or Config()
    runs = plan(mixes or MIXES, rates)
    # Longest first (most covers), so the workers finish together.
    runs.sort(key=lambda r: -min(r[1] * (MIXES[r[0]].duration or config.duration), config.max_covers or 1e9))
    began = time.perf_counter()
    if workers <= 1:
        results = [one(name, rate, config) for name, rate in runs]
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(one, *zip(*runs, strict=True), [config] * len(runs)))
    by_mix: dict[str, list[dict[str, Any]]] = {}
    for result in sorted(results, key=lambda r: (list(MIXES).index(r["mix"]), r["rate"])):
        by_mix.setdefault(result["mix"], []).append(result)
    return {
        "config": {
            "duration": config.duration,
            "warmup": config.warmup,
            "tail": config.tail,
            "max_covers": config.max_covers,
            "min_duration": config.min_duration,
            "seed": config.seed,
            "account_limit": config.account_limit,
            "reserved": dict(config.reserved),
            "parameters": dict(config.parameters),
            "latencies": config.latencies.__dict__,
            "archive": config.archive,
            "vendor_limit": config.vendor_limit.__dict__ if config.vendor_limit else None,
        },
        "billing_rule": "Step Functions STANDARD: one state transition per state entered plus one per retry "
        "attempt (https://aws.amazon.com/step-functions/pricing/)",
        "prices": {
            k: {"usd": p.usd, "unit": p.unit, "source": p.source, "read": p.read, "confirmed": p.confirmed}
            for k, p in PRICES.items()
        },
        "mixes": by_mix,
        "run_seconds": round(time.perf_counter() - began, 1),
        "cpu_seconds": round(sum(r["cpu_seconds"] for r in results), 1),
    }


def quick_config(config: Config) -> Config:
    return replace(config, duration=QUICK_DURATION, warmup=QUICK_WARMUP)
