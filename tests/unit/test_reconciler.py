"""The reconciler repairs each stranded state in one run, never calls generate, and is idempotent.

Each test strands a cover the way a crash or a throttle would (on in-memory fakes), lets the pipeline's own
paths run out (time passes), runs the reconciler once, and checks what is left: one terminal record with
one event, or the request back on the queue."""

from __future__ import annotations

import json

import pytest
from covers_core.domain.model import Status
from covers_core.domain.reconcile import Repair
from covers_core.errors import VendorCreditsExhaustedError, VendorTransientError
from covers_core.logic.check import CheckInput

from covers_local.fakes import Killed
from tests.support.world import CLAIM_LEASE_SECONDS, TIMING, World

PAST_REDELIVERY = TIMING.redelivery_seconds + 1
PAST_DEADLINE = TIMING.deadline_seconds + TIMING.grace_seconds + 1


def body(task: str) -> str:
    return json.dumps({"musicTaskId": task})


def generates(world: World) -> int:
    return world.journal.steps.count("vendor.generate")


def test_an_event_its_dead_finalizer_never_sent_is_published_once_the_right_to_publish_lapses() -> None:
    world = World()
    world.deliver(body("t1"))
    state = world.check_state("t1")
    state["check"] = world.checker().check(CheckInput.from_state(state)).to_state()
    world.journal.kill_at = len(world.journal.steps) + 1  # after the terminal write, before PutEvents
    with pytest.raises(Killed):
        world.finalizer().finish_workflow(state)
    assert world.record("t1").status == Status.SUCCEEDED and not world.events.of("t1")
    assert world.reconciler().run().repaired == {}  # the right to publish is still held
    world.clock.advance(CLAIM_LEASE_SECONDS + 1)  # its lease, and the reconciler's own wait, are over
    report = world.reconciler().run()
    assert report.repaired == {Repair.PUBLISH_EVENT: 1}
    assert len(world.events.of("t1")) == 1 and world.record("t1").event_published_at
    assert world.reconciler().run().repaired == {}  # idempotent


def test_a_cover_whose_workflow_never_started_gets_it_started_once_its_message_is_gone() -> None:
    world = World()
    world.journal.kill_at = 3  # claim, generate, store the id: killed before StartExecution
    with pytest.raises(Killed):
        world.deliver(body("t1"))
    assert world.record("t1").status == Status.IN_PROGRESS and not world.workflows.executions
    world.clock.advance(60)
    assert world.reconciler().run().repaired == {}  # its message may still come back and do it
    world.clock.advance(PAST_REDELIVERY)
    assert world.reconciler().run().repaired == {Repair.START_WORKFLOW: 1}
    assert world.run_workflow("t1").status == Status.SUCCEEDED
    assert len(world.events.of("t1")) == 1 and generates(world) == 1


def test_a_cover_whose_workflow_ended_without_finishing_it_is_resumed_after_its_deadline() -> None:
    world = World()
    world.deliver(body("t1"))
    world.workflows.end("t1", "FAILED")  # FinalizeFailed, or stopped by hand
    world.clock.advance(TIMING.deadline_seconds)
    assert world.reconciler().run().repaired == {}  # not yet past its deadline and the grace
    world.clock.advance(PAST_DEADLINE)
    assert world.reconciler().run().repaired == {Repair.RESUME_WORKFLOW: 1}
    record = world.record("t1")
    assert (record.status, record.resume_count, record.execution_arn) == (
        Status.IN_PROGRESS,
        1,
        world.workflows.arn("t1.r1"),
    )
    assert world.run_workflow("t1").status == Status.SUCCEEDED
    assert len(world.events.of("t1")) == 1 and generates(world) == 1


def test_a_running_workflow_is_left_alone_however_long_it_takes() -> None:
    world = World()
    world.deliver(body("t1"))
    world.clock.advance(PAST_DEADLINE * 3)
    assert world.reconciler().run().repaired == {}


def test_a_claim_whose_holder_died_during_generate_ends_needs_attention_without_a_new_generate() -> None:
    world = World()
    world.journal.kill_at = 1  # killed during the generate call: a credit may be spent
    with pytest.raises(Killed):
        world.deliver(body("t1"))
    world.clock.advance(CLAIM_LEASE_SECONDS + PAST_REDELIVERY)  # the message ran out of deliveries
    assert world.reconciler().run().repaired == {Repair.SETTLE_LOST_CLAIM: 1}
    record = world.record("t1")
    assert (
        record.status == Status.NEEDS_ATTENTION and record.error and record.error.code == "COVER_TASK_ID_LOST"
    )
    assert [e["status"] for e in world.events.of("t1")] == ["NEEDS_ATTENTION"]
    assert generates(world) == 0  # the killed call never reached the fake vendor; nobody called again


def test_a_claim_released_with_nothing_spent_goes_back_on_the_queue() -> None:
    world = World()
    world.vendor.generate_errors["t1"] = [VendorTransientError("503 before the request was read")]
    world.deliver(body("t1"))
    world.clock.advance(PAST_REDELIVERY)
    assert world.reconciler().run().repaired == {Repair.REQUEUE: 1}
    assert world.requests.bodies == [{"musicTaskId": "t1"}]


