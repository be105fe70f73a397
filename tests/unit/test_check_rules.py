"""The check's poll loop in virtual time (a fake clock the fake sleep advances), on in-memory fakes."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from covers_core.domain.model import CheckStatus
from covers_core.domain.schedule import InvocationPolling, Plan
from covers_core.errors import PollAgainError, VendorAuthError, VendorTransientError
from covers_core.logic.check import CheckInput

from tests.support.world import World

POLLING = InvocationPolling(budget=30, interval=1)


def started(world: World, interval: int = 3) -> CheckInput:
    world.plan = Plan(0, interval)
    world.vendor.ready_at_once = False
    world.deliver(json.dumps({"musicTaskId": "m1"}))
    return CheckInput.from_state(world.check_state("m1"))


def test_one_invocation_polls_until_the_cover_is_ready_and_says_when_it_was() -> None:
    world = World()
    state = started(world)
    world.vendor.ready_at["cover000001"] = state.generated_at + timedelta(seconds=10)
    result = world.checker(POLLING).check(state)
    # calls at 0, 3, 6, 9 (IN_PROGRESS), 12 (SUCCESS): ready between 9 and 12 s
    assert (result.status, result.poll_count, result.calls) == (CheckStatus.SUCCESS, 5, 5)
    assert result.ready_after == 10.5 and not result.ready_at_first_check


def test_the_functions_remaining_time_stops_the_loop_early() -> None:
    world = World()
    state = started(world)
    start = world.clock.epoch()
    with pytest.raises(PollAgainError) as raised:
        # 20 s left at the start; a call starts only if the 3 s sleep and the call (0 s here) fit
        world.checker(POLLING).check(state, time_left=lambda: 20 - (world.clock.epoch() - start))
    assert raised.value.calls == 7 and world.clock.epoch() - start == 18  # calls at 0, 3, ..., 18


def test_a_transient_error_mid_loop_calls_again_with_the_polls_so_far() -> None:
    world = World()
    state = started(world)
    cover = world.vendor.covers["m1"]
    errors = [VendorTransientError("503", http_status=503)]

    def sleep(seconds: float) -> None:  # the third call fails
        world.clock.advance(seconds)
        if world.vendor.status_calls == 2:
            world.vendor.status_errors[cover] = list(errors)

    checker = world.checker(POLLING)
    checker.sleep = sleep
    with pytest.raises(PollAgainError) as raised:
        checker.check(state)
    assert raised.value.polls == 2


def test_a_first_transient_error_and_blocking_errors_still_raise_for_their_retry_blocks() -> None:
    world = World()
    state = started(world)
    cover = world.vendor.covers["m1"]
    world.vendor.status_errors[cover] = [VendorTransientError("503", http_status=503)]
    with pytest.raises(VendorTransientError):
        world.checker(POLLING).check(state)
    world.vendor.status_errors[cover] = [VendorAuthError("401", http_status=401)]
    with pytest.raises(VendorAuthError):
        world.checker(POLLING).check(state)
