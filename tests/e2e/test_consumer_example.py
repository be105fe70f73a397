"""examples/consumer: a consumer of the covers bus that stores each cover once, on moto.

The resources come from the example's own template.yaml (rule pattern, queue and redrive policy, tables),
the handler is the example's src/app.py imported by file path, and SQS is driven like a Lambda event
source mapping would: receive a batch, invoke, delete what succeeded, leave the reported failures to
come back (and to reach the DLQ after maxReceiveCount)."""

from __future__ import annotations

import copy
import importlib.util
import json
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from cfnlint.api import lint_file
from cfnlint.decode.cfn_yaml import loads as load_cfn_yaml
from moto import mock_aws
from samtranslator.translator.transform import transform

from tests.support.published_schemas import assert_valid_published

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "consumer"
TEMPLATE = load_cfn_yaml((EXAMPLE / "template.yaml").read_text())
RESOURCES = TEMPLATE["Resources"]
REGION = "us-east-1"
ACCOUNT = "123456789012"
BUS = "covers-pipeline-covers"
COVER_GENERATED = json.loads((EXAMPLE / "events" / "cover_generated_event.json").read_text())


def cover_event(task: str = "gen123213213213123bksv", **detail: Any) -> dict[str, Any]:
    """A 'Cover Generated' event as the pipeline emits it (the example's sample, valid per the schema)."""
    event = copy.deepcopy(COVER_GENERATED)
    event["detail"].update({"musicTaskId": task, **detail})
    return event


def failed_event(task: str = "fail-gen456") -> dict[str, Any]:
    event = cover_event(task, status="FAILED", images=[], error={"code": "VENDOR_FAILED", "message": "x"})
    event["detail-type"] = "Cover Generation Failed"
    return event


def put_entry(event: dict[str, Any]) -> dict[str, Any]:
    return {
        "EventBusName": BUS,
        "Source": event["source"],
        "DetailType": event["detail-type"],
        "Detail": json.dumps(event["detail"]),
    }


def resolve(value: Any, names: dict[str, str]) -> Any:
    """Ref / GetAtt .Arn of the example's template, against the names of the moto resources."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        ref = value["Ref"]
        return names[ref] if ref in names else TEMPLATE["Parameters"][ref]["Default"]
    if isinstance(value, dict) and set(value) == {"Fn::GetAtt"}:
        logical_id, attribute = value["Fn::GetAtt"]
        return names[f"{logical_id}.{attribute}"]
    if isinstance(value, dict):
        return {k: resolve(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, names) for v in value]
    return value


class Context:
    function_name = "covers-consumer-StoreCoverFunction"
    function_version = "$LATEST"
    invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function_name}"
    memory_limit_in_mb = 256
    aws_request_id = "req-1"
    log_group_name = "/aws/lambda/x"
    log_stream_name = "x"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


@dataclass
class Consumer:
    app: ModuleType
    queue_url: str
    dlq_url: str
    covers_table: str
    idempotency_table: str
    stored_puts: list[dict[str, Any]] = field(default_factory=list)
    batches: list[list[str]] = field(default_factory=list)
    failures: list[list[str]] = field(default_factory=list)

    def publish(self, *events: dict[str, Any]) -> None:
        """PutEvents on the covers bus (the rule from the example's template routes them)."""
        result = boto3.client("events").put_events(Entries=[put_entry(e) for e in events])
        assert result["FailedEntryCount"] == 0

    def send_raw(self, body: str) -> str:
        """A message straight onto the consumer's queue (a redelivery, or something malformed)."""
        return boto3.client("sqs").send_message(QueueUrl=self.queue_url, MessageBody=body)["MessageId"]

    def poll_once(self) -> dict[str, Any] | None:
        """One event-source-mapping round: receive up to 10, invoke, delete successes, release failures.

        Returns the handler's response (None when nothing was received or the invocation raised)."""
        sqs = boto3.client("sqs")
        messages = sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, AttributeNames=["All"]
        ).get("Messages", [])
        if not messages:
            return None
        event = {
            "Records": [
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": m.get("Attributes", {}),
                    "messageAttributes": {},
                    "md5OfBody": m["MD5OfBody"],
                    "eventSource": "aws:sqs",
                    "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:consumer",
                    "awsRegion": REGION,
                }
                for m in messages
            ]
        }
        try:
            response = self.app.lambda_handler(event, Context())
            failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
        except Exception:  # the whole invocation failed: every message comes back
            response, failed = None, {m["MessageId"] for m in messages}
        self.batches.append([m["MessageId"] for m in messages])
        self.failures.append(sorted(failed))
        for m in messages:
            if m["MessageId"] in failed:
                sqs.change_message_visibility(
                    QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0
                )
            else:
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"])
        return response

    def drain(self, max_rounds: int = 20) -> None:
        for _ in range(max_rounds):
            rounds = len(self.batches)
            self.poll_once()
            if len(self.batches) == rounds:  # nothing was received: the queue is empty
                return
        raise AssertionError("the queue did not drain")

    def stored(self) -> list[dict[str, Any]]:
        return boto3.resource("dynamodb").Table(self.covers_table).scan()["Items"]

    def idempotency_records(self) -> list[dict[str, Any]]:
        return boto3.resource("dynamodb").Table(self.idempotency_table).scan()["Items"]

    def dead_letters(self) -> list[str]:
        sqs = boto3.client("sqs")
        messages = sqs.receive_message(QueueUrl=self.dlq_url, MaxNumberOfMessages=10).get("Messages", [])
        return [m["Body"] for m in messages]


