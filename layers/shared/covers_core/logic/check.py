"""The check function's entry point: one status check of a cover task, for the wait/poll loop."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from covers_core.domain.model import CheckResult, CheckStatus, CoverStatus, VendorStatus, parse_iso
from covers_core.domain.schedule import ONE_CALL, InvocationPolling, PollSchedule
from covers_core.errors import AwsTransientError, BadRequestError, VendorTransientError
from covers_core.logic.ports import RecordStore, Vendor

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckInput:
    """The workflow state a check reads: the execution input plus ``check`` from the previous poll."""

    music_task_id: str
    cover_task_id: str
    generated_at: datetime
    poll_count: int
    correlation_id: str | None = None

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> CheckInput:
        try:
            previous = state.get("check") or {}
            return cls(
                music_task_id=str(state["musicTaskId"]),
                cover_task_id=str(state["coverTaskId"]),
                generated_at=parse_iso(str(state["generatedAt"])),
                poll_count=int(previous.get("pollCount", state.get("pollCount", 0))),
                correlation_id=state.get("correlationId"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BadRequestError(f"workflow state lacks a valid {exc}") from exc


class CoverChecker:
    """Polls the vendor for one cover task: every ``polling.interval`` seconds inside one invocation for
    at most ``polling.budget`` seconds, then hands the wait back to the workflow (IN_PROGRESS)."""

    def __init__(
        self,
        vendor: Vendor,
        schedule: PollSchedule,
        store: RecordStore,
        *,
        polling: InvocationPolling = ONE_CALL,
        call_seconds: float = 0.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.vendor = vendor
        self.schedule = schedule
        self.store = store
        self.polling = polling
        self.call_seconds = call_seconds  # the longest one status call may take (kept free at the end)
        self.clock = clock
        self.sleep = sleep

    def check(self, state: CheckInput, *, time_left: Callable[[], float] | None = None) -> CheckResult:
        """Poll until the vendor answers SUCCESS/FAILED, the deadline passes, or the invocation's budget
        (or ``time_left``, the function's remaining seconds, minus one more call) runs out.

        Vendor errors propagate as typed exceptions (the state machine retries them), with one exception:
        a transient error (VendorTransientError, incl. ambiguous) after this invocation already had an
        answer returns IN_PROGRESS with the polls counted so far, so the workflow's Wait (not a Retry
        attempt) spaces the next call and the answered polls are not lost from the count. Blocked (401/402)
        and not-found errors always raise: their own Retry policies apply."""
        started = self.clock()
        polls = state.poll_count
        while True:
            try:
                status = self.vendor.status(state.cover_task_id)
            except VendorTransientError:
                if polls == state.poll_count:
                    raise
                log.warning("transient vendor error mid-invocation; waiting in the workflow", exc_info=True)
                wait = self.schedule.next_wait(polls, (self.clock() - state.generated_at).total_seconds())
                result = CheckResult(CheckStatus.IN_PROGRESS, polls, next_poll_seconds=wait or 1)
                break
            polls += 1
            now = self.clock()
            elapsed = (now - state.generated_at).total_seconds()
            result = self._result(status, polls, elapsed)
            if result.status != CheckStatus.IN_PROGRESS or not self._may_poll_again(started, now, time_left):
                break
            self.sleep(min(self.polling.interval, max(1.0, self.schedule.deadline - elapsed)))
        self._record(state.music_task_id, polls)
        return result

    def _result(self, status: CoverStatus, polls: int, elapsed: float) -> CheckResult:
        if status.status != VendorStatus.IN_PROGRESS:
            outcome = CheckStatus(status.status.value)
            return CheckResult(outcome, polls, images=status.images, error=status.error)
        wait = self.schedule.next_wait(polls, elapsed)
        if wait is None:
            return CheckResult(
                CheckStatus.TIMED_OUT,
                polls,
                error=(
                    f"still IN_PROGRESS after {polls} polls and {int(elapsed)}s "
                    f"(deadline {self.schedule.deadline}s, at most {self.schedule.max_polls} polls)"
                ),
            )
        return CheckResult(CheckStatus.IN_PROGRESS, polls, next_poll_seconds=wait)

    def _may_poll_again(
        self, started: datetime, now: datetime, time_left: Callable[[], float] | None
    ) -> bool:
        if not self.polling.may_poll_again((now - started).total_seconds()):
            return False
        return time_left is None or time_left() > self.polling.interval + self.call_seconds

    def _record(self, music_task_id: str, polls: int) -> None:
        try:
            self.store.record_poll(music_task_id, polls, self.clock())
        except AwsTransientError:  # progress display only; the outcome does not depend on it
            log.warning("could not record poll count", exc_info=True)
