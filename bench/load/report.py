"""From a finished run to figures: distributions over the covers that arrived in the measured window,
counts per cover over the whole run, and the cost per 1M covers at list price (bench/prices.py)."""

from __future__ import annotations

import math
import statistics
from collections import Counter
from typing import Any

from covers_core.domain.model import Status

from bench.load.pipeline import covers_in_window
from bench.load.stack import CHECK, FINALIZE, START, Cover, Stack
from bench.prices import usd

#: CloudWatch Logs bytes per invocation (an ESTIMATE, not measured in AWS): Lambda's START/END/REPORT
#: lines (~350 B), one Powertools JSON line with the Lambda context (~450 B) and one EMF metrics blob
#: (~350 B) per invocation; the start function logs nothing per request on its happy path.
LOG_BYTES_PER_INVOCATION = {START: 700, CHECK: 1150, FINALIZE: 1150}
#: More log bytes when an invocation ends in an error (an ESTIMATE): the Lambda runtime's error line
#: (errorType, errorMessage, a stack trace of about ten frames). The check ends most invocations so: a
#: not-ready error is how it asks the state machine for the next round.
LOG_BYTES_PER_ERROR = 900
#: Step Functions EXPRESS bills memory in 64 MB chunks; this workflow's payloads fit in one.
EXPRESS_MEMORY_GB = 64 / 1024
#: Window after the mid-run latency change whose detection delay is reported apart.
AFTER_CHANGE_SECONDS = 900.0
#: The plans' evolution is read in windows of this many seconds of arrivals.
EVOLUTION_STEP_SECONDS = 120.0


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
    detections = _detections(window)
    out: dict[str, Any] = {
        "mix": stack.mix.name,
        "rate": stack.rate,
        "duration": config.duration,
        "warmup": config.warmup,
        "covers": len(window),
        "covers_simulated": len(everyone),
        "workflow_type": stack.workflow_type,
        "parameters": dict(config.parameters),
        "first_wait": percentiles([float(c.first_wait) for c in window if c.first_wait is not None]),
        "poll_interval": percentiles([float(c.poll_interval) for c in window if c.poll_interval is not None]),
        "in_lambda_share": _share([c.in_lambda for c in window if c.in_lambda is not None]),
        "detection": percentiles(detections),
        "queue_wait": percentiles([c.generated - c.arrived for c in window if c.generated is not None]),
    }
    if stack.mix.change_at is not None:
        start = stack.mix.change_at
        after = covers_in_window(stack, start, start + AFTER_CHANGE_SECONDS)
        out["detection_after_change"] = percentiles(_detections(after))
    if stack.mix.tenants:
        out["by_tenant"] = {
            str(tenant.name): _tenant(window, tenant.name) for tenant in (*stack.mix.tenants,)
        } | {"(none)": _tenant(window, None)}
    out["plan_evolution"] = evolution(everyone, config.duration + config.tail)
    out.update(_per_cover(stack, window, max(1, len(everyone))))
    out["outcomes"] = _outcomes(stack, window)
    out["learner"] = _learner(stack, window)
    out["cost_per_million"] = costs(out)
    out["wall_seconds"] = round(wall_seconds, 1)
    return out


def _share(flags: list[bool]) -> float | None:
    """The share of covers planned to poll inside the check's invocation."""
    return sum(flags) / len(flags) if flags else None


def _detections(covers: list[Cover]) -> list[float]:
    return [c.detected - c.ready_at for c in covers if c.detected is not None and c.ready_at is not None]


def _tenant(window: list[Cover], tenant: str | None) -> dict[str, Any]:
    mine = [c for c in window if c.tenant == tenant]
    return {
        "covers": len(mine),
        "first_wait": percentiles([float(c.first_wait) for c in mine if c.first_wait is not None]),
        "poll_interval": percentiles([float(c.poll_interval) for c in mine if c.poll_interval is not None]),
        "detection": percentiles(_detections(mine)),
        "status_calls_per_cover": sum(c.status_calls for c in mine) / max(1, len(mine)),
    }


