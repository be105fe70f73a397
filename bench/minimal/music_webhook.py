"""MusicWebhookFunction, minimal: the signing key (current and previous version), then the signature check
(the sample's is stale: 401)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from typing import Any

import boto3

ENDPOINT = os.environ.get("COVERS_AWS_ENDPOINT_URL") or None
secrets: Any = boto3.client("secretsmanager", endpoint_url=ENDPOINT)
sqs: Any = boto3.client("sqs", endpoint_url=ENDPOINT)  # what a signed request is queued with


def _key(**stage: str) -> str | None:
    try:
        return str(secrets.get_secret_value(SecretId=os.environ["WEBHOOK_SECRET"], **stage)["SecretString"])
    except secrets.exceptions.ResourceNotFoundException:
        return None


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    body = (event.get("body") or "").encode()
    keys = [k for k in (_key(), _key(VersionStage="AWSPREVIOUS")) if k]
    fields = dict(item.split("=", 1) for item in event["headers"].get("x-covers-signature", "").split(","))
    signed = fields.get("t", "0").encode() + b"." + body
    fresh = abs(time.time() - int(fields.get("t", "0"))) <= int(os.environ["WEBHOOK_TOLERANCE_SECONDS"])
    if not fresh or not any(
        hmac.compare_digest(hmac.new(k.encode(), signed, hashlib.sha256).hexdigest(), fields.get("v1", ""))
        for k in keys
    ):
        return {"statusCode": 401, "body": json.dumps({"error": "invalid or missing signature"})}
    sent = sqs.send_message(QueueUrl=os.environ["COVER_REQUESTS_QUEUE_URL"], MessageBody=body.decode())
    return {"statusCode": 202, "body": json.dumps({"messageId": sent["MessageId"]})}
