"""One status check of a cover task, for the state machine's CheckCoverStatus step."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from covers_core.errors import AwsTransientError, BadRequestError
from covers_core.records import CoverStore, parse_iso
from covers_core.schedule import PollSchedule
from covers_core.vendor import IN_PROGRESS, VendorClient

log = logging.getLogger(__name__)
TIMED_OUT = "TIMED_OUT"


@dataclass(frozen=True)
class CheckInput:
    music_task_id: str
    cover_task_id: str
    generated_at: datetime
    poll_count: int

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> CheckInput:
        """Read the workflow state: the execution input plus ``check`` from the previous poll."""
        try:
            previous = state.get("check") or {}
            return cls(
                music_task_id=str(state["musicTaskId"]),
                cover_task_id=str(state["coverTaskId"]),
                generated_at=parse_iso(str(state["generatedAt"])),
                poll_count=int(previous.get("pollCount", state.get("pollCount", 0))),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BadRequestError(f"workflow state lacks a valid {exc}") from exc


class CoverChecker:
    def __init__(
        self,
        vendor: VendorClient,
        schedule: PollSchedule,
        store: CoverStore | None = None,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.vendor = vendor
        self.schedule = schedule
        self.store = store
        self.clock = clock

    def check(self, state: CheckInput) -> dict[str, Any]:
        """Poll once. Returns ``{"status", "pollCount", "nextPollSeconds", "images", "error"}``, where status
        is IN_PROGRESS, SUCCESS, FAILED or TIMED_OUT. Vendor errors propagate as typed exceptions."""
        status = self.vendor.status(state.cover_task_id)
        polls = state.poll_count + 1
        now = self.clock()
        result: dict[str, Any] = {
            "status": status.status,
            "pollCount": polls,
            "nextPollSeconds": None,
            "images": list(status.images),
            "error": status.error,
            "vendorCreatedAt": status.created_at,
        }
        if status.status == IN_PROGRESS:
            elapsed = (now - state.generated_at).total_seconds()
            wait = self.schedule.next_wait(polls, elapsed)
            if wait is None:
                result.update(
                    status=TIMED_OUT,
                    error=(
                        f"still IN_PROGRESS after {polls} polls and {int(elapsed)}s "
                        f"(deadline {self.schedule.deadline}s, at most {self.schedule.max_polls} polls)"
                    ),
                )
            else:
                result["nextPollSeconds"] = wait
        if self.store is not None:
            try:
                self.store.record_poll(state.music_task_id, polls, now)
            except AwsTransientError:  # progress display only; the outcome does not depend on it
                log.warning("could not record poll count", exc_info=True)
        return result
