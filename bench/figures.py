"""``python -m bench.figures [RESULTS.json]``: the performance page's figures, from one ``make bench`` run.

Copies the run's sections to ``docs/figures/bench.json`` (committed: the page's source) and writes, in
``docs/performance.md``, the bench's own tables between ``<!-- bench-table -->`` markers, and between
``<!-- load-figures -->`` markers the targets and whether the run meets them, the plots, the capacity table
and one table per deployment and mix of the load simulation. It draws the plots (``docs/figures/*.svg``:
detection delay and cost per 1M covers against the arrival rate) with matplotlib, the optional ``plots`` extra
that ``make figures`` installs; each SVG carries the SHA-256 of the numbers it was drawn from
(``PLOT_DIGEST``). ``--check`` says whether the page and the plots match ``docs/figures/bench.json`` (a test
runs it, without matplotlib: it recomputes the digests), so neither can drift from the figures. Without a
path: the newest ``bench/results/*.json`` that has a ``load`` section, else ``docs/figures/bench.json`` itself
(the page and plots redrawn from the committed run)."""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SOURCE = ROOT / "docs" / "figures" / "bench.json"
PAGE = ROOT / "docs" / "performance.md"
BEGIN, END = "<!-- load-figures -->", "<!-- /load-figures -->"
TABLE_BEGIN, TABLE_END = "<!-- bench-table -->", "<!-- /bench-table -->"
#: The sections of a results file the page shows (all but the load simulation in the bench's own tables).
SECTIONS = ("coldstart", "start", "sizes", "local_scale", "crosscheck", "load")

STANDARD, EXPRESS, BUDGET_0 = (
    "STANDARD (template defaults)",
    "EXPRESS, PollMaxWaitSeconds=240",
    "STANDARD, PollInvocationBudgetSeconds=0",
)
LOGNORMAL, BIMODAL, DOUBLING = (
    "lognormal(45s, 0.5)",
    "bimodal 90% ~35s / 10% ~150s",
    "lognormal, doubling at 10 min",
)
SLOW, TENANTS, LIMITED = (
    "slow vendor (~10 min)",
    "lognormal, 10% tenant 'slow' x3",
    "lognormal, vendor limit 60 status/s",
)
PRODUCTION_RATE = 11.6  # covers/s: 1M a day
SHORT = {
    LOGNORMAL: "lognormal",
    BIMODAL: "bimodal",
    DOUBLING: "doubling",
    SLOW: "slow vendor",
    TENANTS: "tenant mix",
    LIMITED: "vendor limit",
}
CHECK = "CheckCoverStatusFunction"

#: The targets the plots draw (the performance issue's, as targets() checks them).
DETECTION_MEAN_TARGET, DETECTION_P95_TARGET = 3.0, 6.0
COST_TARGETS = {"STANDARD": 165.0, "EXPRESS": 80.0}
#: The plots: file -> what it shows. Their series: the main mixes of each deployment (the delay targets'
#: mixes; the special scenarios are in the tables).
PLOTS = {
    ROOT / "docs" / "figures" / "delay.svg": "detection delay",
    ROOT / "docs" / "figures" / "cost.svg": "cost per 1M covers",
}
PLOTTED_VARIANTS = {STANDARD: "STANDARD", EXPRESS: "EXPRESS (max wait 240 s)", BUDGET_0: "STANDARD, budget 0"}
PLOTTED_MIXES = (LOGNORMAL, BIMODAL)
#: In each SVG's metadata: the SHA-256 of the JSON of the numbers drawn (plot_data()).
PLOT_DIGEST = re.compile(r"data sha256 ([0-9a-f]{64})")

# Step Functions quotas (developer guide, "Quotas related to state throttling" and "API action throttling";
# us-east-1, us-west-2 and eu-west-1 / all other Regions): sustained rates, per account and Region.
STATE_TRANSITIONS_PER_SECOND = (1500, 500)
START_EXECUTIONS_PER_SECOND = (300, 150)
#: DynamoDB: one partition key takes at most 1,000 write units a second (the poll statistics' minute item).
ITEM_WCU_PER_SECOND = 1000


