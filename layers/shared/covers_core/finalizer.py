"""Turning an outcome into a terminal record and exactly one event.

The record doubles as the outbox: the terminal write happens first (conditional, so only one outcome
ever wins), then the right to publish is claimed on the record, the event is sent, and the record is
marked published. A finalize that runs again, for whatever reason, finds the event published and does
nothing; one that crashed between the write and the publish is completed by the retry.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from covers_core.archive import ImageArchiver
from covers_core.errors import DEFAULT_FAILURE_OUTCOME, FAILURE_OUTCOMES
from covers_core.events import EventPublisher
from covers_core.model import CoverRequest, Status
from covers_core.records import CoverStore, images_expire_at
from covers_core.vendor import FAILED, SUCCESS

EVENT_LEASE_SECONDS = 60
_MAX_CAUSE = 500


@dataclass(frozen=True)
class Outcome:
    """How a cover task ended."""

    status: Status
    images: tuple[str, ...] = ()
    error_code: str | None = None
    error_message: str | None = None
    poll_count: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def error(self) -> dict[str, str] | None:
        if not self.error_code:
            return None
        return {"code": self.error_code, "message": (self.error_message or self.error_code)[:_MAX_CAUSE]}


def outcome_from_workflow(state: dict[str, Any]) -> Outcome:
    """What the state machine's input to FinalizeCover means (``check`` result or caught ``failure``)."""
    check = state.get("check") or {}
    polls = check.get("pollCount", state.get("pollCount"))
    failure = state.get("failure")
    if failure:
        name = str(failure.get("Error") or "Unknown")
        status, code = FAILURE_OUTCOMES.get(name, DEFAULT_FAILURE_OUTCOME)
        message = _cause_message(failure.get("Cause"), name)
        if status == Status.NEEDS_ATTENTION:
            message = (
                f"cover task {state.get('coverTaskId')} was paid for but its status could not be read "
                f"({name}: {message}); read it with GET /v2/cover/status?task_id=<coverTaskId>"
            )
        return Outcome(Status(status), error_code=code, error_message=message, poll_count=polls)
    vendor_status = check.get("status")
    if vendor_status == SUCCESS:
        images = tuple(u for u in check.get("images") or [] if isinstance(u, str) and u)
        if not images:
            return Outcome(
                Status.FAILED,
                error_code="NO_IMAGES",
                error_message="the vendor reported SUCCESS without any image",
                poll_count=polls,
            )
        return Outcome(Status.SUCCEEDED, images=images, poll_count=polls)
    if vendor_status == FAILED:
        return Outcome(
            Status.FAILED,
            error_code="VENDOR_FAILED",
            error_message=check.get("error") or "the vendor reported FAILED",
            poll_count=polls,
        )
    if vendor_status == "TIMED_OUT":
        return Outcome(
            Status.TIMED_OUT,
            error_code="DEADLINE_EXCEEDED",
            error_message=check.get("error") or "the cover was not ready by the deadline",
            poll_count=polls,
        )
    return Outcome(
        Status.NEEDS_ATTENTION,
        error_code="UNEXPECTED_STATE",
        error_message=f"finalize got an unexpected check status {vendor_status!r}",
        poll_count=polls,
    )


def _cause_message(cause: Any, name: str) -> str:
    """Step Functions passes the Lambda error as a JSON string ``{"errorMessage": ...}``."""
    if isinstance(cause, str):
        try:
            parsed = json.loads(cause)
        except ValueError:
            return cause[:_MAX_CAUSE]
        if isinstance(parsed, dict):
            return str(parsed.get("errorMessage") or name)[:_MAX_CAUSE]
    return name


class Finalizer:
    """Writes terminal records and publishes their one event."""

    def __init__(
        self,
        store: CoverStore,
        publisher: EventPublisher,
        *,
        archiver: ImageArchiver | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.publisher = publisher
        self.archiver = archiver
        self.clock = clock

    def finish(
        self,
        music_task_id: str,
        outcome: Outcome,
        *,
        request: CoverRequest | None = None,
        cover_task_id: str | None = None,
        generated_at: str | None = None,
    ) -> dict[str, Any]:
        """Record ``outcome`` (unless the record is already terminal) and publish its event once.
        Returns the record as it now stands."""
        now = self.clock()
        fields: dict[str, Any] = {}
        if outcome.images and self.archiver is not None:
            # Archiving downloads every image: skip it when a retry or a duplicate finds the work done.
            existing = self.store.get(music_task_id)
            if existing and Status(existing["status"]).terminal:
                self.publish_once(existing)
                return existing
        if outcome.images:
            fields["images"] = list(outcome.images)
            fields["imagesExpireAt"] = images_expire_at(generated_at, now)
            if self.archiver is not None:
                fields["archivedImages"] = self.archiver.archive_all(music_task_id, list(outcome.images))
        if outcome.error():
            fields["error"] = outcome.error()
        if outcome.poll_count is not None:
            fields["pollCount"] = int(outcome.poll_count)
        if cover_task_id:
            fields["coverTaskId"] = cover_task_id
        record = self.store.finish(music_task_id, outcome.status, fields, now, request=request)
        if record is None:
            record = self.store.get(music_task_id) or {}
        self.publish_once(record)
        return record

    def publish_once(self, record: dict[str, Any]) -> bool:
        """Publish the terminal event for ``record`` unless it was (or is being) published."""
        if not record or record.get("eventPublishedAt") or not Status(record["status"]).terminal:
            return False
        music_task_id = record["musicTaskId"]
        now = self.clock()
        if not self.store.claim_event(music_task_id, now, EVENT_LEASE_SECONDS):
            return False
        try:
            event_id = self.publisher.publish(record)
        except Exception:
            self.store.release_event(music_task_id)
            raise
        self.store.event_published(music_task_id, event_id, self.clock())
        return True
