"""Shared fixtures: moto resources built from template.yaml, the vendor emulator, the real handlers.

Sockets: pytest-socket (``--allow-hosts`` in pyproject.toml) lets tests connect to loopback only."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from covers_core import wiring
from moto import mock_aws

from covers_local.emulator import EmulatorConfig, VendorEmulator
from covers_local.runner import FakeContext, load_handler
from covers_local.template import load_template

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
REGION = "us-east-1"
API_KEY = "test-key-0123456789"
WEBHOOK_KEY = "webhook-signing-key-abc"


def load_event(name: str) -> dict[str, Any]:
    """A sample event from events/ (the same files `sam local invoke -e` uses)."""
    return json.loads((EVENTS / name).read_text())


def handler(folder: str) -> Any:
    return load_handler(ROOT / "functions" / folder, f"covers_fn_{folder}")


def invoke(folder: str, event: dict[str, Any]) -> Any:
    return handler(folder)(event, FakeContext(folder))


def sqs_event(*bodies: Any) -> dict[str, Any]:
    """An SQS event for the start function, one record per body (dicts are JSON-encoded)."""
    return {
        "Records": [
            {
                "messageId": f"msg-{i}",
                "receiptHandle": f"rh-{i}",
                "body": body if isinstance(body, str) else json.dumps(body),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:requests",
                "awsRegion": REGION,
            }
            for i, body in enumerate(bodies)
        ]
    }


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "POWERTOOLS_METRICS_NAMESPACE": "CoverPipeline",
        "POWERTOOLS_SERVICE_NAME": "covers",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }.items():
        monkeypatch.setenv(key, value)
    wiring.reset()
    yield
    wiring.reset()


@pytest.fixture
def emulator() -> Iterator[VendorEmulator]:
    with VendorEmulator(EmulatorConfig(api_key=API_KEY, ready_after=(0.0, 0.0), seed=1)) as emu:
        yield emu


@dataclass
class Aws:
    """The moto resources of one test, created from template.yaml's definitions."""

    table_name: str
    queue_url: str
    dlq_url: str
    bus_name: str
    capture_url: str
    secret_arn: str
    state_machine_arn: str

    def record(self, music_task_id: str) -> dict[str, Any] | None:
        from covers_core.adapters.records import plain

        item = (
            boto3.resource("dynamodb")
            .Table(self.table_name)
            .get_item(Key={"musicTaskId": music_task_id}, ConsistentRead=True)
            .get("Item")
        )
        return plain(item) if item else None

    def events(self) -> list[dict[str, Any]]:
        sqs = boto3.client("sqs")
        out = []
        while True:
            msgs = sqs.receive_message(QueueUrl=self.capture_url, MaxNumberOfMessages=10).get("Messages", [])
            if not msgs:
                return out
            for m in msgs:
                out.append(json.loads(m["Body"]))
                sqs.delete_message(QueueUrl=self.capture_url, ReceiptHandle=m["ReceiptHandle"])

    def dead_letters(self) -> list[dict[str, Any]]:
        sqs = boto3.client("sqs")
        response = sqs.receive_message(
            QueueUrl=self.dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        )
        return response.get("Messages", [])

    def executions(self) -> list[dict[str, Any]]:
        return boto3.client("stepfunctions").list_executions(stateMachineArn=self.state_machine_arn)[
            "executions"
        ]


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, emulator: VendorEmulator) -> Iterator[Aws]:
    """moto with the table, queues, bus (+ a capture rule), secret and a state machine; the functions'
    environment variables set as template.yaml sets them, pointing at the emulator."""
    template = load_template(ROOT / "template.yaml")
    resources = template["Resources"]
    with mock_aws():
        table = resources["CoversTable"]["Properties"]
        boto3.client("dynamodb").create_table(
            TableName="covers",
            KeySchema=table["KeySchema"],
            AttributeDefinitions=table["AttributeDefinitions"],
            BillingMode=table["BillingMode"],
        )
        sqs = boto3.client("sqs")
        dlq_url = sqs.create_queue(QueueName="requests-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        max_receive = template["Parameters"]["MaxReceiveCount"]["Default"]
        queue_url = sqs.create_queue(
            QueueName="requests",
            Attributes={
                "VisibilityTimeout": "0",
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive}),
            },
        )["QueueUrl"]
        events = boto3.client("events")
        events.create_event_bus(Name="covers-bus")
        capture_url = sqs.create_queue(QueueName="capture")["QueueUrl"]
        capture_arn = sqs.get_queue_attributes(QueueUrl=capture_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        source = template["Parameters"]["EventSource"]["Default"]
        events.put_rule(
            Name="capture", EventBusName="covers-bus", EventPattern=json.dumps({"source": [source]})
        )
        events.put_targets(
            Rule="capture", EventBusName="covers-bus", Targets=[{"Id": "c", "Arn": capture_arn}]
        )
        secrets = boto3.client("secretsmanager")
        secret_arn = secrets.create_secret(Name="vendor-key", SecretString=API_KEY)["ARN"]
        webhook_arn = secrets.create_secret(Name="webhook-key", SecretString=WEBHOOK_KEY)["ARN"]
        # A one-state machine: start-function tests check that executions start, not how they run.
        machine = boto3.client("stepfunctions").create_state_machine(
            name="CoverWorkflow",
            roleArn="arn:aws:iam::123456789012:role/sfn",
            definition=json.dumps({"StartAt": "Wait", "States": {"Wait": {"Type": "Pass", "End": True}}}),
        )
        env = {
            "COVERS_TABLE_NAME": "covers",
            "COVERS_BUS_NAME": "covers-bus",
            "EVENT_SOURCE": source,
            "VENDOR_BASE_URL": emulator.base_url,
            "VENDOR_API_KEY_SECRET": secret_arn,
            "STATE_MACHINE_ARN": machine["stateMachineArn"],
            "DEAD_LETTER_QUEUE_URL": dlq_url,
            "POLL_FIRST_WAIT_SECONDS": "0",
            "POLL_INTERVAL_SECONDS": "1",
            "POLL_MAX_WAIT_SECONDS": "30",
            "CLAIM_LEASE_SECONDS": "60",
            "NOT_FOUND_ATTEMPTS": "3",
            "SECRET_CACHE_SECONDS": "0",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "COVER_REQUESTS_QUEUE_URL": queue_url,
            "WEBHOOK_SECRET": webhook_arn,
            "WEBHOOK_TOLERANCE_SECONDS": "300",
            "ARCHIVE_BUCKET": "",
        }
        parameters = template["Parameters"]
        for variable, parameter in (
            ("VENDOR_CONNECT_TIMEOUT_SECONDS", "VendorConnectTimeoutSeconds"),
            ("VENDOR_READ_TIMEOUT_SECONDS", "VendorReadTimeoutSeconds"),
            ("POLL_BACKOFF_RATE", "PollBackoffRate"),
            ("POLL_MAX_INTERVAL_SECONDS", "PollMaxIntervalSeconds"),
            ("POLL_MAX_POLLS", "PollMaxPolls"),
            ("ARCHIVE_MAX_BYTES", "ArchiveMaxBytes"),
        ):
            env[variable] = str(parameters[parameter]["Default"])
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        wiring.reset()
        yield Aws(
            "covers", queue_url, dlq_url, "covers-bus", capture_url, secret_arn, machine["stateMachineArn"]
        )
        wiring.reset()
