"""The in-account catalogue backfill (docs/operations.md, "Backfilling a catalogue") on a moto stack deployed
with ``CatalogueBackfill=true``: the state machine's deployed definition (substitutions made by the stack)
run by ``covers_local.asl_map`` against moto's S3 and SQS (moto runs no Distributed Map), and
``covers backfill --manifest`` against the same stack (moto records the execution it starts)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from covers_core.domain.requests import parse_request
from covers_core.errors import BadRequestError
from moto import mock_aws

from covers_local import moto_patches
from covers_local.asl_map import Interpreter, MapRunReport, StateFailed
from covers_local.stack import Stack, deploy
from covers_ops import backfill, backfill_map
from tests.support.cli import covers
from tests.support.paths import ROOT

STACK = "covers-backfill"


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    with mock_aws(), moto_patches.cloudformation():
        yield deploy(STACK, {"CatalogueBackfill": "true"}, root=ROOT)


def definition(stack: Stack) -> dict[str, Any]:
    machine = stack.outputs["CoverBackfillArn"]
    return dict(
        json.loads(
            boto3.client("stepfunctions").describe_state_machine(stateMachineArn=machine)["definition"]
        )
    )


def put_manifest(stack: Stack, rows: list[str], key: str = "manifests/catalogue.csv") -> str:
    body = "\n".join(["musicTaskId,correlationId,metadata", *rows]) + "\n"
    boto3.client("s3").put_object(Bucket=stack.outputs["BackfillBucketName"], Key=key, Body=body.encode())
    return key


class Recording:
    """moto's SQS client, recording the body of each message SendMessageBatch took (reading 1,000 messages
    back from moto's queue would take a minute: moto scans the whole queue on every receive)."""

    def __init__(self) -> None:
        self.real = boto3.client("sqs")
        self.taken: list[str] = []

    def send_message_batch(self, **params: Any) -> dict[str, Any]:
        answer: dict[str, Any] = dict(self.real.send_message_batch(**params))
        taken = {entry["Id"] for entry in answer.get("Successful", [])}
        self.taken += [entry["MessageBody"] for entry in params["Entries"] if entry["Id"] in taken]
        return answer


def depth(stack: Stack) -> int:
    """The messages waiting in the requests queue."""
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=stack.queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def run(stack: Stack, key: str, sqs: Any = None, **pace: int) -> tuple[Interpreter, Any]:
    interpreter = Interpreter({"s3": boto3.client("s3"), "sqs": sqs or boto3.client("sqs")})
    payload = {"manifestKey": key, "waitSeconds": 1, "maxConcurrency": 10} | pace
    return interpreter, interpreter.execute(definition(stack), payload)


def row(n: int) -> str:
    correlation = f"order-{n}" if n % 3 else ""
    metadata = f'"{{""tenant"": ""acme"", ""n"": {n}}}"' if n % 2 else ""
    return f"gen-{n:04d},{correlation},{metadata}"


def results(stack: Stack, report: MapRunReport, status: str) -> list[dict[str, Any]]:
    s3 = boto3.client("s3")
    bucket = stack.outputs["BackfillBucketName"]
    assert report.results_key is not None
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=report.results_key)["Body"].read())
    keys = [f["Key"] for f in manifest["ResultFiles"] if f"/{status}_" in f["Key"]]
    return [entry for k in keys for entry in json.loads(s3.get_object(Bucket=bucket, Key=k)["Body"].read())]


