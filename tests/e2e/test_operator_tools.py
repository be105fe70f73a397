"""Operator tools on a stack: `covers list` (the byOpen index), `covers resume` (a TIMED_OUT or
NEEDS_ATTENTION cover, or an IN_PROGRESS one whose workflow ended, back on the poll workflow, never a second
generate), `covers redrive` (dead letters back, as they were), and the local runner's report of a workflow
that failed for good."""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from covers_core.adapters.queues import DeadLetters
from covers_core.adapters.records import OPEN_INDEX, A, CoverStore, open_shard, record_from_item
from covers_core.domain import resume as resume_policy
from covers_core.domain.model import Status, iso
from covers_core.domain.names import execution_name, resumed_execution_name
from covers_core.errors import ResumeRefusedError

from covers_local import cli, moto_patches
from covers_local.emulator import EmulatorConfig, VendorEmulator
from covers_local.runner import WORKFLOW_FAILED, LocalPipeline, LocalSettings
from covers_local.stack import Stack, load_template
from covers_ops import cli as ops_cli
from tests.integration.test_finalize import assert_valid_event
from tests.support.cli import covers
from tests.support.paths import ROOT

STACK = LocalPipeline.STACK_NAME


def events_for(events: list[dict[str, Any]], task: str) -> list[tuple[str, str]]:
    return [(e["detail-type"], e["detail"]["status"]) for e in events if e["detail"]["musicTaskId"] == task]


def test_the_template_indexes_only_open_records_by_keys_spread_over_partitions() -> None:
    table = load_template(ROOT / "template.yaml")["Resources"]["CoversTable"]["Properties"]
    condition, kept, default = table["GlobalSecondaryIndexes"]["Fn::If"]
    assert condition == "KeepStatusIndex"  # byStatus survives only the first deploy of an upgrade
    (index,) = default
    assert [i["IndexName"] for i in kept] == [OPEN_INDEX, "byStatus"] and index == kept[0]
    assert index["IndexName"] == OPEN_INDEX and index["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    assert [(k["AttributeName"], k["KeyType"]) for k in index["KeySchema"]] == [
        (A.OPEN_SHARD, "HASH"),
        (A.CREATED_AT, "RANGE"),
    ]


def test_resumed_execution_names_are_new_valid_names_for_any_music_task_id() -> None:
    assert resumed_execution_name("gen-1", 1) == "gen-1.r1"
    long_ids = ["a" * 80 + "x", "a" * 80 + "y", "weird id/" * 12]
    names = {resumed_execution_name(task, n) for task in long_ids for n in (1, 12)}
    assert len(names) == 6
    assert all(re.fullmatch(r"[A-Za-z0-9_.-]{1,80}", name) for name in names)
    assert execution_name("gen-1") not in {resumed_execution_name("gen-1", n) for n in range(1, 5)}


# --- races and refusals on the deployed stack (no workflow engine needed) -------------------------------


def put_record(aws: Stack, status: str, **fields: Any) -> None:
    item = {"musicTaskId": "t-1", "status": status, "updatedAt": "2026-11-02T10:00:00.000Z", **fields}
    boto3.resource("dynamodb").Table(aws.table_name).put_item(Item=item)


