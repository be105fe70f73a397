"""How a :class:`CoverRecord` is stored: one table of fields (record field -> attribute name and reader), and
the few values that need more than a name (metadata as exact JSON text, image copies, errors).

This package alone knows the attribute names; everything else reads and writes ``CoverRecord`` and domain
outcomes (``tests/unit/test_record_items.py`` checks the table covers every field of the record once)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from covers_core.domain import jsontext
from covers_core.domain.cost import CoverCost, LambdaShare
from covers_core.domain.model import CoverError, CoverRecord, ImageCopy, Status, Thumbnail
from covers_core.domain.outcomes import Ending


class A:
    """Attribute names of a cover record item."""

    MUSIC_TASK_ID = "musicTaskId"
    STATUS = "status"
    COVER_TASK_ID = "coverTaskId"
    IMAGES = "images"
    IMAGES_EXPIRE_AT = "imagesExpireAt"
    ARCHIVED_IMAGES = "archivedImages"
    ERROR = "error"
    LAST_ERROR = "lastError"
    POLL_COUNT = "pollCount"
    EXECUTION_ARN = "executionArn"
    CORRELATION_ID = "correlationId"
    METADATA = "metadata"
    CREATED_AT = "createdAt"
    UPDATED_AT = "updatedAt"
    GENERATED_AT = "generatedAt"
    COMPLETED_AT = "completedAt"
    LAST_POLLED_AT = "lastPolledAt"
    GENERATE_ATTEMPTS = "generateAttempts"
    GENERATE_UNCERTAIN = "generateUncertain"
    NOT_FOUND_COUNT = "notFoundCount"
    CLAIM_TOKEN = "claimToken"  # noqa: S105 - an attribute name, not a secret
    CLAIM_EXPIRES_AT = "claimExpiresAt"
    EVENT_PUBLISHED_AT = "eventPublishedAt"
    EVENT_ID = "eventId"
    EVENT_CLAIMED_UNTIL = "eventClaimedUntil"
    RESUME_COUNT = "resumeCount"
    BUDGET_CHARGED = "budgetCharged"
    START_LAMBDA = "startLambda"
    COST = "cost"
    #: Set while the record is open (docs/design.md, "The open index"): the ``byOpen`` index's key.
    OPEN_SHARD = "openShard"


#: The sparse index of open records (template.yaml, ``CoversTable``): key ``openShard`` + ``createdAt``.
OPEN_INDEX = "byOpen"
#: Open records spread over this many index partitions (by a hash of the music task id).
OPEN_SHARDS = 8


def open_shard(music_task_id: str) -> str:
    """The ``byOpen`` partition of a music task: spreads the open records, never hot."""
    return str(int(hashlib.sha256(music_task_id.encode()).hexdigest()[:8], 16) % OPEN_SHARDS)


def plain(value: Any) -> Any:
    """DynamoDB's Decimals back to int/float, recursively."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


#: The order of a stored cost's numbers (``cost_item``): compact JSON text, not a map, so that the cost adds
#: about 60 bytes to the item, not 190 (a write is billed per KB of the item: docs/operations.md).
COST_FIELDS = (
    "credits",
    "statusCalls",
    "transitions",
    "lambdaRequests",
    "lambdaMs",
    "lambdaGbSeconds",
    "s3Puts",
    "estimatedUsd",
    "detectionDelaySeconds",
)
SHARE_FIELDS = ("ms", "memoryMb", "requests")


def cost_item(cost: CoverCost) -> str:
    """How a cost is stored: its numbers as a JSON array, in the order of :data:`COST_FIELDS`."""
    view = cost.as_dict()
    return jsontext.dumps([view.get(name) for name in COST_FIELDS])


def share_item(share: LambdaShare) -> str:
    view = share.to_state()
    return jsontext.dumps([view[name] for name in SHARE_FIELDS])


