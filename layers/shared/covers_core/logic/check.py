"""The check function's entry point: the status checks of a cover task, for the state machine's poll loop.

A cover planned ``in_lambda`` is polled inside the invocation every ``poll_interval`` seconds for at most
``polling.budget`` seconds (up to ``LAMBDA_ROUNDS`` invocations); otherwise one call is made. Then:

* a :class:`CheckResult` when the cover is done (SUCCESS, FAILED) or the deadline has passed (TIMED_OUT):
  the state machine goes on to finalize;
* a :class:`CoverNotReadyError` when it is not: the state machine's Retry block for that error calls the
  check again after the error's cadence (docs/design.md, "The poll loop"): ``PollAgainError`` (2 s) after a
  whole budget of in-Lambda polls; else the workflow cadence nearest the plan's interval (from 5 s, for a
  cover polled one call at a time, up to 120 s), or one that grows with the cover's age once its in-Lambda
  rounds are spent. A 429 answer waits out its ``Retry-After`` (at least 15 s) the same way, spending none
  of the workflow's retries for vendor errors.

Nothing is written here: the poll count travels in the state machine's data and finalize records it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from covers_core.domain.cost import LambdaShare, billed_ms
from covers_core.domain.model import CheckResult, CheckStatus, CoverStatus, VendorStatus, parse_iso
from covers_core.domain.schedule import LAMBDA_ROUNDS, ONE_CALL, InvocationPolling, tail_interval
from covers_core.errors import (
    BadRequestError,
    CoverNotReadyError,
    PollAgainError,
    VendorTransientError,
    wait_at_least,
    wait_in_workflow,
)
from covers_core.logic.ports import Vendor

log = logging.getLogger(__name__)
#: The shortest wait after a 429 without a ``Retry-After``.
RATE_LIMITED_WAIT_SECONDS = 15


@dataclass(frozen=True)
class CheckInput:
    """What the state machine passes the check: the execution input and how often it retried it."""

    music_task_id: str
    cover_task_id: str
    generated_at: datetime
    first_wait: int = 0
    poll_interval: int = 5
    #: The plan's choice: poll inside the invocation (True) or one call per invocation.
    in_lambda: bool = True
    #: The state machine's retries of this check so far (``$$.State.RetryCount``, whatever the error that
    #: was retried: a not-ready cadence, a throttle, a vendor error): 0 = the first check.
    attempt: int = 0
    correlation_id: str | None = None

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> CheckInput:
        try:
            return cls(
                music_task_id=str(state["musicTaskId"]),
                cover_task_id=str(state["coverTaskId"]),
                generated_at=parse_iso(str(state["generatedAt"])),
                first_wait=int(state.get("firstWaitSeconds") or 0),
                poll_interval=max(1, int(state.get("pollIntervalSeconds") or 5)),
                in_lambda=state.get("pollInLambda") is not False,
                attempt=int(state.get("attempt") or 0),
                correlation_id=state.get("correlationId"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BadRequestError(f"workflow state lacks a valid {exc}") from exc


class CoverChecker:
    """Polls the vendor for one cover task (see the module docstring)."""

    def __init__(
        self,
        vendor: Vendor,
        *,
        deadline: int,
        max_polls: int,
        polling: InvocationPolling = ONE_CALL,
        call_seconds: float = 0.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.vendor = vendor
        self.deadline = deadline
        self.max_polls = max_polls
        self.polling = polling
        self.call_seconds = call_seconds  # the longest one status call may take (kept free at the end)
        self.clock = clock
        self.sleep = sleep

    def check(
        self, state: CheckInput, *, time_left: Callable[[], float] | None = None, memory_mb: int = 0
    ) -> CheckResult:
        """Poll until done, the deadline, or the invocation's budget (then raise the not-ready error).
        ``memory_mb``: the function's memory size (its context's), for the cover's cost."""
        started, slept = self.clock(), [0.0]
        result = self._check(state, time_left, started, slept)
        share = self._share(state, result, memory_mb, (self.clock() - started).total_seconds(), slept[0])
        return replace(result, retries=state.attempt, lambda_share=share)

    def _check(
        self,
        state: CheckInput,
        time_left: Callable[[], float] | None,
        started: datetime,
        slept: list[float],
    ) -> CheckResult:
        in_invocation = self._in_invocation(state)
        before = polls = self._polls_before(state, started)
        last_in_progress: float | None = None
        while True:
            elapsed = (self.clock() - state.generated_at).total_seconds()
            try:
                status = self.vendor.status(state.cover_task_id)
            except VendorTransientError as exc:
                if exc.http_status == 429:  # slow down without spending the transient retries
                    message = f"vendor rate limit (429): checking again later ({exc.message})"
                    wait = wait_at_least(max(exc.retry_after or 0.0, RATE_LIMITED_WAIT_SECONDS))
                    raise wait(message, polls=polls, calls=polls - before + 1) from exc
                if polls == before:
                    raise  # the state machine's Retry for vendor errors (backoff, jitter)
                log.warning("transient vendor error mid-invocation; checking again at once", exc_info=True)
                message = f"vendor error after {polls} polls: {exc.message}"
                raise PollAgainError(message, polls=polls, calls=polls - before + 1) from exc
            polls += 1
            elapsed = (self.clock() - state.generated_at).total_seconds()
            if status.status != VendorStatus.IN_PROGRESS:
                return replace(
                    self._done(state, status, polls, last_in_progress, elapsed), calls=polls - before
                )
            if elapsed >= self.deadline or polls >= self.max_polls:
                return CheckResult(
                    CheckStatus.TIMED_OUT,
                    polls,
                    error=(
                        f"still IN_PROGRESS after {polls} polls and {int(elapsed)}s "
                        f"(deadline {self.deadline}s, at most {self.max_polls} polls)"
                    ),
                    first_wait=state.first_wait,
                    calls=polls - before,
                )
            last_in_progress = elapsed
            if not (in_invocation and self._may_poll_again(started, state.poll_interval, time_left)):
                raise self._not_ready(state, in_invocation, polls, polls - before, elapsed)
            pause = min(state.poll_interval, max(1.0, self.deadline - elapsed))
            slept[0] += pause
            self.sleep(pause)

    @staticmethod
    def _share(
        state: CheckInput, result: CheckResult, memory_mb: int, seconds: float, slept: float
    ) -> LambdaShare:
        """The billed time of every check invocation of the cover (docs/operations.md, "Cost per cover"):
        this one measured; each earlier one estimated from the plan as ``_polls_before`` counts its calls,
        each call taking what a call took in this one, with one interval's sleep between the calls of an
        invocation that polled several times."""
        calls = max(1, result.calls)
        per_call = max(0.0, seconds - slept) / calls
        earlier = result.poll_count - result.calls  # the estimated calls of the earlier invocations
        sleeps = max(0, earlier - state.attempt) * state.poll_interval if state.in_lambda else 0
        total = seconds + max(0, earlier) * per_call + sleeps
        return LambdaShare(billed_ms(total), memory_mb, float(state.attempt + 1))

    def _in_invocation(self, state: CheckInput) -> bool:
        return self.polling.budget > 0 and state.in_lambda and state.attempt < LAMBDA_ROUNDS

    def _polls_before(self, state: CheckInput, now: datetime) -> int:
        """Status calls of the earlier attempts, estimated: each made its whole budget's worth in the mode
        the plan gives, and no more than the time since the first check allows (a retry after a throttle
        or a vendor error made fewer: pollCount may then count a few too many)."""
        if state.attempt == 0:
            return 0
        per_attempt = 1 + self.polling.budget // state.poll_interval if state.in_lambda else 1
        by_attempts = sum(per_attempt if a < LAMBDA_ROUNDS else 1 for a in range(state.attempt))
        spacing = state.poll_interval if state.in_lambda else wait_in_workflow(state.poll_interval).cadence
        since_first = (now - state.generated_at).total_seconds() - state.first_wait
        by_time = 1 + int(max(since_first, 0.0) // spacing)
        return max(1, min(by_attempts, by_time))

    def _done(
        self,
        state: CheckInput,
        status: CoverStatus,
        polls: int,
        last_in_progress: float | None,
        elapsed: float,
    ) -> CheckResult:
        first = state.attempt == 0 and last_in_progress is None
        # Ready between the last IN_PROGRESS answer (or the interval before this one) and this answer.
        since = last_in_progress if last_in_progress is not None else max(elapsed - state.poll_interval, 0.0)
        return CheckResult(
            CheckStatus(status.status.value),
            polls,
            images=status.images,
            error=status.error,
            first_wait=state.first_wait,
            ready_at_first_check=first,
            ready_after=state.first_wait if first else (since + elapsed) / 2,
            # Seen done this long after the midpoint estimate of when it was (0: at the first check).
            detection_delay=0.0 if first else (elapsed - since) / 2,
        )

    def _not_ready(
        self, state: CheckInput, in_invocation: bool, polls: int, calls: int, elapsed: float
    ) -> CoverNotReadyError:
        message = f"IN_PROGRESS after {polls} polls and {int(elapsed)}s"
        if in_invocation:
            return PollAgainError(message, polls=polls, calls=calls)
        interval: float = state.poll_interval
        if state.in_lambda and self.polling.budget > 0:  # its in-Lambda rounds are spent: far slower
            interval = tail_interval(elapsed)
        return wait_in_workflow(interval)(message, polls=polls, calls=calls)

    def _may_poll_again(
        self, started: datetime, interval: int, time_left: Callable[[], float] | None
    ) -> bool:
        spent = (self.clock() - started).total_seconds()
        if spent + interval > self.polling.budget:
            return False
        return time_left is None or time_left() > interval + self.call_seconds
