"""What a cover cost (docs/operations.md, "Cost per cover"): the one estimate from the counts and the unit
prices (the benches' table), the counts each function contributes (start's share, the checks, finalize),
all written in the terminal write itself, and the counts checked against the load simulation's meters."""

from __future__ import annotations

import json
import statistics
from datetime import timedelta
from functools import partial
from typing import Any

import pytest
from covers_core.domain import cost as costs
from covers_core.domain import prices
from covers_core.domain.cost import CoverCost, LambdaShare
from covers_core.domain.events import event_detail, public_view
from covers_core.domain.model import CoverRecord, Status
from covers_core.domain.schedule import InvocationPolling, Plan
from covers_core.logic.batch import Message
from covers_core.logic.check import CheckInput
from covers_core.metrics import OTHER_TENANT, cost_metrics

from bench import prices as bench_prices
from bench.load.mixes import MIXES
from bench.load.pipeline import simulate
from bench.load.report import costs as bench_costs
from bench.load.report import summarise
from bench.load.stack import Config, Stack
from covers_local.fakes import FakeArchiver
from tests.support.world import World

POLLING = InvocationPolling(budget=30, interval=1)
Simulated = tuple[Stack, dict[str, Any]]


def test_the_bench_reads_the_one_price_table_the_runtime_uses() -> None:
    assert bench_prices.PRICES is prices.PRICES and bench_prices.usd is prices.usd


def test_the_estimate_is_the_counts_times_the_unit_prices() -> None:
    start = LambdaShare(ms=40, memory_mb=256, requests=0.25)
    check = LambdaShare(ms=30_000, memory_mb=128, requests=2)
    finalize = LambdaShare(ms=60, memory_mb=256)
    cost = costs.estimate(
        credits=1, status_calls=7, transitions=4, lambdas=(start, check, finalize), extra_writes=1, s3_puts=2
    )
    p = {name: price.usd for name, price in prices.PRICES.items()}
    gb_seconds = 0.040 * 0.25 + 30.0 * 0.125 + 0.060 * 0.25
    by_hand = (
        4 * p["sfn_standard_transition"]
        + 3.25 * p["lambda_request"]
        + gb_seconds * p["lambda_arm_gb_second"]
        + (9 + 1) * p["dynamodb_write"]
        + 1 * p["eventbridge_event"]
        + 1.7 * p["sqs_request"]
        + 2 * p["s3_put"]
    )
    assert cost.estimated_usd == pytest.approx(by_hand, rel=1e-12)
    assert (cost.credits, cost.status_calls, cost.transitions, cost.lambda_ms) == (1, 7, 4, 30_100)
    assert cost.lambda_gb_seconds == pytest.approx(gb_seconds)


def test_express_bills_the_execution_not_its_transitions() -> None:
    standard = costs.estimate(credits=1, status_calls=3, transitions=5, lambdas=())
    express = costs.estimate(
        credits=1,
        status_calls=3,
        transitions=5,
        lambdas=(),
        workflow_type=costs.EXPRESS,
        execution_seconds=41.23,
    )
    extra = (
        prices.usd("sfn_express_request")
        + 41.3 * costs.EXPRESS_MEMORY_GB * prices.usd("sfn_express_gb_second")
        - 5 * prices.usd("sfn_standard_transition")
    )
    assert express.estimated_usd - standard.estimated_usd == pytest.approx(extra)


def test_transitions_are_three_states_plus_each_retry_of_the_check_and_the_safety_net() -> None:
    assert costs.transitions(0) == 3
    assert costs.transitions(4) == 7
    assert costs.transitions(None, safety_net=True) == 4
    assert costs.transitions(2, workflow=False) == 0


