"""The load simulation's mechanics (bench/load) that would be wrong silently: concurrency limits, the ASL's
Retry delays, lost conditional writes, and Little's law on a small run. Virtual time only."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from covers_core.adapters.poll_stats import LearnedWaitStore
from covers_core.domain.schedule import FirstWaitPolicy

from bench.load import asl
from bench.load.dynamo import SimStatsTable, Usage
from bench.load.engine import Sim
from bench.load.lambdas import FunctionSpec, Invocation, LambdaService, TooManyRequests
from bench.load.learners import FixedFirstWait
from bench.load.mixes import MIXES
from bench.load.pipeline import simulate
from bench.load.report import summarise
from bench.load.sqs import EventSource, Message, RequestQueue
from bench.load.stack import CHECK, Config
from covers_local.stack import project_root

ASL = project_root() / "statemachine" / "cover_workflow.asl.json"
RESOURCES = {"CheckCoverStatusFunctionArn": CHECK, "FinalizeCoverFunctionArn": "FinalizeCoverFunction"}


def lambdas(sim: Sim, limit: int) -> LambdaService:
    spec = FunctionSpec("Fn", memory_mb=128, timeout=30)
    return LambdaService(sim, {"Fn": spec}, account_limit=limit, cold_start_seconds=0.0)


def test_one_free_concurrency_unit_throttles_the_second_invocation_and_sqs_redelivers_it() -> None:
    sim = Sim(1)
    service = lambdas(sim, limit=1)
    handled: list[tuple[str, float]] = []

    def handler(batch: list[Message], invocation: Invocation) -> list[str]:
        handled.extend((m.id, sim.now) for m in batch)
        sim.sleep(5.0)
        return []

    queue = RequestQueue(sim, visibility_timeout=180.0, max_receives=5)
    EventSource(sim, queue, service, "Fn", handler, pollers=2, batch_size=1, window=0.0)
    sim.at(0.0, queue.send, Message("a", "{}", 0.0))
    sim.at(0.0, queue.send, Message("b", "{}", 0.0))
    sim.run(until=1000.0)

    assert service.stats["Fn"].throttles == 1
    assert [m for m, _ in handled] == ["a", "b"]
    assert handled[1][1] >= 180.0  # back on the queue for the visibility timeout, then handled
    assert queue.stats.redeliveries == 1 and queue.stats.dead_lettered == 0
    assert service.stats["Fn"].peak == 1


def test_a_freed_unit_admits_the_next_invocation() -> None:
    sim = Sim(1)
    service = lambdas(sim, limit=1)
    outcomes: list[str] = []

    def call(delay: float) -> None:
        sim.sleep(delay)
        try:
            service.invoke("Fn", lambda _payload, _inv: sim.sleep(10.0), None)
            outcomes.append(f"ran at {delay:g}")
        except TooManyRequests:
            outcomes.append(f"throttled at {delay:g}")

    for delay in (0.0, 5.0, 11.0):
        sim.spawn(call, delay)
    sim.run()
    assert sorted(outcomes) == ["ran at 0", "ran at 11", "throttled at 5"]


class FakeClock:
    """Virtual time for the interpreter alone; FULL jitter draws ``pick`` of its range (1 = the top)."""

    def __init__(self, pick: float) -> None:
        self.now = 0.0
        self.pick = pick

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def uniform(self, low: float, high: float) -> float:
        return low + (high - low) * self.pick


def throttled_check_run(pick: float) -> tuple[asl.Ended, list[float], dict[str, Any]]:
    machine = asl.StateMachine.load(ASL, RESOURCES)
    clock = FakeClock(pick)
    attempts: list[float] = []
    finalized: dict[str, Any] = {}

    def invoke(function: str, payload: Any) -> Any:
        if function == CHECK:
            attempts.append(clock.now)
            raise TooManyRequests("no concurrency")
        finalized.update(payload)
        return {"status": "NEEDS_ATTENTION"}

    ended = asl.run(machine, {"firstWaitSeconds": 7, "musicTaskId": "m"}, invoke, clock)
    return ended, attempts, finalized


def test_retry_delays_follow_the_asl_then_catch_finalizes() -> None:
    doc = json.loads(ASL.read_text())
    retrier = next(
        r
        for r in doc["States"]["CheckCoverStatus"]["Retry"]
        if "Lambda.TooManyRequestsException" in r["ErrorEquals"]
    )
    expected = [
        min(retrier["IntervalSeconds"] * retrier["BackoffRate"] ** n, retrier["MaxDelaySeconds"])
        for n in range(retrier["MaxAttempts"])
    ]

    ended, attempts, finalized = throttled_check_run(pick=1.0)  # the top of each FULL-jitter range

    assert attempts[0] == 7  # after WaitBeforeFirstCheck's SecondsPath
    assert [b - a for a, b in itertools.pairwise(attempts)] == expected
    assert finalized["failure"]["Error"] == "Lambda.TooManyRequestsException"  # the Catch's ResultPath
    assert ended.status == "SUCCEEDED" and ended.retries == retrier["MaxAttempts"]
    # Wait, CheckCoverStatus and FinalizeCover entered once each, plus one transition per retry.
    assert ended.transitions == 3 + retrier["MaxAttempts"]


def test_full_jitter_draws_each_delay_between_zero_and_the_backoff() -> None:
    _, attempts, _ = throttled_check_run(pick=0.0)
    assert attempts == [7.0] * len(attempts)


def test_of_two_concurrent_conditional_writes_one_loses() -> None:
    sim = Sim(3)
    usage = Usage()
    table = SimStatsTable(lambda: sim.sleep(0.01), usage)
    policy = FirstWaitPolicy(fallback=20, minimum=1, maximum=120, percentile=10)
    results: list[int | None] = []

    def writer() -> None:
        store = LearnedWaitStore(table)
        current = store.get()  # both read the empty item at the same time
        learned = policy.observe(current, ready_at_first_check=True)
        results.append(learned.count if store._put(learned, current) else None)

    sim.spawn(writer)
    sim.spawn(writer, delay=0.001)
    sim.run()
    assert results == [1, None]
    assert table.conflicts == 1 and usage.stats_wcu == 2  # the failed write is billed too


def test_the_real_store_retries_a_lost_write_so_both_lessons_count() -> None:
    sim = Sim(3)
    table = SimStatsTable(lambda: sim.sleep(0.01), Usage())
    policy = FirstWaitPolicy(fallback=20, minimum=1, maximum=120, percentile=10)
    stored: list[bool] = []
    for delay in (0.0, 0.001):
        sim.spawn(
            lambda: stored.append(
                LearnedWaitStore(table).observe(policy, ready_at_first_check=False) is not None
            ),
            delay=delay,
        )
    sim.run()
    assert stored == [True, True]
    assert table.conflicts == 1 and table.items["firstWait"]["count"] == 2


@pytest.fixture(scope="module")
def small_run() -> dict[str, Any]:
    stack = simulate(MIXES["lognormal(45s, 0.5)"], 2.0, Config(duration=600.0, warmup=200.0, max_covers=None))
    return summarise(stack, 0.0)


def test_littles_law_mean_concurrency_is_rate_times_lambda_seconds(small_run: dict[str, Any]) -> None:
    check = small_run["lambda"][CHECK]
    arrivals_per_second = small_run["covers"] / (small_run["duration"] - small_run["warmup"])
    expected = arrivals_per_second * check["seconds_per_cover"]
    assert check["mean_concurrency"] == pytest.approx(expected, rel=0.10)
    assert small_run["outcomes"]["statuses"] == {"SUCCEEDED": small_run["covers"]}


def test_a_seed_gives_the_same_figures(small_run: dict[str, Any]) -> None:
    again = summarise(
        simulate(MIXES["lognormal(45s, 0.5)"], 2.0, Config(duration=600.0, warmup=200.0, max_covers=None)),
        0.0,
    )
    assert again == small_run


def test_a_plugged_in_learner_and_check_behaviour_are_the_ones_that_run() -> None:
    calls: list[str] = []

    def instant_check(payload: dict[str, Any], invocation: Invocation) -> dict[str, Any]:
        calls.append(payload["musicTaskId"])
        return {"status": "SUCCESS", "pollCount": 1, "nextPollSeconds": None, "images": ["u"], "error": None}

    config = Config(
        duration=120.0,
        warmup=0.0,
        tail=0.0,
        max_covers=None,
        learner=lambda stack: FixedFirstWait(30),
        tasks={CHECK: lambda stack: instant_check},
    )
    run = summarise(simulate(MIXES["lognormal(45s, 0.5)"], 1.0, config), 0.0)

    assert run["first_wait"] is not None and run["first_wait"]["p5"] == run["first_wait"]["p95"] == 30
    assert len(calls) == run["covers"] and run["status_calls_per_cover"] == 0
    assert run["outcomes"]["statuses"] == {"SUCCEEDED": run["covers"]}
    assert run["learner"]["observations"] == 0  # the fixed learner learns nothing
