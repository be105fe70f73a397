"""The start function's entry point: one SQS batch of cover requests, each started by ``CoverStarter``.

A record's failure is that record's alone (docs/design.md, invariant 4): whatever one message holds or
raises, the batch reports only that message, and nothing a body contains fails the invocation.

* A bad message goes to the dead-letter queue at once with its ``rejectReason`` (if that move fails, it is
  reported failed and SQS's redrive policy moves it).
* The valid ones start in parallel (``concurrency`` workers, one worker per music task); no generate call
  starts that the invocation might not finish (a call cut off by the Lambda timeout leaves its credit in
  doubt): the reserve is checked per request, as its worker takes it up.
* Once the vendor refuses (401/402), requests not yet taken up are parked as BLOCKED without a vendor call.
* A request a credit budget refuses is parked as BUDGET_EXCEEDED and its message deleted (the reconciler
  queues it again from its record): one alarm data point per refusing budget window and batch.
* A message that fails on its last allowed delivery (``max_receives``, the queue's maxReceiveCount) is moved
  to the dead-letter queue by the batch itself, with the reason it failed, instead of silently by SQS.
* A cover task id generate returned but the record could not keep is handed on: an adoption message on the
  requests queue (attribute ``coverTaskId``; the next delivery stores it without calling generate), else
  the dead-letter copy carries it; the id is in the log either way.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from covers_core import log_context
from covers_core.domain.budget import Refused, Window
from covers_core.domain.model import CoverRequest, Status
from covers_core.domain.requests import COVER_TASK_ID_ATTRIBUTE, parse_request
from covers_core.errors import (
    BadRequestError,
    CoverPipelineError,
    CoverTaskIdNotStoredError,
    ErrorCode,
    RetryLaterError,
    VendorBlockedError,
    VendorTransientError,
)
from covers_core.logic.ports import DeadLetterSink, RequestSink
from covers_core.logic.start import CoverStarter, Metering

log = logging.getLogger(__name__)
#: Seconds an adoption message waits before its delivery (time for the store to recover).
ADOPTION_DELAY_SECONDS = 30


@dataclass(frozen=True)
class Message:
    """One SQS message: its id, body, how often it was delivered, and its string message attributes."""

    message_id: str
    body: str
    receive_count: int = 1
    attributes: Mapping[str, str] = field(default_factory=dict)


@dataclass
class BatchSummary:
    """What became of one batch: the messages to retry, and the counts the metrics report."""

    failed: list[str] = field(default_factory=list)
    started: int = 0
    bad_messages: int = 0
    #: CREDITS_EXHAUSTED or VENDOR_AUTH_FAILED when the vendor refused during this batch (one alert).
    blocked: ErrorCode | None = None
    #: Covers this batch ended (REJECTED, NEEDS_ATTENTION), by status: they count towards the outcome
    #: metrics as finalize's do (NeedsAttentionAlarm).
    ended: Counter[Status] = field(default_factory=Counter)
    #: The budget windows (scope, window) that parked a request of this batch (BudgetExceeded).
    budget_exceeded: set[tuple[str, Window]] = field(default_factory=set)


@dataclass(frozen=True)
class _Done:
    started: bool
    ended: Status | None = None  # the terminal status the start itself wrote
    refused: Refused | None = None  # the budget cap that parked it


@dataclass(frozen=True)
class _Retry:
    reason: str


class StartBatch:
    """Runs :class:`CoverStarter` over a batch with the rules of the module docstring.

    The requests of one batch run concurrently on a thread pool of ``concurrency`` workers, created once
    per container (``concurrency=1``: one after the other, in the calling thread). Messages naming the
    same music task run one after the other in one worker (the claim guards across invocations), each
    request in a copy of the caller's context, so log lines keep their own task."""

    def __init__(
        self,
        starter: CoverStarter,
        dead_letters: DeadLetterSink,
        *,
        reserve_seconds: float,
        concurrency: int = 1,
        requests: RequestSink | None = None,
        max_receives: int | None = None,
    ) -> None:
        self.starter = starter
        self.dead_letters = dead_letters
        self.requests = requests
        self.reserve_seconds = reserve_seconds
        self.max_receives = max_receives
        self.concurrency = concurrency
        self._pool = (
            ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="start-cover")
            if concurrency > 1
            else None
        )

    def run(
        self, messages: Sequence[Message], time_left: Callable[[], float], *, memory_mb: int = 0
    ) -> BatchSummary:
        """``memory_mb``: the function's memory size (its context's), for each record's share of the
        invocation's billed time (docs/operations.md, "Cost per cover"); 0: none kept."""
        summary = BatchSummary()
        by_task: dict[str, list[tuple[Message, CoverRequest]]] = {}
        for message in messages:
            try:
                request = parse_request(message.body)
            except BadRequestError as exc:
                reason = exc.message
            except Exception as exc:  # a bug in the parser must not fail the other records
                log.exception("could not read message %s", message.message_id)
                reason = f"the message could not be read ({type(exc).__name__})"
            else:
                by_task.setdefault(request.music_task_id, []).append((message, request))
                continue
            summary.bad_messages += 1
            if not self._reject(message, reason):
                summary.failed.append(message.message_id)
        groups = list(by_task.values())
        workers = 1 if self._pool is None else min(self.concurrency, len(groups))
        requests = sum(len(group) for group in groups)
        metering = Metering(memory_mb, workers, requests) if memory_mb > 0 else None
        state = _BatchState(time_left, metering)
        if self._pool is None or len(groups) < 2:  # nothing to overlap
            results = [contextvars.copy_context().run(self._start_group, group, state) for group in groups]
        else:  # each request in its own copy of this context (log_context.task keeps them apart)
            futures = [
                self._pool.submit(contextvars.copy_context().run, self._start_group, group, state)
                for group in groups
            ]
            results = [future.result() for future in futures]  # _start_group never raises
        for result in results:
            summary.failed.extend(result.failed)
            summary.started += result.started
            summary.ended.update(result.ended)
            summary.budget_exceeded |= result.budget_exceeded
        summary.failed.sort(key={m.message_id: i for i, m in enumerate(messages)}.__getitem__)
        summary.blocked = state.blocked.code if state.blocked else None
        return summary

    def _start_group(self, group: list[tuple[Message, CoverRequest]], state: _BatchState) -> BatchSummary:
        """The messages of one music task, one after the other; never raises."""
        result = BatchSummary()
        for message, request in group:
            with log_context.task(request.music_task_id, request.correlation_id):
                outcome = self._start_one(message, request, state)
                if isinstance(outcome, _Retry) and not self._give_up(message, outcome.reason):
                    result.failed.append(message.message_id)
            if isinstance(outcome, _Done):
                result.started += outcome.started
                if outcome.ended is not None:
                    result.ended[outcome.ended] += 1
                if outcome.refused is not None:
                    result.budget_exceeded.add(outcome.refused.alarm_key)
        return result

    def _start_one(self, message: Message, request: CoverRequest, state: _BatchState) -> _Done | _Retry:
        """Start one request; never raises."""
        adopt = message.attributes.get(COVER_TASK_ID_ATTRIBUTE)
        left = state.time_left()
        if left < self.reserve_seconds and not adopt:
            log.warning(
                "only %.0fs left in this invocation and a vendor call may take %.0fs: "
                "leaving the message for a later delivery",
                left,
                self.reserve_seconds,
            )
            return _Retry(f"the invocation ran out of time ({left:.0f}s left)")
        try:
            if adopt:
                result = self.starter.adopt(request, adopt)
            else:
                result = self.starter.start(request, blocked=state.blocked, metering=state.metering)
        except CoverTaskIdNotStoredError as exc:
            return self._hand_on(message, request, exc)
        except VendorBlockedError as exc:
            state.refused(exc)
            return _Retry(f"{exc.code}: {exc.message}")
        except (RetryLaterError, VendorTransientError) as exc:
            log.warning("leaving the message for a later delivery: %s", exc.message)
            return _Retry(f"{exc.code}: {exc.message}")
        except CoverPipelineError as exc:
            log.error("could not start the cover: %s", exc.message)
            return _Retry(f"{exc.code}: {exc.message}")
        except Exception as exc:
            log.exception("unexpected error; the message stays on the queue")
            return _Retry(f"unexpected error: {type(exc).__name__}: {str(exc)[:300]}")
        ended = result.status if result.action in ("rejected", "needs_attention") else None
        return _Done(result.action in ("started", "resumed"), ended, result.refused)

    def _hand_on(
        self, message: Message, request: CoverRequest, exc: CoverTaskIdNotStoredError
    ) -> _Done | _Retry:
        """The record could not keep the cover task id: pass it on so nothing paid for is lost."""
        cover_task_id = exc.cover_task_id
        log.error("%s; handing the cover task id on", exc.message, extra={"coverTaskId": cover_task_id})
        if self.requests is not None:
            try:
                self.requests.send(request, cover_task_id=cover_task_id, delay_seconds=ADOPTION_DELAY_SECONDS)
            except CoverPipelineError as failed:
                log.error("could not queue the adoption of cover task %s: %s", cover_task_id, failed.message)
            else:
                return _Done(started=True)
        try:
            self.dead_letters.send(
                message.body, exc.message, message.message_id, cover_task_id=cover_task_id, retryable=True
            )
        except CoverPipelineError as failed:
            log.error(
                "could not keep cover task %s anywhere (%s): adopt it with `covers resume --cover-task-id`",
                cover_task_id,
                failed.message,
                extra={"coverTaskId": cover_task_id},
            )
            return _Retry(exc.message)
        return _Done(started=True)

    def _give_up(self, message: Message, reason: str) -> bool:
        """On its last allowed delivery, move a failing message to the DLQ with its reason."""
        if self.max_receives is None or message.receive_count < self.max_receives:
            return False
        try:
            reason = f"gave up after {message.receive_count} deliveries: {reason}"
            self.dead_letters.send(message.body, reason, message.message_id, retryable=True)
        except CoverPipelineError as failed:
            log.error("could not move message %s to the DLQ: %s", message.message_id, failed.message)
            return False
        log.error(
            "gave up on message %s after %d deliveries: %s", message.message_id, message.receive_count, reason
        )
        return True

    def _reject(self, message: Message, reason: str) -> bool:
        """Move a bad message to the DLQ with its reason; False when that failed (SQS then moves it)."""
        log.error(
            "rejected message %s: %s",
            message.message_id,
            reason,
            extra={"messageId": message.message_id, "reason": reason, "bodyBytes": len(message.body)},
        )
        try:
            self.dead_letters.send(message.body, reason, message.message_id)
        except CoverPipelineError as move:
            log.error("could not move message %s to the DLQ: %s", message.message_id, move.message)
            return False
        return True


class _BatchState:
    """What the workers of one batch share: the time left, and the vendor's first refusal."""

    def __init__(self, time_left: Callable[[], float], metering: Metering | None = None) -> None:
        self.time_left = time_left
        self.metering = metering
        self.blocked: VendorBlockedError | None = None
        self._lock = threading.Lock()

    def refused(self, exc: VendorBlockedError) -> None:
        with self._lock:
            if self.blocked is not None:
                return
            self.blocked = exc
        log.error("vendor refused (%s): %s; parking the rest of this batch as BLOCKED", exc.code, exc.message)
