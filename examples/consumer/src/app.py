"""Example consumer of the cover pipeline: stores each generated cover once, in its own DynamoDB table.

EventBridge (rule on the covers bus, detail-type "Cover Generated") -> SQS queue -> this function.
The pipeline promises exactly one event per music task and status, but EventBridge, SQS and the
pipeline's own retry all deliver *at least* once. So the store is wrapped in Powertools Idempotency,
keyed on ``musicTaskId`` + ``status`` (the key the pipeline's contract names): a duplicate, in the same
batch or days later, returns the first result instead of storing again. A message that is not a cover
event is reported as a batch item failure; after the queue's maxReceiveCount it lands in the DLQ, and the
rest of the batch carries on.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

DETAIL_TYPE = "Cover Generated"

logger = Logger(service="covers-consumer")


@dataclass(frozen=True)
class Settings:
    """The function's settings, read once at cold start; a missing one fails the cold start loudly."""

    covers_table: str
    idempotency_table: str
    idempotency_expiry_seconds: int

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        names = ("COVERS_TABLE_NAME", "IDEMPOTENCY_TABLE_NAME", "IDEMPOTENCY_EXPIRY_SECONDS")
        missing = [name for name in names if not env.get(name)]
        if missing:
            raise RuntimeError(f"missing environment variable(s): {', '.join(missing)}")
        return cls(env[names[0]], env[names[1]], int(env[names[2]]))


class BadCoverEvent(ValueError):
    """The message is not a 'Cover Generated' event this consumer can store."""


def parse_cover_event(body: str) -> dict[str, Any]:
    """The cover to store, from an SQS body holding an EventBridge event (as the rule delivers it)."""
    try:
        event = json.loads(body, parse_float=Decimal)  # DynamoDB takes Decimal, not float
    except json.JSONDecodeError as exc:
        raise BadCoverEvent(f"message body is not JSON: {exc}") from exc
    if not isinstance(event, dict) or event.get("detail-type") != DETAIL_TYPE:
        raise BadCoverEvent(f"not a {DETAIL_TYPE!r} event")
    detail = event.get("detail")
    if not isinstance(detail, dict):
        raise BadCoverEvent("event has no detail object")
    task, status, images = detail.get("musicTaskId"), detail.get("status"), detail.get("images")
    if not isinstance(task, str) or not task:
        raise BadCoverEvent("detail.musicTaskId is missing or empty")
    if not isinstance(status, str) or not status:
        raise BadCoverEvent("detail.status is missing or empty")
    if not isinstance(images, list) or not all(isinstance(i, dict) and i.get("url") for i in images):
        raise BadCoverEvent("detail.images must be a list of objects with a url")
    return {
        "musicTaskId": task,
        "status": status,
        "coverTaskId": detail.get("coverTaskId"),
        "images": [image_to_store(image) for image in images],
        "correlationId": detail.get("correlationId"),
        "completedAt": detail.get("completedAt"),
        "eventId": event.get("id"),
    }


def image_to_store(image: Mapping[str, Any]) -> dict[str, Any]:
    """What an app needs to show an image: ``url`` (the pipeline's permanent delivery URL when the stack
    serves its archive, else the vendor's own, gone after ``expiresAt``) and ``thumbnailUrl`` for lists and
    previews (the thumbnail's delivery URL when one was made, else ``url`` itself)."""
    stored = {
        k: image[k]
        for k in ("url", "sourceUrl", "expiresAt", "s3Uri", "contentType", "width", "height")
        if image.get(k) is not None
    }
    thumbnail = image["thumbnail"] if isinstance(image.get("thumbnail"), dict) else {}
    stored["thumbnailUrl"] = thumbnail.get("url") or image["url"]
    # True when url is the vendor's: it stops working at expiresAt (keep a copy, or turn delivery on)
    stored["expires"] = image["url"] == image.get("sourceUrl", image["url"])
    return stored


settings = Settings.from_env()
covers_table = boto3.resource("dynamodb").Table(settings.covers_table)
idempotency = IdempotencyConfig(
    event_key_jmespath="[musicTaskId, status]",
    raise_on_no_idempotency_key=True,
    # Longer than any redelivery: EventBridge retries for up to 24 h, the queue keeps messages 4 days.
    expires_after_seconds=settings.idempotency_expiry_seconds,
)
persistence = DynamoDBPersistenceLayer(table_name=settings.idempotency_table)
processor = BatchProcessor(event_type=EventType.SQS)


@idempotent_function(
    data_keyword_argument="cover",
    persistence_store=persistence,
    config=idempotency,
    key_prefix="covers-consumer.store_cover",  # stable across function renames and redeploys
)
def store_cover(cover: dict[str, Any]) -> dict[str, str]:
    """Runs once per musicTaskId + status; later calls with that key get this result back."""
    stored_at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    try:
        # Belt and braces for a duplicate arriving after the idempotency record expired.
        covers_table.put_item(
            Item={**cover, "storedAt": stored_at},
            ConditionExpression="attribute_not_exists(musicTaskId)",
        )
    except covers_table.meta.client.exceptions.ConditionalCheckFailedException:
        logger.info("cover was already stored", extra={"musicTaskId": cover["musicTaskId"]})
    else:
        logger.info("cover stored", extra={"musicTaskId": cover["musicTaskId"], "status": cover["status"]})
    return {"musicTaskId": cover["musicTaskId"], "status": cover["status"], "storedAt": stored_at}


def record_handler(record: SQSRecord) -> dict[str, str]:
    try:
        cover = parse_cover_event(record.body)
    except BadCoverEvent as exc:
        logger.error("bad message: reported as failed (the queue's DLQ gets it)", extra={"reason": str(exc)})
        raise
    return store_cover(cover=cover)


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    idempotency.register_lambda_context(context)
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
