"""The two events the pipeline emits on its EventBridge bus (schemas in ``events/schemas/``), and the status
API's view of a record, both made from one field table (:data:`WIRE_FIELDS`; docs/contracts.md, "Events").

Adding a field to the event is one :class:`WireField` line here plus its property in both event schemas
(``tests/infra/test_contracts.py`` checks the table and the schemas against each other, both ways).

A value is read from the record and the :class:`DeliveryUrls` in force where the record is shown (the
wiring of finalize and of the status API passes the ``DELIVERY_BASE_URL`` setting): records store S3 keys,
never delivery URLs, so a distribution turned on later serves the covers archived before it too."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from covers_core.domain.model import CoverRecord, ImageCopy, Status

#: How long a finalize holds the right to publish a terminal event before another may take over (one
#: killed mid-publish); the state machine's ``event_claim_held`` retries wait longer than this.
EVENT_LEASE_SECONDS = 60
COVER_GENERATED = "Cover Generated"
COVER_GENERATION_FAILED = "Cover Generation Failed"
DETAIL_TYPES = (COVER_GENERATED, COVER_GENERATION_FAILED)


def detail_type_for(status: Status) -> str:
    return COVER_GENERATED if status == Status.SUCCEEDED else COVER_GENERATION_FAILED


@dataclass(frozen=True)
class DeliveryUrls:
    """Where applications fetch archived objects: ``<base>/<S3 key>`` (the stack's delivery distribution,
    docs/contracts.md, "Archived images"), or nowhere when ``base`` is None (``url`` stays the vendor's)."""

    base: str | None = None

    def url_of(self, s3_uri: str | None) -> str | None:
        """The delivery URL of an object ``s3://<bucket>/<key>``, or None without a base."""
        if not self.base or not s3_uri or not s3_uri.startswith("s3://"):
            return None
        key = s3_uri.removeprefix("s3://").partition("/")[2]
        return f"{self.base.rstrip('/')}/{quote(key, safe='/')}" if key else None


#: No delivery distribution: image ``url`` is the vendor's.
NO_DELIVERY = DeliveryUrls()


@dataclass(frozen=True)
class WireField:
    """One field of the event detail and/or the status view, in the order it is written."""

    name: str
    #: Its value, read from the record (and the delivery URLs in force, for the fields that name objects).
    value: Callable[[CoverRecord, DeliveryUrls], Any]
    #: In the event detail (the status view carries every event field too).
    event: bool = True
    #: Left out when its value is None (else written as null).
    optional: bool = False
    #: The event schemas (by detail type) that require it; an event field not optional is required in all.
    required_in: tuple[str, ...] = DETAIL_TYPES


def _images(record: CoverRecord, urls: DeliveryUrls) -> list[dict[str, Any]]:
    """Each image with its vendor URL (``sourceUrl``) and that URL's expiry and, once archived, its copy (or
    why the copy failed). ``url`` is the permanent delivery URL of an archived image when a delivery base is
    set, else the vendor's (docs/contracts.md, "Archived images")."""
    archived = {copy.url: copy for copy in record.archived_images}
    images = []
    for source in record.images:
        image: dict[str, Any] = {"url": source, "sourceUrl": source, "expiresAt": record.images_expire_at}
        copy = archived.get(source)
        if copy and copy.archived:
            image["url"] = urls.url_of(copy.s3_uri) or source
            image.update(s3Uri=copy.s3_uri, sha256=copy.sha256, size=copy.size, contentType=copy.content_type)
            image.update(_copy_details(copy, urls))
        elif copy and copy.error:
            image["archiveError"] = copy.error
        images.append(image)
    return images


def _copy_details(copy: ImageCopy, urls: DeliveryUrls) -> dict[str, Any]:
    details: dict[str, Any] = {}
    if copy.width is not None and copy.height is not None:
        details.update(width=copy.width, height=copy.height)
    if copy.thumbnail is not None:
        delivered = urls.url_of(copy.thumbnail.s3_uri)
        details["thumbnail"] = {**({"url": delivered} if delivered else {}), **copy.thumbnail.as_dict()}
    elif copy.thumbnail_error:
        details["thumbnailError"] = copy.thumbnail_error
    return details


#: The wire contract: the event detail is every ``event`` field; the status view (the status API,
#: ``covers status``) is every field. Never the claim, lease or outbox bookkeeping.
WIRE_FIELDS: tuple[WireField, ...] = (
    WireField("musicTaskId", lambda r, _: r.music_task_id),
    WireField("coverTaskId", lambda r, _: r.cover_task_id),
    WireField("status", lambda r, _: r.status.value),
    WireField("images", _images),
    WireField("correlationId", lambda r, _: r.correlation_id),
    WireField("metadata", lambda r, _: dict(r.metadata)),
    WireField("pollCount", lambda r, _: r.poll_count),
    WireField("createdAt", lambda r, _: r.created_at),
    WireField("completedAt", lambda r, _: r.completed_at),
    WireField(
        "error",
        lambda r, _: r.error.as_dict() if r.error else None,
        optional=True,
        required_in=(COVER_GENERATION_FAILED,),
    ),
    WireField("updatedAt", lambda r, _: r.updated_at, event=False),
    WireField(
        "lastError",
        lambda r, _: r.last_error.as_dict() if r.last_error and not r.terminal else None,
        event=False,
        optional=True,
    ),
    # What the cover cost (docs/operations.md, "Cost per cover"): an operator's figure, not in the event.
    WireField("cost", lambda r, _: r.cost.as_dict() if r.cost else None, event=False, optional=True),
)
EVENT_FIELDS = tuple(f for f in WIRE_FIELDS if f.event)


def _write(fields: tuple[WireField, ...], record: CoverRecord, urls: DeliveryUrls) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields:
        value = f.value(record, urls)
        if value is not None or not f.optional:
            out[f.name] = value
    return out


def event_detail(record: CoverRecord, urls: DeliveryUrls = NO_DELIVERY) -> dict[str, Any]:
    """The event detail for a terminal record."""
    return _write(EVENT_FIELDS, record, urls)


def public_view(record: CoverRecord, urls: DeliveryUrls = NO_DELIVERY) -> dict[str, Any]:
    """A record as applications see it (the status API, `covers status`): the event's fields, plus
    ``updatedAt`` and, while a cover is still being worked on, ``lastError``."""
    return _write(WIRE_FIELDS, record, urls)
