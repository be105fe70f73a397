"""The smallest set of moto resources every handler can run against, for scripts that run outside
pytest's fixtures (tests/build_smoke.py, tests/bench.py). Call inside ``mock_aws()``."""

from __future__ import annotations

import json
import os

import boto3

QUIET_LAMBDA_ENV = {
    "AWS_ACCESS_KEY_ID": "x",
    "AWS_SECRET_ACCESS_KEY": "x",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "CRITICAL",
    "POWERTOOLS_SERVICE_NAME": "covers",
}


def create(vendor_url: str, api_key: str, webhook_key: str) -> None:
    """Table, bus, queues, secrets and a one-state machine; sets the functions' variables to name them."""
    boto3.client("dynamodb").create_table(
        TableName="covers",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "musicTaskId", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "musicTaskId", "KeyType": "HASH"}],
    )
    boto3.client("events").create_event_bus(Name="bus")
    sqs = boto3.client("sqs")
    secrets = boto3.client("secretsmanager")
    machine = boto3.client("stepfunctions").create_state_machine(
        name="m",
        roleArn="arn:aws:iam::123456789012:role/r",
        definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
    )
    os.environ.update(
        {
            "COVERS_TABLE_NAME": "covers",
            "COVERS_BUS_NAME": "bus",
            "VENDOR_BASE_URL": vendor_url,
            "VENDOR_API_KEY_SECRET": secrets.create_secret(Name="key", SecretString=api_key)["ARN"],
            "STATE_MACHINE_ARN": machine["stateMachineArn"],
            "DEAD_LETTER_QUEUE_URL": sqs.create_queue(QueueName="dlq")["QueueUrl"],
            "COVER_REQUESTS_QUEUE_URL": sqs.create_queue(QueueName="requests")["QueueUrl"],
            "WEBHOOK_SECRET": secrets.create_secret(Name="hook", SecretString=webhook_key)["ARN"],
            "EVENT_SOURCE": "covers.pipeline",
            "VENDOR_CONNECT_TIMEOUT_SECONDS": "3.05",
            "VENDOR_READ_TIMEOUT_SECONDS": "15",
            "SECRET_CACHE_SECONDS": "300",
            "CLAIM_LEASE_SECONDS": "120",
            "NOT_FOUND_ATTEMPTS": "3",
            "POLL_FIRST_WAIT_SECONDS": "0",
            "POLL_INTERVAL_SECONDS": "1",
            "POLL_MAX_WAIT_SECONDS": "30",
            "POLL_BACKOFF_RATE": "1",
            "POLL_MAX_INTERVAL_SECONDS": "60",
            "POLL_MAX_POLLS": "500",
            "ARCHIVE_BUCKET": "",
            "ARCHIVE_MAX_BYTES": "20971520",
            "WEBHOOK_TOLERANCE_SECONDS": "300",
        }
    )