def runs(load: dict[str, Any], variant: str, mix: str) -> list[dict[str, Any]]:
    return list(load["variants"].get(variant, {}).get(mix, []))


def at(load: dict[str, Any], variant: str, mix: str, rate: float) -> dict[str, Any] | None:
    return next((r for r in runs(load, variant, mix) if r["rate"] == rate), None)


def wcu(run: dict[str, Any]) -> float:
    """Write units per cover: the covers table and its index, the poll statistics, the credit budgets'
    counters (runs from before credit budgets have none)."""
    db = run["dynamodb_per_cover"]
    return float(db["table_wcu"] + db["index_wcu"] + db["stats_wcu"] + db.get("budget_wcu", 0))


def cost(run: dict[str, Any]) -> float:
    c = run["cost_per_million"]
    return float(c["total_standard"] if c["total_standard"] is not None else c["total_express"])


def lost(run: dict[str, Any]) -> int:
    o = run["outcomes"]
    return int(o["needs_attention"] + o["stranded"])


def _where(run: dict[str, Any]) -> str:
    return f"{SHORT.get(run['mix'], run['mix'])}, {run['rate']:g}/s"


def _verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def targets(data: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    """(target, what the run measured, met or missed), for each target of the performance issue."""
    load = data["load"]
    main = [r for mix in (LOGNORMAL, BIMODAL) for r in runs(load, STANDARD, mix)]
    worst_mean = max(main, key=lambda r: r["detection"]["mean"])
    worst_p95 = max(main, key=lambda r: r["detection"]["p95"])
    yield (
        "detection delay mean <= 3 s, p95 <= 6 s (lognormal and bimodal, 0.3-116/s)",
        f"worst mean {worst_mean['detection']['mean']:.2f} s ({_where(worst_mean)}), "
        f"worst p95 {worst_p95['detection']['p95']:.2f} s ({_where(worst_p95)})",
        _verdict(worst_mean["detection"]["mean"] <= 3 and worst_p95["detection"]["p95"] <= 6),
    )
    for run in runs(load, STANDARD, DOUBLING):
        after = run["detection_after_change"]
        yield (
            "within 15 min of the vendor's latency doubling: the same",
            f"mean {after['mean']:.2f} s, p95 {after['p95']:.2f} s ({run['rate']:g}/s)",
            _verdict(after["mean"] <= 3 and after["p95"] <= 6),
        )
    standard = at(load, STANDARD, LOGNORMAL, PRODUCTION_RATE)
    if standard:
        peak = [cost(r) for r in runs(load, STANDARD, LOGNORMAL)]
        yield (
            "STANDARD <= $165 per 1M covers, priced in full",
            f"${cost(standard):.0f} at {PRODUCTION_RATE}/s; ${min(peak):.0f}-${max(peak):.0f} over 0.3-116/s",
            _verdict(cost(standard) <= 165) + ("" if max(peak) <= 165 else " (missed above the target rate)"),
        )
    express = at(load, EXPRESS, LOGNORMAL, PRODUCTION_RATE)
    if express:
        yield (
            "EXPRESS <= $80 per 1M covers",
            f"${cost(express):.0f} at {PRODUCTION_RATE}/s",
            _verdict(cost(express) <= 80),
        )
    calls = max(main, key=lambda r: r["status_calls_per_cover"])
    yield (
        "<= 7 status calls per cover on average",
        f"at most {calls['status_calls_per_cover']:.2f} ({_where(calls)})",
        _verdict(calls["status_calls_per_cover"] <= 7),
    )
    every = [r for mixes in load["variants"].values() for rs in mixes.values() for r in rs]
    writes = max(every, key=wcu)
    untenanted = max((r for r in every if "tenant" not in r["mix"]), key=wcu)
    yield (
        "<= 8 DynamoDB write units per cover",
        f"at most {wcu(writes):.1f} ({_where(writes)}; {wcu(untenanted):.1f} where covers name no tenant)",
        _verdict(wcu(writes) <= 8),
    )
    for run in runs(load, STANDARD, SLOW):
        held = run["lambda"][CHECK]["seconds_per_cover"]
        yield (
            "slow vendor (~10 min), once learned: <= $250 per 1M, no Lambda held while waiting",
            f"${cost(run):.0f}, {held:.1f} check Lambda-seconds per cover ({run['rate']:g}/s)",
            _verdict(cost(run) <= 250 and held < 10),
        )
    if standard:
        peak_check = standard["lambda"][CHECK]["peak_concurrency"]
        yield (
            f"peak check concurrency at {PRODUCTION_RATE}/s <= 400",
            f"{peak_check}",
            _verdict(peak_check <= 400),
        )
    losing = [r for r in every if lost(r)]
    yield (
        "no paid cover lost or stranded, at any rate (throttling included)",
        f"{sum(lost(r) for r in every)} NEEDS_ATTENTION or stranded in {len(every)} runs",
        _verdict(not losing),
    )
    cold = data.get("coldstart", {}).get("first_call", {}).get("ratio_to_minimal")
    if cold:
        name, ratio = max(cold.items(), key=lambda kv: float(kv[1]))
        yield (
            "import + first invocation <= 1.3x a minimal boto3 handler making the same calls",
            f"worst {float(ratio):.2f} ({name}; wall time, median of "
            f"{data['coldstart']['first_call']['rounds']} pairs on a shared machine)",
            _verdict(float(ratio) <= 1.3),
        )


def run_table(rows: list[dict[str, Any]]) -> list[str]:
    out = [
        "| covers/s | first wait p50 | in Lambda | detection mean / p95 | status calls | transitions | "
        "check λ-s | peak check | throttles | lost | TIMED_OUT | WCU | $ per 1M |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        share = r.get("in_lambda_share")
        check = r["lambda"][CHECK]
        cells = (
            f"{r['rate']:g}",
            f"{r['first_wait']['p50']:.0f} s",
            "-" if share is None else f"{100 * share:.0f} %",
            f"{r['detection']['mean']:.1f} / {r['detection']['p95']:.1f} s",
            f"{r['status_calls_per_cover']:.1f}",
            f"{r['transitions_per_cover']:.1f}",
            f"{check['seconds_per_cover']:.1f}",
            f"{check['peak_concurrency']}",
            f"{check['throttles']}",
            f"{lost(r)}",
            f"{r['outcomes']['timed_out']}",
            f"{wcu(r):.1f}",
            f"${cost(r):.0f}",
        )
        out.append(_row(cells))
    return out


def _row(cells: tuple[str, ...]) -> str:
    return "| " + " | ".join(cells) + " |"


def capacity(load: dict[str, Any]) -> list[str]:
    """Where each stage binds with the defaults, from the simulation's per-cover figures."""
    base = at(load, STANDARD, LOGNORMAL, PRODUCTION_RATE)
    top = max(runs(load, STANDARD, LOGNORMAL), key=lambda r: r["rate"], default=None)
    if base is None or top is None:
        return []
    held = base["lambda"][CHECK]["seconds_per_cover"]
    target = int(base["parameters"].get("CheckConcurrencyTarget", 300))
    per_cover_at_top = top["peak_concurrency_total"] / top["rate"]
    account = int(load["config"]["account_limit"])
    transitions = top["transitions_per_cover"]
    tenants = at(load, STANDARD, TENANTS, PRODUCTION_RATE)
    stats_writes = (tenants or base)["dynamodb_per_cover"]["stats_wcu"]
    limited = at(load, STANDARD, LIMITED, PRODUCTION_RATE)
    st_main, st_other = STATE_TRANSITIONS_PER_SECOND
    se_main, se_other = START_EXECUTIONS_PER_SECOND
    rows = [
        "| stage | binds on | covers/s where it binds (defaults) | knob | raising it costs | when it binds |",
        "| --- | --- | --- | --- | --- | --- |",
        _row(
            (
                "check Lambdas polling in their invocation",
                f"`CheckConcurrencyTarget` ({target})",
                f"~{target / held:.0f} ({held:.1f} Lambda-s per cover at {PRODUCTION_RATE}/s)",
                "`CheckConcurrencyTarget`",
                "nothing until it binds; it shares the account's concurrency",
                "the share beyond it polls from the state machine every 5 s: same delay, more transitions "
                f"(${cost(base):.0f} per 1M at {PRODUCTION_RATE}/s, ${cost(top):.0f} at {top['rate']:g}/s)",
            )
        ),
        _row(
            (
                "all functions",
                f"the account's Lambda concurrency ({account})",
                f"~{account / per_cover_at_top:.0f} ({top['peak_concurrency_total']} at peak at "
                f"{top['rate']:g}/s, extrapolated)",
                "a quota increase; `FinalizeReservedConcurrency` keeps finalize's share",
                "nothing (Lambda bills use)",
                "throttled calls are retried (up to 40 times, with backoff): covers are late, none lost "
                f"({lost(top)} lost at {top['rate']:g}/s, "
                f"{top['lambda'][CHECK]['throttles']} check throttles, while the learner warmed up)",
            )
        ),
        _row(
            (
                "start",
                "`QueueMaxConcurrency` x `QueueBatchSize`",
                f"beyond {top['rate']:g} (queue wait p95 {top['queue_wait']['p95']:.1f} s "
                f"at {top['rate']:g}/s)",
                "`QueueMaxConcurrency`",
                "more vendor calls at once",
                "requests wait in the queue (they are not lost)",
            )
        ),
        _row(
            (
                "Step Functions state transitions",
                f"{st_main:,}/s (us-east-1, us-west-2, eu-west-1), {st_other:,}/s elsewhere",
                f"~{st_main / transitions:.0f} / ~{st_other / transitions:.0f} ({transitions:.1f} per cover "
                f"at {top['rate']:g}/s)",
                "a quota increase; a higher `CheckConcurrencyTarget` (fewer transitions per cover)",
                "nothing",
                "executions are throttled (delayed); not simulated",
            )
        ),
        _row(
            (
                "StartExecution",
                f"{se_main}/s, {se_other}/s elsewhere",
                f"{se_main} / {se_other}",
                "a quota increase",
                "nothing",
                "the start function retries through the queue (the cover task id is already stored); "
                "not simulated",
            )
        ),
        _row(
            (
                "poll statistics",
                "one item a minute takes every finalize's ADD "
                f"({stats_writes:.1f} WCU per cover with tenants)",
                f"~{ITEM_WCU_PER_SECOND / stats_writes:.0f}",
                "-",
                "-",
                "DynamoDB throttles the ADD: finalize logs it and goes on (the schedule learns from fewer "
                "covers); not simulated",
            )
        ),
    ]
    if "budget_wcu" in base["dynamodb_per_cover"]:
        rows.append(
            _row(
                (
                    "credit budgets",
                    "the stack's counter, one item a month, takes every generate's ADD (1 WCU)",
                    f"~{ITEM_WCU_PER_SECOND}",
                    "-",
                    "-",
                    "DynamoDB throttles the ADD: the start function leaves the request on the queue for a "
                    "later delivery (no credit spent); not simulated",
                )
            )
        )
    if limited:
        calls = base["status_calls_per_cover"]
        rows.append(
            _row(
                (
                    "the vendor's status API",
                    "its rate limit (unpublished)",
                    f"{calls:.1f} calls per cover: {calls * PRODUCTION_RATE:.0f}/s at {PRODUCTION_RATE}/s",
                    "-",
                    "-",
                    "429s wait out `Retry-After` (>= 15 s): at 60 calls/s, detection mean "
                    f"{limited['detection']['mean']:.1f} s, p95 {limited['detection']['p95']:.1f} s, "
                    f"{lost(limited)} lost",
                )
            )
        )
    return rows


def render(data: dict[str, Any]) -> str:
    load = data["load"]
    lines = [
        BEGIN,
        f"<!-- generated by `python -m bench.figures` from docs/figures/bench.json ({data['source']}): "
        "do not edit by hand -->",
        "",
        f"One run (`make bench`, {data['machine']}; seed {load['config']['seed']}, account concurrency "
        f'{load["config"]["account_limit"]}). "in Lambda": covers the planner let poll inside the check\'s '
        'invocation; "lost": paid covers that ended NEEDS_ATTENTION or whose record never became terminal; '
        "WCU: table + index + poll statistics + credit budget counters.",
        "",
        "### Targets",
        "",
        "| target | measured | |",
        "| --- | --- | --- |",
        *(f"| {t} | {m} | {v} |" for t, m, v in targets(data)),
        "",
        "### Plots",
        "",
        "Detection delay and cost per 1M covers against the arrival rate, for the main mixes of each "
        "deployment (the tables below have every run; the plots are drawn from the same figures):",
        "",
        *(line for ref in plot_references() for line in (ref, "")),
        "### Capacity",
        "",
        *capacity(load),
    ]
    for variant, mixes in load["variants"].items():
        for mix, rows in mixes.items():
            lines += ["", f"### {variant}: {mix}", "", *run_table(rows)]
            for run in rows:
                if "detection_after_change" in run:
                    after = run["detection_after_change"]
                    lines.append(
                        f"\nAt {run['rate']:g}/s, covers generated within 15 minutes after the doubling: "
                        f"detection mean {after['mean']:.1f} s, p95 {after['p95']:.1f} s."
                    )
                for tenant, figures in (run.get("by_tenant") or {}).items():
                    lines.append(
                        f"\nAt {run['rate']:g}/s, tenant {tenant}: first wait p50 "
                        f"{figures['first_wait']['p50']:.0f} s, "
                        f"detection mean {figures['detection']['mean']:.1f} s, "
                        f"{figures['status_calls_per_cover']:.1f} status calls per cover."
                    )
    lines.append(END)
    return "\n".join(lines)


def render_bench(data: dict[str, Any]) -> str:
    """The bench's own tables (as `make bench` prints them) for the sections the run has."""
    from bench.__main__ import table

    lines = [TABLE_BEGIN, f"<!-- generated by `python -m bench.figures` ({data['source']}) -->", ""]
    if any(k in data for k in SECTIONS if k not in ("load", "crosscheck")):
        lines += ["```", *table(data), "```"]
    if "crosscheck" in data:
        from bench.crosscheck import print_table

        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            print_table(data["crosscheck"])
        lines += ["", "```", *printed.getvalue().rstrip().splitlines(), "```"]
    lines.append(TABLE_END)
    return "\n".join(lines)


def _replace(page: str, begin: str, end: str, block: str) -> str:
    head, found, rest = page.partition(begin)
    if not found:
        raise SystemExit(f"{PAGE.relative_to(ROOT)} has no {begin} marker")
    _, closed, tail = rest.partition(end)
    return head + block + (tail if closed else "\n")


def page_with(figures: str, page: str, bench: str | None = None) -> str:
    page = _replace(page, BEGIN, END, figures)
    return page if bench is None else _replace(page, TABLE_BEGIN, TABLE_END, bench)


def new_page(data: dict[str, Any], page: str) -> str:
    return page_with(render(data), page, render_bench(data))


# --- the plots ---------------------------------------------------------------------------------------------


def plot_data(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The numbers each plot draws (and nothing else): its digest decides whether the plot is current."""
    load = data["load"]
    series = []
    for variant, short in PLOTTED_VARIANTS.items():
        for mix in PLOTTED_MIXES:
            rows = sorted(runs(load, variant, mix), key=lambda r: float(r["rate"]))
            if rows:
                series.append(
                    {
                        "name": f"{short}, {SHORT[mix]}",
                        "workflow": rows[0]["workflow_type"],
                        "rate": [float(r["rate"]) for r in rows],
                        "mean": [float(r["detection"]["mean"]) for r in rows],
                        "p95": [float(r["detection"]["p95"]) for r in rows],
                        "cost": [cost(r) for r in rows],
                    }
                )
    keep = ("name", "workflow", "rate")
    delay, money = PLOTS
    return {
        delay.name: {
            "series": [{k: s[k] for k in (*keep, "mean", "p95")} for s in series],
            "targets": {"mean": DETECTION_MEAN_TARGET, "p95": DETECTION_P95_TARGET},
            "production_rate": PRODUCTION_RATE,
        },
        money.name: {
            "series": [{k: s[k] for k in (*keep, "cost")} for s in series],
            "targets": COST_TARGETS,
            "production_rate": PRODUCTION_RATE,
        },
    }


def digest(numbers: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(numbers, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def stale_plots(data: dict[str, Any]) -> list[Path]:
    """The plots missing, or drawn from other numbers than ``data``'s (read from their SVG, no matplotlib)."""
    wanted = plot_data(data)
    stale = []
    for path in PLOTS:
        found = PLOT_DIGEST.search(path.read_text(encoding="utf-8")) if path.is_file() else None
        if found is None or found.group(1) != digest(wanted[path.name]):
            stale.append(path)
    return stale


def plot_references() -> list[str]:
    """The page's references to the plots (in the generated block, beside the tables)."""
    return [f"![{what} against the arrival rate](figures/{path.name})" for path, what in PLOTS.items()]


#: Fixed style, so the same numbers draw the same bytes: DejaVu Sans (matplotlib ships it) as paths, a fixed
#: hash salt for the SVG ids, white backgrounds (legible in GitHub's light and dark themes).
_STYLE = {
    "svg.hashsalt": "covers-pipeline",
    "svg.fonttype": "path",
    "font.family": "DejaVu Sans",
    "font.size": 10,
    "figure.facecolor": "white",
    "axes.facecolor": "white",
    "savefig.facecolor": "white",
    "axes.grid": True,
    "grid.alpha": 0.3,
}
_LINESTYLE = {"STANDARD": "-", "EXPRESS": "--"}
RATE_TICKS = (0.1, 0.3, 1, 3, 10, 30, 100, 300)


def draw(data: dict[str, Any]) -> list[Path]:
    """Draw every plot from ``data`` (needs matplotlib: ``pip install -e '.[plots]'``; make figures does)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    numbers = plot_data(data)
    delay_path, cost_path = PLOTS
    style: Any = _STYLE
    with matplotlib.rc_context(style):
        delay = numbers[delay_path.name]
        figure, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharex=True)
        for ax, key, title in zip(axes, ("mean", "p95"), ("mean", "95th percentile"), strict=True):
            for s in delay["series"]:
                ax.plot(s["rate"], s[key], _LINESTYLE.get(s["workflow"], ":"), marker="o", label=s["name"])
            target = delay["targets"][key]
            ax.axhline(target, color="tab:red", linewidth=1.2, linestyle=(0, (4, 2)))
            _note(
                ax,
                f"target {target:g} s",
                (0.99, target),
                ("axes fraction", "data"),
                "tab:red",
                align="right",
            )
            ax.set_ylim(0, target * 1.25)
            ax.set_title(f"detection delay, {title}")
            ax.set_ylabel("seconds (vendor ready -> SUCCESS seen)")
            _rate_axis(ax, delay["production_rate"], [r for s in delay["series"] for r in s["rate"]])
        figure.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=3, frameon=False)
        figure.tight_layout(rect=(0, 0.12, 1, 1))
        _save(figure, delay_path, delay)
        plt.close(figure)

        money = numbers[cost_path.name]
        figure, ax = plt.subplots(figsize=(10, 4.2))
        colors: dict[str, Any] = {}
        for s in money["series"]:
            (line,) = ax.plot(
                s["rate"], s["cost"], _LINESTYLE.get(s["workflow"], ":"), marker="o", label=s["name"]
            )
            colors.setdefault(s["workflow"], line.get_color())
        for workflow, target in money["targets"].items():
            color = colors.get(workflow, "tab:red")
            ax.axhline(target, color=color, linewidth=1.2, linestyle=(0, (4, 2)))
            _note(
                ax,
                f"{workflow} target ${target:g}",
                (0.99, target),
                ("axes fraction", "data"),
                color,
                align="right",
            )
        ax.set_ylim(0, max(max(s["cost"]) for s in money["series"]) * 1.15)
        ax.set_title("cost per 1M covers, priced in full (us-east-1 list prices)")
        ax.set_ylabel("$ per 1M covers")
        _rate_axis(ax, money["production_rate"], [r for s in money["series"] for r in s["rate"]])
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
        figure.tight_layout()
        _save(figure, cost_path, money)
        plt.close(figure)
    return list(PLOTS)


def _rate_axis(ax: Any, production_rate: float, rates: list[float]) -> None:
    from matplotlib.ticker import NullFormatter

    ax.set_xscale("log")
    low, high = min(rates) / 1.6, max(rates) * 1.6
    ticks = [t for t in RATE_TICKS if low <= t <= high]
    ax.set_xticks(ticks, labels=[f"{t:g}" for t in ticks])
    ax.set_xlim(low, high)
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("arrival rate, covers/s (log scale)")
    ax.axvline(production_rate, color="grey", linewidth=0.8)
    _note(ax, f"{production_rate:g}/s = 1M a day", (production_rate, 0.02), ("data", "axes fraction"), "grey")


def _note(
    ax: Any, text: str, at: tuple[float, float], coords: tuple[str, str], color: str, *, align: str = "left"
) -> None:
    """A label just above a point (a target line's end, the production rate's foot)."""
    shift = (-3 if align == "right" else 3, 3)
    ax.annotate(text, at, xycoords=coords, xytext=shift, textcoords="offset points", color=color, fontsize=8,
                ha=align)  # fmt: skip


def _save(figure: Any, path: Path, numbers: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {
        "Date": None,
        "Creator": "python -m bench.figures",
        "Description": f"drawn from docs/figures/bench.json; data sha256 {digest(numbers)}",
    }
    figure.savefig(path, format="svg", metadata=metadata)


def newest_results() -> Path:
    for path in sorted(RESULTS.glob("*.json"), reverse=True):
        if "load" in json.loads(path.read_text()):
            return path
    raise SystemExit("no bench/results/*.json with a load section: run `make bench` first")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.figures", description=__doc__)
    parser.add_argument(
        "results", nargs="?", type=Path, help="a make bench results file (default: the newest)"
    )
    parser.add_argument(
        "--check", action="store_true", help="only say whether the page and plots are current"
    )
    args = parser.parse_args(argv)
    if args.check:
        data = json.loads(SOURCE.read_text())
        stale = [PAGE] if new_page(data, PAGE.read_text()) != PAGE.read_text() else []
        stale += stale_plots(data)
        for path in stale:
            print(f"{path.relative_to(ROOT)} is stale: run `make figures` ({data['source']})")
        return 1 if stale else 0
    if args.results is None and not any(RESULTS.glob("*.json")):
        print(f"no bench/results/*.json: redrawing from {SOURCE.relative_to(ROOT)}")
        data = json.loads(SOURCE.read_text())
    else:
        path = args.results or newest_results()
        results = json.loads(path.read_text())
        data = {
            "source": path.name,
            "machine": results.get("machine", "?"),
            **{k: results[k] for k in SECTIONS if k in results},
        }
        SOURCE.parent.mkdir(parents=True, exist_ok=True)
        SOURCE.write_text(json.dumps(data, indent=1) + "\n")
    PAGE.write_text(new_page(data, PAGE.read_text()))
    try:
        drawn = draw(data)
    except ImportError:
        print(
            "matplotlib is missing: `make figures` installs it (pip install -e '.[plots]')", file=sys.stderr
        )
        return 1
    shown = ", ".join(str(p.relative_to(ROOT)) for p in [SOURCE, PAGE, *drawn])
    print(f"wrote {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
