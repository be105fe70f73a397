"""Credit budgets through the real handlers on the moto stack (docs/operations.md, "Credit budgets"):
racing starts at a cap spend exactly the cap, the rest wait as BUDGET_EXCEEDED with one BudgetExceeded data
point, and raising the cap (stored at run time, no redeploy) lets the reconciler finish them with no
operator step."""

from __future__ import annotations

import json
import sys
from typing import Any

import boto3
import pytest
from covers_core import wiring
from covers_core.adapters.budgets import BudgetStore
from covers_core.domain.budget import STACK

from covers_local.emulator import VendorEmulator
from tests.integration.test_reconciler import age, drain
from tests.support.harness import Aws, handler, invoke, sqs_event
from tests.support.paths import load_event

CAP = 10


def budgets(aws: Aws) -> BudgetStore:
    return BudgetStore(boto3.resource("dynamodb").Table(aws.outputs["BudgetsTableName"]))


def metric_totals(out: str) -> dict[str, float]:
    totals: dict[str, float] = {}
    for blob in (json.loads(line) for line in out.splitlines() if '"_aws"' in line):
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                value = blob[metric["Name"]]
                values = value if isinstance(value, list) else [value]
                totals[metric["Name"]] = totals.get(metric["Name"], 0.0) + sum(values)
    return totals


def test_racing_starts_spend_the_cap_and_a_raised_cap_lets_the_reconciler_finish_the_rest(
    aws: Aws, emulator: VendorEmulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED")
    handler("start_cover")
    sys.modules["covers_fn_start_cover"].metrics.clear_metrics()  # values buffered by earlier tests
    budgets(aws).set_caps(STACK, day=CAP)  # `covers budget --set-day 10`
    tasks = [f"t{i:02d}" for i in range(CAP + 5)]

    response = invoke("start_cover", sqs_event(*({"musicTaskId": t} for t in tasks)))

    assert response["batchItemFailures"] == []
    assert sum(emulator.stats.credits_charged.values()) == CAP
    statuses = {t: aws.record(t).status for t in tasks}
    parked = sorted(t for t, s in statuses.items() if s == "BUDGET_EXCEEDED")
    assert len(parked) == 5 and sum(s == "IN_PROGRESS" for s in statuses.values()) == CAP
    totals = metric_totals(capsys.readouterr().out)
    assert totals["BudgetExceeded"] == 1.0  # one data point for the one window, not five
    assert totals["CoversRequested"] == CAP

    budgets(aws).set_caps(STACK, day=CAP + 5)  # raised: no redeploy, no redrive
    for task in parked:
        age(aws, task)
    repaired: dict[str, Any] = invoke("reconcile", load_event("reconcile.json"))["repaired"]
    assert repaired == {"Requeue": 5}
    queued = drain(aws.queue_url)
    wiring.reset()  # a minute later: the start containers' caps cache (logic/budget.py) has lapsed
    invoke("start_cover", sqs_event(*(json.loads(m["Body"]) for m in queued)))

    assert {aws.record(t).status for t in parked} == {"IN_PROGRESS"}
    assert sum(emulator.stats.credits_charged.values()) == CAP + 5
    assert all(count == 1 for count in emulator.stats.credits_charged.values())