def test_a_stored_cost_reads_back_and_a_record_without_one_has_none() -> None:
    cost = CoverCost(1, 3, 4, 2.25, 2100, 0.2625, 0, 0.000123, detection_delay_seconds=2.5)
    assert CoverCost.from_dict(json.loads(json.dumps(cost.as_dict()))) == cost
    assert CoverCost.from_dict(None) is None and CoverCost.from_dict({"credits": 1}) is None
    old = CoverRecord("t", Status.SUCCEEDED)
    assert "cost" not in public_view(old)
    assert public_view(CoverRecord("t", Status.SUCCEEDED, cost=cost))["cost"]["estimatedUsd"] == 0.000123
    assert "cost" not in event_detail(CoverRecord("t", Status.SUCCEEDED, cost=cost))


# --- the counts each function contributes ------------------------------------------------------------


def started(world: World, interval: int = 3) -> CheckInput:
    world.plan = Plan(0, interval)
    world.vendor.ready_at_once = False
    world.deliver(json.dumps({"musicTaskId": "m1"}))
    return CheckInput.from_state(world.check_state("m1"))


def test_a_check_reports_its_billed_time_its_retries_and_how_late_it_saw_the_cover_ready() -> None:
    world = World()
    state = started(world)
    world.vendor.ready_at["cover000001"] = state.generated_at + timedelta(seconds=10)
    result = world.checker(POLLING).check(state, memory_mb=128)
    # calls at 0, 3, 6, 9 (IN_PROGRESS), 12 (SUCCESS): 12 s in one invocation, ready ~10.5 s
    assert result.lambda_share == LambdaShare(12_000, 128, 1.0)
    assert result.retries == 0 and result.detection_delay == 1.5


def test_a_later_check_counts_the_earlier_invocations_it_did_not_see() -> None:
    world = World()
    state = started(world)
    world.vendor.ready_at["cover000001"] = state.generated_at + timedelta(seconds=100)
    later = CheckInput.from_state({**world.check_state("m1"), "attempt": 2, "pollInLambda": False})
    world.clock.advance(101)
    result = world.checker().check(later, memory_mb=128)
    assert result.retries == 2 and result.poll_count == 3  # two earlier one-call invocations, and this one
    assert result.lambda_share is not None and result.lambda_share.requests == 3.0


def test_the_cost_is_in_the_one_terminal_write_and_counts_every_function() -> None:
    world = World()
    world.plan = Plan(5, 3)
    world.vendor.ready_at_once = False
    world.batch().run(
        [Message("m0", json.dumps({"musicTaskId": "m1"}))], time_left=lambda: 30.0, memory_mb=256
    )
    start = world.store.records["m1"].start_lambda
    assert start is not None and start.memory_mb == 256 and start.requests == 1.0
    state = world.check_state("m1")
    assert state["startLambda"] == start.to_state()  # carried by the execution's input to finalize
    world.vendor.ready_at["cover000001"] = world.clock.now() + timedelta(seconds=10)
    world.clock.advance(5)
    done = world.check_until_done(state)
    writes = len(world.journal.steps)
    record = world.finalizer().finalize(done, memory_mb=256).record
    # The terminal write and the outbox's mark, as before costs were kept: no write of its own for the cost.
    assert [s for s in world.journal.steps[writes:] if s.startswith("store.")] == [
        "store.finish",
        "store.event_published",
    ]
    cost = record.cost
    assert cost is not None and cost.credits == 1 and cost.status_calls == record.poll_count
    check = done["check"]
    assert cost.transitions == 3 + check["retries"]
    assert cost.lambda_ms == start.ms + check["lambda"]["ms"] + 1  # finalize took no virtual time: 1 ms
    assert cost.lambda_requests == pytest.approx(1.0 + check["lambda"]["requests"] + 1.0)


def test_a_cover_refused_at_the_start_spent_no_credit_and_no_workflow() -> None:
    world = World()
    world.vendor.covers["m1"] = "cover-old"  # the vendor has a cover for it already: 400, REJECTED
    world.deliver(json.dumps({"musicTaskId": "m1"}))
    record = world.store.records["m1"]
    assert record.status == Status.REJECTED
    assert record.cost is not None and (record.cost.credits, record.cost.transitions) == (0, 0)


