"""Every (variant, mix, rate) of a run, side by side on worker processes (each run is independent and
seeded). A variant is a deployment: template parameter overrides (``Variant``), e.g. WorkflowType=EXPRESS."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
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
LOGNORMAL, BIMODAL = "lognormal(45s, 0.5)", "bimodal 90% ~35s / 10% ~150s"
QUICK_MIXES = (LOGNORMAL, BIMODAL)


@dataclass(frozen=True)
class Variant:
    """A deployment of the template: parameter overrides, and the mixes and rates the default plan runs
    it at (``runs``: mix -> rates; None: every mix, at each mix's own rates)."""

    name: str
    parameters: Mapping[str, Any] = field(default_factory=dict)
    runs: Mapping[str, tuple[float, ...]] | None = None


STANDARD = "STANDARD (template defaults)"
VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant(STANDARD),
        # An EXPRESS execution ends within 5 minutes: the template's rule allows a deadline of at most 240 s
        # (and the template sets the check's in-invocation budget to 0).
        Variant(
            "EXPRESS, PollMaxWaitSeconds=240",
            {"WorkflowType": "EXPRESS", "PollMaxWaitSeconds": 240},
            {LOGNORMAL: (1.0, 11.6), BIMODAL: (11.6,)},
        ),
        # What an operator does when the account's concurrency binds: one status call per check invocation.
        Variant(
            "STANDARD, PollInvocationBudgetSeconds=0",
            {"PollInvocationBudgetSeconds": 0},
            {LOGNORMAL: (116.0,)},
        ),
    )
}


def one(variant: str, mix_name: str, rate: float, config: Config) -> dict[str, Any]:
    logging.disable(logging.CRITICAL)  # the real code logs warnings (throttles, vendor errors) by design
    began, cpu = time.perf_counter(), time.process_time()
    parameters = {**config.parameters, **VARIANTS[variant].parameters}
    stack = simulate(MIXES[mix_name], rate, replace(config, parameters=parameters))
    result = summarise(stack, time.perf_counter() - began)
    result["variant"] = variant
    result["cpu_seconds"] = round(time.process_time() - cpu, 1)  # the machine may be shared: CPU too
    return result


def plan(
    variants: Iterable[str], mixes: Iterable[str] | None, rates: Iterable[float] | None
) -> list[tuple[str, str, float]]:
    """(variant, mix, rate) runs: ``mixes``/``rates`` when given, else each variant's own (else each
    mix's own rates)."""
    runs = []
    for variant_name in variants:
        own = VARIANTS[variant_name].runs or {}
        for name in tuple(mixes) if mixes is not None else (tuple(own) or tuple(MIXES)):
            chosen = rates if rates is not None else (own.get(name) or MIXES[name].rates or RATES)
            runs += [(variant_name, name, rate) for rate in chosen]
    return runs


def run(
    *,
    variants: Iterable[str] | None = None,
    mixes: Iterable[str] | None = None,
    rates: Iterable[float] | None = None,
    config: Config | None = None,
    workers: int = 2,
) -> dict[str, Any]:
    config = config or Config()
    runs = plan(
        variants or VARIANTS,
        tuple(mixes) if mixes is not None else None,
        tuple(rates) if rates is not None else None,
    )
    # Longest first (most covers), so the workers finish together.
    runs.sort(key=lambda r: -min(r[2] * (MIXES[r[1]].duration or config.duration), config.max_covers or 1e9))
    began = time.perf_counter()
    if workers <= 1:
        results = [one(variant, name, rate, config) for variant, name, rate in runs]
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(one, *zip(*runs, strict=True), [config] * len(runs)))
    by_variant: dict[str, dict[str, list[dict[str, Any]]]] = {}
    order = list(VARIANTS), list(MIXES)
    for result in sorted(
        results, key=lambda r: (order[0].index(r["variant"]), order[1].index(r["mix"]), r["rate"])
    ):
        by_variant.setdefault(result["variant"], {}).setdefault(result["mix"], []).append(result)
    return {
        "config": {
            "duration": config.duration,
            "warmup": config.warmup,
            "tail": config.tail,
            "max_covers": config.max_covers,
            "min_window": config.min_window,
            "seed": config.seed,
            "account_limit": config.account_limit,
            "reserved": dict(config.reserved),
            "parameters": dict(config.parameters),
            "latencies": config.latencies.__dict__,
            "archive": config.archive,
            "vendor_limit": config.vendor_limit.__dict__ if config.vendor_limit else None,
        },
        "billing_rule": "Step Functions STANDARD: one state transition per state entered plus one per retry "
        "attempt; EXPRESS: one request per execution plus its duration at 64 MB in 100 ms steps "
        "(https://aws.amazon.com/step-functions/pricing/)",
        "prices": {
            k: {"usd": p.usd, "unit": p.unit, "source": p.source, "read": p.read, "confirmed": p.confirmed}
            for k, p in PRICES.items()
        },
        "variants": by_variant,
        "run_seconds": round(time.perf_counter() - began, 1),
        "cpu_seconds": round(sum(r["cpu_seconds"] for r in results), 1),
    }


def quick_config(config: Config) -> Config:
    return replace(config, duration=QUICK_DURATION, warmup=QUICK_WARMUP)
