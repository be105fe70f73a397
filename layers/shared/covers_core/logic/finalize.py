"""The finalize function's entry point: an outcome becomes a terminal record and exactly one event.

The record doubles as the outbox: the terminal write happens first (conditional, so only one outcome ever
wins) and takes the right to publish for ``EVENT_LEASE_SECONDS`` in the same write; then the event is sent
and the record marked published. A finalize that runs again finds the event published and does nothing.
One killed between the write and the publish leaves the right held by a dead holder: the next finalize (a
retry, the state machine's safety net) raises :class:`EventClaimHeldError` until the lease has run out,
and the state machine retries it past the lease (docs/design.md, "Nothing lost"); the reconciler is the
last resort.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from covers_core.domain import outcomes
from covers_core.domain.events import EVENT_LEASE_SECONDS
from covers_core.domain.model import (
    LISTED_WHEN_ENDED,
    CheckResult,
    CoverRecord,
    CoverRequest,
    ImageCopy,
    Status,
    images_expire_at,
)
from covers_core.domain.outcomes import Ending, Outcome
from covers_core.errors import BadRequestError, ErrorCode, EventClaimHeldError
from covers_core.logic.ports import Archiver, EventBus, RecordStore


class Finalizer:
    """Writes terminal records and publishes their one event."""

    def __init__(
        self,
        store: RecordStore,
        publisher: EventBus,
        *,
        archiver: Archiver | None = None,
        learn: Callable[[CoverRecord, CheckResult | None], object] | None = None,
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
        check: CheckResult | None = None,
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
        record = self.store.finish(
            music_task_id, ending, now, request=request, event_lease_seconds=EVENT_LEASE_SECONDS
        )
        if record is None:  # already terminal: an earlier outcome won
            record = self.store.get(music_task_id)
            if record is None:
                raise LookupError(f"the record of {music_task_id} vanished while finalizing")
            self.publish_once(record)
            return record
        if self.learn is not None and record.status == Status.SUCCEEDED:
            self.learn(record, check)  # once per cover: only the call whose write won (best effort)
        self._publish(record)  # the terminal write took the right to publish
        return record

    def finish_workflow(self, state: Mapping[str, Any]) -> CoverRecord:
        """What the state machine's FinalizeCover (and its safety net) input means, recorded: the outcome
        of the ``check`` result or caught ``failure``; ``finalizeFailure`` (set when the safety net calls
        after FinalizeCover failed for good) skips the archive."""
        music_task_id = state.get("musicTaskId")
        if not isinstance(music_task_id, str) or not music_task_id:
            raise BadRequestError("finalize input has no musicTaskId")
        failed_before = state.get("finalizeFailure")
        return self.finish(
            music_task_id,
            outcomes.from_workflow(state),
            cover_task_id=state.get("coverTaskId"),
            generated_at=state.get("generatedAt"),
            skip_archive=outcomes.finalize_failure_reason(failed_before) if failed_before else None,
            check=_check(state),
        )

    def publish_once(self, record: CoverRecord) -> bool:
        """Publish the terminal event of ``record`` unless it was published: True when this call did.

        Raises :class:`EventClaimHeldError` while another holder has the right to publish and has not
        (it may be dead: the caller retries after the lease)."""
        if record.event_published_at or not record.terminal:
            return False
        now = self.clock()
        if not self.store.claim_event(record.music_task_id, now, EVENT_LEASE_SECONDS):
            current = self.store.get(record.music_task_id)
            if current is None or current.event_published_at:
                return False
            raise EventClaimHeldError(
                f"the event of {record.music_task_id} is being published by another call "
                f"(its right lapses at {current.event_claimed_until}); retry after that"
            )
        self._publish(record)
        return True

    def _publish(self, record: CoverRecord) -> None:
        try:
            event_id = self.publisher.publish(record)
        except Exception:
            self.store.release_event(record.music_task_id)
            raise
        close = record.status not in LISTED_WHEN_ENDED  # operators list (and resume) these
        self.store.event_published(record.music_task_id, event_id, self.clock(), close=close)


def _check(state: Mapping[str, Any]) -> CheckResult | None:
    try:
        return CheckResult.from_state(state.get("check") or {})
    except ValueError:
        return None
