"""The pipeline's typed values: statuses, the cover request, the cover record, a status check's result,
and the workflow's input. Plain frozen dataclasses: no storage attribute names here (the record store
alone knows those), no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from covers_core.domain.cost import CoverCost, LambdaShare
from covers_core.errors import ErrorCode

#: How long the vendor keeps image URLs (the vendor document: 14 days).
IMAGE_RETENTION = timedelta(days=14)
#: Longest error message kept on a record or an event.
MAX_ERROR_MESSAGE = 500


class Status(StrEnum):
    """A cover record's status (docs/contracts.md, "Statuses")."""

    GENERATING = "GENERATING"
    IN_PROGRESS = "IN_PROGRESS"
    BLOCKED = "BLOCKED"
    #: Parked by a credit budget (docs/operations.md, "Credit budgets"): no credit spent, no event until it
    #: ends; the reconciler queues it again once its window rolled over or its cap was raised.
    BUDGET_EXCEEDED = "BUDGET_EXCEEDED"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    TIMED_OUT = "TIMED_OUT"
    REJECTED = "REJECTED"
    NEEDS_ATTENTION = "NEEDS_ATTENTION"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset(
    {Status.SUCCEEDED, Status.FAILED, Status.TIMED_OUT, Status.REJECTED, Status.NEEDS_ATTENTION}
)
NON_TERMINAL_STATUSES = frozenset(set(Status) - TERMINAL_STATUSES)
#: Terminal statuses an operator acts on (``covers resume``): their records stay open (listed) after the
#: event is sent. Every other record is open from its claim until its terminal event is sent.
LISTED_WHEN_ENDED = frozenset({Status.NEEDS_ATTENTION, Status.TIMED_OUT})


class VendorStatus(StrEnum):
    """``data.status`` of ``GET /v2/cover/status``."""

    IN_PROGRESS = "IN_PROGRESS"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"


class CheckStatus(StrEnum):
    """What one status check tells the state machine (``$.check.status``): the vendor's status, or
    TIMED_OUT when the cover is still running at the deadline."""

    IN_PROGRESS = "IN_PROGRESS"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    TIMED_OUT = "TIMED_OUT"


