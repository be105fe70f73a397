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
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from covers_core.domain import cost as costs
from covers_core.domain import outcomes
from covers_core.domain.cost import CoverCost, LambdaShare
from covers_core.domain.events import EVENT_LEASE_SECONDS
from covers_core.domain.model import (
    LISTED_WHEN_ENDED,
    CheckResult,
    CoverRecord,
    CoverRequest,
    ImageCopy,
    Status,
    images_expire_at,
    parse_iso,
)
from covers_core.domain.outcomes import Ending, Outcome
from covers_core.errors import BadRequestError, ErrorCode, EventClaimHeldError
from covers_core.logic.ports import Archiver, EventBus, RecordStore


@dataclass(frozen=True)
class Finalized:
    """A finalize call's result: the record as it now stands, and whether this call's terminal write won
    (only that call counts the cover in the cost metrics)."""

    record: CoverRecord
    won: bool


@dataclass(frozen=True)
class Workflow:
    """What the workflow's state says about a cover's spending (docs/operations.md, "Cost per cover"): the
    start's share, the check's last result, whether the safety net runs, finalize's memory size."""

    start_lambda: LambdaShare | None = None
    check: CheckResult | None = None
    safety_net: bool = False
    memory_mb: int = 0


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
        workflow_type: str = costs.STANDARD,
    ) -> None:
        self.store = store
        self.publisher = publisher
        self.archiver = archiver
        self.learn = learn  # the adaptive poll schedule learns from each cover that this call finalized
        self.clock = clock
        self.workflow_type = workflow_type  # how Step Functions bills the execution (the cost estimate)

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
        return self._finish(
            music_task_id,
            outcome,
            request=request,
            cover_task_id=cover_task_id,
            generated_at=generated_at,
            skip_archive=skip_archive,
            workflow=Workflow(check=check) if check is not None else None,
        ).record

    def _finish(
        self,
        music_task_id: str,
        outcome: Outcome,
        *,
        request: CoverRequest | None = None,
        cover_task_id: str | None = None,
        generated_at: str | None = None,
        skip_archive: str | None = None,
        workflow: Workflow | None = None,
    ) -> Finalized:
        began = now = self.clock()
        check = workflow.check if workflow is not None else None
        archived = None
        if outcome.images and self.archiver is not None and skip_archive is not None:
            reason = f"{ErrorCode.ARCHIVE_SKIPPED}: {skip_archive}"[:500]
            archived = tuple(ImageCopy(url=url, error=reason) for url in outcome.images)
        elif outcome.images and self.archiver is not None:
            # Archiving downloads every image: skip it when a retry or a duplicate finds the work done.
            existing = self.store.get(music_task_id)
            if existing is not None and existing.terminal:
                self.publish_once(existing)
                return Finalized(existing, won=False)
            archived = self.archiver.archive_all(music_task_id, outcome.images)
            now = self.clock()
        ending = Ending(
            outcome,
            images_expire_at=images_expire_at(generated_at, now) if outcome.images else None,
            archived=archived,
            cover_task_id=cover_task_id,
            cost=self._cost(
                outcome,
                cover_task_id=cover_task_id,
                generated_at=generated_at,
                archived=archived,
                workflow=workflow,
                began=began,
                now=now,
            ),
        )
        record = self.store.finish(
            music_task_id, ending, now, request=request, event_lease_seconds=EVENT_LEASE_SECONDS
        )
        if record is None:  # already terminal: an earlier outcome won
            record = self.store.get(music_task_id)
            if record is None:
                raise LookupError(f"the record of {music_task_id} vanished while finalizing")
            self.publish_once(record)
            return Finalized(record, won=False)
        if self.learn is not None and record.status == Status.SUCCEEDED:
            self.learn(record, check)  # once per cover: only the call whose write won (best effort)
        self._publish(record)  # the terminal write took the right to publish
        return Finalized(record, won=True)

    def _cost(
        self,
        outcome: Outcome,
        *,
        cover_task_id: str | None,
        generated_at: str | None,
        archived: tuple[ImageCopy, ...] | None,
        workflow: Workflow | None,
        began: datetime,
        now: datetime,
    ) -> CoverCost:
        """What the cover cost (``domain/cost.py``), for the terminal write. Finalize's own time is counted
        up to the write (its archive downloads included, the write and the publish not)."""
        check = workflow.check if workflow is not None else None
        lambdas: list[LambdaShare] = []
        if workflow is not None:
            lambdas += [s for s in (workflow.start_lambda, check.lambda_share if check else None) if s]
            seconds = (now - began).total_seconds()
            lambdas.append(LambdaShare(costs.billed_ms(seconds), workflow.memory_mb))
        learns = self.learn is not None and outcome.status == Status.SUCCEEDED
        started = parse_iso(generated_at) if generated_at else now
        return costs.estimate(
            credits=outcomes.credits_spent(outcome, cover_task_id),
            status_calls=outcome.poll_count or 0,
            transitions=costs.transitions(
                check.retries if check else None,
                safety_net=bool(workflow and workflow.safety_net),
                workflow=workflow is not None,
            ),
            lambdas=tuple(lambdas),
            per_cover=costs.PER_COVER if workflow is not None else costs.ENDED_AT_START,
            extra_writes=costs.LEARNING_WRITES if learns else 0,
            s3_puts=sum(1 for copy in archived or () if copy.s3_uri),
            workflow_type=self.workflow_type,
            execution_seconds=max(0.0, (now - started).total_seconds()),
            detection_delay_seconds=check.detection_delay if check else None,
        )

    def finish_workflow(self, state: Mapping[str, Any], *, memory_mb: int = 0) -> CoverRecord:
        """What the state machine's FinalizeCover (and its safety net) input means, recorded: the outcome
        of the ``check`` result or caught ``failure``; ``finalizeFailure`` (set when the safety net calls
        after FinalizeCover failed for good) skips the archive."""
        return self.finalize(state, memory_mb=memory_mb).record

    def finalize(self, state: Mapping[str, Any], *, memory_mb: int = 0) -> Finalized:
        """:meth:`finish_workflow`, saying whether this call's terminal write won. ``memory_mb``: the
        function's memory size (its context's), for the cover's cost."""
        music_task_id = state.get("musicTaskId")
        if not isinstance(music_task_id, str) or not music_task_id:
            raise BadRequestError("finalize input has no musicTaskId")
        failed_before = state.get("finalizeFailure")
        return self._finish(
            music_task_id,
            outcomes.from_workflow(state),
            cover_task_id=state.get("coverTaskId"),
            generated_at=state.get("generatedAt"),
            skip_archive=outcomes.finalize_failure_reason(failed_before) if failed_before else None,
            workflow=Workflow(
                start_lambda=LambdaShare.from_state(state.get("startLambda")),
                check=_check(state),
                safety_net=bool(failed_before),
                memory_mb=memory_mb,
            ),
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
