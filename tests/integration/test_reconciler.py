"""ReconcileFunction as deployed (moto): one run repairs each stranded state a crash or a throttle leaves,
and a second run finds nothing to do. (The rules, state by state, on fakes: tests/unit/test_reconciler.py.)"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from covers_core.adapters.records import open_shard
from covers_core.domain.model import iso

from covers_local.emulator import VendorEmulator
from tests.support.harness import Aws, error_code, invoke, sqs_event
from tests.support.paths import load_event

TWO_HOURS_AGO = iso(datetime.now(UTC) - timedelta(hours=2))


def strand(aws: Aws, task: str, **item: Any) -> None:
    """A record as a crash left it two hours ago (open: the reconciler's index names it)."""
    boto3.resource("dynamodb").Table(aws.table_name).put_item(
        Item={
            "musicTaskId": task,
            "createdAt": TWO_HOURS_AGO,
            "updatedAt": TWO_HOURS_AGO,
            "openShard": open_shard(task),
            **item,
        }
    )


def age(aws: Aws, task: str) -> None:
    boto3.resource("dynamodb").Table(aws.table_name).update_item(
        Key={"musicTaskId": task},
        UpdateExpression="SET createdAt = :t, updatedAt = :t, generatedAt = :t",
        ExpressionAttributeValues={":t": TWO_HOURS_AGO},
    )


def test_one_run_repairs_every_stranded_state_and_the_next_finds_nothing(
    aws: Aws, emulator: VendorEmulator
) -> None:
    # finalize killed after the terminal write, before PutEvents: the event was never sent
    strand(aws, "unsent", status="SUCCEEDED", images=["https://img.example/1.png"], coverTaskId="c-1")
    # start killed during the generate call; its message ran out of deliveries long ago
    strand(aws, "lost-claim", status="GENERATING", claimToken="dead", claimExpiresAt=1)
    # start's claim released with nothing spent (a 503 before the request was read); message gone
    strand(aws, "released", status="GENERATING", claimToken="gone", claimExpiresAt=0)
    # the cover task id stored, then killed before StartExecution; message gone
    invoke("start_cover", sqs_event({"musicTaskId": "no-workflow"}))
    boto3.resource("dynamodb").Table(aws.table_name).update_item(
        Key={"musicTaskId": "no-workflow"}, UpdateExpression="REMOVE executionArn"
    )
    age(aws, "no-workflow")
    # a workflow that ended without finishing its cover (FinalizeFailed, or stopped by hand)
    invoke("start_cover", sqs_event({"musicTaskId": "ended"}))
    boto3.client("stepfunctions").stop_execution(executionArn=str(aws.record("ended").execution_arn))
    age(aws, "ended")
    # BLOCKED for two hours: credits are back, nobody redrove it
    strand(aws, "blocked", status="BLOCKED", claimToken="x", claimExpiresAt=0)
    aws.drain_events()

    report = invoke("reconcile", load_event("reconcile.json"))

    assert report["repaired"] == {
        "PublishEvent": 1,
        "SettleLostClaim": 1,
        "Requeue": 2,
        "StartWorkflow": 1,
        "ResumeWorkflow": 1,
    }
    assert report["failed"] == 0
    events = {(e["detail"]["musicTaskId"], e["detail"]["status"]) for e in aws.drain_events()}
    assert events == {("unsent", "SUCCEEDED"), ("lost-claim", "NEEDS_ATTENTION")}
    assert error_code(aws.record("lost-claim").error) == "COVER_TASK_ID_LOST"
    ended = aws.record("ended")
    assert ended.resume_count == 1 and (ended.execution_arn or "").endswith(":ended.r1")
    assert (aws.record("no-workflow").execution_arn or "").endswith(":no-workflow")
    queued = sorted(json.loads(m["Body"])["musicTaskId"] for m in drain(aws.queue_url))
    assert queued == ["blocked", "released"]
    assert emulator.stats.credits_charged == {"no-workflow": 1, "ended": 1}  # no generate by the reconciler

    again = invoke("reconcile", load_event("reconcile.json"))
    assert again["repaired"] == {} and again["failed"] == 0


def drain(queue_url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    found: list[dict[str, Any]] = []
    while batch := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        found += [dict(m) for m in batch]
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
        )
    return found