def test_two_concurrent_resumes_exactly_one_wins(aws: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    put_record(aws, "TIMED_OUT", coverTaskId="cover-1", error={"code": "DEADLINE_EXCEEDED", "message": "x"})
    results: list[int] = []
    barrier = threading.Barrier(6)

    def operator() -> None:
        barrier.wait()
        results.append(cli.main(["resume", "--stack", aws.name, "t-1"]))

    with moto_patches.atomic_dynamodb():  # DynamoDB applies each request atomically; moto needs the help
        threads = [threading.Thread(target=operator) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert sorted(results) == [0, 1, 1, 1, 1, 1]
    assert [e["name"] for e in aws.executions()] == ["t-1.r1"]
    record = CoverStore(boto3.resource("dynamodb").Table(aws.table_name)).get("t-1")
    assert record is not None and (record.status, record.resume_count) == (Status.IN_PROGRESS, 1)
    assert record.error is None and record.execution_arn and record.execution_arn.endswith(":t-1.r1")


def test_a_resume_that_read_a_stale_record_changes_nothing(
    aws: Stack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    put_record(aws, "TIMED_OUT", coverTaskId="cover-1")
    stale = CoverStore(boto3.resource("dynamodb").Table(aws.table_name)).get("t-1")
    assert cli.main(["resume", "--stack", aws.name, "t-1"]) == 0
    monkeypatch.setattr(CoverStore, "get", lambda self, music_task_id: stale)  # read before the first won

    code, _, err = covers(["resume", "--stack", aws.name, "t-1"], capsys)

    assert code == 1 and "t-1 changed while resuming" in err
    assert len(aws.executions()) == 1


@pytest.mark.parametrize("status", ["REJECTED", "FAILED", "GENERATING", "BLOCKED"])
def test_resume_refuses_records_that_are_not_resumable(
    aws: Stack, status: str, capsys: pytest.CaptureFixture[str]
) -> None:
    put_record(aws, status, coverTaskId="cover-1", executionArn="arn:aws:states:us-east-1:1:execution:x:t-1")
    code, out, err = covers(["resume", "--stack", aws.name, "t-1"], capsys)
    assert (code, out) == (1, "")
    assert err == (
        f"covers resume: t-1 is {status}: only NEEDS_ATTENTION or TIMED_OUT records, or IN_PROGRESS ones "
        "whose workflow has ended, can be resumed\n"
    )
    assert aws.executions() == []


def test_an_in_progress_cover_is_resumed_only_once_its_workflow_has_ended(
    aws: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    sfn = boto3.client("stepfunctions")
    running = sfn.start_execution(stateMachineArn=aws.state_machine_arn, name="t-1", input="{}")[
        "executionArn"
    ]
    put_record(aws, "IN_PROGRESS", coverTaskId="cover-1", executionArn=running)

    code, _, err = covers(["resume", "--stack", aws.name, "t-1"], capsys)
    assert code == 1
    refusal = "t-1 is IN_PROGRESS and its workflow is RUNNING: the pipeline is still on it; nothing done"
    assert err == f"covers resume: {refusal}\n"

    sfn.stop_execution(
        executionArn=running, cause="stopped by hand"
    )  # or FinalizeFailed: nothing finishes it
    code, _, err = covers(["resume", "--stack", aws.name, "t-1"], capsys)
    assert code == 0, err
    assert err.startswith("resumed t-1: IN_PROGRESS -> IN_PROGRESS; execution ")
    assert sorted(e["name"] for e in aws.executions()) == ["t-1", "t-1.r1"]
    record = aws.record("t-1")
    assert (record.resume_count, record.cover_task_id) == (1, "cover-1")
    assert (record.execution_arn or "").endswith(":t-1.r1")


def test_an_in_progress_cover_whose_execution_step_functions_no_longer_has_is_resumed(
    aws: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    gone = aws.state_machine_arn.replace(":stateMachine:", ":execution:") + ":t-1"  # (90 days later)
    put_record(aws, "IN_PROGRESS", coverTaskId="cover-1", executionArn=gone)
    code, _, err = covers(["resume", "--stack", aws.name, "t-1"], capsys)
    assert code == 0, err
    assert [e["name"] for e in aws.executions()] == ["t-1.r1"]


def test_an_express_execution_counts_as_ended_once_the_record_is_quiet_for_longer_than_it_may_run() -> None:
    arn = "arn:aws:states:us-east-1:123456789012:express:CoverWorkflow:t-1:0b5e"
    now = datetime(2026, 11, 2, 10, 10, tzinfo=UTC)
    for minutes_quiet, resumable in ((4, False), (7, True)):
        updated = iso(now - timedelta(minutes=minutes_quiet))
        record = record_from_item(
            {"musicTaskId": "t-1", "status": "IN_PROGRESS", "coverTaskId": "c-1", "executionArn": arn}
            | {"updatedAt": updated}
        )
        if resumable:
            assert resume_policy.decide("t-1", record, None, now) == resume_policy.Resume(
                Status.IN_PROGRESS, "c-1", adopted=False
            )
        else:
            with pytest.raises(ResumeRefusedError, match="still on it"):
                resume_policy.decide("t-1", record, None, now)


def test_a_resume_whose_workflow_did_not_start_can_be_run_again(
    aws: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    put_record(
        aws, "IN_PROGRESS", coverTaskId="cover-1", generatedAt="2026-11-02T10:00:00.000Z", resumeCount=2
    )
    code, _, err = covers(["resume", "--stack", aws.name, "t-1"], capsys)
    assert code == 0, err
    assert [e["name"] for e in aws.executions()] == ["t-1.r2"]


def test_a_resume_in_the_middle_of_another_is_refused(aws: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    just_now = iso(datetime.now(UTC))  # the other operator moved it to IN_PROGRESS and is starting it
    put_record(
        aws, "IN_PROGRESS", coverTaskId="cover-1", generatedAt=just_now, updatedAt=just_now, resumeCount=1
    )
    code, _, err = covers(["resume", "--stack", aws.name, "t-1"], capsys)
    assert code == 1 and "t-1 is being resumed by another operator right now" in err
    assert aws.executions() == []


def test_list_pages_through_the_index_and_filters_by_time(
    aws: Stack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    table = boto3.resource("dynamodb").Table(aws.table_name)
    for n in range(25):
        table.put_item(
            Item={
                "musicTaskId": f"t-{n:02}",
                "status": "BLOCKED",
                "updatedAt": f"2026-11-{n + 1:02}T00:00:00.000Z",
                "createdAt": f"2026-11-{n + 1:02}T00:00:00.000Z",
                "openShard": open_shard(f"t-{n:02}"),
            }
        )
    store = CoverStore(table)
    query = table.query
    pages: list[int] = []

    def small_pages(**kwargs: Any) -> Any:
        page = query(Limit=2, **kwargs)
        pages.append(len(page["Items"]))
        return page

    monkeypatch.setattr(table, "query", small_pages)
    since = datetime(2026, 11, 11, tzinfo=UTC)
    found = [r.music_task_id for r in store.by_status(Status.BLOCKED, since)]
    assert found == [f"t-{n:02}" for n in range(10, 25)]
    assert sum(pages) == 25 and len(pages) > 8  # every partition of the index, page after page
    monkeypatch.setattr(ops_cli, "LIST_PROGRESS_EVERY", 10)
    code, out, err = covers(["list", "--stack", aws.name, "--status", "blocked"], capsys)
    assert code == 0 and len(out.splitlines()) == 25
    assert "listed 20 cover(s)..." in err


# --- the local runner reports a workflow that failed for good -------------------------------------------


@pytest.mark.slow
def test_a_failed_workflow_is_reported_as_workflow_failed_then_resumed_after_the_fix(
    vendor: VendorEmulator,
) -> None:
    settings = LocalSettings(vendor_url=vendor.base_url, api_key=vendor.config.api_key, max_wait=10)
    changes: list[tuple[str | None, str]] = []
    with LocalPipeline(settings) as stack:
        finalize = next(f.name for f in stack.stack.functions.values() if f.code_dir.name == "finalize_cover")

        def broken(event: Any, context: Any) -> Any:
            raise RuntimeError("finalize is broken")

        working = stack.handlers[finalize]
        stack.handlers[finalize] = broken  # FinalizeCover and its safety net both fail: FinalizeFailed
        stack.submit([{"musicTaskId": "broken-fin-1"}])
        records = stack.run(
            ["broken-fin-1"], timeout=90, on_change=lambda t, old, new, r: changes.append((old, new))
        )
        stored = stack.stack.records()["broken-fin-1"]

        stack.handlers[finalize] = working  # the fix; then the operator resumes the stranded cover
        code = cli.main(["resume", "--stack", STACK, "broken-fin-1"])
        resumed = stack.run(["broken-fin-1"], timeout=60)["broken-fin-1"]
        events = events_for(stack.drain_events(), "broken-fin-1")

    record = records["broken-fin-1"]
    assert record["status"] == WORKFLOW_FAILED
    assert record["error"]["code"] == "FinalizeFailed"
    assert "safety net both failed" in record["error"]["message"]
    assert changes[-1] == ("IN_PROGRESS", WORKFLOW_FAILED)
    assert stored.status == "IN_PROGRESS"  # what the table says; the report does not hide the failure
    assert code == 0
    assert (resumed["status"], resumed["resumeCount"]) == ("SUCCEEDED", 1)
    assert events == [("Cover Generated", "SUCCEEDED")]
    assert vendor.stats.credits_charged["broken-fin-1"] == 1
    assert vendor.stats.generate_calls["broken-fin-1"] == 1


# --- on the local pipeline: the real ASL, the emulator (last: the module-wide pipeline holds moto) -----


@pytest.fixture(scope="module")
def vendor() -> Iterator[VendorEmulator]:
    with VendorEmulator(EmulatorConfig(ready_after=(0.5, 1.0), seed=5)) as emu:
        yield emu


@pytest.fixture(scope="module")
def pipeline(vendor: VendorEmulator) -> Iterator[LocalPipeline]:
    """slow-op-1 ends TIMED_OUT, lost-op-2 NEEDS_ATTENTION (COVER_TASK_ID_LOST), ok-op-3 SUCCEEDED."""
    settings = LocalSettings(vendor_url=vendor.base_url, api_key=vendor.config.api_key, max_wait=3)
    with LocalPipeline(settings) as stack:
        tasks = ["slow-op-1", "lost-op-2", "ok-op-3"]
        stack.submit([{"musicTaskId": t} for t in tasks])
        records = stack.run(tasks, timeout=120)
        assert {t: records[t]["status"] for t in tasks} == {
            "slow-op-1": "TIMED_OUT",
            "lost-op-2": "NEEDS_ATTENTION",
            "ok-op-3": "SUCCEEDED",
        }
        yield stack


@pytest.mark.slow
def test_list_shows_the_covers_that_need_an_operator(
    pipeline: LocalPipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = covers(["list", "--stack", STACK], capsys)
    assert code == 0
    lines = {line.split("\t")[0]: line.split("\t") for line in out.splitlines()}
    assert set(lines) == {"slow-op-1", "lost-op-2"}  # default: NEEDS_ATTENTION, TIMED_OUT, BLOCKED
    slow = pipeline.records()["slow-op-1"]
    assert lines["slow-op-1"] == [
        "slow-op-1",
        "TIMED_OUT",
        slow.updated_at,
        "DEADLINE_EXCEEDED",
        slow.cover_task_id,
    ]
    assert lines["lost-op-2"][1:2] + lines["lost-op-2"][3:] == ["NEEDS_ATTENTION", "COVER_TASK_ID_LOST", "-"]

    code, out, _ = covers(["list", "--stack", STACK, "--status", "SUCCEEDED", "--json"], capsys)
    assert code == 0
    (listed,) = json.loads(out)
    assert (listed["musicTaskId"], listed["status"], listed["error"]) == ("ok-op-3", "SUCCEEDED", None)

    code, out, _ = covers(["list", "--stack", STACK, "--since", "2999-01-01T00:00:00Z", "--json"], capsys)
    assert (code, json.loads(out)) == (0, [])
    code, out, _ = covers(["list", "--stack", STACK, "--since", str(slow.updated_at)], capsys)
    assert "slow-op-1\t" in out


@pytest.mark.slow
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["ok-op-3"],
            "ok-op-3 is SUCCEEDED: only NEEDS_ATTENTION or TIMED_OUT records, or IN_PROGRESS ones whose "
            "workflow has ended, can be resumed",
        ),
        (
            ["lost-op-2"],
            "without a cover task id: find it in the vendor's dashboard and pass --cover-task-id",
        ),
        (["slow-op-1", "--cover-task-id", "cover-other"], "holds cover task"),
        (["nobody"], "no record for music task nobody"),
    ],
)
def test_resume_refuses_with_one_line_and_exit_1(
    pipeline: LocalPipeline, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = covers(["resume", "--stack", STACK, *argv], capsys)
    assert (code, out) == (1, "")
    assert err.count("\n") == 1 and message in err, err


@pytest.mark.slow
def test_resume_a_timed_out_cover_runs_the_workflow_again_without_a_new_generate(
    pipeline: LocalPipeline, vendor: VendorEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    generates = vendor.stats.generate_calls["slow-op-1"]
    vendor.finish("slow-op-1")  # the vendor made the cover after our deadline

    code, _, err = covers(["resume", "--stack", STACK, "slow-op-1"], capsys)

    assert code == 0, err
    assert err.startswith("resumed slow-op-1: TIMED_OUT -> IN_PROGRESS; execution ")
    records = pipeline.run(["slow-op-1"], timeout=60)
    record = records["slow-op-1"]
    assert (record["status"], record["resumeCount"], len(record["images"])) == ("SUCCEEDED", 1, 2)
    assert record["executionArn"].endswith(":slow-op-1.r1")
    assert events_for(pipeline.events, "slow-op-1") == [
        ("Cover Generation Failed", "TIMED_OUT"),
        ("Cover Generated", "SUCCEEDED"),
    ]
    for event in pipeline.events:
        assert_valid_event(event)
    assert vendor.stats.generate_calls["slow-op-1"] == generates
    assert vendor.stats.credits_charged["slow-op-1"] == 1

    code, _, err = covers(["resume", "--stack", STACK, "slow-op-1"], capsys)
    assert code == 1 and "slow-op-1 is SUCCEEDED" in err


@pytest.mark.slow
def test_adopt_a_lost_cover_task_id_found_in_the_vendor_dashboard(
    pipeline: LocalPipeline, vendor: VendorEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    found = vendor.cover_by_music["lost-op-2"]  # what the operator reads in the dashboard

    code, _, err = covers(["resume", "--stack", STACK, "lost-op-2", "--cover-task-id", found], capsys)

    assert code == 0, err
    assert f"NEEDS_ATTENTION -> IN_PROGRESS (adopted cover task {found})" in err
    record = pipeline.run(["lost-op-2"], timeout=60)["lost-op-2"]
    assert (record["status"], record["coverTaskId"], "error" in record) == ("SUCCEEDED", found, False)
    assert events_for(pipeline.events, "lost-op-2") == [
        ("Cover Generation Failed", "NEEDS_ATTENTION"),
        ("Cover Generated", "SUCCEEDED"),
    ]
    assert vendor.stats.credits_charged["lost-op-2"] == 1


def test_redrive_sends_rejected_bodies_back_as_they_were_and_leaves_those_sqs_would_refuse(
    aws: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    sqs = boto3.client("sqs")
    letters = DeadLetters(sqs, aws.dlq_url)
    letters.send(b"\x00junk", "message body is not valid JSON", "msg-1")  # kept as base64: SQS refuses NUL
    letters.send(b"", "empty message body", "msg-2")
    letters.send(b'{"musicTaskId": "fixed-1"}', "rejected for a reason since fixed", "msg-3")  # as it is
    # A base64 copy of text SQS takes (this format allows it; another producer may write it): decoded.
    sqs.send_message(
        QueueUrl=aws.dlq_url,
        MessageBody=base64.b64encode('{"musicTaskId": "fixed-é"}'.encode()).decode(),
        MessageAttributes={
            "rejectReason": {"DataType": "String", "StringValue": "rejected for a reason since fixed"},
            "bodyEncoding": {"DataType": "String", "StringValue": "base64"},
        },
    )
    sqs.send_message(QueueUrl=aws.dlq_url, MessageBody='{"musicTaskId": "blocked-1"}')  # maxReceiveCount

    code, out, err = covers(["redrive", "--stack", aws.name, "--include-rejected"], capsys)
    assert (code, out) == (0, "")
    assert "moved 3 message(s) back to the cover requests queue; left 2 rejected as bad input" in err
    assert re.search(
        r"left DLQ message \S+ where it is: its original body \(5 bytes\) holds characters SQS", err
    )
    assert re.search(r"left DLQ message \S+ where it is: its original body was empty", err)
    moved = sqs.receive_message(QueueUrl=aws.queue_url, MaxNumberOfMessages=10)["Messages"]
    assert sorted(m["Body"] for m in moved) == sorted(
        ['{"musicTaskId": "fixed-1"}', '{"musicTaskId": "fixed-é"}', '{"musicTaskId": "blocked-1"}']
    )
    left = sqs.get_queue_attributes(QueueUrl=aws.dlq_url, AttributeNames=["All"])["Attributes"]
    assert int(left["ApproximateNumberOfMessages"]) + int(left["ApproximateNumberOfMessagesNotVisible"]) == 2
