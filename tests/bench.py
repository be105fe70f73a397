"""`make bench`: what a duplicate delivery costs next to a first delivery, in one run.

Machines here are noisy, so the figures are ratios of medians measured side by side, not absolute times.
Run: python -m tests.bench"""

from __future__ import annotations

import os
import statistics
import time

from covers_core import wiring
from moto import mock_aws

from covers_local.emulator import EmulatorConfig, VendorEmulator
from covers_local.lambda_events import sqs_event
from covers_local.runner import FakeContext
from covers_local.stack import deploy
from tests.conftest import handler

QUIET_LAMBDA_ENV = {
    "AWS_ACCESS_KEY_ID": "x",
    "AWS_SECRET_ACCESS_KEY": "x",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "CRITICAL",
    "POWERTOOLS_SERVICE_NAME": "covers",
}

ROUNDS = 15
BATCH = 10


def main() -> None:
    os.environ.update(QUIET_LAMBDA_ENV | {"SECRET_CACHE_SECONDS": "300"})
    with VendorEmulator(EmulatorConfig(api_key="k", ready_after=(0, 0))) as emulator, mock_aws():
        stack = deploy("covers-bench", {"VendorBaseUrl": emulator.base_url})
        stack.put_secret(stack.api_key_secret_arn, "k")
        os.environ.update(stack.process_env() | {"POWERTOOLS_LOG_LEVEL": "CRITICAL"})
        wiring.reset()
        start = handler("start_cover")
        first: list[float] = []
        duplicate: list[float] = []
        bad: list[float] = []
        for r in range(ROUNDS):
            ids = [{"musicTaskId": f"bench-{r}-{i}"} for i in range(BATCH)]
            for sample, event in (
                (first, sqs_event(ids)),
                (duplicate, sqs_event(ids)),
                (bad, sqs_event(["not json"] * BATCH)),
            ):
                t0 = time.perf_counter()
                start(event, FakeContext("bench"))
                sample.append(time.perf_counter() - t0)
        base = statistics.median(first)
        print(f"start function, batches of {BATCH}, {ROUNDS} rounds (medians, one run):")
        print("  first delivery (claim + generate + record + StartExecution): 1.00")
        for label, sample in (
            ("duplicate delivery (record read only, no vendor call)", duplicate),
            ("malformed bodies (parse + move to DLQ)", bad),
        ):
            print(f"  {label + ':':<61}{statistics.median(sample) / base:.2f}")
        charged = max(emulator.stats.credits_charged.values())
        print(f"  most credits charged for one task: {charged}")


if __name__ == "__main__":
    main()
