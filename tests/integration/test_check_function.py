"""CheckCoverStatusFunction: one poll, the schedule, and the typed errors the state machine matches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from covers_core import wiring
from covers_core.adapters.vendor import CoverStatus
from covers_core.domain.model import VendorStatus, iso
from covers_core.domain.schedule import InvocationPolling, PollSchedule
from covers_core.errors import CoverTaskNotFoundError, VendorAuthError, VendorTransientError
from covers_core.logic.check import CheckInput, CoverChecker

from bench.schedule import EPOCH, VirtualClock
from covers_local.emulator import VendorEmulator
from tests.support.harness import Aws, invoke, sqs_event
from tests.support.paths import load_event


def started(aws: Aws, emulator: VendorEmulator, task: str) -> dict:
    invoke("start_cover", sqs_event({"musicTaskId": task}))
    record = aws.record(task)
    return {
        **load_event("check_cover_status.json"),
        "musicTaskId": task,
        "coverTaskId": record["coverTaskId"],
        "generatedAt": record["generatedAt"],
    }


def test_in_progress_asks_for_another_wait_and_counts_polls(aws: Aws, emulator: VendorEmulator) -> None:
    emulator.config.ready_after = (60.0, 60.0)
    state = started(aws, emulator, "t1")
    first = invoke("check_cover_status", state)
    assert (first["status"], first["pollCount"], first["nextPollSeconds"]) == ("IN_PROGRESS", 1, 1)
    second = invoke("check_cover_status", {**state, "check": first})
    assert second["pollCount"] == 2
    assert aws.record("t1")["pollCount"] == 2  # progress visible on the record


def test_success_returns_the_images(aws: Aws, emulator: VendorEmulator) -> None:
    state = started(aws, emulator, "t2")
    result = invoke("check_cover_status", state)
    assert result["status"] == "SUCCESS"
    assert len(result["images"]) == 2


def test_past_the_deadline_a_running_cover_times_out(aws: Aws, emulator: VendorEmulator) -> None:
    emulator.config.ready_after = (60.0, 60.0)
    state = started(aws, emulator, "t3")
    state["generatedAt"] = iso(datetime.now(UTC) - timedelta(seconds=31))  # POLL_MAX_WAIT_SECONDS is 30
    result = invoke("check_cover_status", state)
    assert result["status"] == "TIMED_OUT"
    assert "deadline 30s" in result["error"]


def test_vendor_errors_are_raised_under_the_names_the_state_machine_retries(
    aws: Aws, emulator: VendorEmulator
) -> None:
    state = started(aws, emulator, "t4")
    emulator.inject("http_503_html", endpoint="status")
    with pytest.raises(VendorTransientError):
        invoke("check_cover_status", state)
    with pytest.raises(CoverTaskNotFoundError):  # the exact name the ASL retries
        invoke("check_cover_status", {**state, "coverTaskId": "cover-unknown"})
    aws.put_secret(aws.api_key_secret_arn, "revoked")
    with pytest.raises(VendorAuthError):
        invoke("check_cover_status", state)


# --- polling inside one invocation (virtual time: a fake clock the fake sleep advances) ------------------


class FakeVendor:
    """Answers IN_PROGRESS until ``ready_at`` (virtual seconds), then SUCCESS; ``errors`` maps a call number
    (1-based) to the exception that call raises."""

    def __init__(self, clock: VirtualClock, ready_at: float, errors: dict[int, Exception] | None = None):
        self.clock, self.ready_at, self.errors, self.calls = clock, ready_at, errors or {}, 0

    def status(self, cover_task_id: str) -> CoverStatus:
        self.calls += 1
        if self.calls in self.errors:
            raise self.errors[self.calls]
        if self.clock.seconds >= self.ready_at:
            return CoverStatus(cover_task_id, VendorStatus.SUCCESS, images=("https://img/1.png",))
        return CoverStatus(cover_task_id, VendorStatus.IN_PROGRESS)


class PollLog:
    def __init__(self) -> None:
        self.polls: list[int] = []

    def record_poll(self, music_task_id: str, poll_count: int, now: datetime) -> None:
        self.polls.append(poll_count)


SCHEDULE = PollSchedule(interval=2, deadline=120, backoff=1.0, max_interval=60, max_polls=500)


def checker(vendor: FakeVendor, clock: VirtualClock, store: PollLog, budget: int = 30) -> CoverChecker:
    polling = InvocationPolling(budget=budget, interval=3)
    return CoverChecker(vendor, SCHEDULE, store, polling=polling, clock=clock.now, sleep=clock.sleep)  # type: ignore[arg-type]


def state(poll_count: int = 0) -> CheckInput:
    return CheckInput("m1", "c1", EPOCH, poll_count)


def test_one_invocation_polls_until_the_cover_is_ready() -> None:
    clock, store = VirtualClock(), PollLog()
    vendor = FakeVendor(clock, ready_at=10)
    result = checker(vendor, clock, store).check(state())
    # calls at 0, 3, 6, 9 (IN_PROGRESS), 12 (SUCCESS): detected 2 s after ready, one invocation
    assert (result.status, result.poll_count, vendor.calls, clock.seconds) == ("SUCCESS", 5, 5, 12)
    assert store.polls == [5]  # the record's count is every answered call


def test_the_budget_hands_the_wait_back_to_the_workflow() -> None:
    clock, store = VirtualClock(), PollLog()
    vendor = FakeVendor(clock, ready_at=1000)
    result = checker(vendor, clock, store, budget=9).check(state(poll_count=4))
    assert (result.status, result.poll_count, result.next_poll_seconds) == ("IN_PROGRESS", 8, 2)
    assert clock.seconds == 9  # calls at 0, 3, 6, 9: never sleeps past the budget


def test_the_functions_remaining_time_stops_the_loop_early() -> None:
    clock, store = VirtualClock(), PollLog()
    vendor = FakeVendor(clock, ready_at=1000)
    c = checker(vendor, clock, store)
    # 20 s left at the start; a call starts only if the 3 s sleep and the call (0 s here) fit
    result = c.check(state(), time_left=lambda: 20 - clock.seconds)
    assert result.status == "IN_PROGRESS"
    assert vendor.calls == 7 and clock.seconds == 18  # calls at 0, 3, ..., 18


def test_the_deadline_inside_the_loop_times_out() -> None:
    clock, store = VirtualClock(), PollLog()
    clock.seconds = 110
    vendor = FakeVendor(clock, ready_at=1000)
    result = checker(vendor, clock, store).check(state())
    assert result.status == "TIMED_OUT" and clock.seconds == 120  # the last call right at the deadline


def test_a_transient_error_mid_loop_returns_the_polls_so_far_for_the_workflow_to_wait() -> None:
    clock, store = VirtualClock(), PollLog()
    vendor = FakeVendor(clock, ready_at=1000, errors={3: VendorTransientError("503", http_status=503)})
    result = checker(vendor, clock, store).check(state(poll_count=1))
    assert (result.status, result.poll_count, result.next_poll_seconds) == ("IN_PROGRESS", 3, 2)
    assert store.polls == [3]


def test_a_first_transient_error_and_blocking_errors_still_raise_for_the_state_machine() -> None:
    clock, store = VirtualClock(), PollLog()
    vendor = FakeVendor(clock, ready_at=1000, errors={1: VendorTransientError("503", http_status=503)})
    with pytest.raises(VendorTransientError):
        checker(vendor, clock, store).check(state())
    vendor = FakeVendor(clock, ready_at=1000, errors={2: VendorAuthError("401", http_status=401)})
    with pytest.raises(VendorAuthError):  # 401 mid-loop: its own long Retry applies
        checker(vendor, clock, store).check(state())
    assert store.polls == []  # a raised check records nothing (as before)


def test_the_deployed_function_polls_inside_one_invocation(
    aws: Aws, emulator: VendorEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POLL_INVOCATION_BUDGET_SECONDS", "3")
    monkeypatch.setenv("POLL_INVOCATION_INTERVAL_SECONDS", "1")
    wiring.reset()
    emulator.config.ready_after = (60.0, 60.0)
    result = invoke("check_cover_status", started(aws, emulator, "t5"))
    assert result["status"] == "IN_PROGRESS" and result["pollCount"] >= 3  # calls at 0, 1, 2 (3) s
    assert aws.record("t5")["pollCount"] == result["pollCount"]
