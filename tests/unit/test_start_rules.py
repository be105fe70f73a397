"""The start function's rules (claim, generate once, record, start the workflow) on in-memory fakes.

The same rules run against the moto stack in tests/integration/test_start_function.py and
test_credit_safety.py; here they run in milliseconds."""

from __future__ import annotations

import json

import pytest
from covers_core.domain.model import Status
from covers_core.errors import (
    MusicTaskNotFoundError,
    VendorAmbiguousError,
    VendorCreditsExhaustedError,
    VendorTransientError,
)

from covers_local.fakes import Killed
from tests.support.world import CLAIM_LEASE_SECONDS, NOT_FOUND_ATTEMPTS, World


def body(task: str, **extra: object) -> str:
    return json.dumps({"musicTaskId": task, **extra})


def test_a_request_is_generated_once_recorded_and_its_workflow_started() -> None:
    world = World()
    assert world.deliver(body("t1", correlationId="c-1")) == []
    record = world.record("t1")
    assert (record.status, record.cover_task_id, record.correlation_id) == (
        Status.IN_PROGRESS,
        "cover000001",
        "c-1",
    )
    assert record.execution_arn == world.workflows.arn("t1")
    assert world.vendor.credits == 1
    assert world.execution_input("t1").first_wait_seconds == 20


def test_redeliveries_and_duplicates_in_one_batch_spend_one_credit() -> None:
    world = World()
    assert world.deliver(body("t1"), body("t1"), body("t1")) == []
    assert world.deliver(body("t1")) == []
    assert world.vendor.credits == 1 and len(world.workflows.executions) == 1


def test_a_bad_message_goes_to_the_dead_letter_queue_and_the_rest_of_the_batch_starts() -> None:
    world = World()
    assert world.deliver("not json", body("t1"), json.dumps({"taskId": 7})) == []
    assert [letter.message_id for letter in world.dead_letters.letters] == ["m0", "m2"]
    assert "not valid JSON" in world.dead_letters.letters[0].reason
    assert world.record("t1").status == Status.IN_PROGRESS


def test_no_credits_blocks_the_request_and_parks_the_rest_of_the_batch_without_calling_the_vendor() -> None:
    world = World()
    world.vendor.generate_errors["t1"] = [VendorCreditsExhaustedError("402 no credits", http_status=402)]
    failed = world.deliver(body("t1"), body("t2"), body("t3"))
    assert failed == ["m0", "m1", "m2"]  # all stay queued for a retry once credits are back
    assert {world.record(t).status for t in ("t1", "t2", "t3")} == {Status.BLOCKED}
    assert world.journal.steps.count("vendor.generate") == 1
    assert world.deliver(body("t1")) == [] and world.record("t1").status == Status.IN_PROGRESS


def test_an_unknown_music_task_is_retried_then_rejected_with_one_event() -> None:
    world = World()
    world.vendor.generate_errors["t1"] = [MusicTaskNotFoundError("404") for _ in range(NOT_FOUND_ATTEMPTS)]
    for _ in range(NOT_FOUND_ATTEMPTS - 1):
        assert world.deliver(body("t1")) == ["m0"]
    assert world.deliver(body("t1")) == []
    record = world.record("t1")
    assert record.status == Status.REJECTED and record.error and record.error.code == "MUSIC_TASK_NOT_FOUND"
    assert [e["status"] for e in world.events.of("t1")] == ["REJECTED"]
    assert world.vendor.credits == 0


def test_a_lost_generate_answer_then_cover_exists_needs_attention_not_rejected() -> None:
    world = World()
    world.vendor.generate_errors["t1"] = [VendorAmbiguousError("read timeout after the request was sent")]
    world.vendor.covers["t1"] = "cover-made-anyway"  # the vendor did make it
    assert world.deliver(body("t1")) == ["m0"]
    assert world.deliver(body("t1")) == []
    record = world.record("t1")
    assert (
        record.status == Status.NEEDS_ATTENTION and record.error and record.error.code == "COVER_TASK_ID_LOST"
    )
    assert [e["status"] for e in world.events.of("t1")] == ["NEEDS_ATTENTION"]


def test_a_transient_error_releases_the_claim_for_the_next_delivery() -> None:
    world = World()
    world.vendor.generate_errors["t1"] = [VendorTransientError("503")]
    assert world.deliver(body("t1")) == ["m0"]
    assert world.record("t1").claim_expires_at == 0  # released: no need to wait out the lease
    assert world.deliver(body("t1")) == [] and world.vendor.credits == 1


def test_a_crashed_holder_is_taken_over_only_after_its_lease() -> None:
    world = World()
    world.journal.kill_at = 1  # killed during generate: after the claim, before the vendor answered
    with pytest.raises(Killed):
        world.deliver(body("t1"))
    assert world.deliver(body("t1")) == ["m0"]  # ClaimBusy: the lease is live
    world.clock.advance(CLAIM_LEASE_SECONDS + 1)
    assert world.deliver(body("t1")) == []
    assert world.record("t1").status == Status.IN_PROGRESS and world.vendor.credits == 1


def test_the_workflow_finishes_a_started_cover_with_one_event() -> None:
    world = World()
    world.deliver(body("t1", metadata={"tenant": "acme"}))
    record = world.run_workflow("t1")
    assert record.status == Status.SUCCEEDED and record.images == world.vendor.images
    (event,) = world.events.of("t1")
    assert (event["status"], event["metadata"], event["coverTaskId"]) == (
        "SUCCEEDED",
        {"tenant": "acme"},
        "cover000001",
    )
