"""Credit budgets in a local run of the whole pipeline (covers_local.runner.LocalPipeline: the template on
moto, the vendor emulator): a cap parks what is over it with no credit and no event, and raising the cap
lets the reconciler finish every parked cover (SUCCEEDED, one event each) with no operator step."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from covers_core import wiring
from covers_core.adapters.budgets import BudgetStore
from covers_core.domain.budget import STACK
from covers_core.domain.model import iso

from covers_local.emulator import EmulatorConfig, VendorEmulator
from covers_local.runner import LocalPipeline, LocalSettings


@pytest.fixture
def vendor() -> Iterator[VendorEmulator]:
    with VendorEmulator(EmulatorConfig(ready_after=(0.5, 1.0), seed=5)) as emu:
        yield emu


def test_a_raised_cap_lets_the_reconciler_finish_what_the_budget_parked(vendor: VendorEmulator) -> None:
    settings = LocalSettings(vendor_url=vendor.base_url, api_key=vendor.config.api_key, max_wait=30)
    tasks = [f"song-{i}" for i in range(6)]
    with LocalPipeline(settings) as local:
        budgets = BudgetStore(boto3.resource("dynamodb").Table(local.stack.outputs["BudgetsTableName"]))
        budgets.set_caps(STACK, day=4)
        local.submit([{"musicTaskId": t} for t in tasks])
        first = local.run(tasks, timeout=120)
        parked = sorted(t for t, item in first.items() if item["status"] == "BUDGET_EXCEEDED")
        assert len(parked) == 2 and sum(vendor.stats.credits_charged.values()) == 4
        assert not [e for e in local.events if e["detail"]["musicTaskId"] in parked]

        budgets.set_caps(STACK, day=6)
        wiring.reset()  # a minute later: the containers' caps cache has lapsed
        table = boto3.resource("dynamodb").Table(local.stack.table_name)
        for task in parked:  # as the reconciler sees them after its own wait (the claim lease)
            an_hour_ago = iso(datetime.now(UTC) - timedelta(hours=1))
            table.update_item(
                Key={"musicTaskId": task},
                UpdateExpression="SET createdAt = :t, updatedAt = :t",
                ExpressionAttributeValues={":t": an_hour_ago},
            )
        assert local.reconcile()["repaired"] == {"Requeue": 2}
        second = local.run(parked, timeout=120)

    assert {second[t]["status"] for t in parked} == {"SUCCEEDED"}
    assert sum(vendor.stats.credits_charged.values()) == 6
    assert sorted(e["detail"]["musicTaskId"] for e in local.events) == sorted(tasks)
