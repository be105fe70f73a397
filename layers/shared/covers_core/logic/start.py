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
is reported failed and SQS's redrive policy moves it); the valid ones start in parallel (``concurrency``
workers); no generate call starts that the invocation might not finish (a call cut off by the Lambda
timeout leaves its credit in doubt): the reserve is checked per request, as its worker takes it up.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

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
from covers_core.logic.finalize import Finalizer
from covers_core.logic.ports import DeadLetterSink, RecordStore, Vendor, WorkflowEngine

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
        store: RecordStore,
        vendor: Vendor,
        workflow: WorkflowEngine,
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
    """Runs :class:`CoverStarter` over a batch, with the batch-wide rules of the module docstring.

    The requests of one batch run concurrently on a thread pool of ``concurrency`` workers, created once
    per container (``concurrency=1``: one after the other, in the calling thread). Messages naming the
    same music task run one after the other in one worker (the claim guards across invocations), each
    request in a copy of the caller's context, so log lines keep their own task. The time reserve is
    checked per request as its worker takes it up; once the vendor refuses (401/402), requests not yet
    taken up are parked as BLOCKED without a vendor call (those already in flight finish)."""

    def __init__(
        self,
        starter: CoverStarter,
        dead_letters: DeadLetterSink,
        *,
        reserve_seconds: float,
        concurrency: int = 1,
    ) -> None:
        self.starter = starter
        self.dead_letters = dead_letters
        self.reserve_seconds = reserve_seconds
        self._pool = (
            ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="start-cover")
            if concurrency > 1
            else None
        )

    def run(self, messages: Sequence[Message], time_left: Callable[[], float]) -> BatchSummary:
        summary = BatchSummary()
        by_task: dict[str, list[tuple[Message, CoverRequest]]] = {}
        for message in messages:
            try:
                request = parse_request(message.body)
            except BadRequestError as exc:
                summary.bad_messages += 1
                if not self._reject(message, exc):
                    summary.failed.append(message.message_id)
                continue
            by_task.setdefault(request.music_task_id, []).append((message, request))
        state = _BatchState(time_left)
        groups = list(by_task.values())
        if self._pool is None or len(groups) < 2:  # nothing to overlap
            outcomes = [contextvars.copy_context().run(self._start_group, group, state) for group in groups]
        else:  # each request in its own copy of this context (log_context.task keeps them apart)
            futures = [
                self._pool.submit(contextvars.copy_context().run, self._start_group, group, state)
                for group in groups
            ]
            outcomes = [future.result() for future in futures]  # _start_group never raises
        for outcome in outcomes:
            summary.failed.extend(outcome.failed)
            summary.started += outcome.started
        summary.failed.sort(key={m.message_id: i for i, m in enumerate(messages)}.__getitem__)
        summary.blocked = state.blocked.code if state.blocked else None
        return summary

    def _start_group(self, group: list[tuple[Message, CoverRequest]], state: _BatchState) -> BatchSummary:
        """The messages of one music task, one after the other; never raises."""
        outcome = BatchSummary()
        for message, request in group:
            with log_context.task(request.music_task_id, request.correlation_id):
                started = self._start_one(request, state)
            if started is None:
                outcome.failed.append(message.message_id)
            else:
                outcome.started += started
        return outcome

    def _start_one(self, request: CoverRequest, state: _BatchState) -> bool | None:
        """Start one request: whether it started a cover, or None when its message stays on the queue.
        Never raises."""
        left = state.time_left()
        if left < self.reserve_seconds:
            log.warning(
                "only %.0fs left in this invocation and a vendor call may take %.0fs: "
                "leaving the message for a later delivery",
                left,
                self.reserve_seconds,
            )
            return None
        try:
            result = self.starter.start(request, blocked=state.blocked)
        except VendorBlockedError as exc:
            state.refused(exc)
            return None
        except (RetryLaterError, VendorTransientError) as exc:
            log.warning("leaving the message for a later delivery: %s", exc.message)
            return None
        except CoverPipelineError as exc:
            log.error("could not start the cover: %s", exc.message)
            return None
        except Exception:
            log.exception("unexpected error; the message stays on the queue")
            return None
        return result.action in ("started", "resumed")

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


class _BatchState:
    """What the workers of one batch share: the time left, and the vendor's first refusal."""

    def __init__(self, time_left: Callable[[], float]) -> None:
        self.time_left = time_left
        self.blocked: VendorBlockedError | None = None
        self._lock = threading.Lock()

    def refused(self, exc: VendorBlockedError) -> None:
        with self._lock:
            if self.blocked is not None:
                return
            self.blocked = exc
        log.error("vendor refused (%s): %s; parking the rest of this batch as BLOCKED", exc.code, exc.message)
