"""Credit budgets in a local run of the whole pipeline (covers_local.runner.LocalPipeline: the template on
moto, the vendor emulator, the functions' metrics on): a cap of N credits and N+5 requests spend exactly N
credits, park 5 as BUDGET_EXCEEDED with no event and set off the budget alarm once; raising the cap lets
the reconciler finish every parked cover (SUCCEEDED, one event each) with no operator step."""

from __future__ import annotations

import time
from collections.abc import Iterator

import boto3
import pytest
from covers_core import wiring
from covers_core.adapters.budgets import BudgetStore
from covers_core.domain.budget import STACK

from covers_local.emulator import EmulatorConfig, VendorEmulator
from covers_local.runner import LocalPipeline, LocalSettings

CAP = 4
#: The claim lease and the reconciler's interval, short: the reconciler leaves records younger than the lease
#: to the pipeline, and queues again only what stayed parked since its last run (docs/operations.md).
LEASE = 3


@pytest.fixture
def vendor() -> Iterator[VendorEmulator]:
    with VendorEmulator(EmulatorConfig(ready_after=(0.5, 1.0), seed=5)) as emu:
        yield emu


def test_a_cap_of_n_spends_n_parks_the_rest_with_one_alarm_and_a_raised_cap_finishes_them(
    vendor: VendorEmulator,
) -> None:
    settings = LocalSettings(
        vendor_url=vendor.base_url,
        api_key=vendor.config.api_key,
        max_wait=30,
        claim_lease_seconds=LEASE,
        metrics=True,
        extra_env={"RECONCILE_INTERVAL_MINUTES": str(LEASE / 60)},
    )
    tasks = [f"song-{i}" for i in range(CAP + 5)]
    with LocalPipeline(settings) as local:
        budgets = BudgetStore(boto3.resource("dynamodb").Table(local.stack.outputs["BudgetsTableName"]))
        budgets.set_caps(STACK, day=CAP)
        local.submit([{"musicTaskId": t} for t in tasks])
        first = local.run(tasks, timeout=120)
        parked = sorted(t for t, item in first.items() if item["status"] == "BUDGET_EXCEEDED")
        assert len(parked) == 5 and sum(vendor.stats.credits_charged.values()) == CAP
        assert not [e for e in local.events if e["detail"]["musicTaskId"] in parked]
        assert not set(parked) & set(vendor.stats.generate_requests)  # parked before any vendor call
        # However many batches were refused, the alarm topic hears of it once.
        assert local.alarms_fired() == {"BudgetExceededAlarm": 1}

        budgets.set_caps(STACK, day=CAP + 5)
        wiring.reset()  # a minute later: the containers' caps cache has lapsed
        time.sleep(LEASE + 1)  # the reconciler's next run, on its schedule
        assert local.reconcile()["repaired"] == {"Requeue": 5}
        second = local.run(parked, timeout=120)
        assert local.reconcile()["repaired"] == {}  # nothing left to repair
        assert local.alarms_fired() == {"BudgetExceededAlarm": 1}  # nothing refused since

    assert {second[t]["status"] for t in parked} == {"SUCCEEDED"}
    assert sum(vendor.stats.credits_charged.values()) == CAP + 5
    assert max(vendor.stats.credits_charged.values()) == 1
    assert sorted(e["detail"]["musicTaskId"] for e in local.events) == sorted(tasks)