def evolution(covers: list[Cover], until: float) -> list[dict[str, Any]]:
    """The plans start containers gave, by window of arrival: first wait and poll interval p5/p50/p95."""
    out = []
    start = 0.0
    while start < until:
        plans = [c for c in covers if start <= c.arrived < start + EVOLUTION_STEP_SECONDS and c.first_wait]
        if plans:
            out.append(
                {
                    "from": start,
                    "covers": len(plans),
                    "first_wait": percentiles([float(c.first_wait or 0) for c in plans]),
                    "poll_interval": percentiles([float(c.poll_interval or 0) for c in plans]),
                    "in_lambda_share": _share([c.in_lambda for c in plans if c.in_lambda is not None]),
                }
            )
        start += EVOLUTION_STEP_SECONDS
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
            "peak_concurrency": lambdas.window_peak[name],  # in the measured window
            "peak_concurrency_run": stats.peak,  # the whole run, warm-up included
            "mean_concurrency": stack.window_concurrency.get(name, 0.0),
            "throttles": stats.throttles,
            "cold_starts": stats.cold_starts,
            "error_share": stats.errors / stats.requests if stats.requests else 0.0,  # whole run
        }
    writes = [usage.per_cover.get(c.task, (0, 0)) for c in window]
    return {
        "status_calls_per_cover": sum(c.status_calls for c in window) / n,
        "rate_limited_per_cover": sum(c.rate_limited for c in window) / n,
        "transitions_per_cover": sum(c.transitions for c in window) / n,
        "retries_per_cover": sum(c.retries for c in window) / n,
        "check_errors_per_cover": sum(c.check_errors for c in window) / n,
        "express_seconds_per_cover": sum(math.ceil(c.execution_seconds * 10) / 10 for c in window) / n,
        "lambda": functions,
        "peak_concurrency_total": lambdas.window_peak_total,
        "dynamodb_per_cover": {
            "table_wcu": sum(w[0] for w in writes) / n,
            "index_wcu": sum(w[1] for w in writes) / n,
            "stats_wcu": usage.stats_wcu / everyone,
            "budget_wcu": usage.budget_wcu / everyone,
            "table_rcu": usage.table_rcu / everyone,
            "stats_rcu": usage.stats_rcu / everyone,
            "budget_rcu": usage.budget_rcu / everyone,
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
    counted = [c for c in started if c.poll_count is not None]
    return {
        "statuses": dict(statuses),
        "needs_attention": statuses.get(Status.NEEDS_ATTENTION.value, 0),
        "timed_out": statuses.get(Status.TIMED_OUT.value, 0),
        # Paid for (generate answered) but the record never reached a terminal status.
        "stranded": sum(1 for c in started if c.status is None or not Status(c.status).terminal),
        "executions_failed": sum(1 for c in started if c.execution not in (None, "SUCCEEDED")),
        "execution_errors": dict(Counter(c.execution_error for c in started if c.execution_error)),
        "executions_unfinished": sum(1 for c in started if c.execution is None),
        "never_started": len(window) - len(started),
        "dead_lettered": stack.queue.stats.dead_lettered,  # whole run
        "throttles": {k: v.throttles for k, v in stack.lambdas.stats.items() if v.throttles},  # whole run
        # The record's poll count (what the checks reported) against the status calls actually made.
        "poll_count_off": sum(1 for c in counted if c.poll_count != c.status_calls),
        "poll_count_excess_mean": (
            statistics.fmean((c.poll_count or 0) - c.status_calls for c in counted) if counted else 0.0
        ),
        "poll_count_excess_max": max(((c.poll_count or 0) - c.status_calls for c in counted), default=0),
    }


def _learner(stack: Stack, window: list[Cover]) -> dict[str, Any]:
    learned = [c.learned for c in stack.covers.values() if c.learned is not None]
    table = stack.stats_table
    return {
        "name": stack.learner.name,
        "observations": sum(1 for learned_one in learned if learned_one),
        "not_stored": sum(1 for learned_one in learned if not learned_one),
        "stats_updates": table.updates,
        "stats_reads": table.reads,
        "stats_items": len(table.items),
        "succeeded_in_window": sum(1 for c in window if c.status == Status.SUCCEEDED.value),
    }


def costs(run: dict[str, Any]) -> dict[str, float | None]:
    """USD per 1M covers, by line, for the run's workflow type: ``total_standard`` (state transitions) for a
    STANDARD run, ``total_express`` (requests + duration at 64 MB, in 100 ms steps) for an EXPRESS run; the
    other total is None (an execution of the other type behaves differently: simulate it)."""
    m = 1e6
    express = run["workflow_type"] == "EXPRESS"
    lines: dict[str, float | None] = {}
    if express:
        lines["step_functions_express"] = (
            usd("sfn_express_request")
            + run["express_seconds_per_cover"] * EXPRESS_MEMORY_GB * usd("sfn_express_gb_second")
        ) * m
    else:
        lines["step_functions_standard"] = run["transitions_per_cover"] * usd("sfn_standard_transition") * m
    log_bytes = run["check_errors_per_cover"] * LOG_BYTES_PER_ERROR
    for name, fn in run["lambda"].items():
        gb_seconds = fn["seconds_per_cover"] * fn["memory_mb"] / 1024
        amount = fn["requests_per_cover"] * usd("lambda_request") + gb_seconds * usd("lambda_arm_gb_second")
        lines[f"lambda {name}"] = amount * m
        log_bytes += fn["requests_per_cover"] * LOG_BYTES_PER_INVOCATION.get(name, 1000)
    db = run["dynamodb_per_cover"]
    lines["dynamodb writes"] = (
        (db["table_wcu"] + db["index_wcu"] + db["stats_wcu"] + db["budget_wcu"]) * usd("dynamodb_write") * m
    )
    reads = db["table_rcu"] + db["stats_rcu"] + db["budget_rcu"]
    lines["dynamodb reads"] = reads * usd("dynamodb_read") * m
    lines["eventbridge"] = run["events_per_cover"] * usd("eventbridge_event") * m
    lines["sqs"] = run["sqs_requests_per_cover"] * usd("sqs_request") * m
    lines["secrets manager"] = run["secrets_calls_per_cover"] * usd("secrets_call") * m
    lines["cloudwatch logs"] = log_bytes / 2**30 * usd("logs_ingested_gb") * m
    lines["s3 puts"] = run["s3_puts_per_cover"] * usd("s3_put") * m
    total = sum(v for v in lines.values() if v is not None)
    lines["total_standard"] = None if express else total
    lines["total_express"] = total if express else None
    return lines