def test_only_the_finalize_whose_write_won_counts_the_cover() -> None:
    world = World()
    world.deliver(json.dumps({"musicTaskId": "m1"}))
    done = world.check_until_done(world.check_state("m1"))
    first, again = world.finalizer().finalize(done), world.finalizer().finalize(done)
    assert first.won and not again.won and again.record.cost == first.record.cost


def test_the_cost_metrics_carry_outcome_and_a_capped_tenant() -> None:
    cost = CoverCost(1, 3, 4, 2.25, 2100, 0.2625, 0, 0.000123)
    record = CoverRecord("t", Status.SUCCEEDED, metadata={"tenant": "acme"}, cost=cost)
    emf = partial(cost_metrics, namespace="CoverPipeline", service="covers", timestamp_ms=1)
    listed = emf(record, tenant_field="tenant", tenants={"acme"})
    unlisted = emf(record, tenant_field="tenant", tenants=())
    no_field = emf(record, tenant_field=None, tenants={"acme"})
    assert listed is not None and unlisted is not None and no_field is not None
    assert (listed["Outcome"], listed["Tenant"], unlisted["Tenant"]) == ("SUCCEEDED", "acme", OTHER_TENANT)
    assert "Tenant" not in no_field and no_field["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [
        ["service"],
        ["service", "Outcome"],
    ]
    assert (listed["CoverCostUsd"], listed["CreditsSpent"]) == (0.000123, 1)
    assert emf(CoverRecord("t", Status.SUCCEEDED), tenant_field=None, tenants=()) is None


# --- against the load simulation ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def simulated() -> Simulated:
    stack = simulate(MIXES["lognormal(45s, 0.5)"], 2.0, Config(duration=400.0, warmup=100.0, max_covers=None))
    return stack, summarise(stack, 0.0)


def test_each_records_transitions_are_the_ones_the_simulated_state_machine_billed(
    simulated: tuple[Stack, dict[str, Any]],
) -> None:
    stack, _ = simulated
    pairs = []
    for task, cover in stack.covers.items():
        record = stack.store.records.get(task)
        if record is not None and record.cost is not None:
            pairs.append((record.cost, cover))
    assert len(pairs) > 100
    assert all(cost.transitions == cover.transitions for cost, cover in pairs)
    assert any(cover.retries for _, cover in pairs)  # the rule was tried on executions that retried
    billed = sum(sum(cover.seconds.values()) for _, cover in pairs) * 1000
    assert sum(cost.lambda_ms for cost, _ in pairs) == pytest.approx(billed, rel=0.05)


def test_the_records_estimates_agree_with_the_benchs_cost_per_cover(
    simulated: tuple[Stack, dict[str, Any]],
) -> None:
    stack, run = simulated
    estimates = [r.cost.estimated_usd for r in stack.store.records.values() if r.cost is not None]
    bench_total = bench_costs(run)["total_standard"]
    assert bench_total is not None
    # The bench also counts what the records do not (logs, Secrets Manager reads): a few percent.
    assert statistics.fmean(estimates) == pytest.approx(bench_total / 1e6, rel=0.10)


def test_archived_copies_are_s3_puts_and_the_safety_net_one_more_transition() -> None:
    world = World()
    world.deliver(json.dumps({"musicTaskId": "m1"}))
    done = world.check_until_done(world.check_state("m1"))
    archived = world.finalizer(FakeArchiver(world.journal)).finalize(done).record.cost
    assert archived is not None and archived.s3_puts == len(world.store.records["m1"].images) > 0
    world.deliver(json.dumps({"musicTaskId": "m2"}))
    done = world.check_until_done(world.check_state("m2"))
    failed_before = {"Error": "Sandbox.Timedout", "Cause": "killed"}
    net = world.finalizer(FakeArchiver(world.journal)).finalize({**done, "finalizeFailure": failed_before})
    assert net.record.cost is not None
    assert (net.record.cost.transitions, net.record.cost.s3_puts) == (archived.transitions + 1, 0)
