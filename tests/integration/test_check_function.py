"""CheckCoverStatusFunction as deployed: one check, the not-ready errors that are the poll loop, and the typed
vendor errors the state machine matches (the loop's rules on fakes: tests/unit/test_check_rules.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from covers_core import wiring
from covers_core.domain.model import iso
from covers_core.errors import (
    CoverTaskNotFoundError,
    PollAgainError,
    PollIn5sError,
    VendorAuthError,
    VendorTransientError,
)

from covers_local.emulator import VendorEmulator
from tests.support.harness import Aws, invoke, sqs_event
from tests.support.paths import load_event


def started(aws: Aws, emulator: VendorEmulator, task: str) -> dict:
    invoke("start_cover", sqs_event({"musicTaskId": task}))
    record = aws.record(task)
    return {
        **load_event("check_cover_status.json"),
        "musicTaskId": task,
        "coverTaskId": record.cover_task_id,
        "generatedAt": record.generated_at,
    }


def test_not_ready_raises_the_error_whose_retry_block_calls_it_again_and_writes_nothing(
    aws: Aws, emulator: VendorEmulator
) -> None:
    emulator.config.ready_after = (60.0, 60.0)
    state = started(aws, emulator, "t1")
    before = aws.record("t1")
    with pytest.raises(PollIn5sError, match="IN_PROGRESS after 1 polls"):  # the fixture's budget is 0
        invoke("check_cover_status", state)
    assert aws.record("t1") == before  # the poll count travels in the workflow, not on the record


def test_success_returns_the_images_and_what_the_schedule_learns(aws: Aws, emulator: VendorEmulator) -> None:
    state = started(aws, emulator, "t2")
    result = invoke("check_cover_status", state)
    assert result["status"] == "SUCCESS" and len(result["images"]) == 2
    assert (result["pollCount"], result["readyAtFirstCheck"]) == (1, True)
    assert result["firstWaitSeconds"] == state["firstWaitSeconds"]


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


def test_the_deployed_function_polls_inside_one_invocation_for_its_budget(
    aws: Aws, emulator: VendorEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POLL_INVOCATION_BUDGET_SECONDS", "3")
    wiring.reset()
    emulator.config.ready_after = (60.0, 60.0)
    state = {**started(aws, emulator, "t5"), "pollIntervalSeconds": 1}
    with pytest.raises(PollAgainError) as raised:
        invoke("check_cover_status", state)
    assert raised.value.polls >= 3  # calls at 0, 1, 2 (3) s
