"""The load simulation's mechanics (bench/load) that would be wrong silently: concurrency limits, the ASL's
Parameters and Retry delays (the poll loop), atomic counters, the template's settings per deployment, and
Little's law on a small run. Virtual time only."""

from __future__ import annotations

import argparse
import itertools
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from covers_core.adapters.poll_stats import LearnedWaitStore
from covers_core.domain.first_wait import Observation
from covers_core.domain.model import CheckResult, CheckStatus
from covers_core.errors import NOT_READY_ERRORS, PollAgainError, PollIn5sError, PollIn30sError

from bench.load import asl
from bench.load.__main__ import main as load_main
from bench.load.dynamo import SimPollStatsTable, Usage
from bench.load.engine import Sim
from bench.load.lambdas import FunctionSpec, Invocation, LambdaService, TooManyRequests
from bench.load.learners import FixedSchedule
from bench.load.mixes import MIXES, Arrival, replay
from bench.load.pipeline import simulate
from bench.load.report import summarise
from bench.load.settings import RefusedParameters
from bench.load.sqs import EventSource, Message, RequestQueue
from bench.load.stack import CHECK, Config, Stack
from covers_local.template import project_root

ASL = project_root() / "statemachine" / "cover_workflow.asl.json"
RESOURCES = {"CheckCoverStatusFunctionArn": CHECK, "FinalizeCoverFunctionArn": "FinalizeCoverFunction"}
LOGNORMAL = MIXES["lognormal(45s, 0.5)"]
EXECUTION_INPUT = {
    "musicTaskId": "m",
    "coverTaskId": "ct-m",
    "generatedAt": "2026-01-01T00:00:00Z",
    "correlationId": None,
    "firstWaitSeconds": 7,
    "pollIntervalSeconds": 3,
    "pollInLambda": True,
}


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


def retrier_of(error: str) -> dict[str, Any]:
    doc = json.loads(ASL.read_text())
    return next(r for r in doc["States"]["CheckCoverStatus"]["Retry"] if error in r["ErrorEquals"])


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

    ended = asl.run(machine, dict(EXECUTION_INPUT), invoke, clock)
    return ended, attempts, finalized


def test_retry_delays_follow_the_asl_then_catch_finalizes() -> None:
    retrier = retrier_of("Lambda.TooManyRequestsException")
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


def test_the_poll_loop_is_the_not_ready_retry_blocks_with_the_retry_count_as_attempt() -> None:
    """Each not-ready error waits its own cadence; the check gets only its Parameters, with
    ``$$.State.RetryCount`` counting the retries of every Retry block (a throttle too); finalize gets the
    execution's input with the check's result at ``$.check``."""
    machine = asl.StateMachine.load(ASL, RESOURCES)
    clock = FakeClock(pick=1.0)
    script: list[type[Exception] | None] = [
        PollAgainError,
        TooManyRequests,
        PollIn5sError,
        PollIn30sError,
        None,
    ]
    checks: list[tuple[float, dict[str, Any]]] = []
    finalized: dict[str, Any] = {}
    result = CheckResult(CheckStatus.SUCCESS, 9, images=("u",), first_wait=7).to_state()

    def invoke(function: str, payload: Any) -> Any:
        if function != CHECK:
            finalized.update(payload)
            return {"status": "SUCCEEDED"}
        checks.append((clock.now, payload))
        error = script.pop(0)
        if error is not None:
            raise error("not ready")
        return result

    ended = asl.run(machine, {**EXECUTION_INPUT, "extra": "not for the check"}, invoke, clock)

    assert [p["attempt"] for _, p in checks] == [0, 1, 2, 3, 4]
    fields = {k for k in EXECUTION_INPUT if k != "correlationId"} - {"attempt"}
    assert all(set(p) == fields | {"correlationId", "attempt"} for _, p in checks)  # not "extra"
    throttle = retrier_of("Lambda.TooManyRequestsException")["IntervalSeconds"]  # FULL jitter, top
    waits = [b - a for (a, _), (b, _) in itertools.pairwise(checks)]
    assert waits == [PollAgainError.cadence, throttle, PollIn5sError.cadence, PollIn30sError.cadence]
    assert [retrier_of(e.__name__)["IntervalSeconds"] for e in NOT_READY_ERRORS] == [
        e.cadence for e in NOT_READY_ERRORS
    ]
    assert finalized["check"] == result and finalized["extra"] == "not for the check"
    assert "attempt" not in finalized  # ResultPath works on the state's input, not its Parameters
    assert ended.status == "SUCCEEDED" and ended.transitions == 3 + 4 and ended.retries == 4


def test_a_parameters_path_missing_from_the_input_fails_the_execution_uncaught() -> None:
    machine = asl.StateMachine.load(ASL, RESOURCES)
    called: list[str] = []

    def invoke(function: str, payload: Any) -> Any:
        called.append(function)
        return {}

    data = {k: v for k, v in EXECUTION_INPUT.items() if k != "coverTaskId"}
    ended = asl.run(machine, data, invoke, FakeClock(1.0))
    assert ended.status == "FAILED" and ended.error == "States.Runtime"
    assert called == []  # not even the Catch's FinalizeCover: States.Runtime is not caught


