"""StartCoverFunction, minimal: per message (in parallel, START_CONCURRENCY workers), claim the record; a
new one takes a unit of the stack's credit budget (its caps read, the counter added to, the unit noted on
the record) and gets a cover task from the vendor (the API key read once), a known one is adopted; then its
workflow starts with the first wait read from the counters (one BatchGetItem per batch)."""

from __future__ import annotations

import json
import os
import secrets as tokens
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import boto3
import requests

ENDPOINT = os.environ.get("COVERS_AWS_ENDPOINT_URL") or None
TABLE = os.environ["COVERS_TABLE_NAME"]
BUDGETS = os.environ["BUDGETS_TABLE_NAME"]
dynamodb: Any = boto3.client("dynamodb", endpoint_url=ENDPOINT)
secrets: Any = boto3.client("secretsmanager", endpoint_url=ENDPOINT)
stepfunctions: Any = boto3.client("stepfunctions", endpoint_url=ENDPOINT)
session = requests.Session()
pool = ThreadPoolExecutor(max_workers=int(os.environ["START_CONCURRENCY"]))
_key: list[str] = []
_key_lock = threading.Lock()


def api_key() -> str:
    with _key_lock:
        if not _key:
            _key.append(
                secrets.get_secret_value(SecretId=os.environ["VENDOR_API_KEY_SECRET"])["SecretString"]
            )
        return _key[0]


def music_task(body: dict[str, Any]) -> str:
    return str(body.get("musicTaskId") or body.get("taskId") or body["detail"]["workId"])


def start(task: str, first_wait: int) -> None:
    key = {"musicTaskId": {"S": task}}
    now = {"S": datetime.now(UTC).isoformat()}
    try:
        dynamodb.put_item(
            TableName=TABLE,
            Item={**key, "status": {"S": "GENERATING"}, "createdAt": now, "openShard": {"S": "0"}},
            ConditionExpression="attribute_not_exists(musicTaskId)",
        )
    except dynamodb.exceptions.ConditionalCheckFailedException:
        record = dynamodb.get_item(TableName=TABLE, Key=key, ConsistentRead=True)["Item"]
        cover = record["coverTaskId"]["S"]
    else:
        month = datetime.now(UTC).strftime("%Y-%m")
        dynamodb.get_item(TableName=BUDGETS, Key={"name": {"S": "caps|*"}})
        dynamodb.update_item(
            TableName=BUDGETS,
            Key={"name": {"S": f"budget|*|{month}"}},
            UpdateExpression="ADD m :one, d01 :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
        )
        dynamodb.update_item(
            TableName=TABLE,
            Key=key,
            UpdateExpression="SET budgetCharged = :keys",
            ExpressionAttributeValues={":keys": {"L": [{"S": f"*|{month}"}]}},
        )
        answer = session.post(
            os.environ["VENDOR_BASE_URL"] + "/v2/cover/generate",
            json={"taskId": task},
            headers={"Authorization": f"Bearer {api_key()}"},
            timeout=(3.05, 15),
        )
        cover = answer.json()["data"]["taskId"]
        dynamodb.update_item(
            TableName=TABLE,
            Key=key,
            UpdateExpression="SET #s = :s, coverTaskId = :cover, claimToken = :token",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":s": {"S": "IN_PROGRESS"},
                ":cover": {"S": cover},
                ":token": {"S": tokens.token_hex(8)},
            },
        )
    execution = stepfunctions.start_execution(
        stateMachineArn=os.environ["STATE_MACHINE_ARN"],
        name=task,
        input=json.dumps({"musicTaskId": task, "coverTaskId": cover, "firstWaitSeconds": first_wait}),
    )
    dynamodb.update_item(
        TableName=TABLE,
        Key=key,
        UpdateExpression="SET executionArn = :arn",
        ExpressionAttributeValues={":arn": {"S": execution["executionArn"]}},
    )


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    minute = int(time.time() // 60)
    keys = [{"name": {"S": f"fw|*|{minute - i}"}} for i in range(60)]
    dynamodb.batch_get_item(RequestItems={os.environ["POLL_STATS_TABLE_NAME"]: {"Keys": keys}})
    first_wait = 3600  # (the counters are read, not used: the bench stops every execution it starts)
    tasks = [music_task(json.loads(record["body"])) for record in event["Records"]]
    list(pool.map(start, tasks, [first_wait] * len(tasks)))
    return {"batchItemFailures": []}
