"""The start function's entry point: one SQS batch of cover requests.

For each request: claim, generate (once per music task), record the cover task id, start the workflow.
The decision table (DESIGN.md, error taxonomy, generate column):

* 200: store the cover task id at once, then start the workflow (idempotent by execution name).
* 400 "cover exists": REJECTED, unless an earlier attempt of ours may have spent the credit and lost
  the answer, in which case NEEDS_ATTENTION (an operator must look the cover up with the vendor).
* 401/402: BLOCKED, message kept for retry/redrive; the rest of the batch is parked without vendor calls.
* 404: retried through the queue ``not_found_attempts`` times, then REJECTED.
* transient: the claim is released (marked uncertain when the request may have been processed) and the
  message retried through the queue.

Batch-wide: a bad message goes to the dead-letter queue at once with its reason (if that move fails, it
is reported failed and SQS's redrive policy moves it); no generate call starts that the invocation might
not finish (a call cut off by the Lambda timeout leaves its credit in doubt).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from covers_core import log_context
from covers_core.domain import outcomes
from covers_core.domain.claim import Claim, Settled
from covers_core.domain.model import CoverError, CoverRecord, CoverRequest, Status, WorkflowInput
from covers_core.domain.requests import parse_request
from covers_core.errors import (
    BadRequestError,
    CoverAlreadyExistsError,
    CoverPipelineError,
    ErrorCode,
    MusicTaskNotReadyError,
    RetryLaterError,
    VendorAmbiguousError,
    VendorBlockedError,
    VendorError,
    VendorNotFoundError,
    VendorTransientError,
)

if TYPE_CHECKING:
    from covers_core.adapters.queues import DeadLetters
    from covers_core.adapters.records import CoverStore
    from covers_core.adapters.vendor import VendorClient
    from covers_core.adapters.workflow import WorkflowStarter
    from covers_core.logic.finalize import Finalizer

log = logging.getLogger(__name__)
Action = Literal["started", "resumed", "duplicate", "rejected", "needs_attention"]


@dataclass(frozen=True)
class StartResult:
    music_task_id: str
    action: Action
    status: Status
    cover_task_id: str | None = None
    execution_arn: str | None = None

    @classmethod
    def of(cls, record: CoverRecord, action: Action) -> StartResult:
        return cls(record.music_task_id, action, record.status, record.cover_task_id, record.execution_arn)


class CoverStarter:
    """Starts one request. ``blocked`` (the refusal already seen in this batch) parks it as BLOCKED."""

    def __init__(
        self,
        store: CoverStore,
        vendor: VendorClient,
        workflow: WorkflowStarter,
        finalizer: Finalizer,
        *,
        claim_lease_seconds: int,
        not_found_attempts: int,
        first_wait_seconds: Callable[[], int],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.vendor = vendor
        self.workflow = workflow
        self.finalizer = finalizer
        self.claim_lease_seconds = claim_lease_seconds
        self.not_found_attempts = not_found_attempts
        self.first_wait_seconds = first_wait_seconds
        self.clock = clock

    def start(self, request: CoverRequest, *, blocked: VendorBlockedError | None = None) -> StartResult:
        """Handle one request.

        Raises :class:`RetryLaterError`, :class:`VendorBlockedError` or :class:`VendorTransientError`
        when the message should stay on the queue."""
        claim = self.store.claim(request, self.clock(), self.claim_lease_seconds)
        if isinstance(claim, Settled):
            return self._settled(claim.record)
        if blocked is not None:
            self.store.block(request.music_task_id, claim.token, _error(blocked), self.clock())
            raise type(blocked)(f"not calling the vendor: {blocked.message}")
        return self._generate(request, claim)

    def _generate(self, request: CoverRequest, claim: Claim) -> StartResult:
        task = request.music_task_id
        try:
            cover_task_id = self.vendor.generate(task)
        except CoverAlreadyExistsError as exc:
            outcome = outcomes.cover_exists(exc.message, credit_uncertain=claim.uncertain)
            action: Action = "needs_attention" if outcome.status == Status.NEEDS_ATTENTION else "rejected"
            return StartResult.of(self.finalizer.finish(task, outcome, request=request), action)
        except VendorNotFoundError as exc:
            count = self.store.release(
                task, claim.token, uncertain=False, error=_error(exc), now=self.clock(), count_not_found=True
            )
            if count >= self.not_found_attempts:
                outcome = outcomes.music_task_unknown(exc.message, count)
                return StartResult.of(self.finalizer.finish(task, outcome, request=request), "rejected")
            raise MusicTaskNotReadyError(
                f"{exc.message} (attempt {count} of {self.not_found_attempts}; retrying later)"
            ) from exc
        except VendorBlockedError as exc:
            self.store.block(task, claim.token, _error(exc), self.clock())
            raise
        except VendorTransientError as exc:
            uncertain = isinstance(exc, VendorAmbiguousError)
            self.store.release(task, claim.token, uncertain=uncertain, error=_error(exc), now=self.clock())
            raise
        # Anything else (a bug, a Lambda timeout) leaves the claim to lapse: the next holder treats the
        # credit as possibly spent.
        record = self.store.record_cover_task(task, claim.token, cover_task_id, self.clock())
        return self._start_workflow(record, "started")

    def _settled(self, record: CoverRecord) -> StartResult:
        if record.status == Status.IN_PROGRESS:
            if record.execution_arn:
                return StartResult.of(record, "duplicate")
            # Crashed after storing the cover task id: start (or find) the workflow, no new credit.
            return self._start_workflow(record, "resumed")
        # Terminal: nothing to do, but finish publishing if an earlier run crashed before it.
        self.finalizer.publish_once(record)
        return StartResult.of(record, "duplicate")

    def _start_workflow(self, record: CoverRecord, action: Action) -> StartResult:
        arn = self.workflow.start(WorkflowInput.for_record(record, self.first_wait_seconds()))
        self.store.record_execution(record.music_task_id, arn, self.clock())
        return StartResult.of(record.with_execution(arn), action)


def _error(exc: VendorError) -> CoverError:
    return CoverError.of(exc.code, exc.message)


@dataclass(frozen=True)
class Message:
    message_id: str
    body: str


@dataclass
class BatchSummary:
    """What became of one batch: the messages to retry, and the counts the metrics report."""

    failed: list[str] = field(default_factory=list)
    started: int = 0
    bad_messages: int = 0
    #: CREDITS_EXHAUSTED or VENDOR_AUTH_FAILED when the vendor refused during this batch (one alert).
    blocked: ErrorCode | None = None


class StartBatch:
    """Runs :class:`CoverStarter` over a batch, with the batch-wide rules of the module docstring."""

    def __init__(self, starter: CoverStarter, dead_letters: DeadLetters, *, reserve_seconds: float) -> None:
        self.starter = starter
        self.dead_letters = dead_letters
        self.reserve_seconds = reserve_seconds

    def run(self, messages: Sequence[Message], time_left: Callable[[], float]) -> BatchSummary:
        summary = BatchSummary()
        blocked: VendorBlockedError | None = None
        for message in messages:
            try:
                request = parse_request(message.body)
            except BadRequestError as exc:
                summary.bad_messages += 1
                if not self._reject(message, exc):
                    summary.failed.append(message.message_id)
                continue
            with log_context.task(request.music_task_id, request.correlation_id):
                left = time_left()
                if left < self.reserve_seconds:
                    log.warning(
                        "only %.0fs left in this invocation and a vendor call may take %.0fs: "
                        "leaving the message for a later delivery",
                        left,
                        self.reserve_seconds,
                    )
                    summary.failed.append(message.message_id)
                    continue
                try:
                    result = self.starter.start(request, blocked=blocked)
                except VendorBlockedError as exc:
                    if blocked is None:
                        blocked = exc
                        summary.blocked = exc.code
                        log.error(
                            "vendor refused (%s): %s; parking the rest of this batch as BLOCKED",
                            exc.code,
                            exc.message,
                        )
                    summary.failed.append(message.message_id)
                except (RetryLaterError, VendorTransientError) as exc:
                    log.warning("leaving the message for a later delivery: %s", exc.message)
                    summary.failed.append(message.message_id)
                except CoverPipelineError as exc:
                    log.error("could not start the cover: %s", exc.message)
                    summary.failed.append(message.message_id)
                except Exception:
                    log.exception("unexpected error; the message stays on the queue")
                    summary.failed.append(message.message_id)
                else:
                    summary.started += result.action in ("started", "resumed")
        return summary

    def _reject(self, message: Message, exc: BadRequestError) -> bool:
        """Move a bad message to the DLQ with its reason; False when that failed (SQS then moves it)."""
        log.error(
            "rejected message %s: %s",
            message.message_id,
            exc.message,
            extra={"messageId": message.message_id, "reason": exc.message, "bodyBytes": len(message.body)},
        )
        try:
            self.dead_letters.send(message.body, exc.message, message.message_id)
        except CoverPipelineError as move:
            log.error("could not move message %s to the DLQ: %s", message.message_id, move.message)
            return False
        return True