def test_an_unmodelled_context_path_or_key_is_refused_when_loaded(tmp_path: Path) -> None:
    doc = json.loads(ASL.read_text())
    doc["States"]["CheckCoverStatus"]["Parameters"]["entered.$"] = "$$.State.EnteredTime"
    changed = tmp_path / "asl.json"
    changed.write_text(json.dumps(doc))
    with pytest.raises(asl.Unsupported, match="EnteredTime"):
        asl.StateMachine.load(changed, RESOURCES)
    del doc["States"]["CheckCoverStatus"]["Parameters"]["entered.$"]
    doc["States"]["CheckCoverStatus"]["ResultSelector"] = {"status.$": "$.status"}
    changed.write_text(json.dumps(doc))
    with pytest.raises(asl.Unsupported, match="ResultSelector"):
        asl.StateMachine.load(changed, RESOURCES)


def test_an_execution_past_its_limit_times_out_in_a_retry_wait() -> None:
    machine = asl.StateMachine.load(ASL, RESOURCES)
    clock = FakeClock(1.0)
    calls: list[str] = []

    def invoke(function: str, payload: Any) -> Any:
        calls.append(function)
        raise PollIn30sError("not ready")

    ended = asl.run(machine, dict(EXECUTION_INPUT), invoke, clock, max_seconds=300.0)
    assert ended.status == "TIMED_OUT" and ended.seconds == 300.0 and clock.now == 300.0
    assert set(calls) == {CHECK}  # no finalize: the execution is over (the record stays open)
    assert len(calls) == 1 + (300 - 7) // PollIn30sError.cadence


def test_concurrent_adds_to_the_stats_table_never_lose_and_are_billed_by_item_size() -> None:
    sim = Sim(3)
    usage = Usage()
    table = SimPollStatsTable(lambda: sim.sleep(0.01), usage)
    now = datetime(2026, 1, 1, 0, 0, 30, tzinfo=UTC)
    early = Observation(first_wait=20, ready_at_first_check=True, detected_after=20)
    late = Observation(first_wait=20, ready_at_first_check=False, detected_after=45)
    for i in range(50):  # overlapping writes (each takes 10 ms, one starts every ms)
        observation = early if i % 2 else late
        sim.spawn(
            lambda o=observation: LearnedWaitStore(table).observe(["*", "t:slow"], o, now), delay=i / 1000
        )
    sim.run()

    table.latency = lambda: None  # read outside the simulation
    minute = LearnedWaitStore(table).recent("*", now)[0]  # the current minute first
    assert minute.covers == 50 and sum(minute.early.values()) == 25 and sum(minute.detected.values()) == 25
    assert LearnedWaitStore(table).recent("t:slow", now)[0].covers == 50
    assert table.updates == 100 and usage.stats_wcu == 100  # small items: 1 WCU each
    big = {"name": "fw|*|x", **{f"w{k}": 123_456_789 for k in range(150)}}  # over 1 KB
    table.items["fw|*|x"] = big
    table.update_item(
        Key={"name": "fw|*|x"},
        UpdateExpression="ADD #c0 :one",
        ExpressionAttributeNames={"#c0": "w1"},
        ExpressionAttributeValues={":one": 1},
    )
    assert usage.stats_wcu == 102


def test_the_table_refuses_an_update_it_does_not_model() -> None:
    table = SimPollStatsTable(lambda: None, Usage())
    with pytest.raises(NotImplementedError):
        table.update_item(
            Key={"name": "k"},
            UpdateExpression="SET #a = #a + :one",
            ExpressionAttributeNames={"#a": "w1"},
            ExpressionAttributeValues={":one": 1},
        )


def test_express_gets_the_templates_settings_and_rules() -> None:
    standard = Stack(LOGNORMAL, 1.0, Config())
    assert standard.workflow_type == "STANDARD" and standard.max_execution_seconds is None
    assert standard.check_settings.polling.budget > 0
    express = Stack(LOGNORMAL, 1.0, Config(parameters={"WorkflowType": "EXPRESS", "PollMaxWaitSeconds": 240}))
    assert express.workflow_type == "EXPRESS" and express.max_execution_seconds == 300
    assert express.check_settings.polling.budget == 0  # the template's !If on ExpressWorkflow
    assert express.check_settings.deadline == 240
    with pytest.raises(RefusedParameters, match="ExpressFitsFiveMinutes"):
        Stack(LOGNORMAL, 1.0, Config(parameters={"WorkflowType": "EXPRESS"}))  # deadline 900 s
    with pytest.raises(RefusedParameters, match="PollInvocationBudgetSeconds"):
        Stack(LOGNORMAL, 1.0, Config(parameters={"PollInvocationBudgetSeconds": 61}))


@pytest.fixture(scope="module")
def small_run() -> dict[str, Any]:
    stack = simulate(LOGNORMAL, 2.0, Config(duration=600.0, warmup=200.0, max_covers=None))
    return summarise(stack, 0.0)


