"""Run each built function (``sam build`` output) on its sample event against moto and the emulator.

Usage: python tests/build_smoke.py .aws-sam/build   (run by tests/test_build.py in a fresh interpreter)

The build output comes first on sys.path, as in Lambda (/var/task, then /opt/python for the layer), and
the script checks that the domain package and its dependencies really were loaded from it."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

build = Path(sys.argv[1]).resolve()
root = Path(__file__).resolve().parent.parent
layer = build / "SharedLayer" / "python"
sys.path[:0] = [str(layer)]

import aws_lambda_powertools  # noqa: E402
import boto3  # noqa: E402 - the Lambda runtime provides boto3; everything else must come from the build
import covers_core  # noqa: E402
import requests  # noqa: E402
from moto import mock_aws  # noqa: E402

for module in (covers_core, aws_lambda_powertools, requests):
    assert Path(module.__file__).resolve().is_relative_to(layer), (
        f"{module.__name__} not from the layer: {module.__file__}"
    )

from covers_local.emulator import EmulatorConfig, VendorEmulator  # noqa: E402
from covers_local.runner import FakeContext, load_handler  # noqa: E402


def event(name: str) -> dict:
    return json.loads((root / "events" / name).read_text())


os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }
)
with VendorEmulator(EmulatorConfig(api_key="k", ready_after=(0, 0))) as emulator, mock_aws():
    boto3.client("dynamodb").create_table(
        TableName="covers",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "musicTaskId", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "musicTaskId", "KeyType": "HASH"}],
    )
    boto3.client("events").create_event_bus(Name="bus")
    dlq = boto3.client("sqs").create_queue(QueueName="dlq")["QueueUrl"]
    secret = boto3.client("secretsmanager").create_secret(Name="key", SecretString="k")["ARN"]
    machine = boto3.client("stepfunctions").create_state_machine(
        name="m",
        roleArn="arn:aws:iam::123456789012:role/r",
        definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
    )["stateMachineArn"]
    os.environ.update(
        {
            "COVERS_TABLE_NAME": "covers",
            "COVERS_BUS_NAME": "bus",
            "VENDOR_BASE_URL": emulator.base_url,
            "VENDOR_API_KEY_SECRET": secret,
            "STATE_MACHINE_ARN": machine,
            "DEAD_LETTER_QUEUE_URL": dlq,
        }
    )
    handlers = {
        name: load_handler(build / name, f"built_{name}")
        for name in ("StartCoverFunction", "CheckCoverStatusFunction", "FinalizeCoverFunction")
    }
    assert handlers["StartCoverFunction"](event("start_cover.json"), FakeContext("s")) == {
        "batchItemFailures": []
    }
    table = boto3.resource("dynamodb").Table("covers")
    record = table.get_item(Key={"musicTaskId": "gen123213213213123bksv"})["Item"]
    assert record["status"] == "IN_PROGRESS", record
    check = {
        **event("check_cover_status.json"),
        "coverTaskId": record["coverTaskId"],
        "generatedAt": record["generatedAt"],
    }
    result = handlers["CheckCoverStatusFunction"](check, FakeContext("c"))
    assert result["status"] == "SUCCESS", result
    final = handlers["FinalizeCoverFunction"](event("finalize_cover.json"), FakeContext("f"))
    assert final["status"] == "SUCCEEDED", final
print("build output OK: 3 functions ran on their sample events")
