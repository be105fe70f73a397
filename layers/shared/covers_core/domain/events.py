"""The two events the pipeline emits on its EventBridge bus (schemas in ``events/schemas/``), and the status
API's view of a record, both made from one field table (:data:`WIRE_FIELDS`; docs/contracts.md, "Events").

Adding a field to the event is one :class:`WireField` line here plus its property in both event schemas
(``tests/infra/test_contracts.py`` checks the table and the schemas against each other, both ways)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from covers_core.domain.model import CoverRecord, Status

#: How long a finalize holds the right to publish a terminal event before another may take over (one
#: killed mid-publish); the state machine's ``event_claim_held`` retries wait longer than this.
EVENT_LEASE_SECONDS = 60
COVER_GENERATED = "Cover Generated"
COVER_GENERATION_FAILED = "Cover Generation Failed"
DETAIL_TYPES = (COVER_GENERATED, COVER_GENERATION_FAILED)


def detail_type_for(status: Status) -> str:
    return COVER_GENERATED if status == Status.SUCCEEDED else COVER_GENERATION_FAILED


@dataclass(frozen=True)
class WireField:
    """One field of the event detail and/or the status view, in the order it is written."""

    name: str
    #: Its value, read from the record.
    value: Callable[[CoverRecord], Any]
    #: In the event detail (the status view carries every event field too).
    event: bool = True
    #: Left out when its value is None (else written as null).
    optional: bool = False
    #: The event schemas (by detail type) that require it; an event field not optional is required in all.
    required_in: tuple[str, ...] = DETAIL_TYPES


def _images(record: CoverRecord) -> list[dict[str, Any]]:
    """Each image URL with its expiry and, once archived, its copy (or why the copy failed)."""
    archived = {copy.url: copy for copy in record.archived_images}
    images = []
    for url in record.images:
        image: dict[str, Any] = {"url": url, "expiresAt": record.images_expire_at}
        copy = archived.get(url)
        if copy and copy.s3_uri:
            image.update(s3Uri=copy.s3_uri, sha256=copy.sha256, size=copy.size, contentType=copy.content_type)
        elif copy and copy.error:
            image["archiveError"] = copy.error
        images.append(image)
    return images


#: The wire contract: the event detail is every ``event`` field; the status view (the status API,
#: ``covers status``) is every field. Never the claim, lease or outbox bookkeeping.
WIRE_FIELDS: tuple[WireField, ...] = (
    WireField("musicTaskId", lambda r: r.music_task_id),
    WireField("coverTaskId", lambda r: r.cover_task_id),
    WireField("status", lambda r: r.status.value),
    WireField("images", _images),
    WireField("correlationId", lambda r: r.correlation_id),
    WireField("metadata", lambda r: dict(r.metadata)),
    WireField("pollCount", lambda r: r.poll_count),
    WireField("createdAt", lambda r: r.created_at),
    WireField("completedAt", lambda r: r.completed_at),
    WireField(
        "error",
        lambda r: r.error.as_dict() if r.error else None,
        optional=True,
        required_in=(COVER_GENERATION_FAILED,),
    ),
    WireField("updatedAt", lambda r: r.updated_at, event=False),
    WireField(
        "lastError",
        lambda r: r.last_error.as_dict() if r.last_error and not r.terminal else None,
        event=False,
        optional=True,
    ),
    # What the cover cost (docs/operations.md, "Cost per cover"): an operator's figure, not in the event.
    WireField("cost", lambda r: r.cost.as_dict() if r.cost else None, event=False, optional=True),
)
EVENT_FIELDS = tuple(f for f in WIRE_FIELDS if f.event)


def _write(fields: tuple[WireField, ...], record: CoverRecord) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields:
        value = f.value(record)
        if value is not None or not f.optional:
            out[f.name] = value
    return out


def event_detail(record: CoverRecord) -> dict[str, Any]:
    """The event detail for a terminal record."""
    return _write(EVENT_FIELDS, record)


def public_view(record: CoverRecord) -> dict[str, Any]:
    """A record as applications see it (the status API, `covers status`): the event's fields, plus
    ``updatedAt`` and, while a cover is still being worked on, ``lastError``."""
    return _write(WIRE_FIELDS, record)
