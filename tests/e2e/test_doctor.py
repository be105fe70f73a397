"""`covers doctor` on the stack deployed into moto: a healthy stack comes out OK, then each problem planted on
its own is found with its level and its fix, and the exit code says whether anything FAILed.

moto has no Lambda GetAccountSettings and no Step Functions quotas in Service Quotas, and it confirms every
SNS subscription at once: those answers are replaced at the adapter boundary (``covers_ops.deployed``), as
AWS would give them, never in moto itself."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from covers_core.adapters.records import CoverStore
from covers_core.adapters.records.items import record_to_item
from covers_core.domain.model import CoverRecord, Status, iso

from covers_local import cli
from covers_local.stack import Stack
from covers_ops import deployed, doctor
from tests.support.cli import covers
from tests.support.logs import everything_at_debug
from tests.support.paths import API_KEY

REGION = "us-east-1"

#: What an account with the defaults answers (GetAccountSettings; Service Quotas for "states").
HEALTHY_LIMIT = {"ConcurrentExecutions": 1000, "UnreservedConcurrentExecutions": 974}
HEALTHY_QUOTAS: list[dict[str, Any]] = [
    {"QuotaName": "StateTransition throttle token bucket refill rate", "Value": 1500.0},
    {"QuotaName": "StartExecution throttle token bucket refill rate", "Value": 300.0},
    {"QuotaName": "Maximum open executions", "Value": 1_000_000.0},
]


def run_doctor(aws: Stack, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, str], str]:
    """Exit code, each check's line by name, stderr."""
    code, out, err = covers(["doctor", "--stack", aws.name, "--region", REGION], capsys)
    lines = {line.split()[1].rstrip(":"): line for line in out.splitlines()}
    assert list(lines) == list(doctor.CHECKS), out
    return code, lines, err


def level(line: str) -> str:
    return line.split(maxsplit=1)[0]


def reconciler_ran(aws: Stack, minutes_ago: float, *, failed: bool = False) -> None:
    """What Lambda publishes for a run of ReconcileFunction (moto publishes nothing by itself)."""
    when = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    dimensions = [{"Name": "FunctionName", "Value": aws.physical_id("ReconcileFunction")}]
    data = [{"MetricName": "Invocations", "Dimensions": dimensions, "Timestamp": when, "Value": 1.0}]
    if failed:
        data.append({"MetricName": "Errors", "Dimensions": dimensions, "Timestamp": when, "Value": 1.0})
    boto3.client("cloudwatch", region_name=REGION).put_metric_data(Namespace="AWS/Lambda", MetricData=data)


