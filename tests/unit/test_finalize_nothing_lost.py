"""The terminal event is never lost, wherever finalize is killed: one event per terminal cover.

FinalizeCover and its safety net run as the real state machine definition says (Retry and Catch blocks,
worst-case jitter), on in-memory fakes; the journal kills finalize before any one of its steps. A killed
function is reported under the names AWS uses (docs cited in ``covers_core.errors``): ``Sandbox.Timedout``
after the function's timeout, ``Runtime.ExitError`` at once (out of memory), ``Lambda.Unknown``."""

from __future__ import annotations

import json
from typing import Any

import pytest
from covers_core.domain.model import Status
from covers_core.logic.check import CheckInput

from covers_local.fakes import FakeArchiver
from tests.support.world import World

KILLS = [("Sandbox.Timedout", 90.0), ("Runtime.ExitError", 1.0), ("Lambda.Unknown", 5.0)]


def started_world() -> tuple[World, dict[str, Any]]:
    """A cover started and checked ready: the state FinalizeCover gets."""
    world = World()
    world.deliver(json.dumps({"musicTaskId": "t1"}))
    state = world.check_state("t1")
    state["check"] = world.checker().check(CheckInput.from_state(state)).to_state()
    return world, state


def finalize_steps() -> list[str]:
    world, state = started_world()
    before = len(world.journal.steps)
    assert world.run_finalize_states(state, archiver=FakeArchiver(world.journal)) == "End"
    return world.journal.steps[before:]


@pytest.mark.parametrize(("killed_as", "killed_after"), KILLS)
@pytest.mark.parametrize("step", range(len(finalize_steps())), ids=finalize_steps())
def test_finalize_killed_before_any_step_still_ends_with_one_terminal_record_and_one_event(
    step: int, killed_as: str, killed_after: float
) -> None:
    world, state = started_world()
    world.journal.kill_at = len(world.journal.steps) + step
    end = world.run_finalize_states(
        state, archiver=FakeArchiver(world.journal), killed_as=killed_as, killed_after=killed_after
    )
    record = world.record("t1")
    assert end == "End"
    assert record.status == Status.SUCCEEDED and record.event_published_at
    events = world.events.of("t1")
    assert [e["status"] for e in events[:1]] == ["SUCCEEDED"]
    # Killed after PutEvents answered and before the record says so, the retry cannot know the event went
    # out: it sends the same event again (docs/contracts.md: consumers dedupe on musicTaskId + status, as
    # EventBridge delivers at least once anyway). Never a second, different event.
    assert len({json.dumps(e, sort_keys=True) for e in events}) == 1
    assert len(events) == (2 if finalize_steps()[step] == "store.event_published" else 1)


def test_a_safety_net_that_finds_the_right_to_publish_held_waits_it_out_instead_of_giving_up() -> None:
    """The reviewer's case: killed after the terminal write, before PutEvents; the safety net ran at once,
    found the 60 s claim held, and returned SUCCEEDED with no event, for good."""
    world, state = started_world()
    kill_publish = len(world.journal.steps) + finalize_steps().index("events.publish")
    world.journal.kill_at = kill_publish
    started = world.clock.now()
    archiver = FakeArchiver(world.journal)
    assert (
        world.run_finalize_states(state, archiver=archiver, killed_as="Runtime.ExitError", killed_after=0.5)
        == "End"
    )
    assert len(world.events.of("t1")) == 1
    assert (world.clock.now() - started).total_seconds() > 60  # it waited for the dead holder's lease