def _numbers(value: Any, names: tuple[str, ...]) -> Any:
    """A stored array of numbers (JSON text) as the mapping it stands for; a stored map as it is."""
    if isinstance(value, str):
        try:
            parsed = jsontext.loads(value)
        except ValueError:
            return None
        return plain(dict(zip(names, parsed, strict=False))) if isinstance(parsed, list) else None
    return plain(value)


def _error(value: Any) -> CoverError | None:
    if not isinstance(value, Mapping) or not value.get("code"):
        return None
    return CoverError(str(value["code"]), str(value.get("message") or ""))


def _copies(value: Any) -> tuple[ImageCopy, ...]:
    return tuple(
        ImageCopy(
            url=str(c.get("url")),
            s3_uri=c.get("s3Uri"),
            size=plain(c.get("size")),
            sha256=c.get("sha256"),
            content_type=c.get("contentType"),
            error=c.get("error"),
            width=plain(c.get("width")),
            height=plain(c.get("height")),
            thumbnail=_thumbnail(c.get("thumbnail")),
            thumbnail_error=c.get("thumbnailError"),
        )
        for c in value or ()
    )


def _thumbnail(value: Any) -> Thumbnail | None:
    if not isinstance(value, Mapping) or not value.get("s3Uri"):
        return None
    return Thumbnail(
        s3_uri=str(value["s3Uri"]),
        width=int(value["width"]),
        height=int(value["height"]),
        size=int(value["size"]),
        content_type=str(value["contentType"]),
    )


def copy_item(copy: ImageCopy) -> dict[str, Any]:
    if copy.error:
        return {"url": copy.url, "error": copy.error}
    item: dict[str, Any] = {
        "url": copy.url,
        "s3Uri": copy.s3_uri,
        "size": copy.size,
        "sha256": copy.sha256,
        "contentType": copy.content_type,
    }
    if copy.width is not None and copy.height is not None:
        item.update(width=copy.width, height=copy.height)
    if copy.thumbnail is not None:
        item["thumbnail"] = copy.thumbnail.as_dict()
    elif copy.thumbnail_error:
        item["thumbnailError"] = copy.thumbnail_error
    return item


def metadata_item(metadata: Mapping[str, Any]) -> str:
    """How metadata is stored: its exact JSON text (a string attribute), so any JSON the request contract
    accepts (numbers of any precision, empty keys, any nesting) is kept as sent (docs/contracts.md)."""
    return jsontext.dumps(metadata, ensure_ascii=False)


def _metadata(value: Any) -> Mapping[str, Any]:
    """Stored metadata: JSON text, or (items of earlier builds) a DynamoDB map with Decimal numbers."""
    if isinstance(value, str):
        parsed = jsontext.loads(value)
        return parsed if isinstance(parsed, dict) else {}
    return value if isinstance(value, Mapping) else {}


