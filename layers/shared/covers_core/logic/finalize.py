"""The finalize function's entry point: an outcome becomes a terminal record and exactly one event.

The record doubles as the outbox: the terminal write happens first (conditional, so only one outcome
ever wins), then the right to publish is claimed on the record, the event is sent, and the record is
marked published. A finalize that runs again, for whatever reason, finds the event published and does
nothing; one that crashed between the write and the publish is completed by the retry.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from covers_core.domain.model import CoverRecord, CoverRequest, ImageCopy, Status, images_expire_at
from covers_core.domain.outcomes import Ending, Outcome
from covers_core.errors import ErrorCode
from covers_core.logic.ports import Archiver, EventBus, RecordStore

#: How long a finalize holds the right to publish before another may take over (a crash mid-publish).
EVENT_LEASE_SECONDS = 60


class Finalizer:
    """Writes terminal records and publishes their one event."""

    def __init__(
        self,
        store: RecordStore,
        publisher: EventBus,
        *,
        archiver: Archiver | None = None,
        learn: Callable[[CoverRecord], object] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.publisher = publisher
        self.archiver = archiver
        self.learn = learn  # the adaptive poll schedule learns from each cover that this call finalized
        self.clock = clock

    def finish(
        self,
        music_task_id: str,
        outcome: Outcome,
        *,
        request: CoverRequest | None = None,
        cover_task_id: str | None = None,
        generated_at: str | None = None,
        skip_archive: str | None = None,
    ) -> CoverRecord:
        """Record ``outcome`` (unless the record is already terminal) and publish its event once.
        ``skip_archive`` (the safety net's reason) records the images as not archived instead of
        downloading them. Returns the record as it now stands."""
        now = self.clock()
        archived = None
        if outcome.images and self.archiver is not None and skip_archive is not None:
            reason = f"{ErrorCode.ARCHIVE_SKIPPED}: {skip_archive}"[:500]
            archived = tuple(ImageCopy(url=url, error=reason) for url in outcome.images)
        elif outcome.images and self.archiver is not None:
            # Archiving downloads every image: skip it when a retry or a duplicate finds the work done.
            existing = self.store.get(music_task_id)
            if existing is not None and existing.terminal:
                self.publish_once(existing)
                return existing
            archived = self.archiver.archive_all(music_task_id, outcome.images)
        ending = Ending(
            outcome,
            images_expire_at=images_expire_at(generated_at, now) if outcome.images else None,
            archived=archived,
            cover_task_id=cover_task_id,
        )
        record = self.store.finish(music_task_id, ending, now, request=request)
        if record is None:  # already terminal: an earlier outcome won
            record = self.store.get(music_task_id)
            if record is None:
                raise LookupError(f"the record of {music_task_id} vanished while finalizing")
        elif self.learn is not None and record.status == Status.SUCCEEDED:
            self.learn(record)  # once per cover: only the call whose write won (best effort, never raises)
        self.publish_once(record)
        return record

    def publish_once(self, record: CoverRecord) -> bool:
        """Publish the terminal event for ``record`` unless it was (or is being) published."""
        if record.event_published_at or not record.terminal:
            return False
        if not self.store.claim_event(record.music_task_id, self.clock(), EVENT_LEASE_SECONDS):
            return False
        try:
            event_id = self.publisher.publish(record)
        except Exception:
            self.store.release_event(record.music_task_id)
            raise
        self.store.event_published(record.music_task_id, event_id, self.clock())
        return True
