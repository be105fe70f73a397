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
from covers_local.runner import FakeContext
from tests import minimal_stack
from tests.conftest import handler, sqs_event
from tests.minimal_stack import QUIET_LAMBDA_ENV

ROUNDS = 15
BATCH = 10


def main() -> None:
    os.environ.update(QUIET_LAMBDA_ENV | {"SECRET_CACHE_SECONDS": "300"})
    with VendorEmulator(EmulatorConfig(api_key="k", ready_after=(0, 0))) as emulator, mock_aws():
        minimal_stack.create(emulator.base_url, api_key="k", webhook_key="hk")
        wiring.reset()
        start = handler("start_cover")
        first, duplicate, bad = [], [], []
        for r in range(ROUNDS):
            ids = [{"musicTaskId": f"bench-{r}-{i}"} for i in range(BATCH)]
            for sample, event in (
                (first, sqs_event(*ids)),
                (duplicate, sqs_event(*ids)),
                (bad, sqs_event(*["not json"] * BATCH)),
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
