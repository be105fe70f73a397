"""CheckCoverStatusFunction: one poll, the schedule, and the typed errors the state machine matches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from covers_core.domain.model import iso
from covers_core.errors import CoverTaskNotFoundError, VendorAuthError, VendorTransientError

from covers_local.emulator import VendorEmulator
from tests.conftest import Aws, invoke, load_event, sqs_event


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
