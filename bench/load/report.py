"""From a finished run to figures: distributions over the covers that arrived in the measured window,
counts per cover over the whole run, and the cost per 1M covers at list price (bench/prices.py)."""

from __future__ import annotations

import math
import statistics
from collections import Counter
from typing import Any

from covers_core.domain.model import Status

from bench.load.learners import AdaptiveFirstWait
from bench.load.pipeline import covers_in_window
from bench.load.stack import CHECK, FINALIZE, START, Cover, Stack
from bench.prices import usd

#: CloudWatch Logs bytes per invocation (an ESTIMATE, not measured in AWS): Lambda's START/END/REPORT
#: lines (~350 B), one Powertools JSON line with the Lambda context (~450 B) and one EMF metrics blob
#: (~350 B) per invocation; the start function logs nothing per request on its happy path.
LOG_BYTES_PER_INVOCATION = {START: 700, CHECK: 1150, FINALIZE: 1150}
#: Step Functions EXPRESS bills memory in 64 MB chunks; this workflow's payloads fit in one.
EXPRESS_MEMORY_GB = 64 / 1024
#: Window after the mid-run latency change whose detection delay is reported apart.
AFTER_CHANGE_SECONDS = 900.0


def percentiles(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {
        "p5": at(0.05),
        "p50": at(0.50),
        "p95": at(0.95),
        "mean": statistics.fmean(ordered),
        "n": len(ordered),
    }


def summarise(stack: Stack, wall_seconds: float) -> dict[str, Any]:
    """Figures of the covers that arrived between warmup and duration (they lived under steady load:
    arrivals went on ``tail`` seconds after), except the few counts no cover owns (the learner's table,
    SQS, Secrets Manager: whole-run totals over every cover)."""
    config, everyone = stack.config, list(stack.covers.values())
    window = covers_in_window(stack, config.warmup, config.duration)
    detections = [
        c.detected - c.ready_at for c in window if c.detected is not None and c.ready_at is not None
    ]
    out: dict[str, Any] = {
        "mix": stack.mix.name,
        "rate": stack.rate,
        "duration": config.duration,
        "warmup": config.warmup,
        "covers": len(window),
        "covers_simulated": len(everyone),
        "first_wait": percentiles([float(c.first_wait) for c in window if c.first_wait is not None]),
        "detection": percentiles(detections),
        "queue_wait": percentiles([c.generated - c.arrived for c in window if c.generated is not None]),
    }
    if stack.mix.change_at is not None:
        start = stack.mix.change_at
        after = covers_in_window(stack, start, start + AFTER_CHANGE_SECONDS)
        out["detection_after_change"] = percentiles(
            [c.detected - c.ready_at for c in after if c.detected is not None and c.ready_at is not None]
        )
    out.update(_per_cover(stack, window, max(1, len(everyone))))
    out["outcomes"] = _outcomes(stack, window)
    out["learner"] = _learner(stack)
    out["cost_per_million"] = costs(out)
    out["wall_seconds"] = round(wall_seconds, 1)
    return out


def _per_cover(stack: Stack, window: list[Cover], everyone: int) -> dict[str, Any]:
    n = max(1, len(window))
    lambdas, usage, queue = stack.lambdas, stack.usage, stack.queue.stats
    functions = {}
    for name, stats in lambdas.stats.items():
        functions[name] = {
            "memory_mb": lambdas.specs[name].memory_mb,
            "requests_per_cover": sum(c.requests.get(name, 0.0) for c in window) / n,
            "seconds_per_cover": sum(c.seconds.get(name, 0.0) for c in window) / n,
            "peak_concurrency": stats.peak,
            "mean_concurrency": stack.window_concurrency.get(name, 0.0),
            "throttles": stats.throttles,
            "cold_starts": stats.cold_starts,
        }
    writes = [usage.per_cover.get(c.task, (0, 0)) for c in window]
    return {
        "status_calls_per_cover": sum(c.status_calls for c in window) / n,
        "rate_limited_per_cover": sum(c.rate_limited for c in window) / n,
        "transitions_per_cover": sum(c.transitions for c in window) / n,
        "retries_per_cover": sum(c.retries for c in window) / n,
        "express_seconds_per_cover": sum(math.ceil(c.execution_seconds * 10) / 10 for c in window) / n,
        "lambda": functions,
        "peak_concurrency_total": lambdas.peak_total,
        "dynamodb_per_cover": {
            "table_wcu": sum(w[0] for w in writes) / n,
            "index_wcu": sum(w[1] for w in writes) / n,
            "stats_wcu": usage.stats_wcu / everyone,
            "table_rcu": usage.table_rcu / everyone,
            "stats_rcu": usage.stats_rcu / everyone,
        },
        "sqs_requests_per_cover": (queue.sends + queue.receives + queue.empty_receives + queue.deletes)
        / everyone,
        "secrets_calls_per_cover": stack.secrets_calls / everyone,
        "events_per_cover": stack.events_published / everyone,
        "s3_puts_per_cover": stack.s3_puts / everyone,
    }


def _outcomes(stack: Stack, window: list[Cover]) -> dict[str, Any]:
    statuses = Counter(c.status or "none" for c in window)
    started = [c for c in window if c.generated is not None]
    return {
        "statuses": dict(statuses),
        "needs_attention": statuses.get(Status.NEEDS_ATTENTION.value, 0),
        # Paid for (generate answered) but the record never reached a terminal status.
        "stranded": sum(1 for c in started if c.status is None or not Status(c.status).terminal),
        "executions_failed": sum(1 for c in started if c.execution not in (None, "SUCCEEDED")),
        "executions_unfinished": sum(1 for c in started if c.execution is None),
        "never_started": len(window) - len(started),
        "dead_lettered": stack.queue.stats.dead_lettered,  # whole run
        "throttles": {k: v.throttles for k, v in stack.lambdas.stats.items() if v.throttles},  # whole run
    }


def _learner(stack: Stack) -> dict[str, Any]:
    observed = [c.observed for c in stack.covers.values() if c.observed is not None]
    dropped = sum(1 for o in observed if not o)
    learner = stack.learner
    return {
        "name": learner.name,
        "observations": len(observed),
        "dropped": dropped,
        "dropped_pct": 100.0 * dropped / len(observed) if observed else 0.0,
        "write_conflicts": stack.stats_table.conflicts,
        "learned_seconds_at_end": learner.learned_seconds()
        if isinstance(learner, AdaptiveFirstWait)
        else None,
    }


def costs(run: dict[str, Any]) -> dict[str, float]:
    """USD per 1M covers, by line; ``total_standard`` with a STANDARD workflow, ``total_express`` with the
    same executions priced as EXPRESS (requests + duration: a price, not a simulation of EXPRESS)."""
    m = 1e6
    lines: dict[str, float] = {
        "step_functions_standard": run["transitions_per_cover"] * usd("sfn_standard_transition") * m,
        "step_functions_express": (
            usd("sfn_express_request")
            + run["express_seconds_per_cover"] * EXPRESS_MEMORY_GB * usd("sfn_express_gb_second")
        )
        * m,
    }
    log_bytes = 0.0
    for name, fn in run["lambda"].items():
        gb_seconds = fn["seconds_per_cover"] * fn["memory_mb"] / 1024
        amount = fn["requests_per_cover"] * usd("lambda_request") + gb_seconds * usd("lambda_arm_gb_second")
        lines[f"lambda {name}"] = amount * m
        log_bytes += fn["requests_per_cover"] * LOG_BYTES_PER_INVOCATION.get(name, 1000)
    db = run["dynamodb_per_cover"]
    lines["dynamodb writes"] = (
        (db["table_wcu"] + db["index_wcu"] + db["stats_wcu"]) * usd("dynamodb_write") * m
    )
    lines["dynamodb reads"] = (db["table_rcu"] + db["stats_rcu"]) * usd("dynamodb_read") * m
    lines["eventbridge"] = run["events_per_cover"] * usd("eventbridge_event") * m
    lines["sqs"] = run["sqs_requests_per_cover"] * usd("sqs_request") * m
    lines["secrets manager"] = run["secrets_calls_per_cover"] * usd("secrets_call") * m
    lines["cloudwatch logs"] = log_bytes / 2**30 * usd("logs_ingested_gb") * m
    lines["s3 puts"] = run["s3_puts_per_cover"] * usd("s3_put") * m
    shared = sum(v for k, v in lines.items() if not k.startswith("step_functions"))
    lines["total_standard"] = shared + lines["step_functions_standard"]
    lines["total_express"] = shared + lines["step_functions_express"]
    return lines
