"""The load simulation (bench/load) against the local pipeline, on the SAME workload (``python -m
bench.crosscheck``; ``make bench``'s ``crosscheck`` section).

* **Real**: the local pipeline as ``covers run --template-schedule`` runs it (covers_local/cli_runs.py
  ``run_local``: the template's defaults for every Poll* parameter, PollInvocationBudgetSeconds kept), i.e.
  moto with its Step Functions engine executing statemachine/cover_workflow.asl.json with real waits, the
  real handlers in-process, and the built-in vendor emulator answering each call after ``VENDOR_SECONDS``.
  N covers arrive as a Poisson process (submitted to the queue at their time, the queue pumped as
  ``LocalPipeline.run`` pumps it); each music task gets its drawn latency (generate -> ready) through the
  emulator's ``ready_after_for``.
* **Simulated**: the same covers, at the same arrival times (those the real run submitted at) and with the
  same latencies (``mixes.replay``), through bench/load with the deployed stack's parameters.

The latencies are drawn from the sim's lognormal mix (``mixes.LOGNORMAL``, median 45 s, times ``scale``),
seeded. Measured per cover, real side: status calls the emulator answered, check invocations and state
transitions from moto's execution history (states entered plus retries, as bench/load/report.py counts
them), detection delay (the emulator's ready instant -> the status answer that said SUCCESS, both logged
by the emulator), the plan's first wait (the execution's input), the poll count finalize recorded, the end
status. The sim's environment model is set to the local one where they differ by construction: no cold
starts (the local handlers are imported once) and every vendor call ``VENDOR_SECONDS``; the rest of the
sim (the event source's 1 s batching window, DynamoDB and Lambda service times) is its own. With ~40 covers
the learned first wait stays on its template fallback (it needs ``MIN_COVERS`` finalized covers): this
checks the loop's mechanics (first wait, in-Lambda polling, PollAgain rounds, the cadence Retry blocks,
finalize), not the learner.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import logging
import random
import statistics
import tempfile
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from covers_core.domain.first_wait import MIN_COVERS

from bench.load.mixes import LOGNORMAL, Arrival, replay
from bench.load.pipeline import simulate, task_name
from bench.load.stack import CHECK, Config, Latencies
from bench.results import save
from covers_local.template import parameter_defaults, project_root

COVERS, RATE, SEED, SCALE = 40, 0.3, 42, 1.0
#: Each emulator answer takes this long (its ``base_latency_seconds``); the sim's vendor calls too (its
#: default status call is uniform 0.15-0.35 s: this is its mean).
VENDOR_SECONDS = 0.25
#: As ``LocalPipeline.run``: when a pump found nothing, the next one after this long.
IDLE_SECONDS = 0.2
#: Give up on the real run this long after its last arrival (a cover lives ~20 s + its latency + 5 s).
SETTLE_SECONDS = 600.0
ASL = project_root() / "statemachine" / "cover_workflow.asl.json"
RELATIVE, ABSOLUTE = "relative", "absolute"


@dataclass
class Observed:
    """One cover, one way (seconds from the run's start, or durations)."""

    task: str
    arrived: float
    latency: float | None = None  # generate -> ready (the workload's)
    queue_wait: float | None = None  # arrival -> generate answered
    first_wait: float | None = None
    poll_interval: float | None = None
    status_calls: float = 0
    check_invocations: float = 0
    transitions: float = 0
    retries: float = 0
    detection: float | None = None  # ready -> the status answer that saw it
    poll_count: float | None = None
    finalized: float | None = None  # arrival -> finalize returned
    status: str | None = None


@dataclass(frozen=True)
class Measure:
    label: str
    attribute: str
    kind: str | None  # RELATIVE, ABSOLUTE, or None (shown, not judged)
    tolerance: float = 0.0
    why: str = ""


MEASURES = (
    Measure("vendor latency, generate -> ready (given)", "latency", ABSOLUTE, 0.01, "the same workload"),
    Measure("first wait (s)", "first_wait", ABSOLUTE, 0.0),
    Measure("status calls", "status_calls", RELATIVE, 0.10),
    Measure("check invocations", "check_invocations", RELATIVE, 0.10),
    Measure("state transitions", "transitions", RELATIVE, 0.10),
    Measure("poll count recorded", "poll_count", RELATIVE, 0.10),
    Measure("detection delay, ready -> SUCCESS seen (s)", "detection", ABSOLUTE, 1.0),
    Measure(
        "arrival -> finalized (s)",
        "finalized",
        ABSOLUTE,
        2.0,
        "detection's 1 s + the queue wait (the sim's event source waits its 1 s batching window)",
    ),
    Measure("queue wait, arrival -> generate answered (s)", "queue_wait", None),
)


# --- the workload ------------------------------------------------------------------------------------


def workload(covers: int, rate: float, seed: int, scale: float = SCALE) -> list[Arrival]:
    """Poisson arrivals at ``rate`` (the first at 0) and each cover's latency from the sim's lognormal
    mix times ``scale``, from two seeded streams."""
    arrivals = random.Random(seed)  # noqa: S311 - a seeded workload, not a secret
    latencies = random.Random(seed * 7919 + 1)  # noqa: S311
    at, out = 0.0, []
    for n in range(covers):
        if n:
            at += arrivals.expovariate(rate)
        out.append(Arrival(at, round(scale * LOGNORMAL(latencies), 3)))
    return out


# --- reading moto's execution history ----------------------------------------------------------------


def retry_intervals(path: Path = ASL) -> dict[tuple[str, str], float]:
    """(state, error) -> the Retry's fixed interval, for the retriers without jitter or backoff (the poll
    loop's cadences): what a retry of that error should wait."""
    states = json.loads(path.read_text())["States"]
    out = {}
    for name, state in states.items():
        for retrier in state.get("Retry", []):
            if retrier.get("JitterStrategy", "NONE") == "NONE" and retrier.get("BackoffRate", 2.0) == 1:
                for error in retrier["ErrorEquals"]:
                    out[(name, error)] = float(retrier.get("IntervalSeconds", 1))
    return out


@dataclass
class History:
    """What one execution's history says (timestamps in seconds since the epoch)."""

    first_wait: float | None = None
    poll_interval: float | None = None
    states_entered: int = 0
    retries: int = 0
    check_invocations: list[tuple[float, float]] = field(default_factory=list)  # (scheduled, ended)
    finalized: float | None = None
    status: str | None = None
    wait_overshoot: list[float] = field(default_factory=list)  # Wait states: exited - entered - seconds
    #: Fixed-interval retries: failed -> scheduled again, beyond the interval.
    retry_overshoot: list[float] = field(default_factory=list)

    @property
    def transitions(self) -> int:
        """The billing rule bench/load/report.py applies: one per state entered, one per retry."""
        return self.states_entered + self.retries


def read_history(
    events: Sequence[Mapping[str, Any]], check_function: str, intervals: Mapping[tuple[str, str], float]
) -> History:
    """Parse ``get_execution_history``'s events (oldest first). ``check_function``: the check function's
    name (a substring of its ARN in ``LambdaFunctionScheduled``)."""
    out = History()
    state, scheduled_in_state = "", 0
    wait_began: float | None = None
    check_began: float | None = None
    failed: tuple[float, str] | None = None
    for event in events:
        kind, at = str(event["type"]), _seconds(event["timestamp"])
        if kind == "ExecutionStarted":
            data = json.loads(event["executionStartedEventDetails"]["input"])
            out.first_wait = data.get("firstWaitSeconds")
            out.poll_interval = data.get("pollIntervalSeconds")
        elif kind.endswith("StateEntered"):
            out.states_entered += 1
            state, scheduled_in_state, failed = event["stateEnteredEventDetails"]["name"], 0, None
            wait_began = at if kind == "WaitStateEntered" else None
        elif kind == "WaitStateExited" and wait_began is not None and out.first_wait is not None:
            out.wait_overshoot.append(at - wait_began - float(out.first_wait))
        elif kind == "LambdaFunctionScheduled":
            scheduled_in_state += 1
            if scheduled_in_state > 1:
                out.retries += 1
            if failed is not None and (state, failed[1]) in intervals:
                out.retry_overshoot.append(at - failed[0] - intervals[(state, failed[1])])
            failed = None
            resource = event["lambdaFunctionScheduledEventDetails"]["resource"]
            check_began = at if check_function in resource else None
        elif kind in {"LambdaFunctionSucceeded", "LambdaFunctionFailed", "LambdaFunctionTimedOut"}:
            if check_began is not None:
                out.check_invocations.append((check_began, at))
                check_began = None
            elif kind == "LambdaFunctionSucceeded":
                out.finalized = at  # the only other Lambda task: finalize
            if kind == "LambdaFunctionFailed":
                failed = (at, event["lambdaFunctionFailedEventDetails"].get("error", ""))
        elif kind.startswith("Execution") and kind != "ExecutionStarted":
            out.status = kind.removeprefix("Execution").upper()
    return out


def _seconds(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value)


# --- the real run -------------------------------------------------------------------------------------


@dataclass
class RealRun:
    covers: list[Observed]
    parameters: dict[str, str]  # the deployed stack's, where they differ from the template's defaults
    arrivals: list[Arrival]  # as submitted (seconds after the first)
    overhead: dict[str, Any]
    environment: dict[str, str]  # the functions' POLL_* variables, as the local run set them
    seconds: float


def run_real(planned: Sequence[Arrival]) -> RealRun:
    """The local pipeline (moto, the real ASL and handlers, the emulator) on ``planned``."""
    import boto3  # (moto and the local runner load only when the real run runs)

    from covers_local.emulator import EmulatorConfig, VendorEmulator
    from covers_local.runner import LocalPipeline, LocalSettings, function_log
    from covers_local.stack import REGION

    tasks = [task_name(n) for n in range(1, len(planned) + 1)]
    latency = dict(zip(tasks, (a.latency for a in planned), strict=True))
    defaults = parameter_defaults()
    config = EmulatorConfig(
        api_key="crosscheck-key",
        credits=len(tasks) + 10,
        ready_after_for=latency.get,
        base_latency_seconds=VENDOR_SECONDS,
    )
    began = time.perf_counter()
    with (
        VendorEmulator(config) as emulator,
        tempfile.TemporaryDirectory() as scratch,
        function_log(Path(scratch) / "functions.log"),
    ):
        settings = LocalSettings(  # as run_local(template_schedule=True) builds them
            vendor_url=emulator.base_url,
            api_key=config.api_key,
            first_wait=int(defaults["PollFirstWaitSeconds"]),
            poll_interval=int(defaults["PollInvocationIntervalSeconds"]),
            max_wait=int(defaults["PollMaxWaitSeconds"]),
        )
        with LocalPipeline(settings) as pipeline:
            submitted = _drive(pipeline, tasks, planned)
            records = pipeline.read_records(tasks)
            sfn = boto3.client("stepfunctions", region_name=REGION)
            check_function = pipeline.stack.functions["CheckCoverStatusFunction"].name
            intervals = retry_intervals()
            histories = {
                task: read_history(_events(sfn, arn), check_function, intervals)
                for task, record in records.items()
                if (arn := record.execution_arn) is not None
            }
            deployed = dict(pipeline.stack.parameters)
            environment = _poll_variables(pipeline.stack.functions)
        answers = emulator.stats.status_answers
        made = {task.music_task_id: task for task in emulator.covers.values()}
    start = min(submitted.values())
    covers = []
    for task in tasks:
        arrived = submitted[task]
        seen = Observed(task, arrived - start)
        cover, history, record = made.get(task), histories.get(task), records.get(task)
        if cover is not None:
            seen.latency = cover.ready_at - cover.created
            seen.queue_wait = cover.created - arrived
            done = next((t for t, s in answers.get(task, []) if s != "IN_PROGRESS"), None)
            seen.detection = None if done is None else done - cover.ready_at
        seen.status_calls = len(answers.get(task, []))
        if history is not None:
            seen.first_wait, seen.poll_interval = history.first_wait, history.poll_interval
            seen.check_invocations = len(history.check_invocations)
            seen.transitions, seen.retries = history.transitions, history.retries
            seen.finalized = None if history.finalized is None else history.finalized - arrived
        if record is not None:
            seen.poll_count, seen.status = record.poll_count, record.status.value
        covers.append(seen)
    shown = {k: v for k, v in deployed.items() if k != "VendorBaseUrl" and str(defaults.get(k)) != v}
    return RealRun(
        covers,
        shown,
        [Arrival(submitted[t] - start, latency[t]) for t in tasks],
        _overhead(histories, answers, int(defaults["PollInvocationIntervalSeconds"])),
        environment,
        time.perf_counter() - began,
    )


def _drive(pipeline: Any, tasks: list[str], planned: Sequence[Arrival]) -> dict[str, float]:
    """Submit each task at its arrival time and pump the queue as ``LocalPipeline.run`` does, until every
    record is terminal with its event published. Returns each task's submission time (time.time())."""
    submitted: dict[str, float] = {}
    began = time.monotonic()
    deadline = began + planned[-1].at + SETTLE_SECONDS
    settled: set[str] = set()
    while len(settled) < len(tasks):
        now = time.monotonic()
        due = [t for t, a in zip(tasks, planned, strict=True) if t not in submitted and a.at <= now - began]
        for task in due:
            submitted[task] = time.time()
            pipeline.submit([{"musicTaskId": task}])
        handled = pipeline.pump()
        for task, record in pipeline.read_records(set(submitted) - settled).items():
            if record.terminal and record.event_published_at:
                settled.add(task)
        if now > deadline:
            raise TimeoutError(f"the local run did not settle ({len(tasks) - len(settled)} covers open)")
        if not handled:
            time.sleep(IDLE_SECONDS)
    return submitted


def _events(sfn: Any, arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    token = None
    while True:
        page = sfn.get_execution_history(
            executionArn=arn, maxResults=1000, **({"nextToken": token} if token else {})
        )
        events += page["events"]
        token = page.get("nextToken")
        if not token:
            return events


def _poll_variables(functions: Mapping[str, Any]) -> dict[str, str]:
    """POLL_* variables the process had while the handlers ran (the stack's, plus the local overrides)."""
    import os

    names = {
        k
        for f in functions.values()
        for k in f.environment
        if k.startswith("POLL_") and not k.endswith("_NAME")  # (a table's name: the stack's own)
    }
    return {k: os.environ[k] for k in sorted(names) if k in os.environ}


def _overhead(
    histories: Mapping[str, History], answers: Mapping[str, list[tuple[float, str]]], interval: int
) -> dict[str, Any]:
    """What moto and the process add to the nominal timings: the first Wait's and the fixed-interval
    retries' overshoot, and beyond the vendor's own latency: the spacing of status calls inside one check
    invocation (beyond the poll interval) and from a check's dispatch to its first status answer."""
    waits, retries, spacing, dispatch, per_invocation = [], [], [], [], []
    slack = 0.005  # history timestamps have millisecond precision
    for task, history in histories.items():
        waits += history.wait_overshoot
        retries += history.retry_overshoot
        times = [t for t, _ in answers.get(task, [])]
        for began, ended in history.check_invocations:
            mine = [t for t in times if began - slack <= t <= ended + slack]
            per_invocation.append(len(mine))
            if mine:
                dispatch.append(mine[0] - began - VENDOR_SECONDS)
            spacing += [b - a - interval - VENDOR_SECONDS for a, b in itertools.pairwise(mine)]
    return {
        "first_wait_overshoot": _stats(waits),
        "retry_wait_overshoot": _stats(retries),
        "in_invocation_spacing_overshoot": _stats(spacing),
        "dispatch_to_first_answer": _stats(dispatch),
        "status_calls_per_check_invocation": _stats([float(n) for n in per_invocation]),
    }


def _poll_environment_sim(parameters: Mapping[str, Any], names: Iterable[str]) -> dict[str, str]:
    """The same POLL_* variables as the sim resolves them from template.yaml for its functions."""
    from bench.load.settings import Resolver
    from covers_local.template import load_template

    resolver = Resolver(load_template(), {**parameter_defaults(), **parameters})
    out: dict[str, str] = {}
    for function in ("StartCoverFunction", CHECK, "FinalizeCoverFunction"):
        out.update({k: str(v) for k, v in resolver.environment(function).items() if k in set(names)})
    return dict(sorted(out.items()))


# --- the simulated run --------------------------------------------------------------------------------


def run_sim(
    arrivals: Sequence[Arrival], rate: float, parameters: Mapping[str, Any], seed: int
) -> list[Observed]:
    config = Config(
        duration=arrivals[-1].at + 1.0,
        warmup=0.0,
        tail=0.0,
        max_covers=None,
        seed=seed,
        parameters=dict(parameters),
        latencies=Latencies(
            status_call=(VENDOR_SECONDS, VENDOR_SECONDS),
            generate_call=(VENDOR_SECONDS, VENDOR_SECONDS),
            cold_start=0.0,
        ),
    )
    stack = simulate(replay("crosscheck", arrivals), rate, config)
    out = []
    for n in range(1, len(arrivals) + 1):
        c = stack.covers[task_name(n)]
        seen = Observed(c.task, c.arrived)
        if c.generated is not None and c.ready_at is not None:
            seen.latency, seen.queue_wait = c.ready_at - c.generated, c.generated - c.arrived
        if c.detected is not None and c.ready_at is not None:
            seen.detection = c.detected - c.ready_at
        seen.first_wait, seen.poll_interval = c.first_wait, c.poll_interval
        seen.status_calls, seen.check_invocations = c.status_calls, c.requests.get(CHECK, 0.0)
        seen.transitions, seen.retries = c.transitions, c.retries
        seen.poll_count, seen.status = c.poll_count, c.status
        seen.finalized = None if c.finalized is None else c.finalized - c.arrived
        out.append(seen)
    return out


# --- the comparison -----------------------------------------------------------------------------------


def _stats(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {
        "mean": statistics.fmean(values),
        "max": max(values),
        "min": min(values),
        "n": len(values),
    }


def _mean(covers: Iterable[Observed], attribute: str) -> float | None:
    values = [float(v) for c in covers if (v := getattr(c, attribute)) is not None]
    return statistics.fmean(values) if values else None


def compare(real: Sequence[Observed], sim: Sequence[Observed]) -> dict[str, dict[str, Any]]:
    """Per measure: real mean, sim mean, sim / real, and whether the difference is within tolerance."""
    out: dict[str, dict[str, Any]] = {}
    for m in MEASURES:
        r, s = _mean(real, m.attribute), _mean(sim, m.attribute)
        ratio = s / r if r and s is not None else None
        ok: bool | None = None
        if m.kind is not None:
            if r is None or s is None:
                ok = r is None and s is None
            elif m.kind == RELATIVE:
                ok = ratio is not None and abs(ratio - 1.0) <= m.tolerance + 1e-9
            else:
                ok = abs(s - r) <= m.tolerance + 1e-9
        out[m.attribute] = {
            "label": m.label,
            "real": r,
            "sim": s,
            "ratio": ratio,
            "tolerance": _tolerance(m),
            "ok": ok,
            "why": m.why,
        }
    ended_real = _statuses(real)
    ended_sim = _statuses(sim)
    out["status"] = {
        "label": "end status",
        "real": ended_real,
        "sim": ended_sim,
        "ratio": None,
        "tolerance": "the same counts",
        "ok": ended_real == ended_sim,
    }
    return out


def _statuses(covers: Iterable[Observed]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for c in covers:
        counts[str(c.status)] = counts.get(str(c.status), 0) + 1
    return dict(sorted(counts.items()))


def _tolerance(m: Measure) -> str:
    if m.kind is None:
        return "(shown)"
    if m.kind == RELATIVE:
        return f"±{100 * m.tolerance:.0f}%"
    return f"±{m.tolerance:g} s" if m.tolerance else "equal"


def agreement(real: Sequence[Observed], sim: Sequence[Observed]) -> dict[str, Any]:
    """Cover by cover: how many saw the same status calls and transitions both ways, and the largest
    differences."""
    pairs = list(zip(real, sim, strict=True))
    same_calls = sum(1 for r, s in pairs if r.status_calls == s.status_calls)
    same_transitions = sum(1 for r, s in pairs if r.transitions == s.transitions)
    detections = [
        (s.detection - r.detection, r.task)
        for r, s in pairs
        if r.detection is not None and s.detection is not None
    ]
    worst = max(detections, key=lambda d: abs(d[0]), default=None)
    return {
        "covers": len(pairs),
        "same_status_calls": same_calls,
        "same_transitions": same_transitions,
        "largest_status_call_difference": max(
            (abs(s.status_calls - r.status_calls) for r, s in pairs), default=0
        ),
        "largest_detection_difference": None if worst is None else {"seconds": worst[0], "task": worst[1]},
    }


def run(covers: int = COVERS, rate: float = RATE, seed: int = SEED, scale: float = SCALE) -> dict[str, Any]:
    logging.disable(logging.CRITICAL)
    planned = workload(covers, rate, seed, scale)
    real = run_real(planned)
    t0 = time.perf_counter()
    sim = run_sim(real.arrivals, rate, real.parameters, seed)
    sim_seconds = time.perf_counter() - t0
    fallback = int(parameter_defaults()["PollFirstWaitSeconds"])
    learned = {
        "min_covers": MIN_COVERS,
        "real_off_fallback": sum(1 for c in real.covers if c.first_wait not in (None, fallback)),
        "sim_off_fallback": sum(1 for c in sim if c.first_wait not in (None, fallback)),
        "fallback_seconds": fallback,
    }
    sim_environment = _poll_environment_sim(real.parameters, real.environment)
    return {
        "covers": covers,
        "rate": rate,
        "seed": seed,
        "scale": scale,
        "vendor_seconds": VENDOR_SECONDS,
        "parameters": real.parameters,
        "poll_environment": {
            "real": real.environment,
            "sim": sim_environment,
            "differ": sorted(k for k in real.environment if real.environment[k] != sim_environment.get(k)),
        },
        "learner": learned,
        "measures": compare(real.covers, sim),
        "agreement": agreement(real.covers, sim),
        "overhead": real.overhead,
        "real_seconds": round(real.seconds, 1),
        "sim_seconds": round(sim_seconds, 2),
        "per_cover": {"real": [asdict(c) for c in real.covers], "sim": [asdict(c) for c in sim]},
    }


# --- the table ----------------------------------------------------------------------------------------


def _num(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict):
        return " ".join(f"{k} {v}" for k, v in value.items())
    return f"{value:.2f}"


def print_table(result: Mapping[str, Any]) -> None:
    """The side-by-side table, the learner's state, the per-cover agreement and what moto adds."""
    learned = result["learner"]
    print(
        f"Crosscheck: {result['covers']} covers, Poisson arrivals at {result['rate']:g}/s, latency "
        f"lognormal(45 s x {result['scale']:g}, 0.5), seed {result['seed']}; real = the local pipeline "
        f"(moto's Step Functions running the ASL in real time, the vendor emulator answering in "
        f"{result['vendor_seconds']:g} s), sim = bench/load on the same arrivals and latencies (no cold "
        f"starts, vendor calls {result['vendor_seconds']:g} s). Parameters: template defaults"
        + (f" except {result['parameters']}" if result["parameters"] else "")
        + ". Means per cover; ratio = sim / real."
    )
    if learned["real_off_fallback"] == learned["sim_off_fallback"] == 0:
        print(
            f"The learned first wait stayed on its template fallback (PollFirstWaitSeconds = "
            f"{learned['fallback_seconds']} s) for every cover both ways: it needs {learned['min_covers']} "
            f"finalized covers. This checks the loop's mechanics, not the learner."
        )
    else:
        print(
            f"Covers planned off the template's first wait: real {learned['real_off_fallback']}, "
            f"sim {learned['sim_off_fallback']} (the learner needs {learned['min_covers']} finalized covers)."
        )
    rows = [("measure", "real", "sim", "ratio", "tolerance", "")]
    for m in result["measures"].values():
        ok = {True: "ok", False: "OUT", None: ""}[m["ok"]]
        ratio = "-" if m["ratio"] is None else f"{m['ratio']:.3f}"
        rows.append((m["label"], _num(m["real"]), _num(m["sim"]), ratio, m["tolerance"], ok))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for n, row in enumerate(rows):
        print(
            "  ".join(
                cell.ljust(w) if i == 0 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            ).rstrip()
        )
        if n == 0:
            print("-" * (sum(widths) + 2 * len(widths)))
    for m in result["measures"].values():
        if m.get("why"):
            print(f"  ({m['label']}: {m['tolerance']}: {m['why']})")
    a = result["agreement"]
    worst = a["largest_detection_difference"]
    print(
        f"Cover by cover: the same status calls for {a['same_status_calls']}/{a['covers']}, the same "
        f"transitions for {a['same_transitions']}/{a['covers']}; largest status call difference "
        f"{a['largest_status_call_difference']}"
        + (f", largest detection difference {worst['seconds']:+.2f} s ({worst['task']})" if worst else "")
        + "."
    )
    o = result["overhead"]
    labels = {
        "first_wait_overshoot": "Wait state: entered -> exited, beyond its seconds",
        "retry_wait_overshoot": "fixed-interval retry (e.g. PollAgainError, 2 s): failed -> scheduled",
        "in_invocation_spacing_overshoot": "status calls in one invocation: spacing beyond interval + vendor",
        "dispatch_to_first_answer": "check scheduled -> its first status answer, beyond the vendor's",
        "status_calls_per_check_invocation": "status calls per check invocation (real)",
    }
    print("What the local run adds (real side; mean / max over n):")
    for key, label in labels.items():
        s = o.get(key)
        shown = "-" if not s else f"{s['mean']:.3f} / {s['max']:.3f} s over {s['n']}"
        if key == "status_calls_per_check_invocation" and s:
            shown = f"{s['mean']:.2f} / {s['max']:.0f} over {s['n']}"
        print(f"  {label}: {shown}")
    env = result["poll_environment"]
    if env["differ"]:
        print(f"POLL_* variables that differ, real vs sim: {', '.join(env['differ'])}")
    print(f"Real run {result['real_seconds']:.0f} s of wall time; sim {result['sim_seconds']:.2f} s.")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.crosscheck", description=__doc__)
    parser.add_argument("--covers", type=int, default=COVERS, help=f"covers (default {COVERS})")
    parser.add_argument("--rate", type=float, default=RATE, help=f"arrivals per second (default {RATE})")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument(
        "--scale", type=float, default=SCALE, help="latency scale on the 45 s median (default 1: real time)"
    )
    parser.add_argument("--json", type=Path, help="where to write the figures (default bench/results/)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    with contextlib.redirect_stdout(None):  # the handlers print their JSON logs
        result = run(args.covers, args.rate, args.seed, args.scale)
    print_table(result)
    path = save(result, "crosscheck-", args.json)
    print(f"figures in {path}")


if __name__ == "__main__":
    main()
