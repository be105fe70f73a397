"""The poll schedule's history as stored in PollStatsTable: the fake and DynamoDB keep the same counters;
duplicate executions (EXPRESS runs at least once) spend one credit, emit one event and teach the schedule
once; a stats table failure never fails a finalize; the start function plans from what finalize taught."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from covers_core.adapters.poll_stats import LearnedWaitStore
from covers_core.domain.first_wait import Observation
from covers_core.errors import AwsTransientError
from covers_core.logic.ports import LearnedWaits
from moto import mock_aws

from covers_local.emulator import VendorEmulator
from covers_local.fakes import MemoryLearnedWaits
from covers_local.stack import load_template
from tests.support.harness import Aws, invoke, sqs_event
from tests.support.paths import ROOT, load_event

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.fixture
def stores() -> Iterator[Callable[[str], LearnedWaits]]:
    spec = load_template(ROOT / "template.yaml")["Resources"]["PollStatsTable"]["Properties"]
    with mock_aws():
        table = boto3.resource("dynamodb").create_table(
            TableName="poll-stats",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=spec["AttributeDefinitions"],
            KeySchema=spec["KeySchema"],
        )
        yield lambda kind: MemoryLearnedWaits() if kind == "memory" else LearnedWaitStore(table)


@pytest.mark.parametrize("kind", ["memory", "dynamodb"])
def test_the_fake_and_dynamodb_keep_the_same_counters_per_key_and_minute(
    kind: str, stores: Callable[[str], LearnedWaits]
) -> None:
    store = stores(kind)
    store.observe(["*", "t:a"], Observation(20, True, 20), T0)
    store.observe(["*"], Observation(20, False, 33), T0 + timedelta(seconds=30))
    store.observe(["*"], Observation(25, False, 48), T0 + timedelta(minutes=2))
    store.observe(["*"], Observation(25, False, 48), T0 - timedelta(minutes=61))  # out of the window
    minutes = store.recent("*", T0 + timedelta(minutes=2, seconds=5))
    assert len(minutes) == 60  # one per minute of the window, the current one first
    newest, _, older = minutes[:3]
    assert (newest.covers, older.covers) == (1, 2) and sum(m.covers for m in minutes) == 3
    assert sum(older.early.values()) == 1 and sum(older.detected.values()) == 1
    assert store.recent("t:a", T0)[0].covers == 1
    assert all(m.covers == 0 for m in store.recent("t:b", T0))


def test_duplicate_executions_spend_one_credit_emit_one_event_and_teach_the_schedule_once(
    aws: Aws, emulator: VendorEmulator
) -> None:
    # EXPRESS starts executions at least once: the same name may run twice, each polling and finalizing.
    invoke("start_cover", sqs_event({"musicTaskId": "dup"}))
    invoke("start_cover", sqs_event({"musicTaskId": "dup"}))  # a redelivery too
    record = aws.record("dup")
    state = {
        **load_event("check_cover_status.json"),
        "musicTaskId": "dup",
        "coverTaskId": record.cover_task_id,
        "generatedAt": record.generated_at,
    }
    for _ in range(2):  # two executions, each: check -> finalize
        check = invoke("check_cover_status", state)
        assert check["status"] == "SUCCESS"
        assert invoke("finalize_cover", {**state, "check": check})["status"] == "SUCCEEDED"
    assert emulator.stats.credits_charged["dup"] == 1
    assert [e["detail"]["status"] for e in aws.drain_events()] == ["SUCCEEDED"]
    learned = LearnedWaitStore(boto3.resource("dynamodb").Table(os.environ["POLL_STATS_TABLE_NAME"]))
    minute = learned.recent("*", datetime.now(UTC))[0]
    assert minute.covers == 1 and sum(minute.early.values()) == 1  # learned once: ready at the first check


def test_a_stats_table_failure_never_fails_a_finalize(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise AwsTransientError("DynamoDB UpdateItem failed: throttled")

    monkeypatch.setattr(LearnedWaitStore, "observe", broken)
    invoke("start_cover", sqs_event({"musicTaskId": "gen123213213213123bksv"}))
    record = aws.record("gen123213213213123bksv")
    state = {
        **load_event("finalize_cover.json"),
        "coverTaskId": record.cover_task_id,
        "generatedAt": record.generated_at,
    }
    assert invoke("finalize_cover", state)["status"] == "SUCCEEDED"
