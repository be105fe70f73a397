"""``python -m bench.load``: the load simulation's tables (one per variant and mix, rows = rates) and its
JSON."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.load import run as runs
from bench.load.mixes import MIXES
from bench.load.stack import Config
from bench.load.vendor import RateLimit
from bench.results import save


def _fmt(dist: dict[str, float] | None, keys: tuple[str, ...], width: int) -> str:
    if not dist:
        return "-".rjust(width)
    return "/".join(f"{dist[k]:.0f}" if dist[k] >= 10 else f"{dist[k]:.1f}" for k in keys).rjust(width)


HEADER = (
    f"{'rate/s':>6} {'covers':>7} {'1st wait p5/50/95':>17} {'intvl p5/50/95':>14} "
    f"{'detect mean/50/95':>17} {'calls':>5} {'trans':>5} {'chk λs':>6} {'chk err%':>8} {'peak S/C/F':>12} "
    f"{'thrott':>7} {'N_A':>5} {'T_O':>5} {'strand':>6} {'WCU t/i/s':>12} {'$/1M std':>8} {'$/1M exp':>8}"
)


def _usd(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def row(r: dict[str, Any]) -> str:
    fn = r["lambda"]
    peak = "/".join(str(fn[n]["peak_concurrency"]) for n in runs.PIPELINE)
    db = r["dynamodb_per_cover"]
    out = r["outcomes"]
    cost = r["cost_per_million"]
    check = fn[runs.PIPELINE[1]]
    return (
        f"{r['rate']:>6g} {r['covers']:>7} {_fmt(r['first_wait'], ('p5', 'p50', 'p95'), 17)} "
        f"{_fmt(r['poll_interval'], ('p5', 'p50', 'p95'), 14)} "
        f"{_fmt(r['detection'], ('mean', 'p50', 'p95'), 17)} {r['status_calls_per_cover']:>5.1f} "
        f"{r['transitions_per_cover']:>5.1f} {check['seconds_per_cover']:>6.1f} "
        f"{100 * check['error_share']:>8.0f} {peak:>12} "
        f"{sum(out['throttles'].values()):>7} {out['needs_attention']:>5} {out['timed_out']:>5} "
        f"{out['stranded']:>6} {db['table_wcu']:>4.1f}/{db['index_wcu']:.1f}/{db['stats_wcu']:.1f} "
        f"{_usd(cost['total_standard']):>8} {_usd(cost['total_express']):>8}"
    )


def _plans(steps: list[dict[str, Any]]) -> str:
    return " ".join(
        f"{s['first_wait']['p50']:.0f}/{s['poll_interval']['p50']:.0f}" for s in steps if s["first_wait"]
    )


def details(r: dict[str, Any]) -> list[str]:
    """The lines under a row: the window after the doubling, tenants, how the plans evolved."""
    lines = []
    after = r.get("detection_after_change")
    if after:
        window = _fmt(after, ("mean", "p50", "p95"), 0)
        lines.append(f"detection within 15 min after the doubling, mean/50/95: {window}")
    for tenant, t in (r.get("by_tenant") or {}).items():
        lines.append(
            f"tenant {tenant}: {t['covers']} covers, first wait p5/50/95 "
            f"{_fmt(t['first_wait'], ('p5', 'p50', 'p95'), 0)}, interval "
            f"{_fmt(t['poll_interval'], ('p5', 'p50', 'p95'), 0)}, detection mean/50/95 "
            f"{_fmt(t['detection'], ('mean', 'p50', 'p95'), 0)}, calls {t['status_calls_per_cover']:.1f}"
        )
    steps = r.get("plan_evolution") or []
    if steps:
        step = steps[1]["from"] - steps[0]["from"] if len(steps) > 1 else 0
        lines.append(f"plans (p50 first wait/interval) every {step:.0f} s of arrivals: {_plans(steps)}")
    return [f"{'':>6} {line}" for line in lines]


def print_tables(result: dict[str, Any]) -> None:
    c = result["config"]
    print(
        f"Load simulation (virtual time), Poisson arrivals: figures of the covers that arrived between a "
        f"{c['warmup']:.0f} s warm-up and {c['duration']:.0f} s (shorter at high rates: at most "
        f"{c['max_covers']} covers, in a window never under {c['min_window']:.0f} s; arrivals go on "
        f"{c['tail']:.0f} s after, so they live under steady load), account concurrency "
        f"{c['account_limit']}, "
        f"seed {c['seed']}.\n"
        f"Columns: first wait and poll interval the start containers planned (s); detection delay = vendor "
        f"ready -> the status call that saw SUCCESS (s); status calls, state transitions, check "
        f"Lambda-seconds per cover; check invocations ending in an error (not ready: the poll loop's "
        f"Retry); peak concurrency start/check/finalize; Lambda throttles; covers ended NEEDS_ATTENTION, "
        f"TIMED_OUT; stranded = paid for, record never terminal; DynamoDB WCU per cover "
        f"(table/index/stats); list price per 1M covers of the workflow type simulated. "
        f"{result['billing_rule']}."
    )
    for variant, mixes in result["variants"].items():
        for mix, rows in mixes.items():
            print(f"\n{variant}: {mix}\n{HEADER}")
            for r in rows:
                print(row(r))
                for line in details(r):
                    print(line)


def _one_of(names: Iterable[str]) -> Callable[[str], str]:
    """An argparse type: the name that is ``text``, else the shortest that starts with it (case-insensitive:
    'standard' is the template's defaults, 'standard, poll' the other STANDARD variant)."""
    known = list(names)

    def pick(text: str) -> str:
        if text in known:
            return text
        found = [n for n in known if n.lower().startswith(text.lower())]
        if not found:
            raise argparse.ArgumentTypeError(f"{text!r} names none of: " + "; ".join(known))
        return min(found, key=len)

    return pick


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a 5-minute run of the two main mixes")
    parser.add_argument("--rates", type=float, nargs="+", help="covers/s (default: each mix's own)")
    # (argparse formats help with %: the mixes' names have some)
    mix_names = "; ".join(MIXES).replace("%", "%%")
    parser.add_argument(
        "--mixes",
        nargs="+",
        type=_one_of(MIXES),
        metavar="MIX",
        help=f"mixes by name or its start, e.g. 'slow' (default: all): {mix_names}",
    )
    parser.add_argument(
        "--variants",
        nargs="+",
        type=_one_of(runs.VARIANTS),
        metavar="VARIANT",
        help="deployments by name or its start, e.g. 'EXPRESS' (default: all; --quick: the template's "
        "defaults): " + "; ".join(runs.VARIANTS).replace("%", "%%"),
    )
    parser.add_argument(
        "--parameters",
        nargs="+",
        default=[],
        metavar="NAME=VALUE",
        help="template parameter overrides for every variant (e.g. PollFirstWaitPercentile=20)",
    )
    parser.add_argument("--duration", type=float, help="virtual seconds of arrivals per rate")
    parser.add_argument("--warmup", type=float, help="virtual seconds before distributions are read")
    parser.add_argument(
        "--max-covers", type=int, help="shorten high-rate runs to this many covers (0: never)"
    )
    parser.add_argument("--account-limit", type=int, help="Lambda account concurrency (default 1000)")
    parser.add_argument(
        "--reserved", nargs="+", default=[], metavar="FUNCTION=N", help="reserved concurrency, by logical id"
    )
    parser.add_argument(
        "--vendor-limit",
        type=float,
        nargs=2,
        metavar=("RATE", "BURST"),
        help="vendor status calls/s (token bucket) for every mix",
    )
    parser.add_argument(
        "--ddb-latency",
        type=float,
        nargs=2,
        metavar=("LOW", "HIGH"),
        help="seconds per DynamoDB call, uniform (default 0.005 0.010)",
    )
    parser.add_argument("--archive", action="store_true", help="ArchiveImages=true (S3 puts in the cost)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    parser.add_argument("--json", type=Path, help="where to write the figures (default bench/results/)")
    args = parser.parse_args()
    config = runs.quick_config(Config()) if args.quick else Config()
    overrides: dict[str, Any] = {"seed": args.seed}
    for name in ("duration", "warmup", "account_limit"):
        if getattr(args, name) is not None:
            overrides[name] = getattr(args, name)
    if args.reserved:
        overrides["reserved"] = {k: int(v) for k, v in (item.split("=", 1) for item in args.reserved)}
    if args.vendor_limit:
        overrides["vendor_limit"] = RateLimit(*args.vendor_limit)
    if args.ddb_latency:
        overrides["latencies"] = replace(Config().latencies, dynamodb=tuple(args.ddb_latency))
    if args.archive:
        overrides["archive"] = True
    if args.parameters:
        overrides["parameters"] = dict(item.split("=", 1) for item in args.parameters)
    if args.max_covers is not None:
        overrides["max_covers"] = args.max_covers or None
    config = replace(config, **overrides)
    mixes = args.mixes or (runs.QUICK_MIXES if args.quick else None)
    rates = args.rates or (runs.QUICK_RATES if args.quick else None)
    variants = args.variants or ((runs.STANDARD,) if args.quick else None)
    result = runs.run(variants=variants, mixes=mixes, rates=rates, config=config, workers=args.workers)
    print_tables(result)
    path = save(result, "load-", args.json)
    print(f"\n{result['run_seconds']:.0f} s ({result['cpu_seconds']:.0f} s of CPU); figures in {path}")


if __name__ == "__main__":
    main()