@pytest.fixture
def healthy(aws: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """The moto stack as a healthy account has it: the key stored (the ``aws`` fixture), a confirmed alarm
    subscription, the reconciler's last run a few minutes ago, and the account's default limits."""
    boto3.client("sns", region_name=REGION).subscribe(
        TopicArn=aws.outputs["AlarmTopicArn"], Protocol="email", Endpoint="oncall@example.com"
    )
    reconciler_ran(aws, minutes_ago=3)
    monkeypatch.setattr(deployed, "lambda_account_limit", lambda region: dict(HEALTHY_LIMIT))
    monkeypatch.setattr(deployed, "service_quotas", lambda region, code: list(HEALTHY_QUOTAS))
    yield aws


def test_a_healthy_stack_is_ok_on_every_check(healthy: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, err = run_doctor(healthy, capsys)

    assert code == 0
    assert {name: level(line) for name, line in lines.items()} == dict.fromkeys(doctor.CHECKS, "OK")
    assert "holds a key (not the placeholder)" in lines["api-key"]
    assert "1 confirmed subscription(s) (email:oncall@example.com)" in lines["alarm-subscription"]
    assert "CoverRequestsDeadLetterQueue 0" in lines["dead-letters"]
    assert "account limit 1000, 974 unreserved; this stack needs about 331" in lines["lambda-concurrency"]
    assert "1500 state transitions/s (about 179 covers/s" in lines["step-functions-quotas"]
    assert "succeeded" in lines["reconciler"]
    assert "fix:" not in "".join(lines.values())
    assert err == f"{healthy.name} ({REGION}): 7 OK, 0 WARN, 0 FAIL\n"


def test_json_gives_every_check_with_its_level_and_fix(
    healthy: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    healthy.put_secret(healthy.api_key_secret_arn, "SET-ME")
    code, out, err = covers(["doctor", "--stack", healthy.name, "--region", REGION, "--json"], capsys)

    assert (code, err) == (1, "")
    report = json.loads(out)
    assert (report["stack"], report["region"], report["result"]) == (healthy.name, REGION, "FAIL")
    assert [c["name"] for c in report["checks"]] == list(doctor.CHECKS)
    key = report["checks"][0]
    assert (key["level"], "put-secret-value" in key["fix"]) == ("FAIL", True)
    assert {c["level"] for c in report["checks"][1:]} == {"OK"}


@pytest.mark.parametrize(
    ("stored", "says"),
    [
        ("SET-ME", "holds the placeholder"),
        ('{"apiKey": "SET-ME"}', "holds the placeholder"),
        ("  ", "is empty"),
        ('{"key": "abc123456"}', 'JSON without an "apiKey" string'),
    ],
)
def test_the_placeholder_key_fails_with_the_command_that_stores_the_key(
    healthy: Stack, stored: str, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    healthy.put_secret(healthy.api_key_secret_arn, stored)
    code, lines, _ = run_doctor(healthy, capsys)

    assert code == 1
    line = lines["api-key"]
    assert level(line) == "FAIL" and says in line
    assert f"fix: aws secretsmanager put-secret-value --secret-id {healthy.api_key_secret_arn}" in line
    assert f"`covers redrive --stack {healthy.name}`" in line
    assert [name for name, line in lines.items() if level(line) != "OK"] == ["api-key"]


def test_the_key_never_appears_in_the_output_or_a_debug_log(
    healthy: Stack, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    key = f"doctor-key-{uuid.uuid4().hex}"  # never registered for redaction before doctor reads it
    boto3.client("secretsmanager", region_name=REGION).put_secret_value(
        SecretId=healthy.api_key_secret_arn, SecretString=json.dumps({"apiKey": key})
    )
    capfd.readouterr()
    caplog.set_level(logging.DEBUG)
    with everything_at_debug():
        code = cli.main(["doctor", "--stack", healthy.name, "--region", REGION])
        code_json = cli.main(["doctor", "--stack", healthy.name, "--region", REGION, "--json"])
    out, err = capfd.readouterr()
    logged = out + err + caplog.text
    assert (code, code_json) == (0, 0)
    assert "GetSecretValue" in caplog.text or "secretsmanager" in caplog.text  # botocore's DEBUG lines
    assert key not in logged
    assert API_KEY not in logged


def test_an_alarm_topic_without_a_subscription_warns(aws: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, _ = run_doctor(aws, capsys)  # the stack as deployed: no AlarmEmail

    line = lines["alarm-subscription"]
    assert level(line) == "WARN" and "no subscription: alarms reach nobody" in line
    assert "fix: deploy with AlarmEmail=<address>" in line
    assert code == 0  # WARNs alone


def test_an_unconfirmed_subscription_warns_with_how_to_confirm(
    healthy: Stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    listed = deployed.topic_subscriptions

    def as_aws_lists_a_pending_one(region: str | None, topic_arn: str) -> list[dict[str, Any]]:
        return [s | {"SubscriptionArn": "PendingConfirmation"} for s in listed(region, topic_arn)]

    monkeypatch.setattr(deployed, "topic_subscriptions", as_aws_lists_a_pending_one)
    code, lines, _ = run_doctor(healthy, capsys)

    line = lines["alarm-subscription"]
    assert level(line) == "WARN"
    assert "no confirmed subscription, 1 pending (oncall@example.com): alarms reach nobody" in line
    assert "fix: open the confirmation e-mail AWS sent and confirm it" in line
    assert code == 0
    assert [name for name, line in lines.items() if level(line) != "OK"] == ["alarm-subscription"]


def test_a_message_in_the_dead_letter_queue_fails_with_redrive(
    healthy: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    boto3.client("sqs", region_name=REGION).send_message(
        QueueUrl=healthy.dlq_url, MessageBody='{"musicTaskId": "dead-1"}'
    )
    code, lines, _ = run_doctor(healthy, capsys)

    line = lines["dead-letters"]
    assert code == 1
    assert level(line) == "FAIL" and "messages waiting: CoverRequestsDeadLetterQueue 1" in line
    assert f"`covers redrive --stack {healthy.name}`" in line
    assert [name for name, line in lines.items() if level(line) != "OK"] == ["dead-letters"]


def in_progress(task: str, generated: datetime) -> CoverRecord:
    return CoverRecord(
        music_task_id=task,
        status=Status.IN_PROGRESS,
        cover_task_id=f"cover-{task}",
        execution_arn=f"arn:aws:states:{REGION}:123456789012:execution:CoverWorkflow:{task}",
        created_at=iso(generated - timedelta(seconds=2)),
        updated_at=iso(generated),
        generated_at=iso(generated),
    )


def put_open(aws: Stack, record: CoverRecord) -> None:
    boto3.resource("dynamodb", region_name=REGION).Table(aws.table_name).put_item(
        Item=record_to_item(record, open_record=True)
    )


def test_a_cover_long_past_its_deadline_fails_with_resume(
    healthy: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    now = datetime.now(UTC)
    put_open(healthy, in_progress("stuck-1", now - timedelta(hours=3)))  # deadline 30 s (the fixture)
    put_open(healthy, in_progress("fresh-1", now - timedelta(seconds=5)))  # still on its way
    done = replace(in_progress("done-1", now - timedelta(hours=3)), status=Status.TIMED_OUT)
    put_open(healthy, done)  # ended, waiting for an operator: `covers list`, not overdue
    code, lines, _ = run_doctor(healthy, capsys)

    line = lines["overdue-covers"]
    assert code == 1
    assert level(line) == "FAIL"
    assert "1 cover(s) IN_PROGRESS long past their deadline (30 s), not repaired by the reconciler" in line
    assert "stuck-1 (2 h over)" in line and "fresh-1" not in line and "done-1" not in line
    assert f"fix: `covers resume --stack {healthy.name} <musicTaskId>`" in line
    assert [name for name, line in lines.items() if level(line) != "OK"] == ["overdue-covers"]
    stored = CoverStore(boto3.resource("dynamodb", region_name=REGION).Table(healthy.table_name)).get(
        "stuck-1"
    )
    assert stored is not None and stored.status is Status.IN_PROGRESS  # doctor only reads


def test_a_cover_just_past_its_deadline_warns_that_the_reconciler_will_resume_it(
    healthy: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    put_open(healthy, in_progress("late-1", datetime.now(UTC) - timedelta(minutes=5)))  # 30 s + 4.5 min
    code, lines, _ = run_doctor(healthy, capsys)

    line = lines["overdue-covers"]
    assert level(line) == "WARN" and "1 cover(s) IN_PROGRESS past their deadline (30 s): late-1" in line
    assert "the reconciler resumes them once 10 min past it" in line
    assert code == 0


def test_a_low_account_concurrency_warns_with_the_quota_and_the_target(
    healthy: Stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    low = {"ConcurrentExecutions": 100, "UnreservedConcurrentExecutions": 74}  # a new account's
    monkeypatch.setattr(deployed, "lambda_account_limit", lambda region: low)
    code, lines, _ = run_doctor(healthy, capsys)

    line = lines["lambda-concurrency"]
    assert level(line) == "WARN"
    assert "the account's limit is 100, this stack needs about 331 (CheckConcurrencyTarget 300" in line
    assert "74 unreserved, below the 305 the unreserved functions need" in line
    assert 'fix: request a Lambda "Concurrent executions" increase (Service Quotas)' in line
    assert "or lower CheckConcurrencyTarget to 69 or less" in line  # 100 - 31 reserved/start; 74 - 5 start
    assert code == 0
    assert [name for name, line in lines.items() if level(line) != "OK"] == ["lambda-concurrency"]


def test_without_the_account_settings_or_the_quotas_doctor_says_what_it_assumed(
    aws: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    code, lines, _ = run_doctor(aws, capsys)  # moto answers neither

    assert level(lines["lambda-concurrency"]) == "WARN"
    assert "could not read the account's Lambda concurrency" in lines["lambda-concurrency"]
    quotas = lines["step-functions-quotas"]
    assert level(quotas) == "WARN"
    assert "could not read, assuming 1500 state transitions/s and 300 StartExecution/s" in quotas
    assert code == 0


def test_lowered_step_functions_quotas_warn(
    healthy: Stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    new_account = [{**q, "Value": q["Value"] / 6} for q in HEALTHY_QUOTAS]
    monkeypatch.setattr(deployed, "service_quotas", lambda region, code: new_account)
    code, lines, _ = run_doctor(healthy, capsys)

    line = lines["step-functions-quotas"]
    assert level(line) == "WARN" and "250 state transitions/s (about 30 covers/s" in line
    assert "below the defaults the capacity table assumes (1500/s, 300/s)" in line
    assert code == 0


def test_a_failed_last_reconciler_run_fails(healthy: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    reconciler_ran(healthy, minutes_ago=1, failed=True)
    code, lines, _ = run_doctor(healthy, capsys)

    line = lines["reconciler"]
    assert code == 1
    assert level(line) == "FAIL" and "failed" in line
    assert f"fix: read its logs: `sam logs -n ReconcileFunction --stack-name {healthy.name}" in line


def test_the_reconciler_has_no_run_yet_on_a_new_stack_and_warns_when_an_old_one_has_none(
    aws: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    _, lines, _ = run_doctor(aws, capsys)
    assert level(lines["reconciler"]) == "OK" and "no run yet" in lines["reconciler"]

    stack = deployed.describe_stack(aws.name, REGION)
    later = {f.name: f for f in doctor.diagnose(stack, now=stack.created + timedelta(hours=2))}
    assert later["reconciler"].level is doctor.Level.WARN
    assert "no run in the last 20 min (it runs every 5 min)" in later["reconciler"].detail
    assert f"{aws.name}-reconcile" in (later["reconciler"].fix or "")


def test_bad_arguments_exit_2_with_one_line(
    aws: Stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = covers(["doctor", "--stack", "no-such-stack", "--region", REGION], capsys)
    assert (code, out) == (2, "")
    assert err == (
        f"covers doctor: error: no stack no-such-stack in region {REGION} (see covers doctor --help)\n"
    )

    for name in ("AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    code, out, err = covers(["doctor", "--stack", aws.name], capsys)
    assert (code, out) == (2, "")
    assert err == (
        "covers doctor: error: no AWS region: pass --region, or set AWS_REGION or AWS_DEFAULT_REGION "
        "(see covers doctor --help)\n"
    )


def test_help_says_warnings_alone_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["doctor", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "0 when no check FAILs (WARNs alone exit 0), 1 when any does, 2 for bad arguments" in text


def test_an_earlier_failed_reconciler_run_warns_when_the_last_one_succeeded(
    healthy: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    reconciler_ran(healthy, minutes_ago=8, failed=True)  # the fixture's run, 3 minutes ago, succeeded
    code, lines, _ = run_doctor(healthy, capsys)

    line = lines["reconciler"]
    assert level(line) == "WARN" and "succeeded; 1 of the 2 runs in the last 20 min failed" in line
    assert "fix: read the failed runs' logs" in line
    assert code == 0


def test_an_endpoint_answering_an_html_page_is_reported_on_one_line() -> None:
    """moto behind `covers local-stack` answers Lambda's GetAccountSettings with a 404 page: doctor's line
    names that instead of spreading the page over the console."""
    page = "<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n"
    text = deployed.one_line(f"An error occurred (404) when calling the GetAccountSettings operation: {page}")
    assert "\n" not in text and "<" not in text
    assert text == (
        "An error occurred (404) when calling the GetAccountSettings operation: "
        "an HTML page (this endpoint does not have the API)"
    )
    assert len(deployed.one_line("x" * 1000)) == 300
