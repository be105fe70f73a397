"""covers_local.stack: template.yaml, transformed by aws-sam-translator, deployed by moto's CloudFormation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from covers_core.adapters.records.items import record_to_item
from covers_core.domain.model import CoverRecord, Status
from covers_core.settings import AWS_ENDPOINT_VARIABLE
from moto import mock_aws

from covers_local import moto_patches
from covers_local.stack import Stack, deploy, load_template, transform
from tests.support.paths import ROOT


@pytest.fixture
def moto() -> Iterator[None]:
    with mock_aws(), moto_patches.cloudformation():
        yield


def exists(kind: str, value: str) -> bool:
    """Ask moto whether the resource a value names exists (raises if not)."""
    calls: dict[str, Any] = {
        "table": lambda: boto3.client("dynamodb").describe_table(TableName=value),
        "bus": lambda: boto3.client("events").describe_event_bus(Name=value),
        "queue": lambda: boto3.client("sqs").get_queue_attributes(QueueUrl=value),
        "state machine": lambda: boto3.client("stepfunctions").describe_state_machine(stateMachineArn=value),
        "secret": lambda: boto3.client("secretsmanager").describe_secret(SecretId=value),
        "bucket": lambda: boto3.client("s3").head_bucket(Bucket=value),
        "topic": lambda: boto3.client("sns").get_topic_attributes(TopicArn=value),
    }
    calls[kind]()
    return True


#: What each function variable naming a resource must name.
RESOURCE_VARIABLES = {
    "COVERS_TABLE_NAME": "table",
    "COVERS_BUS_NAME": "bus",
    "STATE_MACHINE_ARN": "state machine",
    "DEAD_LETTER_QUEUE_URL": "queue",
    "COVER_REQUESTS_QUEUE_URL": "queue",
    "VENDOR_API_KEY_SECRET": "secret",
    "WEBHOOK_SECRET": "secret",
    "ARCHIVE_BUCKET": "bucket",
}


def test_the_transform_leaves_plain_cloudformation_with_the_workflow_substitutions() -> None:
    template = transform(root=ROOT)
    assert "Transform" not in template
    assert not [r for r in template["Resources"].values() if r["Type"].startswith("AWS::Serverless::")]
    workflow = template["Resources"]["CoverWorkflow"]["Properties"]
    assert set(workflow["DefinitionSubstitutions"]) == {
        "CheckCoverStatusFunctionArn",
        "FinalizeCoverFunctionArn",
    }
    assert "DefinitionString" in workflow
    assert (
        template["Resources"]["StartCoverFunctionCoverRequests"]["Type"] == "AWS::Lambda::EventSourceMapping"
    )


def test_the_template_deploys_and_every_output_names_a_real_resource(moto: None) -> None:
    stack = deploy("covers", root=ROOT)
    declared = load_template(ROOT / "template.yaml")["Outputs"]
    unconditional = {name for name, output in declared.items() if "Condition" not in output}
    assert set(stack.outputs) == unconditional  # ArchiveBucketName only with ArchiveImages=true
    assert all(stack.outputs.values())
    assert exists("queue", stack.queue_url) and exists("queue", stack.dlq_url)
    assert exists("table", stack.table_name) and exists("bus", stack.bus_name)
    assert exists("state machine", stack.state_machine_arn) and exists(
        "topic", stack.outputs["AlarmTopicArn"]
    )
    assert exists("secret", stack.api_key_secret_arn) and exists("secret", stack.webhook_secret_arn)
    api_id = stack.physical_id("CoversHttpApi")
    assert (
        stack.outputs["WebhookUrl"] == f"https://{api_id}.execute-api.us-east-1.amazonaws.com/webhooks/music"
    )
    assert boto3.client("apigatewayv2").get_api(ApiId=api_id)["ProtocolType"] == "HTTP"
    assert stack.archive_bucket is None


def test_every_function_variable_is_set_and_names_a_real_resource(moto: None) -> None:
    stack = deploy("covers", {"ArchiveImages": "true", "CostMetricTenants": "acme"}, root=ROOT)  # none empty
    for logical_id, function in stack.functions.items():
        declared = stack.template["Resources"][logical_id]["Properties"]["Environment"]["Variables"]
        assert set(function.environment) == set(declared), logical_id  # Globals merged, nothing lost
        for key, value in function.environment.items():
            # Empty when deployed: the endpoint override (AWS itself; see covers local-stack), and the
            # delivery URL without a distribution (ArchiveDelivery=false, tests/infra/test_delivery.py).
            assert value or key in (AWS_ENDPOINT_VARIABLE, "DELIVERY_BASE_URL"), (
                f"{logical_id} {key} is empty"
            )
            if key in RESOURCE_VARIABLES:
                assert exists(RESOURCE_VARIABLES[key], value), (logical_id, key, value)
    assert stack.function_env("FinalizeCoverFunction")["ARCHIVE_BUCKET"] == stack.archive_bucket
    assert stack.function_env("StartCoverFunction")["STATE_MACHINE_ARN"] == stack.state_machine_arn


def test_the_workflow_calls_the_stacks_functions_and_the_queue_redrives_to_the_dlq(moto: None) -> None:
    stack = deploy("covers", {"MaxReceiveCount": 3, "QueueBatchSize": 4}, root=ROOT)
    definition = json.loads(
        boto3.client("stepfunctions").describe_state_machine(stateMachineArn=stack.state_machine_arn)[
            "definition"
        ]
    )
    tasks = {s["Resource"] for s in definition["States"].values() if s["Type"] == "Task"}
    # Published versions, not the functions themselves: an execution keeps the code it started with.
    assert {task.rsplit(":", 1)[0] for task in tasks} == {
        stack.functions["CheckCoverStatusFunction"].arn,
        stack.functions["FinalizeCoverFunction"].arn,
    }
    for task in tasks:
        function, version = task.rsplit(":", 1)
        assert boto3.client("lambda").get_function(FunctionName=function, Qualifier=version)
    attributes = boto3.client("sqs").get_queue_attributes(QueueUrl=stack.queue_url, AttributeNames=["All"])
    redrive = json.loads(attributes["Attributes"]["RedrivePolicy"])
    assert redrive == {"deadLetterTargetArn": stack.queue_arn(stack.dlq_url), "maxReceiveCount": 3}
    function, batch_size = stack.queue_fed_function(stack.queue_url)
    assert (function.logical_id, batch_size) == ("StartCoverFunction", 4)


def test_two_stacks_side_by_side_do_not_collide(moto: None) -> None:
    first, second = deploy("covers-a", root=ROOT), deploy("covers-b", root=ROOT)
    scoped_to_their_api = {"CoversHttpApiApiGatewayDefaultStage"}  # "$default" in each API
    named = {k: v for k, v in first.physical_ids.items() if v and k not in scoped_to_their_api}
    for logical_id, physical_id in named.items():
        assert second.physical_ids[logical_id] != physical_id, logical_id
    assert first.table_name.startswith("covers-a-") and second.table_name.startswith("covers-b-")
    first.put_secret(first.api_key_secret_arn, "key-a")
    assert (
        boto3.client("secretsmanager").get_secret_value(SecretId=second.api_key_secret_arn)["SecretString"]
        == "SET-ME"
    )


def test_a_parameter_reaches_the_function_environment(moto: None) -> None:
    stack = deploy(
        "covers", {"PollFirstWaitSeconds": 7, "VendorBaseUrl": "http://127.0.0.1:9/api"}, root=ROOT
    )
    assert stack.function_env("StartCoverFunction")["POLL_FIRST_WAIT_SECONDS"] == "7"
    for vendor_caller in ("StartCoverFunction", "CheckCoverStatusFunction"):
        assert stack.function_env(vendor_caller)["VENDOR_BASE_URL"] == "http://127.0.0.1:9/api"
    assert stack.process_env()["POLL_FIRST_WAIT_SECONDS"] == "7"


def test_the_generated_webhook_key_is_a_48_character_secret(moto: None) -> None:
    stack = deploy("covers", root=ROOT)
    value = boto3.client("secretsmanager").get_secret_value(SecretId=stack.webhook_secret_arn)["SecretString"]
    assert len(value) == 48 and value.isalnum()


def test_observers_see_records_events_and_dead_letters(moto: None) -> None:
    stack: Stack = deploy("covers", root=ROOT)
    stack.capture_events()
    stored = CoverRecord("t1", Status.IN_PROGRESS, poll_count=2, metadata={"n": 1.5})
    boto3.resource("dynamodb").Table(stack.table_name).put_item(Item=record_to_item(stored))
    assert stack.record("t1") == stored and stack.find_record("t2") is None
    assert stack.records() == {"t1": stored}
    assert stack.item("t1") == record_to_item(stored) and stack.item("t2") is None  # as stored: JSON text
    boto3.client("events").put_events(
        Entries=[
            {"EventBusName": stack.bus_name, "Source": "covers.pipeline", "DetailType": "X", "Detail": "{}"},
            {"EventBusName": stack.bus_name, "Source": "elsewhere", "DetailType": "X", "Detail": "{}"},
        ]
    )
    assert [e["source"] for e in stack.drain_events()] == ["covers.pipeline"]
    assert stack.drain_events() == []
    sqs = boto3.client("sqs")
    sqs.send_message(QueueUrl=stack.dlq_url, MessageBody="a")
    reason: dict[str, Any] = {"rejectReason": {"DataType": "String", "StringValue": "not JSON"}}
    sqs.send_message(QueueUrl=stack.dlq_url, MessageBody="b", MessageAttributes=reason)
    expected = [{"body": "a", "reason": "maxReceiveCount reached"}, {"body": "b", "reason": "not JSON"}]
    assert sorted(stack.dead_letters(), key=lambda d: d["body"]) == expected
    assert sorted(stack.dead_letters(), key=lambda d: d["body"]) == expected  # still there
    assert stack.executions() == []
