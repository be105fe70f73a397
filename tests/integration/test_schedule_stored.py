"""The learned first wait as stored: duplicate executions (EXPRESS runs at least once) spend one credit,
emit one event and teach the schedule once; a stats table failure never fails a finalize."""

from __future__ import annotations

import os

import boto3
import pytest
from covers_core.adapters.poll_stats import LearnedWaitStore
from covers_core.errors import AwsTransientError

from covers_local.emulator import VendorEmulator
from tests.support.harness import Aws, invoke, sqs_event
from tests.support.paths import load_event


def stats_item() -> dict | None:
    table = boto3.resource("dynamodb").Table(os.environ["POLL_STATS_TABLE_NAME"])
    return table.get_item(Key={"name": "firstWait"}).get("Item")


def test_duplicate_executions_spend_one_credit_emit_one_event_and_teach_the_schedule_once(
    aws: Aws, emulator: VendorEmulator
) -> None:
    # EXPRESS starts executions at least once: the same name may run twice, each polling and finalizing.
    invoke("start_cover", sqs_event({"musicTaskId": "dup"}))
    invoke("start_cover", sqs_event({"musicTaskId": "dup"}))  # a redelivery too
    record = aws.record("dup")
    assert record is not None
    state = {
        **load_event("check_cover_status.json"),
        "musicTaskId": "dup",
        "coverTaskId": record["coverTaskId"],
        "generatedAt": record["generatedAt"],
    }
    for _ in range(2):  # two executions, each: check -> finalize
        check = invoke("check_cover_status", state)
        assert check["status"] == "SUCCESS"
        assert invoke("finalize_cover", {**state, "check": check})["status"] == "SUCCEEDED"
    assert emulator.stats.credits_charged["dup"] == 1
    events = aws.drain_events()
    assert [e["detail"]["status"] for e in events] == ["SUCCEEDED"]
    item = stats_item()
    assert item is not None and int(item["count"]) == 1  # learned once, from the winning finalize
    assert float(item["seconds"]) < 20  # ready at the first check (fallback 20 s): the wait shrinks


def test_a_stats_table_failure_never_fails_a_finalize(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise AwsTransientError("DynamoDB PutItem failed: throttled")

    monkeypatch.setattr(LearnedWaitStore, "_put", broken)
    boto3.resource("dynamodb").Table(aws.table_name).put_item(
        Item={
            "musicTaskId": "gen123213213213123bksv",
            "status": "IN_PROGRESS",
            "coverTaskId": "cover123123213213b880d2",
            "generatedAt": "2026-11-28T10:00:00.000Z",
            "createdAt": "2026-11-28T09:59:59.000Z",
        }
    )
    assert invoke("finalize_cover", load_event("finalize_cover.json"))["status"] == "SUCCEEDED"
    assert stats_item() is None
