"""Credit budgets (docs/operations.md, "Credit budgets") on in-memory fakes: racing starts at a cap spend
exactly the cap, the rest park as BUDGET_EXCEEDED with one alarm data point per window, units are taken once
per paid generate and given back when none was paid, and the reconciler finishes the parked requests once a
cap is raised or the window rolls over, with no operator step."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from covers_core.domain import budget
from covers_core.domain.budget import STACK, Caps, Counter, Window
from covers_core.domain.model import Status
from covers_core.domain.reconcile import Repair
from covers_core.errors import (
    AwsTransientError,
    MusicTaskNotFoundError,
    VendorAmbiguousError,
    VendorCreditsExhaustedError,
    VendorError,
    VendorTransientError,
)
from covers_core.logic.batch import BatchSummary, Message

from covers_local.fakes import Killed
from tests.support.world import CLAIM_LEASE_SECONDS, RECONCILE_INTERVAL_SECONDS, World

CAP = 10


def body(task: str, tenant: str | None = None) -> str:
    return json.dumps({"musicTaskId": task, **({"metadata": {"tenant": tenant}} if tenant else {})})


def stack_usage(world: World) -> budget.Usage:
    return world.budgets.usage(budget.counters([STACK], world.clock.now())[0])


def race(world: World, tasks: list[str], tenant: str | None = None) -> BatchSummary:
    """One batch of ``tasks``, every request in its own worker thread (they race for the budget)."""
    messages = [Message(f"m-{t}", body(t, tenant)) for t in tasks]
    return world.batch(concurrency=len(tasks)).run(messages, time_left=lambda: 30.0)


def test_racing_starts_at_the_cap_spend_exactly_the_cap_and_park_the_rest() -> None:
    world = World(budget_caps=Caps(day=CAP))
    tasks = [f"t{i:02d}" for i in range(CAP + 5)]
    summary = race(world, tasks)
    assert sum(world.vendor.credits_charged.values()) == CAP
    statuses = [world.record(t).status for t in tasks]
    assert statuses.count(Status.IN_PROGRESS) == CAP and statuses.count(Status.BUDGET_EXCEEDED) == 5
    assert summary.failed == []  # parked requests leave the queue: the reconciler brings them back
    assert summary.budget_exceeded == {(STACK, Window.DAY)}  # one alarm data point for the window
    assert stack_usage(world) == budget.Usage(day=CAP, month=CAP)
    parked = next(world.record(t) for t in tasks if world.record(t).status == Status.BUDGET_EXCEEDED)
    assert parked.last_error and parked.last_error.code == "BUDGET_EXCEEDED"
    assert not world.events.of(parked.music_task_id)  # no event until it ends


def test_a_month_cap_and_a_tenant_cap_refuse_in_their_own_window() -> None:
    world = World(budget_caps=Caps(day=100, month=3))
    world.budgets.set_caps(budget.tenant_scope("acme"), day=1)
    summary = race(world, ["a1", "a2"], tenant="acme")
    assert summary.budget_exceeded == {(budget.tenant_scope("acme"), Window.DAY)}
    assert sum(world.vendor.credits_charged.values()) == 1
    assert stack_usage(world).month == 1  # the tenant's refusal gave the stack's unit back
    summary = race(world, ["b1", "b2", "b3"])
    assert summary.budget_exceeded == {(STACK, Window.MONTH)}
    assert sum(world.vendor.credits_charged.values()) == 3


def test_no_caps_count_usage_but_refuse_nothing() -> None:
    world = World(budget_caps=Caps())
    race(world, [f"t{i}" for i in range(5)])
    assert sum(world.vendor.credits_charged.values()) == 5 and stack_usage(world).day == 5


def test_a_redelivered_request_that_already_took_its_unit_does_not_take_another() -> None:
    world = World(budget_caps=Caps(day=CAP))
    world.vendor.generate_errors["t1"] = [VendorAmbiguousError("read timeout after the request was sent")]
    assert world.deliver(body("t1")) == ["m0"]  # the credit may be spent: the unit is kept
    assert stack_usage(world).day == 1 and world.record("t1").budget_charged
    assert world.deliver(body("t1")) == []
    assert world.record("t1").status == Status.NEEDS_ATTENTION or world.vendor.credits_charged.get("t1")
    assert stack_usage(world).day == 1


def test_a_start_killed_after_generate_keeps_its_unit_and_its_takeover_takes_none() -> None:
    world = World(budget_caps=Caps(day=CAP))
    world.journal.kill_at = world_steps_to("vendor.generate")
    with pytest.raises(Killed):
        world.deliver(body("t1"))
    world.clock.advance(CLAIM_LEASE_SECONDS + 1)
    world.deliver(body("t1"))
    assert stack_usage(world).day == 1


def world_steps_to(step: str) -> int:
    """How many journal steps a fresh budgeted start makes up to and including ``step``."""
    probe = World(budget_caps=Caps(day=CAP))
    probe.deliver(body("probe"))
    return probe.journal.steps.index(step) + 2  # the step after it: generate has returned


@pytest.mark.parametrize(
    "error",
    [
        VendorCreditsExhaustedError("402 no credits", http_status=402),
        MusicTaskNotFoundError("404"),
        VendorTransientError("connection refused"),
    ],
    ids=["402", "404", "not sent"],
)
def test_a_generate_that_spent_no_credit_gives_its_unit_back(error: VendorError) -> None:
    world = World(budget_caps=Caps(day=1))
    world.vendor.generate_errors["t1"] = [error]
    assert world.deliver(body("t1")) == ["m0"]
    assert stack_usage(world).day == 0 and not world.record("t1").budget_charged
    assert world.deliver(body("t1")) == []  # the retry takes the one unit there is
    assert world.record("t1").status == Status.IN_PROGRESS and stack_usage(world).day == 1


def test_raising_the_cap_lets_the_reconciler_finish_the_parked_requests_without_an_operator() -> None:
    world = World(budget_caps=Caps(day=CAP))
    tasks = [f"t{i:02d}" for i in range(CAP + 5)]
    race(world, tasks)
    parked = [t for t in tasks if world.record(t).status == Status.BUDGET_EXCEEDED]
    world.clock.advance(CLAIM_LEASE_SECONDS + 1)
    assert world.reconciler().run().repaired == {}  # no room: nothing queued again
    world.budgets.set_caps(STACK, day=CAP + 5)  # `covers budget --set-day 15`
    for _ in range(3):
        world.clock.advance(RECONCILE_INTERVAL_SECONDS)
        world.reconciler().run()
        queued, world.requests.bodies[:] = list(world.requests.bodies), []
        world.deliver(*(json.dumps(b) for b in queued))
    assert {world.record(t).status for t in parked} == {Status.IN_PROGRESS}
    for task in parked:
        assert world.run_workflow(task).status == Status.SUCCEEDED
    assert sum(world.vendor.credits_charged.values()) == CAP + 5


def test_the_next_day_the_reconciler_requeues_them_and_the_new_day_s_cap_holds() -> None:
    world = World(budget_caps=Caps(day=1))
    race(world, ["t1", "t2", "t3"])
    world.clock.current = datetime(2026, 12, 1, 0, 5, tzinfo=UTC)  # a new day (and month)
    assert world.reconciler().run().repaired == {Repair.REQUEUE: 2}  # both fit the new day
    world.deliver(*(json.dumps(b) for b in world.requests.bodies))
    statuses = sorted(world.record(t).status for t in ("t2", "t3"))
    assert statuses == [Status.BUDGET_EXCEEDED, Status.IN_PROGRESS]  # one unit today: one went through
    world.clock.advance(RECONCILE_INTERVAL_SECONDS)
    assert world.reconciler().run().repaired == {}  # no room until tomorrow
    assert sum(world.vendor.credits_charged.values()) == 2


def test_a_counter_key_names_its_item_and_day() -> None:
    counter = budget.counters([budget.tenant_scope("a|b")], datetime(2026, 11, 30, tzinfo=UTC))[0]
    assert Counter.from_key(counter.key()) == counter
    assert counter.item == "budget|tenant=a|b|2026-11" and counter.day == "d30"


def test_a_budget_store_that_fails_leaves_the_request_to_its_next_delivery_at_once() -> None:
    """No vendor call was made: the claim is let go (not left to lapse), so the next delivery starts the
    cover without waiting out the lease, with one credit and one unit."""
    world = World(budget_caps=Caps(day=CAP))
    take = world.budgets.take
    failures = [AwsTransientError("DynamoDB UpdateItem (budget): ProvisionedThroughputExceededException")]

    def flaky_take(counter: Counter, caps: Caps) -> bool:
        if failures:
            raise failures.pop()
        return take(counter, caps)

    world.budgets.take = flaky_take  # type: ignore[method-assign]
    assert world.deliver(body("t1")) == ["m0"]
    assert world.vendor.credits_charged.get("t1") is None
    assert world.deliver(body("t1")) == []  # no clock advance: the claim was released
    assert world.record("t1").status == Status.IN_PROGRESS
    assert world.vendor.credits_charged["t1"] == 1 and stack_usage(world).day == 1


def test_a_reconciler_run_reads_each_budget_counter_once_however_many_requests_it_parked() -> None:
    """Every parked request of the stack's scope shares one counter: one run reads it once, not once each."""
    world = World(budget_caps=Caps(day=CAP))
    race(world, [f"t{i:02d}" for i in range(CAP + 5)])
    world.clock.advance(CLAIM_LEASE_SECONDS + 1)
    usage = world.budgets.usage
    reads: list[str] = []

    def counted(counter: Counter) -> budget.Usage:
        reads.append(counter.item)
        return usage(counter)

    world.budgets.usage = counted  # type: ignore[method-assign]
    assert world.reconciler().run().repaired == {}  # no room: nothing queued again
    assert reads == [budget.counters([STACK], world.clock.now())[0].item]
