"""CoverStatusApiFunction, minimal: one GetItem by the path's music task id."""

from __future__ import annotations

import json
import os
from typing import Any

import boto3

TABLE = os.environ["COVERS_TABLE_NAME"]
dynamodb: Any = boto3.client("dynamodb", endpoint_url=os.environ.get("COVERS_AWS_ENDPOINT_URL") or None)


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    task = (event.get("pathParameters") or {}).get("musicTaskId", "")
    item = dynamodb.get_item(TableName=TABLE, Key={"musicTaskId": {"S": task}}, ConsistentRead=True).get(
        "Item"
    )
    if not item:
        return {"statusCode": 404, "body": json.dumps({"error": "not found"})}
    body = {name: next(iter(value.values())) for name, value in item.items() if name != "claimToken"}
    return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": json.dumps(body)}
