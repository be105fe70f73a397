"""The two events the pipeline emits on its EventBridge bus (schemas in ``events/schemas/``)."""

from __future__ import annotations

from typing import Any

from covers_core.domain.model import CoverRecord, Status

#: How long a finalize holds the right to publish a terminal event before another may take over (one
#: killed mid-publish); the state machine's ``event_claim_held`` retries wait longer than this.
EVENT_LEASE_SECONDS = 60
COVER_GENERATED = "Cover Generated"
COVER_GENERATION_FAILED = "Cover Generation Failed"


def detail_type_for(status: Status) -> str:
    return COVER_GENERATED if status == Status.SUCCEEDED else COVER_GENERATION_FAILED


def event_detail(record: CoverRecord) -> dict[str, Any]:
    """The event detail for a terminal record."""
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
    detail: dict[str, Any] = {
        "musicTaskId": record.music_task_id,
        "coverTaskId": record.cover_task_id,
        "status": record.status.value,
        "images": images,
        "correlationId": record.correlation_id,
        "metadata": dict(record.metadata),
        "pollCount": record.poll_count,
        "createdAt": record.created_at,
        "completedAt": record.completed_at,
    }
    if record.error:
        detail["error"] = record.error.as_dict()
    return detail


def public_view(record: CoverRecord) -> dict[str, Any]:
    """A record as applications see it (the status API, `covers status`): the event's fields, plus
    ``updatedAt`` and, while a cover is still being worked on, ``lastError``. Never the claim, lease or
    outbox bookkeeping."""
    view = event_detail(record) | {"updatedAt": record.updated_at}
    if record.last_error and not record.terminal:
        view["lastError"] = record.last_error.as_dict()
    return view
