"""Invariant 1: at most one paid generate call per music task, whatever crashes, repeats or races.

Each test counts what the vendor emulator saw (generate requests that reached it, credits charged)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import boto3
import covers_core.wiring.start_cover as start_cover
import pytest
from covers_core.adapters.records import CoverStore
from covers_core.adapters.vendor import VendorClient
from covers_core.adapters.workflow import WorkflowStarter
from covers_core.domain.model import CoverRequest
from covers_core.domain.names import execution_name
from covers_core.errors import ClaimBusyError

from covers_local import moto_patches
from covers_local.emulator import VendorEmulator
from tests.support.harness import Aws, invoke, sqs_event


class Crash(Exception):
    """Stands for the function dying at that point (exception, timeout, out of memory)."""


def crash_once(monkeypatch: pytest.MonkeyPatch, owner: type, name: str, *, after: bool = False) -> None:
    """Make ``owner.name`` crash the first time it is called (before or after doing its work)."""
    original = getattr(owner, name)
    calls = {"n": 0}

    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1 and not after:
            raise Crash(f"crash before {name}")
        result = original(self, *args, **kwargs)
        if calls["n"] == 1:
            raise Crash(f"crash after {name}")
        return result

    monkeypatch.setattr(owner, name, wrapper)


def deliver(task: str) -> dict:
    """One delivery of a message for ``task``; a crash fails the whole invocation, as in Lambda."""
    try:
        return invoke("start_cover", sqs_event({"musicTaskId": task}))
    except Crash:
        return {"crashed": True}


def expire_claim(aws: Aws, task: str) -> None:
    """Let the claim's lease run out (as it would once the crashed invocation's time is up)."""
    boto3.resource("dynamodb").Table(aws.table_name).update_item(
        Key={"musicTaskId": task},
        UpdateExpression="SET claimExpiresAt = :past",
        ConditionExpression="claimExpiresAt > :zero",
        ExpressionAttributeValues={":past": 1, ":zero": 0},
    )


def test_crash_after_the_claim_before_generate(
    aws: Aws, emulator: VendorEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    crash_once(monkeypatch, VendorClient, "generate")
    deliver("t")
    assert aws.record("t").status == "GENERATING"
    # While the lease lives, a redelivery must not call the vendor: the claim holder may be mid-call.
    assert deliver("t")["batchItemFailures"] == [{"itemIdentifier": "msg-0"}]
    assert emulator.stats.generate_requests["t"] == 0
    expire_claim(aws, "t")
    assert deliver("t") == {"batchItemFailures": []}
    assert aws.record("t").status == "IN_PROGRESS"
    assert (emulator.stats.generate_requests["t"], emulator.stats.credits_charged["t"]) == (1, 1)


def test_crash_after_generate_before_the_cover_task_id_is_stored(
    aws: Aws, emulator: VendorEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    crash_once(monkeypatch, CoverStore, "record_cover_task")
    deliver("t")
    expire_claim(aws, "t")
    deliver("t")
    record = aws.record("t")
    # The credit was spent and the id is gone: say so, never "already exists", never a second credit.
    assert record.error is not None
    assert (record.status, record.error.code) == ("NEEDS_ATTENTION", "COVER_TASK_ID_LOST")
    assert "credit was probably spent" in record.error.message
    assert emulator.stats.credits_charged["t"] == 1
    assert [e["detail"]["status"] for e in aws.drain_events()] == ["NEEDS_ATTENTION"]


def test_crash_after_the_id_is_stored_before_start_execution(
    aws: Aws, emulator: VendorEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    crash_once(monkeypatch, WorkflowStarter, "start")
    deliver("t")
    assert aws.record("t").status == "IN_PROGRESS" and aws.record("t").execution_arn is None
    assert deliver("t") == {"batchItemFailures": []}
    assert aws.record("t").execution_arn
    assert len(aws.executions()) == 1
    assert emulator.stats.generate_requests["t"] == 1


def test_crash_after_start_execution_before_the_batch_response(
    aws: Aws, emulator: VendorEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    crash_once(monkeypatch, WorkflowStarter, "start", after=True)
    deliver("t")
    assert deliver("t") == {"batchItemFailures": []}
    assert len(aws.executions()) == 1  # the same execution name: no second workflow
    assert emulator.stats.generate_requests["t"] == 1


def test_a_lost_generate_answer_then_400_is_needs_attention(aws: Aws, emulator: VendorEmulator) -> None:
    emulator.inject("drop_after", music_task_id="t")
    assert deliver("t")["batchItemFailures"]  # ambiguous: kept for retry, claim released as uncertain
    assert aws.record("t").generate_uncertain is True
    deliver("t")
    assert aws.record("t").status == "NEEDS_ATTENTION"
    assert emulator.stats.credits_charged["t"] == 1


def test_a_lost_answer_that_was_never_processed_costs_one_credit_on_retry(
    aws: Aws, emulator: VendorEmulator
) -> None:
    emulator.inject("drop_before", music_task_id="t")
    deliver("t")
    assert deliver("t") == {"batchItemFailures": []}
    assert aws.record("t").status == "IN_PROGRESS"
    assert emulator.stats.credits_charged["t"] == 1


def test_redriving_everything_after_completion_spends_nothing(aws: Aws, emulator: VendorEmulator) -> None:
    for task in ("a", "b"):
        deliver(task)
    before = sum(emulator.stats.generate_requests.values())
    assert invoke("start_cover", sqs_event({"musicTaskId": "a"}, {"musicTaskId": "b"}, {"taskId": "a"})) == {
        "batchItemFailures": []
    }
    assert sum(emulator.stats.generate_requests.values()) == before


@pytest.fixture
def serialised_moto() -> Iterator[None]:
    """DynamoDB applies a conditional write atomically; moto checks then writes. Serialise moto's
    requests so the test exercises our conditions, not moto's internals."""
    with moto_patches.atomic_dynamodb():
        yield


def test_parallel_invocations_call_generate_once_per_task(
    aws: Aws, emulator: VendorEmulator, serialised_moto: None
) -> None:
    emulator.config.latency_seconds = 0.3
    emulator.inject("latency", times=100)  # keep the vendor call open while the others race
    starter = start_cover.starter()  # the domain object the handler uses; one per "container" below
    tasks = ["same"] * 8 + [f"distinct-{i}" for i in range(8)]
    outcomes: list[str] = []
    barrier = threading.Barrier(len(tasks))

    def container(task: str) -> None:
        barrier.wait()
        try:
            outcomes.append(starter.start(CoverRequest(task)).action)
        except ClaimBusyError:
            outcomes.append("busy")

    threads = [threading.Thread(target=container, args=(t,)) for t in tasks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert emulator.stats.generate_requests["same"] == 1
    assert all(emulator.stats.generate_requests[f"distinct-{i}"] == 1 for i in range(8))
    assert outcomes.count("started") == 9  # one for "same", one per distinct task
    # "resumed": a racer read the record between the winner's two writes (the cover task id, then the
    # execution) and started the same-named execution, which Step Functions refuses as already existing.
    assert set(outcomes) <= {"started", "busy", "duplicate", "resumed"}
    assert [e["name"] for e in aws.executions()].count(execution_name("same")) == 1
    # The losers' messages are retried later and find the task IN_PROGRESS: nothing more to pay.
    assert starter.start(CoverRequest("same")).action == "duplicate"
