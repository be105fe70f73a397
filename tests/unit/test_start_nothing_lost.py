"""Nothing paid for is lost in the start function, wherever it is killed or whatever store write fails.

The journal kills the invocation before any chosen step (``Killed``: the process is gone, as on a Lambda
timeout); the test then lets SQS redeliver as it would and runs the workflow to the end."""

from __future__ import annotations

import json
import logging

import pytest
from covers_core.domain.model import Status
from covers_core.logic.batch import Message

from covers_local.fakes import Killed
from tests.support.world import CLAIM_LEASE_SECONDS, MAX_RECEIVES, World

BODY = json.dumps({"musicTaskId": "t1"})


def steps_of_a_clean_start() -> list[str]:
    world = World()
    world.deliver(BODY)
    return list(world.journal.steps)


@pytest.mark.parametrize("kill_at", range(len(steps_of_a_clean_start())), ids=steps_of_a_clean_start())
def test_killed_before_any_step_the_task_gets_one_credit_at_most_one_terminal_event_and_its_id_logged(
    kill_at: int, caplog: pytest.LogCaptureFixture
) -> None:
    world = World()
    world.journal.kill_at = kill_at
    caplog.set_level(logging.INFO, logger="covers_core")
    with pytest.raises(Killed):
        world.deliver(BODY)
    for _ in range(MAX_RECEIVES):  # SQS redelivers until the message is done
        world.clock.advance(CLAIM_LEASE_SECONDS + 1)
        if world.deliver(BODY) == []:
            break
    record = world.record("t1")
    assert world.vendor.credits <= 1
    if record.status == Status.IN_PROGRESS:
        record = world.run_workflow("t1")
    assert record.terminal and len(world.events.of("t1")) == 1
    if world.vendor.credits:
        made = world.vendor.covers["t1"]
        # The paid cover is either on the record, or was logged the moment generate returned it.
        logged = [r for r in caplog.records if getattr(r, "coverTaskId", None) == made]
        assert record.cover_task_id == made or (logged and logged[0].levelno == logging.INFO)
        if record.cover_task_id != made:
            assert record.status == Status.NEEDS_ATTENTION and record.error
            assert record.error.code == "COVER_TASK_ID_LOST"


def test_a_cover_task_id_the_store_cannot_keep_is_adopted_from_the_handed_on_message() -> None:
    world = World()
    world.journal.fail = {"store.record_cover_task"}
    assert world.deliver(BODY) == []  # handed on: the original message is done
    assert world.requests.adoptions == ["cover000001"] and world.vendor.credits == 1
    assert world.journal.steps.count("store.record_cover_task") == 3  # tried, then handed on
    world.journal.fail = set()
    adoption = Message(
        "m-adopt", json.dumps(world.requests.bodies[0]), attributes={"coverTaskId": "cover000001"}
    )
    assert world.deliver_messages(adoption) == []
    record = world.record("t1")
    assert (record.status, record.cover_task_id) == (Status.IN_PROGRESS, "cover000001")
    assert world.vendor.credits == 1 and world.journal.steps.count("vendor.generate") == 1
    assert world.run_workflow("t1").status == Status.SUCCEEDED


def test_when_the_queue_is_down_too_the_dead_letter_copy_carries_the_cover_task_id() -> None:
    world = World()
    world.journal.fail = {"store.record_cover_task", "requests.send"}
    assert world.deliver(BODY) == []
    (letter,) = world.dead_letters.letters
    assert (letter.cover_task_id, letter.message_id) == ("cover000001", "m0")
    assert "could not store cover task cover000001" in letter.reason


def test_a_message_failing_on_its_last_delivery_goes_to_the_dlq_with_the_reason() -> None:
    world = World()
    world.vendor.generate_errors["t1"] = []
    world.journal.fail = {"store.claim"}
    assert world.deliver(BODY, receive_count=MAX_RECEIVES - 1) == ["m0"]  # not yet: SQS retries it
    assert world.deliver(BODY, receive_count=MAX_RECEIVES) == []
    (letter,) = world.dead_letters.letters
    assert letter.reason.startswith(
        f"gave up after {MAX_RECEIVES} deliveries: AWS_UNAVAILABLE: store.claim failed"
    )


def test_an_adoption_never_calls_generate_even_for_an_unknown_record_state() -> None:
    world = World()
    world.deliver(BODY)
    adoption = Message("m-adopt", BODY, attributes={"coverTaskId": "some-other-cover"})
    assert world.deliver_messages(adoption) == []  # the record holds its own id: nothing to adopt
    assert world.record("t1").cover_task_id == "cover000001" and world.vendor.credits == 1
