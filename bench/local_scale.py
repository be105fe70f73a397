"""The local runner (``covers demo``, the end-to-end tests) as the number of tasks grows: wall time per
task for a small and a large run, each in a fresh local stack, with a vendor that answers at once."""

from __future__ import annotations

import contextlib
import io
import time
from typing import Any

from covers_local.emulator import EmulatorConfig, VendorEmulator
from covers_local.runner import LocalPipeline, LocalSettings

SMALL = 50
#: 1,000 tasks take ~8 minutes here (2 cores), over `make bench`'s 5-minute budget: the default is the
#: largest run that fits; `python -m bench --large 1000` runs the full size.
LARGE = 200


def seconds_per_task(count: int) -> float:
    with VendorEmulator(EmulatorConfig(api_key="k", ready_after=(0, 0), seed=1)) as emulator:
        settings = LocalSettings(
            vendor_url=emulator.base_url,
            api_key="k",
            first_wait=0,
            poll_interval=1,
            max_wait=60,
            log_level="CRITICAL",
        )
        tasks = [f"scale-{i}" for i in range(count)]
        with contextlib.redirect_stdout(io.StringIO()), LocalPipeline(settings) as pipeline:
            pipeline.submit([{"musicTaskId": t} for t in tasks])
            t0 = time.perf_counter()
            records = pipeline.run(tasks, timeout=count * 2 + 60)
            elapsed = time.perf_counter() - t0
        done = sum(r.get("status") == "SUCCEEDED" for r in records.values())
        if done != count:
            raise RuntimeError(f"only {done} of {count} tasks succeeded")
    return elapsed / count


def run(large: int = LARGE) -> dict[str, Any]:
    small, big = seconds_per_task(SMALL), seconds_per_task(large)
    return {
        "tasks": [SMALL, large],
        "seconds_per_task": {str(SMALL): round(small, 4), str(large): round(big, 4)},
        "ratio": round(big / small, 2),
    }
