"""The check function's entry point: one status check of a cover task, for the wait/poll loop."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from covers_core.domain.model import CheckResult, CheckStatus, VendorStatus, parse_iso
from covers_core.domain.schedule import PollSchedule
from covers_core.errors import AwsTransientError, BadRequestError

if TYPE_CHECKING:
    from covers_core.adapters.records import CoverStore
    from covers_core.adapters.vendor import VendorClient

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
    def __init__(
        self,
        vendor: VendorClient,
        schedule: PollSchedule,
        store: CoverStore,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.vendor = vendor
        self.schedule = schedule
        self.store = store
        self.clock = clock

    def check(self, state: CheckInput) -> CheckResult:
        """Poll once. Vendor errors propagate as typed exceptions (the state machine retries them)."""
        status = self.vendor.status(state.cover_task_id)
        polls = state.poll_count + 1
        now = self.clock()
        result = CheckResult(
            CheckStatus(status.status.value), polls, images=status.images, error=status.error
        )
        if status.status == VendorStatus.IN_PROGRESS:
            elapsed = (now - state.generated_at).total_seconds()
            wait = self.schedule.next_wait(polls, elapsed)
            if wait is None:
                result = CheckResult(
                    CheckStatus.TIMED_OUT,
                    polls,
                    error=(
                        f"still IN_PROGRESS after {polls} polls and {int(elapsed)}s "
                        f"(deadline {self.schedule.deadline}s, at most {self.schedule.max_polls} polls)"
                    ),
                )
            else:
                result = CheckResult(CheckStatus.IN_PROGRESS, polls, next_poll_seconds=wait)
        try:
            self.store.record_poll(state.music_task_id, polls, now)
        except AwsTransientError:  # progress display only; the outcome does not depend on it
            log.warning("could not record poll count", exc_info=True)
        return result