def test_a_thousand_row_manifest_queues_each_request_once_as_the_start_function_reads_it(
    stack: Stack,
) -> None:
    key = put_manifest(stack, [row(n) for n in range(1000)])
    sqs = Recording()
    interpreter, output = run(stack, key, sqs=sqs, waitSeconds=1, maxConcurrency=10)
    bodies = sqs.taken
    assert depth(stack) == 1000
    requests = [parse_request(body) for body in bodies]  # the start function's parser takes every one
    assert Counter(r.music_task_id for r in requests) == Counter(f"gen-{n:04d}" for n in range(1000))
    by_id = {r.music_task_id: r for r in requests}
    assert by_id["gen-0001"].correlation_id == "order-1" and dict(by_id["gen-0001"].metadata) == {
        "tenant": "acme",
        "n": 1,
    }
    assert by_id["gen-0000"].correlation_id is None and dict(by_id["gen-0000"].metadata) == {}
    report = interpreter.report
    assert (report.items, report.succeeded, report.failed) == (1000, 100, 0)
    # 100 batches, 10 at once, each 1 s of pace + 0.1 s of send: 10 waves of 1.1 s, about 909 rows/s
    assert report.seconds == pytest.approx(11.0)
    assert backfill_map.Pace(10, 1).rate == pytest.approx(1000 / report.seconds)
    assert output["ResultWriterDetails"]["Key"] == report.results_key
    assert str(report.results_key).startswith("results/")


def test_a_batch_with_a_malformed_row_fails_whole_and_is_reported_the_rest_is_queued(stack: Stack) -> None:
    rows = [row(n) for n in range(1000)]
    rows[505] = 'gen-0505,,"{not json"'  # metadata the state machine cannot read: its batch fails
    rows[700] = "bad id,,"  # an id the start function refuses: queued, rejected there (to the DLQ)
    sqs = Recording()
    interpreter, _ = run(stack, put_manifest(stack, rows), sqs=sqs)
    bodies = sqs.taken
    assert len(bodies) == depth(stack) == 990  # the failed batch's 10 rows are not queued ...
    (failed,) = results(stack, interpreter.report, "FAILED")  # ... and reported, rows and reason
    assert failed["Error"] == "States.IntrinsicFailure" and "not JSON" in failed["Cause"]
    assert [r["musicTaskId"] for r in json.loads(failed["Input"])["Items"]] == [
        f"gen-{n:04d}" for n in range(500, 510)
    ]
    refused = [b for b in bodies if json.loads(b)["musicTaskId"] == "bad id"]
    with pytest.raises(BadRequestError, match="printable ASCII"):
        parse_request(refused[0])
    # The command finds both before it starts anything (the same rules, row by row).
    check = backfill_map.check_manifest(["musicTaskId,correlationId,metadata\n", *(r + "\n" for r in rows)])
    assert check.rows == 1000 and [line for line, _ in check.invalid] == [507, 702]


class PartlyTaking:
    """An SQS client whose first SendMessageBatch is throttled, and whose second leaves one entry out."""

    def __init__(self) -> None:
        self.real = boto3.client("sqs")
        self.calls = 0

    def send_message_batch(self, **params: Any) -> dict[str, Any]:
        self.calls += 1
        if self.calls == 1:
            raise ClientError(
                {"Error": {"Code": "RequestThrottled", "Message": "slow down"}}, "SendMessageBatch"
            )
        if self.calls == 2:
            first, *rest = params["Entries"]
            answer = dict(self.real.send_message_batch(**params | {"Entries": rest}))
            answer["Failed"] = [
                {"Id": first["Id"], "SenderFault": False, "Code": "InternalError", "Message": "x"}
            ]
            return answer
        return dict(self.real.send_message_batch(**params))


def test_throttling_is_retried_and_a_message_sqs_did_not_take_fails_its_batch_visibly(stack: Stack) -> None:
    key = put_manifest(stack, [row(n) for n in range(30)])
    sqs = PartlyTaking()
    interpreter = Interpreter({"s3": boto3.client("s3"), "sqs": sqs})
    payload = {"manifestKey": key, "waitSeconds": 0, "maxConcurrency": 1}
    # 1 failed batch of 3 (33%) is past the tolerated share: the execution fails, as the Map Run would
    with pytest.raises(StateFailed, match="ExceedToleratedFailureThreshold"):
        interpreter.execute(definition(stack), payload)
    (failed,) = results(stack, interpreter.report, "FAILED")
    assert failed["Error"] == "Backfill.NotQueued" and '"Code":"InternalError"' in failed["Cause"]
    assert sqs.calls == 4  # throttled, retried (9 of 10 taken), then the two other batches
    assert depth(stack) == 29
    assert (interpreter.report.succeeded, interpreter.report.failed) == (2, 1)