def _int(value: Any) -> int:
    return int(value or 0)


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _text(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class Field:
    attribute: str
    read: Callable[[Any], Any] = _text


#: Every field of a CoverRecord: the attribute it is stored in, and how a stored value is read back.
RECORD_FIELDS: dict[str, Field] = {
    "music_task_id": Field(A.MUSIC_TASK_ID, str),
    "status": Field(A.STATUS, Status),
    "cover_task_id": Field(A.COVER_TASK_ID),
    "images": Field(A.IMAGES, lambda v: tuple(v or ())),
    "images_expire_at": Field(A.IMAGES_EXPIRE_AT),
    "archived_images": Field(A.ARCHIVED_IMAGES, _copies),
    "error": Field(A.ERROR, _error),
    "last_error": Field(A.LAST_ERROR, _error),
    "poll_count": Field(A.POLL_COUNT, _int),
    "execution_arn": Field(A.EXECUTION_ARN),
    "correlation_id": Field(A.CORRELATION_ID),
    "metadata": Field(A.METADATA, _metadata),
    "created_at": Field(A.CREATED_AT),
    "updated_at": Field(A.UPDATED_AT),
    "generated_at": Field(A.GENERATED_AT),
    "completed_at": Field(A.COMPLETED_AT),
    "last_polled_at": Field(A.LAST_POLLED_AT),
    "generate_attempts": Field(A.GENERATE_ATTEMPTS, _int),
    "generate_uncertain": Field(A.GENERATE_UNCERTAIN, bool),
    "not_found_count": Field(A.NOT_FOUND_COUNT, _int),
    "claim_token": Field(A.CLAIM_TOKEN),
    "claim_expires_at": Field(A.CLAIM_EXPIRES_AT, _optional_int),
    "event_published_at": Field(A.EVENT_PUBLISHED_AT),
    "event_id": Field(A.EVENT_ID),
    "event_claimed_until": Field(A.EVENT_CLAIMED_UNTIL, _optional_int),
    "resume_count": Field(A.RESUME_COUNT, _int),
    "budget_charged": Field(A.BUDGET_CHARGED, lambda v: tuple(str(k) for k in v or ())),
    "start_lambda": Field(A.START_LAMBDA, lambda v: LambdaShare.from_state(_numbers(v, SHARE_FIELDS))),
    "cost": Field(A.COST, lambda v: CoverCost.from_dict(_numbers(v, COST_FIELDS))),
}


def record_from_item(raw: Mapping[str, Any]) -> CoverRecord:
    """The record a stored item holds (attributes it lacks take the record's defaults)."""
    values = {
        name: field.read(raw[field.attribute])
        for name, field in RECORD_FIELDS.items()
        if field.attribute in raw
    }
    return CoverRecord(**values)


def record_to_item(record: CoverRecord, *, open_record: bool = False) -> dict[str, Any]:
    """The item that holds ``record`` as the writes store it (attributes left unset when empty; ``openShard``
    when the record is open). For sizing items (the load simulation's write units) and for tests."""
    item: dict[str, Any] = {}
    for name, field in RECORD_FIELDS.items():
        value = getattr(record, name)
        if value is None or value is False or (isinstance(value, tuple | dict) and not value):
            continue
        if name == "status":
            value = value.value
        elif name in ("error", "last_error"):
            value = value.as_dict()
        elif name == "archived_images":
            value = [copy_item(c) for c in value]
        elif name == "metadata":
            value = metadata_item(value)
        elif name in ("images", "budget_charged"):
            value = list(value)
        elif name == "start_lambda":
            value = share_item(value)
        elif name == "cost":
            value = cost_item(value)
        item[field.attribute] = value
    if open_record:
        item[A.OPEN_SHARD] = open_shard(record.music_task_id)
    return item


def item_view(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A stored item as plain values (attribute names and all), metadata decoded: for operators' tools."""
    view = plain({k: v for k, v in raw.items() if k != A.METADATA})
    if A.METADATA in raw:
        view[A.METADATA] = plain(_metadata(raw[A.METADATA]))
    return view


def ending_item(ending: Ending) -> dict[str, Any]:
    """The attributes a terminal write sets for ``ending`` (besides status and timestamps)."""
    outcome = ending.outcome
    fields: dict[str, Any] = {}
    if outcome.images:
        fields[A.IMAGES] = list(outcome.images)
        fields[A.IMAGES_EXPIRE_AT] = ending.images_expire_at
    if ending.archived is not None:
        fields[A.ARCHIVED_IMAGES] = [copy_item(c) for c in ending.archived]
    if outcome.error is not None:
        fields[A.ERROR] = outcome.error.as_dict()
    if outcome.poll_count is not None:
        fields[A.POLL_COUNT] = outcome.poll_count
    if ending.cover_task_id:
        fields[A.COVER_TASK_ID] = ending.cover_task_id
    if ending.cost is not None:  # in the same write: no extra write per cover for its cost
        fields[A.COST] = cost_item(ending.cost)
    return fields
