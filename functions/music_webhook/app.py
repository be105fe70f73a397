"""MusicWebhookFunction: signed upstream webhook (HTTP API) -> cover requests queue."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from covers_core import log_context
from covers_core.domain.signature import SIGNATURE_HEADER
from covers_core.wiring import music_webhook as wiring

logger = log_context.function_logger()


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # The HTTP API's payload 2.0, read as it comes (Powertools' event classes cost a cold start ~10 ms).
    raw = event.get("body") or ""
    try:
        body = base64.b64decode(raw, validate=True) if event.get("isBase64Encoded") else raw.encode("utf-8")
    except (binascii.Error, ValueError):
        return _response(400, {"error": "body is not valid base64"})
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    result = wiring.intake().handle(
        body, headers.get(SIGNATURE_HEADER), headers.get("content-type"), event["requestContext"]["requestId"]
    )
    return _response(result.status, result.body)


def _response(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"content-type": "application/json"}, "body": json.dumps(body)}
