"""FinalizeCoverFunction, minimal: the terminal record, the first-wait counters, the event, its receipt."""

from __future__ import annotations

import json
import os
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import boto3

ENDPOINT = os.environ.get("COVERS_AWS_ENDPOINT_URL") or None
TABLE = os.environ["COVERS_TABLE_NAME"]
dynamodb: Any = boto3.client("dynamodb", endpoint_url=ENDPOINT)
events: Any = boto3.client("events", endpoint_url=ENDPOINT)


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    key = {"musicTaskId": {"S": event["musicTaskId"]}}
    now = datetime.now(UTC).isoformat()
    images = event["check"]["images"]
    record = dynamodb.update_item(
        TableName=TABLE,
        Key=key,
        UpdateExpression="SET #s = :s, updatedAt = :now, completedAt = :now, images = :images",
        ConditionExpression="#s IN (:generating, :in_progress)",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={
            ":s": {"S": "SUCCEEDED"},
            ":now": {"S": now},
            ":images": {"L": [{"S": url} for url in images]},
            ":generating": {"S": "GENERATING"},
            ":in_progress": {"S": "IN_PROGRESS"},
        },
        ReturnValues="ALL_NEW",
    )["Attributes"]
    dynamodb.update_item(
        TableName=os.environ["POLL_STATS_TABLE_NAME"],
        Key={"name": {"S": f"fw|*|{int(time.time() // 60)}"}},
        UpdateExpression="ADD w31 :one, d32 :one",
        ExpressionAttributeValues={":one": {"N": "1"}},
    )
    detail = {"musicTaskId": event["musicTaskId"], "status": "SUCCEEDED", "images": images}
    events.put_events(
        Entries=[
            {
                "EventBusName": os.environ["COVERS_BUS_NAME"],
                "Source": os.environ["EVENT_SOURCE"],
                "DetailType": "Cover Succeeded",
                "Detail": json.dumps(detail),
            }
        ]
    )
    dynamodb.update_item(
        TableName=TABLE,
        Key=key,
        UpdateExpression="SET eventPublishedAt = :now, eventId = :id REMOVE openShard",
        ExpressionAttributeValues={":now": {"S": now}, ":id": {"S": str(uuid.uuid4())}},
    )
    return {"musicTaskId": event["musicTaskId"], "status": record["status"]["S"], "images": images}