def _table(logical_id: str, name: str) -> None:
    props = RESOURCES[logical_id]["Properties"]
    client = boto3.client("dynamodb")
    client.create_table(
        TableName=name,
        KeySchema=props["KeySchema"],
        AttributeDefinitions=props["AttributeDefinitions"],
        BillingMode=props["BillingMode"],
    )
    if "TimeToLiveSpecification" in props:
        client.update_time_to_live(TableName=name, TimeToLiveSpecification=props["TimeToLiveSpecification"])


def load_example_handler(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    name = f"covers_consumer_example_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, EXAMPLE / "src" / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def consumer(monkeypatch: pytest.MonkeyPatch) -> Iterator[Consumer]:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        sqs = boto3.client("sqs")
        events = boto3.client("events")
        dlq_url = sqs.create_queue(QueueName="consumer-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        names = {"CoversDeadLetterQueue.Arn": dlq_arn, "CoversBusName": BUS}
        queue_props = resolve(RESOURCES["CoversQueue"]["Properties"], names)
        queue_url = sqs.create_queue(
            QueueName="consumer-covers",
            Attributes={
                "VisibilityTimeout": str(queue_props["VisibilityTimeout"]),
                "RedrivePolicy": json.dumps(queue_props["RedrivePolicy"]),
            },
        )["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        names["CoversQueue.Arn"] = queue_arn
        events.create_event_bus(Name=BUS)
        rule = resolve(RESOURCES["CoverGeneratedRule"]["Properties"], names)
        events.put_rule(
            Name="cover-generated",
            EventBusName=rule["EventBusName"],
            EventPattern=json.dumps(rule["EventPattern"]),
        )
        events.put_targets(
            Rule="cover-generated",
            EventBusName=rule["EventBusName"],
            Targets=[{"Id": t["Id"], "Arn": t["Arn"]} for t in rule["Targets"]],
        )
        _table("CoversTable", "consumer-covers")
        _table("IdempotencyTable", "consumer-idempotency")
        names |= {"CoversTable": "consumer-covers", "IdempotencyTable": "consumer-idempotency"}
        env_vars = RESOURCES["StoreCoverFunction"]["Properties"]["Environment"]["Variables"]
        app = load_example_handler({k: str(resolve(v, names)) for k, v in env_vars.items()}, monkeypatch)
        c = Consumer(app, queue_url, dlq_url, "consumer-covers", "consumer-idempotency")
        app.covers_table.meta.client.meta.events.register(
            "provide-client-params.dynamodb.PutItem", lambda params, **_: c.stored_puts.append(params)
        )
        yield c
        sys.modules.pop(app.__name__, None)


# --- the rule -------------------------------------------------------------------------------------


def test_the_sample_event_is_a_real_cover_generated_event() -> None:
    assert_valid_published(COVER_GENERATED)


def test_the_rule_from_the_template_routes_cover_generated_and_nothing_else(consumer: Consumer) -> None:
    other_source = {**cover_event("gen-other"), "source": "someone.else"}
    consumer.publish(cover_event("gen-1"), failed_event("fail-2"), other_source)
    consumer.drain()
    assert consumer.failures == [[]]
    assert [(i["musicTaskId"], i["status"]) for i in consumer.stored()] == [("gen-1", "SUCCEEDED")]
    stored = consumer.stored()[0]
    assert [i["url"] for i in stored["images"]] == [i["url"] for i in COVER_GENERATED["detail"]["images"]]
    # the thumbnail's delivery URL where the pipeline made one, else the image's own
    first, second = COVER_GENERATED["detail"]["images"]
    assert [i["thumbnailUrl"] for i in stored["images"]] == [first["thumbnail"]["url"], second["url"]]
    assert [i["expires"] for i in stored["images"]] == [False, False]  # both served by the distribution
    assert stored["correlationId"] == "order-42" and stored["storedAt"]


# --- duplicates -----------------------------------------------------------------------------------


def test_a_cover_delivered_many_times_is_stored_once(consumer: Consumer) -> None:
    event = cover_event("gen-dup")
    # Given the same event three times on the bus (EventBridge delivers at least once) ...
    consumer.publish(event, event, event)
    # When one batch holds all three
    first = consumer.poll_once()
    # Then no item fails and the cover is stored once
    assert first == {"batchItemFailures": []}
    assert len(consumer.batches[0]) == 3
    assert len(consumer.stored()) == 1
    assert len(consumer.stored_puts) == 1
    # And a later batch with the same cover again (an SQS redelivery, and a re-publish by the
    # pipeline's outbox, which gets a new EventBridge id) stores nothing more
    republished = {**event, "id": str(uuid.uuid4())}
    consumer.send_raw(json.dumps(event))
    consumer.publish(republished)
    second = consumer.poll_once()
    assert second == {"batchItemFailures": []}
    assert len(consumer.batches[1]) == 2
    consumer.drain()
    assert len(consumer.stored()) == 1
    assert len(consumer.stored_puts) == 1  # the store ran once; five deliveries in all
    (record,) = consumer.idempotency_records()
    assert record["status"] == "COMPLETED" and record["id"].startswith("covers-consumer.store_cover#")
    assert sum(len(b) for b in consumer.batches) == 5


def test_different_covers_and_statuses_are_different_keys(consumer: Consumer) -> None:
    consumer.publish(cover_event("gen-a"), cover_event("gen-b"), cover_event("gen-a"))
    consumer.drain()
    assert sorted(i["musicTaskId"] for i in consumer.stored()) == ["gen-a", "gen-b"]
    # The idempotency key is musicTaskId + status: the same task with another status is stored too
    # (e.g. a consumer that also subscribes to "Cover Generation Failed", or an operator retry).
    cover = consumer.app.parse_cover_event(json.dumps(cover_event("gen-a")))
    again = consumer.app.store_cover(cover=cover)
    assert len(consumer.stored_puts) == 2  # a duplicate: the first result comes back, nothing is stored
    other = consumer.app.store_cover(cover={**cover, "status": "NEEDS_ATTENTION"})
    assert (other["musicTaskId"], other["status"]) == ("gen-a", "NEEDS_ATTENTION")
    assert again["status"] == "SUCCEEDED"
    assert sorted((i["musicTaskId"], i["status"]) for i in consumer.stored()) == [
        ("gen-a", "NEEDS_ATTENTION"),
        ("gen-a", "SUCCEEDED"),
        ("gen-b", "SUCCEEDED"),
    ]
    assert len(consumer.stored_puts) == 3
    assert len(consumer.idempotency_records()) == 3


# --- bad messages ---------------------------------------------------------------------------------

MALFORMED = [
    "this is not json",
    json.dumps({"detail-type": "Cover Generated", "detail": {"status": "SUCCEEDED", "images": []}}),
    json.dumps({"detail-type": "Cover Generated", "detail": {"musicTaskId": "gen-x", "images": []}}),
    json.dumps(["a", "list"]),
]


def test_malformed_messages_fail_alone_and_reach_the_dead_letter_queue(consumer: Consumer) -> None:
    bad_ids = [consumer.send_raw(body) for body in MALFORMED]
    consumer.publish(cover_event("gen-ok-1"), cover_event("gen-ok-2"))
    # The first batch reports exactly the malformed messages; the good ones are stored
    response = consumer.poll_once()
    assert response is not None
    assert sorted(f["itemIdentifier"] for f in response["batchItemFailures"]) == sorted(bad_ids)
    assert sorted(i["musicTaskId"] for i in consumer.stored()) == ["gen-ok-1", "gen-ok-2"]
    # They come back until maxReceiveCount, then the queue moves them to the consumer's DLQ
    consumer.drain()
    max_receives = RESOURCES["CoversQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"]
    assert len(consumer.batches) == max_receives
    assert sorted(consumer.dead_letters()) == sorted(MALFORMED)
    assert len(consumer.stored()) == 2


def test_the_sam_local_sample_event_is_stored(consumer: Consumer) -> None:
    sample = json.loads((EXAMPLE / "events" / "sqs_cover_generated.json").read_text())
    assert consumer.app.lambda_handler(sample, Context()) == {"batchItemFailures": []}
    assert [i["musicTaskId"] for i in consumer.stored()] == [COVER_GENERATED["detail"]["musicTaskId"]]


# --- the template ---------------------------------------------------------------------------------


def test_the_example_template_is_cfn_lint_clean() -> None:
    assert [str(m) for m in lint_file(EXAMPLE / "template.yaml")] == []


class _NoManagedPolicies:
    def load(self) -> dict[str, str]:
        return {}


def test_the_example_template_transforms_and_grants_only_what_the_function_uses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)  # samtranslator reads the region for ARNs
    template = json.loads(json.dumps(TEMPLATE))
    # as `sam package` hands it to CloudFormation: the code uploaded to S3
    template["Resources"]["StoreCoverFunction"]["Properties"]["CodeUri"] = "s3://artifacts/consumer.zip"
    parameters = {"CoversBusName": "covers-pipeline-covers", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT}
    output = transform(template, parameters, _NoManagedPolicies())
    resources = output["Resources"]
    (mapping,) = [r for r in resources.values() if r["Type"] == "AWS::Lambda::EventSourceMapping"]
    assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    function = resources["StoreCoverFunction"]["Properties"]
    assert (function["Runtime"], function["Architectures"]) == ("python3.13", ["arm64"])
    assert function["Role"] == {"Fn::GetAtt": ["StoreCoverFunctionRole", "Arn"]}
    # the explicit role: no SAM-added managed policy (they allow every queue and log group)
    role = resources["StoreCoverFunctionRole"]["Properties"]
    assert "ManagedPolicyArns" not in role
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    assert all(s["Effect"] == "Allow" and s["Resource"] != "*" for s in statements)
    granted: dict[str, set[str]] = {}
    for s in statements:
        granted.setdefault(s["Resource"]["Fn::GetAtt"][0], set()).update(_list(s["Action"]))
    assert granted == {
        "CoversQueue": {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"},
        "CoversTable": {"dynamodb:PutItem"},
        "IdempotencyTable": {
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
        },
        "StoreCoverFunctionLogGroup": {"logs:CreateLogStream", "logs:PutLogEvents"},
    }
    policy = resources["CoversQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert policy["Principal"] == {"Service": "events.amazonaws.com"}
    assert policy["Condition"]["ArnEquals"]["aws:SourceArn"] == {"Fn::GetAtt": ["CoverGeneratedRule", "Arn"]}
    ttl = resources["IdempotencyTable"]["Properties"]["TimeToLiveSpecification"]
    assert ttl == {"AttributeName": "expiration", "Enabled": True}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_the_rule_pattern_is_the_covers_contract() -> None:
    pattern = RESOURCES["CoverGeneratedRule"]["Properties"]["EventPattern"]
    assert pattern == {"source": [{"Ref": "CoversEventSource"}], "detail-type": ["Cover Generated"]}
    assert TEMPLATE["Parameters"]["CoversEventSource"]["Default"] == "covers.pipeline"
    assert RESOURCES["CoverGeneratedRule"]["Properties"]["EventBusName"] == {"Ref": "CoversBusName"}