def test_blocked_requests_get_one_canary_while_blocked_then_all_go_back_once_it_passes() -> None:
    world = World()
    refusal = VendorCreditsExhaustedError("402 no credits")
    world.vendor.generate_errors.update({"b0": [refusal], "b1": [refusal]})
    world.deliver(body("b0"))
    world.clock.advance(200)
    world.deliver(body("b1"), body("b2"))  # still refused, 200 s later
    assert {world.record(t).status for t in ("b0", "b1", "b2")} == {Status.BLOCKED}
    world.clock.advance(150)
    # b1 and b2 were blocked within the last run's interval: the cause persists; b0, quiet, is the canary
    assert world.reconciler().run().repaired == {Repair.REQUEUE: 1}
    assert world.requests.bodies == [{"musicTaskId": "b0"}]
    assert world.reconciler().run().repaired == {}  # on its way: not queued twice
    assert world.deliver(body("b0")) == []  # the canary goes through: credits are back
    world.clock.advance(301)
    assert world.reconciler().run().repaired == {Repair.REQUEUE: 2}
    assert [b["musicTaskId"] for b in world.requests.bodies[1:]] == ["b1", "b2"]


def test_each_run_looks_at_a_bounded_number_of_records() -> None:
    world = World()
    world.deliver(*(body(f"t{n}") for n in range(5)))
    world.clock.advance(PAST_DEADLINE)
    report = world.reconciler(limit=3).run()
    assert report.examined == 3 and report.truncated


# --- the reconciler itself killed ------------------------------------------------------------------------


def stranded_in_every_way() -> World:
    """One world with a cover stranded in each way the reconciler repairs, the pipeline's own paths over."""
    world = World()
    world.deliver(body("pub"))  # its finalize killed between the terminal write and PutEvents
    state = world.check_state("pub")
    state["check"] = world.checker().check(CheckInput.from_state(state)).to_state()
    world.journal.kill_at = len(world.journal.steps) + 1
    with pytest.raises(Killed):
        world.finalizer().finish_workflow(state)
    world.journal.kill_at = len(world.journal.steps) + 3  # claim, generate, store: killed before starting
    with pytest.raises(Killed):
        world.deliver(body("unstarted"))
    world.deliver(body("ended"))
    world.workflows.end("ended", "FAILED")
    world.journal.kill_at = len(world.journal.steps) + 1  # killed during generate
    with pytest.raises(Killed):
        world.deliver(body("lost"))
    world.vendor.generate_errors["released"] = [VendorTransientError("503 before the request was read")]
    world.deliver(body("released"))
    world.clock.advance(CLAIM_LEASE_SECONDS + PAST_REDELIVERY + PAST_DEADLINE)
    return world


STRANDED = ("pub", "unstarted", "ended", "lost", "released")


def test_a_reconciler_killed_at_any_write_leaves_nothing_that_its_next_runs_do_not_finish() -> None:
    """Killed before each of its writes in turn (the record writes, StartExecution, PutEvents, SendMessage):
    the next runs (an interval apart) and the pipeline finish every cover with exactly one event, and no
    generate call is made for a cover that already had one. The one window is the finalize's: killed after
    PutEvents and before the record says so, the event is sent again, identical (docs/contracts.md:
    consumers dedupe on musicTaskId + status)."""
    reference = stranded_in_every_way()
    before = len(reference.journal.steps)
    assert set(reference.reconciler().run().repaired) == set(Repair)
    steps = reference.journal.steps[before:]
    writes = len(steps)
    assert writes >= len(STRANDED)
    for k in range(writes):
        world = stranded_in_every_way()
        charged = dict(world.vendor.credits_charged)
        world.journal.kill_at = len(world.journal.steps) + k
        with pytest.raises(Killed):
            world.reconciler().run()
        delivered = 0
        for _ in range(4):  # the next runs, an interval (and a claim lease) apart, and what they set going
            world.clock.advance(TIMING.min_age_seconds + 301)
            world.reconciler().run()
            for request in world.requests.bodies[delivered:]:
                world.deliver(json.dumps(request))
            delivered = len(world.requests.bodies)
            for task in STRANDED:
                if world.record(task).status == Status.IN_PROGRESS and world.record(task).execution_arn:
                    world.run_workflow(task)
        assert world.reconciler().run().repaired == {}, k
        after_put_events = steps[k] == "store.event_published"
        for task in STRANDED:
            assert world.record(task).status in (Status.SUCCEEDED, Status.NEEDS_ATTENTION), (k, task)
            events = world.events.of(task)
            if after_put_events and len(events) == 2:
                assert events[0] == events[1], (k, task)  # the same event again: deduped downstream
                continue
            assert len(events) == 1, (k, task, events)
        assert "lost" not in world.vendor.covers  # its credit may be spent: never asked again
        new = {
            t: n - charged.get(t, 0) for t, n in world.vendor.credits_charged.items() if n > charged.get(t, 0)
        }
        assert new == {"released": 1}, k  # only the request released with nothing spent was generated
