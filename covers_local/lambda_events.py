"""The Lambda events AWS delivers to our functions: an SQS batch, an HTTP API (payload 2.0) request."""

from __future__ import annotations

import base64
import json
import os
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, quote

REGION = "us-east-1"
ACCOUNT = "123456789012"
WEBHOOK_PATH = "/webhooks/music"


class LambdaContext:
    """The context object Lambda passes a handler (what Powertools reads), for local invocations."""

    def __init__(self, function_name: str, timeout_seconds: float = 30, memory_mb: int = 256) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = memory_mb
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout_seconds

    @classmethod
    def from_environment(cls) -> LambdaContext:
        """From the variables the runtime (or ``sam local``) sets on the function."""
        return cls(
            os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "local"),
            float(os.environ.get("AWS_LAMBDA_FUNCTION_TIMEOUT", "30")),
            int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")),
        )

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def sqs_event(
    messages: Iterable[Mapping[str, Any] | str],
    *,
    queue_arn: str = f"arn:aws:sqs:{REGION}:123456789012:requests",
) -> dict[str, Any]:
    """An SQS event source mapping's event, one record per message.

    A message is either one that ``ReceiveMessage`` returned (it has ``MessageId``) or just a body: a
    string, or a JSON object that is encoded (its ids are then ``msg-<i>`` and ``rh-<i>``)."""
    records = []
    for i, message in enumerate(messages):
        if isinstance(message, Mapping) and "MessageId" in message:
            ids = {"messageId": message["MessageId"], "receiptHandle": message["ReceiptHandle"]}
            body, attributes = message["Body"], dict(message.get("Attributes", {}))
            message_attributes = {
                name: {"stringValue": value.get("StringValue"), "dataType": value.get("DataType", "String")}
                for name, value in message.get("MessageAttributes", {}).items()
            }
        else:
            ids = {"messageId": f"msg-{i}", "receiptHandle": f"rh-{i}"}
            body = message if isinstance(message, str) else json.dumps(message)
            attributes = {"ApproximateReceiveCount": "1"}
            message_attributes = {}
        records.append(
            ids
            | {
                "body": body,
                "attributes": attributes,
                "messageAttributes": message_attributes,
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": REGION,
            }
        )
    return {"Records": records}


def http_api_event(
    body: bytes,
    *,
    signature: str | None = None,
    b64: bool = False,
    path: str = WEBHOOK_PATH,
    content_type: str | None = "application/json",
    headers: Mapping[str, str] | None = None,
    query: str = "",
    request_id: str = "local-request",
) -> dict[str, Any]:
    """An HTTP API (payload 2.0) POST carrying ``body``, with an ``X-Covers-Signature`` header if given
    (``headers``: the request's others, names lower-cased as API Gateway passes them)."""
    event_headers = {k.lower(): v for k, v in (headers or {}).items()}
    if content_type is not None:
        event_headers["content-type"] = content_type
    if signature is not None:
        event_headers["x-covers-signature"] = signature
    return {
        "version": "2.0",
        "routeKey": f"POST {path}",
        "rawPath": path,
        "rawQueryString": query,
        "headers": event_headers,
        "requestContext": {"requestId": request_id, "http": {"method": "POST", "path": path}},
        "body": base64.b64encode(body).decode() if b64 else body.decode("utf-8", "replace"),
        "isBase64Encoded": b64,
    }


def signed_webhook_event(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, Any]:
    """A webhook request carrying ``body`` signed with ``secret`` (at ``timestamp``, default now)."""
    from covers_core.domain.signature import sign

    at = int(timestamp if timestamp is not None else time.time())
    return http_api_event(body, signature=sign(secret, body, at))


STATUS_API_ROUTE = "GET /covers/{musicTaskId}"


def status_api_event(
    music_task_id: str,
    *,
    headers: Mapping[str, str] | None = None,
    query: str = "",
    request_id: str = "local-request",
) -> dict[str, Any]:
    """An HTTP API (payload 2.0) ``GET /covers/{musicTaskId}``, as the AWS_IAM-authorized route delivers it
    (the caller's IAM identity in ``requestContext.authorizer.iam``)."""
    path = f"/covers/{quote(music_task_id, safe='')}"
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": STATUS_API_ROUTE,
        "rawPath": path,
        "rawQueryString": query,
        "headers": {k.lower(): v for k, v in (headers or {"accept": "application/json"}).items()},
        "pathParameters": {"musicTaskId": music_task_id},
        "requestContext": {
            "requestId": request_id,
            "routeKey": STATUS_API_ROUTE,
            "http": {"method": "GET", "path": path},
            "authorizer": {
                "iam": {
                    "accountId": "123456789012",
                    "callerId": "AROAEXAMPLE:my-app",
                    "userArn": "arn:aws:sts::123456789012:assumed-role/my-app/my-app",
                }
            },
        },
        "isBase64Encoded": False,
    }
    if query:  # the HTTP API decodes the query and joins a repeated name's values with commas
        values: dict[str, list[str]] = {}
        for name, value in parse_qsl(query, keep_blank_values=True):
            values.setdefault(name, []).append(value)
        event["queryStringParameters"] = {name: ",".join(found) for name, found in values.items()}
    return event
