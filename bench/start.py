"""The start function against a vendor that answers in 300 ms: one record, a batch of 10 in parallel
(StartConcurrency=10), and the same batch one after the other (StartConcurrency=1), side by side.

Machines here are noisy, so the figures that matter are ratios of medians measured in the same run."""

from __future__ import annotations

import os
import statistics
import time
from typing import Any
from unittest import mock

from covers_core import wiring
from moto import mock_aws

from bench.coldstart import ROOT
from covers_local import moto_patches
from covers_local.emulator import EmulatorConfig, VendorEmulator
from covers_local.lambda_events import LambdaContext, sqs_event
from covers_local.runner import load_handler
from covers_local.stack import deploy

QUIET_LAMBDA_ENV = {
    "AWS_ACCESS_KEY_ID": "x",
    "AWS_SECRET_ACCESS_KEY": "x",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "CRITICAL",
    "POWERTOOLS_SERVICE_NAME": "covers",
    "POWERTOOLS_TRACE_DISABLED": "true",
}
LATENCY = 0.3
BATCH = 10
ROUNDS = 3


def run() -> dict[str, Any]:
    config = EmulatorConfig(api_key="k", ready_after=(0, 0), base_latency_seconds=LATENCY)
    with (
        mock.patch.dict(os.environ, QUIET_LAMBDA_ENV),
        VendorEmulator(config) as emulator,
        mock_aws(),
        moto_patches.cloudformation(),
        moto_patches.atomic_dynamodb(),
    ):
        stack = deploy("covers-bench", {"VendorBaseUrl": emulator.base_url})
        stack.put_secret(stack.api_key_secret_arn, "k")
        os.environ.update(stack.process_env() | {"POWERTOOLS_LOG_LEVEL": "CRITICAL"})
        start = load_handler(ROOT / "functions" / "start_cover", "covers_fn_start_cover")
        samples: dict[str, list[float]] = {
            "one record": [],
            "batch of 10, parallel": [],
            "batch of 10, sequential": [],
        }

        def timed(label: str, concurrency: int, size: int, key: str) -> None:
            os.environ["START_CONCURRENCY"] = str(concurrency)
            wiring.reset()
            start(sqs_event([{"musicTaskId": f"warm-{key}"}]), LambdaContext("warm"))  # clients, key cached
            bodies = [{"musicTaskId": f"{key}-{i}"} for i in range(size)]
            t0 = time.perf_counter()
            response = start(sqs_event(bodies), LambdaContext("bench"))
            samples[label].append(time.perf_counter() - t0)
            assert response == {"batchItemFailures": []}, response

        for r in range(ROUNDS):  # interleaved, so machine noise hits every subject alike
            timed("one record", 10, 1, f"one-{r}")
            timed("batch of 10, parallel", 10, BATCH, f"par-{r}")
            timed("batch of 10, sequential", 1, BATCH, f"seq-{r}")
        assert sum(emulator.stats.credits_charged.values()) == ROUNDS * (3 + 1 + 2 * BATCH)
        charged = max(emulator.stats.credits_charged.values())
    medians = {label: statistics.median(s) for label, s in samples.items()}
    return {
        "vendor_latency_seconds": LATENCY,
        "rounds": ROUNDS,
        "median_seconds": {label: round(m, 3) for label, m in medians.items()},
        "parallel_batch_vs_one_record": round(medians["batch of 10, parallel"] / medians["one record"], 2),
        "sequential_vs_parallel_batch": round(
            medians["batch of 10, sequential"] / medians["batch of 10, parallel"], 2
        ),
        "most_credits_charged_for_one_task": charged,
    }
