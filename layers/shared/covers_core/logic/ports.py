"""The ports: what the logic needs from the world, one ``typing.Protocol`` each.

``logic/`` imports these and the domain, never an adapter. The adapters implement them (``adapters/``:
DynamoDB, the vendor's HTTP API, Step Functions, EventBridge, SQS, S3), and so do the in-memory fakes
(``covers_local/fakes.py``) the unit tests and the load simulation run on. One contract test
(``tests/integration/test_port_contracts.py``) runs each fake and its adapter through the same cases, so a
fake cannot drift from the conditional semantics it stands in for (docs/design.md, "Ports").
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Protocol

from covers_core.domain.budget import Caps, Counter, Usage
from covers_core.domain.claim import Claim, Settled
from covers_core.domain.cost import LambdaShare
from covers_core.domain.delivery import SignedUrl
from covers_core.domain.first_wait import Counts, Observation
from covers_core.domain.model import (
    CoverError,
    CoverRecord,
    CoverRequest,
    CoverStatus,
    ImageCopy,
    Status,
    WorkflowInput,
)
from covers_core.domain.outcomes import Ending


class RecordStore(Protocol):
    """The cover records (one per music task). Every status change is conditional: of two concurrent
    writers exactly one wins, and a terminal record never changes again (but by an operator's resume)."""

    def get(self, music_task_id: str) -> CoverRecord | None:
        """The record as it stands (a strongly consistent read), or None."""

    def by_status(self, status: Status, since: datetime | None = None) -> Iterator[CoverRecord]:
        """Records in ``status`` (updated at or after ``since``), oldest update first."""

    def open_records(
        self, created_before: datetime | None = None, limit: int | None = None
    ) -> Iterator[CoverRecord]:
        """Records still open (from their claim until their terminal event is sent; for good when they
        ended NEEDS_ATTENTION or TIMED_OUT), created at or before ``created_before``, at most ``limit``."""

    def claim(self, request: CoverRequest, now: datetime, lease_seconds: int) -> Claim | Settled:
        """Take the right to call generate for ``request`` for ``lease_seconds``, or the record that makes
        the task unclaimable. Raises ``ClaimBusyError`` while another caller holds a live claim."""

    def release(
        self,
        music_task_id: str,
        token: str,
        *,
        uncertain: bool,
        error: CoverError,
        now: datetime,
        count_not_found: bool = False,
    ) -> int:
        """Give claim ``token`` back after a failed generate; the record's not-found count (0: not held)."""

    def block(
        self,
        music_task_id: str,
        token: str,
        error: CoverError,
        now: datetime,
        status: Status = Status.BLOCKED,
    ) -> None:
        """BLOCKED (401/402), or BUDGET_EXCEEDED, while holding ``token``; releases the claim."""

    def note_budget(self, music_task_id: str, token: str, keys: Sequence[str]) -> bool:
        """Note on the record the budget units its generate took (``()``: none, given back), while holding
        ``token``; False when the claim is no longer ours."""

    def record_cover_task(
        self,
        music_task_id: str,
        token: str,
        cover_task_id: str,
        now: datetime,
        *,
        start_lambda: LambdaShare | None = None,
    ) -> CoverRecord:
        """GENERATING -> IN_PROGRESS with the cover task id (and the start's share of its batch's billed
        time, in the same write); raises ``AwsTransientError`` when the record holds another claim's id
        already."""

    def adopt(self, music_task_id: str, cover_task_id: str, now: datetime) -> CoverRecord | None:
        """GENERATING without a cover task id -> IN_PROGRESS with ``cover_task_id``, whoever holds the
        claim; the record as it now stands (None: no record)."""

    def touch(self, music_task_id: str, status: Status, now: datetime) -> bool:
        """Mark the record as just dealt with (``updatedAt``), if it is still in ``status``."""

    def record_execution(self, music_task_id: str, execution_arn: str, now: datetime) -> None:
        """Note the workflow execution (only while IN_PROGRESS)."""

    def resume(self, record: CoverRecord, cover_task_id: str, now: datetime) -> CoverRecord | None:
        """``record`` (as read) -> IN_PROGRESS for a new workflow run; None when it changed meanwhile."""

    def finish(
        self,
        music_task_id: str,
        ending: Ending,
        now: datetime,
        request: CoverRequest | None = None,
        *,
        event_lease_seconds: int | None = None,
    ) -> CoverRecord | None:
        """A non-terminal (or missing) record -> ``ending``'s terminal status; None when already terminal.
        ``request``: the start function may finish a task that never had a record. ``event_lease_seconds``:
        the same write takes the right to publish the terminal event for that long."""

    def claim_event(self, music_task_id: str, now: datetime, lease_seconds: int) -> bool:
        """Take the right to publish the terminal event (the record is the outbox)."""

    def event_published(
        self, music_task_id: str, event_id: str, now: datetime, *, close: bool = True
    ) -> None:
        """Mark the terminal event published; ``close``: the record is no longer open."""

    def release_event(self, music_task_id: str) -> None:
        """Give the right to publish back (the publish failed)."""


class Budgets(Protocol):
    """The credit budgets' counters and caps (``covers_core.domain.budget``). Every take is one conditional
    write: of racing takers at a cap's boundary, exactly as many win as the cap has room for."""

    def override(self, scope: str) -> dict[str, int] | None:
        """The caps an operator stored for ``scope`` (``day``, ``month``), or None."""

    def take(self, counter: Counter, caps: Caps) -> bool:
        """Add one to the counter's month and day, only if each is under its cap (0: none)."""

    def give_back(self, counter: Counter) -> None:
        """Take one back from the counter's month and day (a taken unit whose generate spent nothing)."""

    def usage(self, counter: Counter) -> Usage:
        """The counter's month and day as they stand."""


class Vendor(Protocol):
    """The vendor's cover API. Errors are the typed ``VendorError`` family (``covers_core.errors``)."""

    def generate(self, music_task_id: str) -> str:
        """Start cover generation (one credit); the cover task id."""

    def status(self, cover_task_id: str) -> CoverStatus:
        """The cover task's status."""


class WorkflowEngine(Protocol):
    """The CoverWorkflow state machine."""

    def start(self, execution_input: WorkflowInput, name: str | None = None) -> str:
        """Start (or find) the music task's execution; its ARN."""

    def status(self, execution_arn: str) -> str | None:
        """The execution's status (``RUNNING``, ``SUCCEEDED``, ...), or None when it no longer exists."""


class EventBus(Protocol):
    """The covers bus."""

    def publish(self, record: CoverRecord) -> str:
        """Send the terminal event of ``record``; the event id."""


class RequestSink(Protocol):
    """The cover requests queue."""

    def send(self, request: CoverRequest, *, cover_task_id: str | None = None, delay_seconds: int = 0) -> str:
        """Queue ``request``; the message id. ``cover_task_id``: the request is an adoption (the start
        function stores that id instead of calling generate: its first write of it failed)."""


class DeadLetterSink(Protocol):
    """The dead-letter queue: rejected bodies with their reason."""

    def send(
        self,
        body: str | bytes,
        reason: str,
        message_id: str,
        *,
        cover_task_id: str | None = None,
        retryable: bool = False,
    ) -> None:
        """Keep ``body`` (its exact bytes) with ``reason`` (and the cover task id generate returned for it,
        if any). ``retryable``: a good request that kept failing (a redrive sends it back), not bad input."""


class LearnedWaits(Protocol):
    """What recent covers taught the poll schedule: counters per minute and key (all covers, a tenant)."""

    def recent(self, key: str, now: datetime) -> list[Counts]:
        """The key's counters of the last minutes, one per minute, newest first: ``[0]`` is the current
        minute (empty counters where nothing was stored)."""

    def observe(self, keys: Sequence[str], observation: Observation, now: datetime) -> None:
        """Add one cover's observation to this minute's counters of each key (atomic: nothing is lost
        to a concurrent writer). Raises ``AwsTransientError``."""


class Archiver(Protocol):
    """Copies cover images somewhere they outlive the vendor's 14 days."""

    def archive_all(self, music_task_id: str, urls: tuple[str, ...]) -> tuple[ImageCopy, ...]:
        """One copy (or its error) per URL; raises only for a failure of the archive itself."""


class UrlSigner(Protocol):
    """Short-lived GET URLs for archived objects (S3 presigned URLs): signing calls nothing; the URL reads
    with the signer's credentials when it is used."""

    def presign_get(self, bucket: str, key: str, seconds: int) -> SignedUrl:
        """A URL reading ``s3://bucket/key`` for ``seconds`` from now, and when it stops working."""