def test_past_the_tolerated_share_of_failed_batches_the_run_fails(stack: Stack) -> None:
    key = put_manifest(stack, ['gen-1,,"{"', *(row(n) for n in range(2, 10))])
    with pytest.raises(StateFailed) as failure:
        run(stack, key)
    assert failure.value.error == "States.ExceedToleratedFailureThreshold"


# --- the command -----------------------------------------------------------------------------------------


def test_the_dry_run_reads_the_manifest_and_prices_the_run(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    bucket = stack.outputs["BackfillBucketName"]
    put_manifest(stack, [row(n) for n in range(1000)])
    uri = f"s3://{bucket}/manifests/catalogue.csv"
    code, _, err = covers(
        ["backfill", "--stack", STACK, "--manifest", uri, "--rate", "100", "--dry-run"], capsys
    )
    assert code == 0, err
    assert "1000 row(s), 0 invalid" in err and "at most 1000 credit(s)" in err
    pace = backfill_map.pace_for(100)
    assert f"${1000 * backfill.AWS_USD_PER_MILLION_COVERS / 1e6:.2f} for the covers" in err
    assert f"${backfill_map.map_usd(1000, pace):.2f} for the backfill itself" in err
    assert f"{pace.max_concurrency} batch(es) of 10 at once" in err
    assert (
        boto3.client("stepfunctions").list_executions(stateMachineArn=stack.outputs["CoverBackfillArn"])[
            "executions"
        ]
        == []
    )


def test_a_pace_that_would_outlast_the_state_machines_timeout_is_refused(
    stack: Stack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backfill_map, "RUN_TIMEOUT_SECONDS", 100)  # 1,000 rows at about 4.8/s: 210 s
    key = put_manifest(stack, [row(n) for n in range(1000)])
    uri = f"s3://{stack.outputs['BackfillBucketName']}/{key}"
    code, _, err = covers(["backfill", "--stack", STACK, "--manifest", uri, "--dry-run"], capsys)
    assert code == 2 and "past the state machine's timeout (1m40s): raise --rate" in err, err


def test_one_execution_per_manifest_version_named_by_it_and_a_rerun_reports_it(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    bucket = stack.outputs["BackfillBucketName"]
    key = put_manifest(stack, [row(n) for n in range(25)])
    argv = ["backfill", "--stack", STACK, "--manifest", f"s3://{bucket}/{key}", "--rate", "50"]
    code, _, err = covers(argv, capsys)
    assert code == 0, err
    sfn = boto3.client("stepfunctions")
    (execution,) = sfn.list_executions(stateMachineArn=stack.outputs["CoverBackfillArn"])["executions"]
    etag = boto3.client("s3").head_object(Bucket=bucket, Key=key)["ETag"]
    assert execution["name"] == backfill_map.execution_name(key, etag)
    assert f"started {execution['executionArn']}" in err and "console.aws.amazon.com/states" in err
    started = json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"])
    assert started == backfill_map.execution_input(key, backfill_map.pace_for(50))
    code, _, err = covers(argv, capsys)  # the same manifest again: no second execution
    assert code == 0 and "already has a backfill (RUNNING)" in err
    assert len(sfn.list_executions(stateMachineArn=stack.outputs["CoverBackfillArn"])["executions"]) == 1
    put_manifest(stack, [row(n) for n in range(26)])  # a new version: a new execution
    assert covers(argv, capsys)[0] == 0
    assert len(sfn.list_executions(stateMachineArn=stack.outputs["CoverBackfillArn"])["executions"]) == 2


def test_a_local_csv_is_converted_and_uploaded_then_started(
    stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "catalogue.csv"
    path.write_text("musicTaskId,tenant,correlationId\ng1,acme,c1\ng2,,\n", encoding="utf-8")
    code, _, err = covers(["backfill", "--stack", STACK, "--manifest", str(path)], capsys)
    assert code == 0, err
    body = boto3.client("s3").get_object(
        Bucket=stack.outputs["BackfillBucketName"], Key="manifests/catalogue.csv"
    )
    lines = body["Body"].read().decode().splitlines()
    assert lines == ["musicTaskId,correlationId,metadata", 'g1,c1,"{""tenant"":""acme""}"', "g2,,"]


@pytest.mark.parametrize(
    ("manifest", "expected"),
    [
        ("s3:/nope", "not an S3 object URI"),
        ("s3://{bucket}/manifests/missing.csv", "no such object"),
        ("s3://other-bucket/manifests/x.csv", "copy it there: aws s3 cp"),
        ("s3://{bucket}/elsewhere/x.csv", "reads s3://"),
    ],
)
def test_bad_manifests_are_refused_with_the_fix(
    stack: Stack, capsys: pytest.CaptureFixture[str], manifest: str, expected: str
) -> None:
    uri = manifest.format(bucket=stack.outputs["BackfillBucketName"])
    code, _, err = covers(["backfill", "--stack", STACK, "--manifest", uri], capsys)
    assert code == 2 and expected in err, err


def test_a_manifest_with_an_unknown_column_or_bad_rows_is_refused(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    bucket = stack.outputs["BackfillBucketName"]
    boto3.client("s3").put_object(Bucket=bucket, Key="manifests/odd.csv", Body=b"musicTaskId,title\ng1,x\n")
    code, _, err = covers(
        ["backfill", "--stack", STACK, "--manifest", f"s3://{bucket}/manifests/odd.csv"], capsys
    )
    assert code == 2 and "unknown column(s) title" in err
    put_manifest(stack, ["g1,,", "bad id,,"])
    code, _, err = covers(
        ["backfill", "--stack", STACK, "--manifest", f"s3://{bucket}/manifests/catalogue.csv"], capsys
    )
    assert code == 2 and "manifests/catalogue.csv:3:" in err and "1 invalid row(s)" in err


def test_a_stack_without_the_backfill_is_told_how_to_get_it(capsys: pytest.CaptureFixture[str]) -> None:
    with mock_aws(), moto_patches.cloudformation():
        deploy("covers-plain", {}, root=ROOT)
        code, _, err = covers(
            ["backfill", "--stack", "covers-plain", "--manifest", "s3://b-b-b/manifests/x.csv"], capsys
        )
    assert code == 2 and "CatalogueBackfill=true" in err


class FakeStepFunctions:
    """DescribeExecution / ListMapRuns / DescribeMapRun as a run goes (moto has no Map Runs)."""

    def __init__(self, counts: list[tuple[str, dict[str, int]]]) -> None:
        self.counts = counts
        self.reads = 0

    def describe_execution(self, executionArn: str) -> dict[str, Any]:
        return {"status": self.counts[min(self.reads, len(self.counts) - 1)][0]}

    def list_map_runs(self, executionArn: str) -> dict[str, Any]:
        return {"mapRuns": [{"mapRunArn": "arn:map-run"}]}

    def describe_map_run(self, mapRunArn: str) -> dict[str, Any]:
        _, counts = self.counts[min(self.reads, len(self.counts) - 1)]
        self.reads += 1
        return {"itemCounts": counts}


def test_watching_prints_the_map_runs_counts_until_it_ends(capsys: pytest.CaptureFixture[str]) -> None:
    import sys

    fake = FakeStepFunctions(
        [
            ("RUNNING", {"succeeded": 10, "failed": 0, "running": 20, "total": 100}),
            ("RUNNING", {"succeeded": 60, "failed": 10, "running": 30, "total": 100}),
            ("FAILED", {"succeeded": 90, "failed": 10, "running": 0, "total": 100}),
        ]
    )
    target = backfill_map.Backfill("us-east-1", "arn:m", "b", {"stepfunctions": fake})
    slept: list[float] = []
    assert backfill_map.watch(target, "arn:e", sys.stderr, slept.append) == "FAILED"
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "backfill RUNNING: 10 of 100 row(s) queued, 0 failed, 20 running",
        "backfill RUNNING: 60 of 100 row(s) queued, 10 failed, 30 running",
        "backfill FAILED: 90 of 100 row(s) queued, 10 failed, 0 running",
    ]
    assert slept == [10, 10]