def iso(moment: datetime) -> str:
    """The timestamp format of records and events: UTC, milliseconds, ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def images_expire_at(generated_at: str | None, now: datetime) -> str:
    """The vendor keeps image URLs 14 days from generation (counted from when we got the task id)."""
    start = parse_iso(generated_at) if generated_at else now
    return iso(start + IMAGE_RETENTION)


@dataclass(frozen=True)
class CoverRequest:
    """One music task whose cover the pipeline should make (the queue contract)."""

    music_task_id: str
    correlation_id: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def to_message(self) -> dict[str, Any]:
        body: dict[str, Any] = {"musicTaskId": self.music_task_id}
        if self.correlation_id:
            body["correlationId"] = self.correlation_id
        if self.metadata:
            body["metadata"] = self.metadata
        return body


@dataclass(frozen=True)
class CoverError:
    """An error code with a human message, as stored on a record and sent in an event."""

    code: str
    message: str

    @classmethod
    def of(cls, code: ErrorCode, message: str | None = None) -> CoverError:
        return cls(code.value, (message or code.value)[:MAX_ERROR_MESSAGE])

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True)
class Thumbnail:
    """The small copy of an archived image (docs/contracts.md, "Archived images"): WebP, its longest side
    ``THUMBNAIL_SIZE`` pixels (or the image's own, never larger)."""

    s3_uri: str
    width: int
    height: int
    size: int
    content_type: str

    def as_dict(self) -> dict[str, str | int]:
        """As the record stores it and the image entries show it (their ``url`` aside)."""
        return {
            "s3Uri": self.s3_uri,
            "width": self.width,
            "height": self.height,
            "size": self.size,
            "contentType": self.content_type,
        }


@dataclass(frozen=True)
class ImageCopy:
    """One image's archived copy in S3, or why it could not be made. ``url`` is the vendor's URL (the
    image's identity); the URL applications get is derived when a record is shown (``domain/events.py``)."""

    url: str
    s3_uri: str | None = None
    size: int | None = None
    sha256: str | None = None
    content_type: str | None = None
    error: str | None = None
    #: The image's pixel size (copies archived before thumbnails existed have none).
    width: int | None = None
    height: int | None = None
    thumbnail: Thumbnail | None = None
    #: Why no thumbnail was made of an archived image (``<CODE>: <message>``).
    thumbnail_error: str | None = None

    @property
    def archived(self) -> bool:
        return self.s3_uri is not None and self.error is None


@dataclass(frozen=True)
class CoverRecord:
    """The cover record of one music task (``CoversTable``)."""

    music_task_id: str
    status: Status
    cover_task_id: str | None = None
    images: tuple[str, ...] = ()
    images_expire_at: str | None = None
    archived_images: tuple[ImageCopy, ...] = ()
    error: CoverError | None = None
    last_error: CoverError | None = None
    poll_count: int = 0
    execution_arn: str | None = None
    correlation_id: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    created_at: str | None = None
    updated_at: str | None = None
    generated_at: str | None = None
    completed_at: str | None = None
    last_polled_at: str | None = None
    generate_attempts: int = 0
    generate_uncertain: bool = False
    not_found_count: int = 0
    claim_token: str | None = None
    claim_expires_at: int | None = None
    event_published_at: str | None = None
    event_id: str | None = None
    #: Until when (epoch seconds) a finalize holds the right to publish the terminal event.
    event_claimed_until: int | None = None
    #: How many times an operator resumed this record (``covers resume``; ``domain/resume.py``).
    resume_count: int = 0
    #: The credit budget units its generate took (``domain/budget.py``), until given back: a redelivery
    #: does not take them again.
    budget_charged: tuple[str, ...] = ()
    #: The start function's share of its batch's billed time (stored with the cover task id).
    start_lambda: LambdaShare | None = None
    #: What the cover cost (``domain/cost.py``), written by the terminal write; None before it (and on
    #: records written before costs were kept).
    cost: CoverCost | None = None

    @property
    def terminal(self) -> bool:
        return self.status.terminal

    def with_execution(self, execution_arn: str) -> CoverRecord:
        return replace(self, execution_arn=execution_arn)


@dataclass(frozen=True)
class CoverStatus:
    """What the vendor's ``GET /v2/cover/status`` said about a cover task."""

    task_id: str
    status: VendorStatus
    images: tuple[str, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class CheckResult:
    """How the status checks of a cover ended (SUCCESS, FAILED or TIMED_OUT): what the state machine stores
    at ``$.check`` for finalize. ``first_wait``, ``ready_at_first_check`` and ``ready_after`` (seconds from
    generation to ready, as well as the checks can tell) are what the poll schedule learns from."""

    status: CheckStatus
    poll_count: int
    images: tuple[str, ...] = ()
    error: str | None = None
    first_wait: int | None = None
    ready_at_first_check: bool = False
    ready_after: float | None = None
    #: Status calls the last invocation made (for its metric; not part of the state).
    calls: int = 1
    #: For the cover's cost (``domain/cost.py``): the check's retries before this invocation
    #: (``$$.State.RetryCount``), the billed time of every check invocation (this one measured, earlier ones
    #: estimated), and how late the checks saw the cover done (None when they did not).
    retries: int = 0
    lambda_share: LambdaShare | None = None
    detection_delay: float | None = None

    def to_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "status": self.status.value,
            "pollCount": self.poll_count,
            "images": list(self.images),
            "error": self.error,
            "firstWaitSeconds": self.first_wait,
            "readyAtFirstCheck": self.ready_at_first_check,
            "readyAfterSeconds": self.ready_after,
            "retries": self.retries,
            "detectionDelaySeconds": self.detection_delay,
        }
        if self.lambda_share is not None:
            state["lambda"] = self.lambda_share.to_state()
        return state

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> CheckResult | None:
        """The ``check`` result in a workflow state, or None when there is none. An unknown status
        raises ValueError."""
        if not state:
            return None
        images = state.get("images") or []
        ready_after = state.get("readyAfterSeconds")
        first_wait = state.get("firstWaitSeconds")
        retries = state.get("retries")
        delay = state.get("detectionDelaySeconds")
        return cls(
            status=CheckStatus(str(state.get("status"))),
            poll_count=int(state.get("pollCount") or 0),
            images=tuple(u for u in images if isinstance(u, str) and u) if isinstance(images, list) else (),
            error=str(state["error"]) if state.get("error") else None,
            first_wait=int(first_wait) if isinstance(first_wait, int | float) else None,
            ready_at_first_check=state.get("readyAtFirstCheck") is True,
            ready_after=float(ready_after) if isinstance(ready_after, int | float) else None,
            retries=retries if isinstance(retries, int) and retries > 0 else 0,
            lambda_share=LambdaShare.from_state(state.get("lambda")),
            detection_delay=float(delay) if isinstance(delay, int | float) else None,
        )


@dataclass(frozen=True)
class WorkflowInput:
    """The execution input of CoverWorkflow, built only from the stored record so that a retried
    StartExecution sends the same input (and is recognised as the same execution). The request's
    metadata stays on the record (finalize reads it there for the event)."""

    music_task_id: str
    cover_task_id: str
    generated_at: str
    first_wait_seconds: int
    correlation_id: str | None = None
    #: Seconds between status checks after the first (learned with the first wait).
    poll_interval_seconds: int = 5
    #: Whether the check polls inside its invocation, or makes one call and lets the state machine wait.
    poll_in_lambda: bool = True
    #: The start's share of its batch's billed time, as the record stores it (for finalize's cost).
    start_lambda: LambdaShare | None = None

    @classmethod
    def for_record(
        cls,
        record: CoverRecord,
        first_wait_seconds: int,
        poll_interval_seconds: int = 5,
        poll_in_lambda: bool = True,
    ) -> WorkflowInput:
        if not record.cover_task_id or not record.generated_at:
            raise ValueError(f"record of {record.music_task_id} has no cover task yet")
        return cls(
            music_task_id=record.music_task_id,
            cover_task_id=record.cover_task_id,
            generated_at=record.generated_at,
            first_wait_seconds=first_wait_seconds,
            correlation_id=record.correlation_id,
            poll_interval_seconds=poll_interval_seconds,
            poll_in_lambda=poll_in_lambda,
            start_lambda=record.start_lambda,
        )

    def to_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "musicTaskId": self.music_task_id,
            "coverTaskId": self.cover_task_id,
            "generatedAt": self.generated_at,
            "correlationId": self.correlation_id,
            "firstWaitSeconds": self.first_wait_seconds,
            "pollIntervalSeconds": self.poll_interval_seconds,
            "pollInLambda": self.poll_in_lambda,
        }
        if self.start_lambda is not None:  # finalize reads it from the execution's state
            state["startLambda"] = self.start_lambda.to_state()
        return state
