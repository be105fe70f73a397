"""StartCoverFunction runs the requests of a batch in parallel (StartConcurrency workers) and keeps every
batch rule: one credit per music task, exact partial batch failures, the vendor's refusal parks what has
not started, bad messages go to the DLQ, and each log line names its own music task."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from covers_core import log_context

from covers_local.emulator import VendorEmulator
from tests.support.harness import Aws, error_code, invoke, sqs_event


def failures(response: dict) -> set[str]:
    return {f["itemIdentifier"] for f in response["batchItemFailures"]}


@pytest.fixture
def slow_vendor(emulator: VendorEmulator) -> VendorEmulator:
    emulator.config.base_latency_seconds = 0.3  # every vendor answer takes 300 ms
    return emulator


class TaskLines(logging.Handler):
    """Keeps (message, musicTaskId) of each line covers_core logs, as the function's log handler sees it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        log_context.install(self)
        self.lines: list[tuple[str, str | None]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.getMessage(), getattr(record, "musicTaskId", None)))


@pytest.fixture
def task_lines() -> Iterator[TaskLines]:
    # The handler copies its log config onto covers_core's loggers (no propagation): listen on the one.
    handler, logger = TaskLines(), logging.getLogger("covers_core.logic.batch")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def test_a_batch_of_ten_against_a_slow_vendor_starts_all_ten_with_exact_failures(
    aws: Aws, slow_vendor: VendorEmulator, task_lines: TaskLines
) -> None:
    slow_vendor.inject("http_503_html", music_task_id="t3")
    bodies = [{"musicTaskId": f"t{i}"} for i in range(10)]
    response = invoke("start_cover", sqs_event(*bodies[:5], "not json", *bodies[5:]))
    assert failures(response) == {"msg-3"}  # t3's transient fault only; the bad body went to the DLQ
    assert [letter["body"] for letter in aws.dead_letters()] == ["not json"]
    for i in range(10):
        assert aws.record(f"t{i}").status == ("GENERATING" if i == 3 else "IN_PROGRESS")
        assert slow_vendor.stats.credits_charged[f"t{i}"] == (0 if i == 3 else 1)
    assert len(aws.executions()) == 9
    assert slow_vendor.stats.peak_in_flight > 1  # the vendor saw calls overlap
    # Each worker logs under its own music task.
    assert ("leaving the message for a later delivery", "t3") in [
        (message.split(":")[0], task) for message, task in task_lines.lines
    ]

    assert invoke("start_cover", sqs_event(bodies[3])) == {"batchItemFailures": []}  # the retry
    assert aws.record("t3").status == "IN_PROGRESS"
    assert sum(slow_vendor.stats.credits_charged.values()) == 10


def test_duplicates_in_one_parallel_batch_spend_one_credit_and_are_not_retried(
    aws: Aws, slow_vendor: VendorEmulator
) -> None:
    bodies = [{"musicTaskId": "dup"}, {"musicTaskId": "other-1"}, {"taskId": "dup"}, {"workId": "dup"}]
    bodies += [{"musicTaskId": "other-2"}, {"musicTaskId": "dup", "correlationId": "c"}]
    assert invoke("start_cover", sqs_event(*bodies)) == {"batchItemFailures": []}
    assert slow_vendor.stats.generate_requests["dup"] == 1
    assert slow_vendor.stats.credits_charged == {"dup": 1, "other-1": 1, "other-2": 1}
    assert len(aws.executions()) == 3


def test_credits_running_out_mid_batch_park_the_requests_not_yet_started(
    aws: Aws, slow_vendor: VendorEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("START_CONCURRENCY", "2")
    slow_vendor.credits = 1
    tasks = [f"t{i}" for i in range(8)]
    response = invoke("start_cover", sqs_event(*({"musicTaskId": t} for t in tasks)))
    statuses = {t: aws.record(t).status for t in tasks}
    assert sorted(statuses.values()) == ["BLOCKED"] * 7 + ["IN_PROGRESS"]
    blocked = {t for t, status in statuses.items() if status == "BLOCKED"}
    assert failures(response) == {f"msg-{tasks.index(t)}" for t in blocked}  # kept on the queue
    assert all(error_code(aws.record(t).last_error) == "CREDITS_EXHAUSTED" for t in blocked)
    # Two workers: each makes at most one call that gets 402, plus the one paid call; the rest are parked.
    assert 2 <= sum(slow_vendor.stats.generate_requests.values()) <= 3
    assert sum(slow_vendor.stats.credits_charged.values()) == 1
    assert aws.drain_events() == []  # BLOCKED is not terminal: no event


def test_a_bad_api_key_blocks_a_parallel_batch_without_failing_anything(
    aws: Aws, slow_vendor: VendorEmulator
) -> None:
    aws.put_secret(aws.api_key_secret_arn, "wrong")
    response = invoke("start_cover", sqs_event(*({"musicTaskId": f"k{i}"} for i in range(6)), "{}"))
    assert failures(response) == {f"msg-{i}" for i in range(6)}
    assert {aws.record(f"k{i}").status for i in range(6)} == {"BLOCKED"}
    assert len(aws.dead_letters()) == 1  # the bad message still goes to the DLQ
    assert sum(slow_vendor.stats.credits_charged.values()) == 0