def test_littles_law_mean_concurrency_is_rate_times_lambda_seconds(small_run: dict[str, Any]) -> None:
    check = small_run["lambda"][CHECK]
    arrivals_per_second = small_run["covers"] / (small_run["duration"] - small_run["warmup"])
    expected = arrivals_per_second * check["seconds_per_cover"]
    assert check["mean_concurrency"] == pytest.approx(expected, rel=0.10)
    assert small_run["outcomes"]["statuses"] == {"SUCCEEDED": small_run["covers"]}


def test_the_learned_schedule_moves_off_the_templates_fallback(small_run: dict[str, Any]) -> None:
    first, last = small_run["plan_evolution"][0], small_run["plan_evolution"][-1]
    # PollFirstWaitSeconds until 40 covers taught it: most of the first 120 s of arrivals (the 40th cover
    # ends ~85 s in at 2/s), so its median, not every plan of it
    assert first["first_wait"]["p50"] == 20
    assert last["first_wait"]["p50"] != 20 and last["poll_interval"]["p50"] > 3
    assert small_run["learner"]["observations"] > small_run["covers"]  # every SUCCEEDED cover taught


def test_a_seed_gives_the_same_figures(small_run: dict[str, Any]) -> None:
    again = summarise(simulate(LOGNORMAL, 2.0, Config(duration=600.0, warmup=200.0, max_covers=None)), 0.0)
    assert again == small_run


def test_a_slow_tenant_gets_a_plan_of_its_own() -> None:
    mix = MIXES["lognormal, 10% tenant 'slow' x3"]
    run = summarise(simulate(mix, 2.0, Config(duration=1200.0, warmup=600.0, max_covers=None)), 0.0)
    slow, regular, none = (run["by_tenant"][t] for t in ("slow", "regular", "(none)"))
    assert slow["covers"] and regular["covers"] and none["covers"]
    assert slow["first_wait"]["p50"] > 2 * regular["first_wait"]["p50"]
    assert regular["first_wait"]["p50"] == pytest.approx(none["first_wait"]["p50"], rel=0.25)


def test_a_plugged_in_learner_and_check_behaviour_are_the_ones_that_run() -> None:
    calls: list[str] = []

    def instant_check(payload: dict[str, Any], invocation: Invocation) -> dict[str, Any]:
        calls.append(payload["musicTaskId"])
        return CheckResult(CheckStatus.SUCCESS, 1, images=("u",)).to_state()

    config = Config(
        duration=120.0,
        warmup=0.0,
        tail=0.0,
        max_covers=None,
        learner=lambda stack: FixedSchedule(30, 7),
        tasks={CHECK: lambda stack: instant_check},
    )
    run = summarise(simulate(LOGNORMAL, 1.0, config), 0.0)

    assert run["first_wait"] is not None and run["first_wait"]["p5"] == run["first_wait"]["p95"] == 30
    assert run["poll_interval"] is not None and run["poll_interval"]["p50"] == 7
    assert len(calls) == run["covers"] and run["status_calls_per_cover"] == 0
    assert run["outcomes"]["statuses"] == {"SUCCEEDED": run["covers"]}
    assert run["learner"]["observations"] == 0  # the fixed schedule learns nothing


def test_the_cli_help_prints(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.argv", ["python -m bench.load", "--help"])
    with pytest.raises(SystemExit) as exited:
        load_main()
    assert exited.value.code == 0
    assert "bimodal 90% ~35s" in capsys.readouterr().out


def test_the_cli_takes_a_mix_or_variant_by_the_start_of_its_name() -> None:
    from bench.load.__main__ import _one_of

    variants = _one_of(
        ["STANDARD (template defaults)", "STANDARD, PollInvocationBudgetSeconds=0", "EXPRESS, x"]
    )
    assert variants("standard") == "STANDARD (template defaults)"
    assert variants("STANDARD, Poll") == "STANDARD, PollInvocationBudgetSeconds=0"
    assert variants("express") == "EXPRESS, x"
    with pytest.raises(argparse.ArgumentTypeError, match="names none"):
        variants("lambda")


def test_a_replayed_workload_arrives_and_gets_ready_exactly_as_given() -> None:
    given = [Arrival(40.0, 70.0), Arrival(1.0, 12.5), Arrival(5.0, 30.0)]
    config = Config(duration=41.0, warmup=0.0, tail=0.0, max_covers=None)
    stack = simulate(replay("given", given), 0.3, config)  # its draw raises: every latency is given

    covers = sorted(stack.covers.values(), key=lambda c: c.arrived)
    assert [(c.task, c.arrived) for c in covers] == [("m0000001", 1.0), ("m0000002", 5.0), ("m0000003", 40.0)]
    assert [c.ready_at - c.generated for c in covers if c.ready_at and c.generated] == pytest.approx(
        [12.5, 30.0, 70.0]
    )
    assert [c.status for c in covers] == ["SUCCEEDED"] * 3
    # The template's 20 s first wait: only the first is ready at its first check.
    assert [c.status_calls == 1 for c in covers] == [True, False, False]
    assert summarise(stack, 0.0)["covers"] == 3
