"""ReconcileFunction, minimal: the open records older than a minute, one Query per ``byOpen`` shard."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

TABLE = os.environ["COVERS_TABLE_NAME"]
dynamodb: Any = boto3.client("dynamodb", endpoint_url=os.environ.get("COVERS_AWS_ENDPOINT_URL") or None)


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    before = (datetime.now(UTC) - timedelta(seconds=60)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    examined = 0
    for shard in range(8):
        page = dynamodb.query(
            TableName=TABLE,
            IndexName="byOpen",
            KeyConditionExpression="openShard = :shard AND createdAt <= :before",
            ExpressionAttributeValues={":shard": {"S": str(shard)}, ":before": {"S": before}},
        )
        examined += len(page["Items"])
    return {"examined": examined, "repaired": {}, "failed": 0, "truncated": False}
