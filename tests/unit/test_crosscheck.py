"""bench/crosscheck.py's reading of an execution history (as moto's Step Functions engine writes it) counts
what the load simulation counts, and its tolerances judge as stated. No moto: histories are written here."""

from __future__ import annotations

import itertools
import json
import statistics
from typing import Any

import pytest
from covers_core.domain.model import CheckResult, CheckStatus
from covers_core.errors import PollAgainError, PollIn5sError

from bench.crosscheck import Observed, compare, read_history, retry_intervals, workload
from bench.load import asl
from bench.load.stack import CHECK
from covers_local.template import project_root

ASL = project_root() / "statemachine" / "cover_workflow.asl.json"
CHECK_ARN = "arn:aws:lambda:us-east-1:123456789012:function:covers-local-CheckCoverStatusFunction-X:1"
FINALIZE_ARN = "arn:aws:lambda:us-east-1:123456789012:function:covers-local-FinalizeCoverFunction-Y:1"
INPUT = {"musicTaskId": "m", "coverTaskId": "c", "generatedAt": "2026-01-01T00:00:00Z"}
PLAN = {"firstWaitSeconds": 20, "pollIntervalSeconds": 5, "pollInLambda": True, "correlationId": None}


def entered(kind: str, name: str, at: float) -> dict[str, Any]:
    return {"type": f"{kind}StateEntered", "timestamp": at, "stateEnteredEventDetails": {"name": name}}


def history(checks: list[tuple[float, float, str | None]], wait_exit: float) -> list[dict[str, Any]]:
    """Events in the order moto writes them: a Wait, the check's attempts (scheduled, ended, error or
    None), finalize."""
    events = [
        {
            "type": "ExecutionStarted",
            "timestamp": 0.0,
            "executionStartedEventDetails": {"input": json.dumps(INPUT | PLAN)},
        },
        entered("Wait", "WaitBeforeFirstCheck", 0.0),
        {"type": "WaitStateExited", "timestamp": wait_exit},
        entered("Task", "CheckCoverStatus", wait_exit),
    ]
    for scheduled, ended, error in checks:
        events.append(
            {
                "type": "LambdaFunctionScheduled",
                "timestamp": scheduled,
                "lambdaFunctionScheduledEventDetails": {"resource": CHECK_ARN},
            }
        )
        if error:
            details = {"error": error, "cause": "{}"}
            events.append(
                {
                    "type": "LambdaFunctionFailed",
                    "timestamp": ended,
                    "lambdaFunctionFailedEventDetails": details,
                }
            )
        else:
            events.append({"type": "LambdaFunctionSucceeded", "timestamp": ended})
    end = checks[-1][1]
    return [
        *events,
        {"type": "TaskStateExited", "timestamp": end},
        entered("Task", "FinalizeCover", end),
        {
            "type": "LambdaFunctionScheduled",
            "timestamp": end,
            "lambdaFunctionScheduledEventDetails": {"resource": FINALIZE_ARN},
        },
        {"type": "LambdaFunctionSucceeded", "timestamp": end + 0.05},
        {"type": "TaskStateExited", "timestamp": end + 0.05},
        {"type": "ExecutionSucceeded", "timestamp": end + 0.05},
    ]


def test_a_history_counts_the_transitions_and_retries_the_simulated_execution_counts() -> None:
    script: list[type[Exception] | None] = [PollAgainError, PollIn5sError, None]
    clock_now = [0.0]

    class Clock:
        @property
        def now(self) -> float:
            return clock_now[0]

        def sleep(self, seconds: float) -> None:
            clock_now[0] += seconds

        def uniform(self, low: float, high: float) -> float:
            return high

    def invoke(function: str, payload: Any) -> Any:
        if function == CHECK:
            error = script.pop(0)
            if error is not None:
                raise error("not ready")
            return CheckResult(CheckStatus.SUCCESS, 3, images=("u",)).to_state()
        return {"status": "SUCCEEDED"}

    resources = {"CheckCoverStatusFunctionArn": CHECK, "FinalizeCoverFunctionArn": "FinalizeCoverFunction"}
    ended = asl.run(asl.StateMachine.load(ASL, resources), INPUT | PLAN, invoke, Clock())
    # The same path in moto's words, its waits a little late (2 s and 5 s retries, a 20 s Wait).
    read = read_history(
        history(
            [(20.01, 25.0, "PollAgainError"), (27.03, 28.0, "PollIn5sError"), (33.02, 34.0, None)], 20.004
        ),
        "CheckCoverStatusFunction",
        retry_intervals(ASL),
    )

    assert (read.transitions, read.retries) == (ended.transitions, ended.retries) == (5, 2)
    assert len(read.check_invocations) == 3 and read.check_invocations[0] == (20.01, 25.0)
    assert (read.first_wait, read.poll_interval, read.status) == (20, 5, "SUCCEEDED")
    assert read.finalized == 34.05
    assert [round(x, 3) for x in read.wait_overshoot] == [0.004]
    assert [round(x, 3) for x in read.retry_overshoot] == [0.03, 0.02]


def covers(values: list[tuple[float, float]]) -> list[Observed]:
    """Covers with these (status calls, detection delay)."""
    return [
        Observed(f"m{i}", 0.0, status_calls=c, detection=d, status="SUCCEEDED")
        for i, (c, d) in enumerate(values)
    ]


def test_tolerances_judge_relative_and_absolute_differences_as_stated() -> None:
    real = covers([(10, 2.0), (10, 3.0)])
    close = compare(real, covers([(11, 3.4), (10, 3.4)]))  # +5 % calls, +0.9 s detection
    far = compare(real, covers([(12, 3.6), (11, 3.6)]))  # +15 %, +1.1 s

    assert close["status_calls"]["ratio"] == 1.05 and close["status_calls"]["ok"]
    assert close["detection"]["ok"] and close["status"]["ok"]
    assert far["status_calls"]["ok"] is False and far["detection"]["ok"] is False
    assert far["queue_wait"]["ok"] is None  # shown, not judged


def test_the_workload_is_seeded_poisson_with_the_lognormal_mixs_latencies() -> None:
    first, again, other = workload(40, 0.3, 42), workload(40, 0.3, 42), workload(40, 0.3, 7)

    assert first == again and first != other
    assert first[0].at == 0.0 and all(a.at < b.at for a, b in itertools.pairwise(first))
    assert 40 / 0.3 / 2 < first[-1].at < 40 / 0.3 * 2  # about 133 s of arrivals
    assert 30 < statistics.median(a.latency for a in first) < 65  # the mix's median: 45 s
    halved = [a.latency for a in workload(40, 0.3, 42, scale=0.5)]
    assert halved == pytest.approx([a.latency / 2 for a in first], abs=0.001)
