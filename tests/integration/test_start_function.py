"""StartCoverFunction: request shapes, bad input, duplicates, vendor refusals — through the real handler,
on moto, against the vendor emulator."""

from __future__ import annotations

import base64
import json
from typing import Any

import boto3
import pytest
from covers_core.adapters.queues import restored
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from covers_local.emulator import VendorEmulator
from tests.support.harness import Aws, error_code, invoke, sqs_event
from tests.support.paths import load_event


def failures(response: dict) -> set[str]:
    return {f["itemIdentifier"] for f in response["batchItemFailures"]}


def test_the_sample_event_starts_one_cover_per_request(aws: Aws, emulator: VendorEmulator) -> None:
    response = invoke("start_cover", load_event("start_cover.json"))
    assert response == {"batchItemFailures": []}
    for task in ("gen123213213213123bksv", "gen998877665544332211", "gen555444333222111000"):
        record = aws.record(task)
        assert record.status == "IN_PROGRESS"
        assert record.cover_task_id == emulator.cover_by_music[task]
        assert (record.execution_arn or "").endswith(":" + task)
        assert emulator.stats.credits_charged[task] == 1
    assert aws.record("gen123213213213123bksv").correlation_id == "order-42"
    assert aws.record("gen123213213213123bksv").metadata == {"title": "Night Drive"}
    execution = boto3.client("stepfunctions").describe_execution(
        executionArn=str(aws.record("gen998877665544332211").execution_arn)
    )
    assert json.loads(execution["input"])["coverTaskId"] == emulator.cover_by_music["gen998877665544332211"]


def test_bad_messages_go_to_the_dlq_with_their_reason_and_the_batch_carries_on(
    aws: Aws, emulator: VendorEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    event = sqs_event(
        "not json",
        {"musicTaskId": "good-1"},
        {"taskId": 12},
        {"musicTaskId": "x", "metadata": "s"},
        {"musicTaskId": "good-2"},
    )
    response = invoke("start_cover", event)
    assert response == {"batchItemFailures": []}  # bad ones moved to the DLQ already: nothing to retry
    assert aws.record("good-1").status == aws.record("good-2").status == "IN_PROGRESS"
    letters = aws.dead_letters()
    reasons = sorted(letter["reason"] for letter in letters)
    assert len(reasons) == 3
    assert any("not valid JSON" in r for r in reasons)
    assert any("'taskId' must be a string" in r for r in reasons)
    assert any("'metadata' must be a JSON object" in r for r in reasons)
    assert {letter["body"] for letter in letters} == {
        "not json",
        '{"taskId": 12}',
        '{"musicTaskId": "x", "metadata": "s"}',
    }
    logged = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert any(line.startswith("rejected message msg-0: message body is not valid JSON") for line in logged)
    assert set(emulator.stats.generate_requests) == {"good-1", "good-2"}  # bad input never reaches the vendor


def test_a_bad_message_that_cannot_be_moved_is_left_for_the_redrive_policy(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", aws.dlq_url + "-missing")
    response = invoke("start_cover", sqs_event("not json", {"musicTaskId": "good-1"}))
    assert failures(response) == {"msg-0"}
    assert aws.record("good-1").status == "IN_PROGRESS"


def test_a_bad_body_sqs_refuses_as_text_is_kept_in_the_dlq_as_base64_of_its_bytes(aws: Aws) -> None:
    bodies = ["\x00", '{"musicTaskId": "gen\x1b1"}', '{"musicTaskId": "\ud800"}', "\ufffe"]
    response = invoke("start_cover", sqs_event(*bodies))
    assert response == {"batchItemFailures": []}
    letters = {m["MessageAttributes"]["originalMessageId"]["StringValue"]: m for m in take_dead_letters(aws)}
    assert sorted(letters) == ["msg-0", "msg-1", "msg-2", "msg-3"]
    for i, body in enumerate(bodies):
        letter = letters[f"msg-{i}"]
        assert letter["MessageAttributes"]["bodyEncoding"]["StringValue"] == "base64"
        assert base64.b64decode(letter["Body"]) == body.encode("utf-8", "surrogatepass")


def test_a_bad_message_too_large_to_copy_to_the_dlq_is_left_for_the_redrive_policy(aws: Aws) -> None:
    body = "x" * (256 * 1024 - 100)  # SQS delivered it; with the reason, its copy would be too large
    response = invoke("start_cover", sqs_event(body, {"musicTaskId": "good-1"}))
    assert failures(response) == {"msg-0"}  # SQS moves it, as it is, after MaxReceiveCount deliveries
    assert aws.dead_letters() == []
    assert aws.record("good-1").status == "IN_PROGRESS"


def test_duplicate_messages_in_one_batch_and_across_batches_spend_one_credit(
    aws: Aws, emulator: VendorEmulator
) -> None:
    first = invoke("start_cover", sqs_event({"musicTaskId": "dup"}, {"taskId": "dup"}, {"workId": "dup"}))
    second = invoke("start_cover", sqs_event({"musicTaskId": "dup"}))
    assert first == second == {"batchItemFailures": []}
    assert emulator.stats.generate_requests["dup"] == 1
    assert len(aws.executions()) == 1


def test_credits_exhausted_blocks_the_rest_of_the_batch_without_calling_the_vendor(
    aws: Aws, emulator: VendorEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "START_CONCURRENCY", "1"
    )  # one after the other (tests/integration/test_start_parallel.py: in parallel)
    emulator.credits = 1
    event = sqs_event(*({"musicTaskId": f"t{i}"} for i in range(5)))
    response = invoke("start_cover", event)
    assert failures(response) == {"msg-1", "msg-2", "msg-3", "msg-4"}  # kept on the queue, not failed
    assert aws.record("t0").status == "IN_PROGRESS"
    assert emulator.stats.generate_requests["t1"] == 1  # the one call that got 402
    assert all(emulator.stats.generate_requests[f"t{i}"] == 0 for i in (2, 3, 4))
    for i in range(1, 5):
        record = aws.record(f"t{i}")
        assert record.status == "BLOCKED"
        assert error_code(record.last_error) == "CREDITS_EXHAUSTED"
    assert aws.drain_events() == []  # BLOCKED is not terminal: no event

    emulator.recharge(10)  # the operator recharges; the messages come back (retry or redrive)
    assert invoke("start_cover", sqs_event(*({"musicTaskId": f"t{i}"} for i in range(1, 5)))) == {
        "batchItemFailures": []
    }
    assert all(aws.record(f"t{i}").status == "IN_PROGRESS" for i in range(5))
    assert all(emulator.stats.credits_charged[f"t{i}"] == 1 for i in range(5))


def test_a_bad_api_key_blocks_and_never_marks_anything_failed(aws: Aws, emulator: VendorEmulator) -> None:
    aws.put_secret(aws.api_key_secret_arn, "wrong")
    response = invoke("start_cover", sqs_event({"musicTaskId": "a"}, {"musicTaskId": "b"}))
    assert failures(response) == {"msg-0", "msg-1"}
    assert aws.record("a").status == aws.record("b").status == "BLOCKED"
    assert error_code(aws.record("a").last_error) == "VENDOR_AUTH_FAILED"
    assert sum(emulator.stats.generate_requests.values()) == 0  # 401 before the task is even looked at


def test_the_placeholder_secret_blocks_with_instructions(aws: Aws, emulator: VendorEmulator) -> None:
    aws.put_secret(aws.api_key_secret_arn, "SET-ME")
    response = invoke("start_cover", sqs_event({"musicTaskId": "a"}))
    assert failures(response) == {"msg-0"}
    record = aws.record("a")
    assert record.status == "BLOCKED" and record.last_error is not None
    assert "put-secret-value" in record.last_error.message
    assert emulator.stats.generate_requests["a"] == 0


def test_an_existing_cover_is_rejected_with_one_event(aws: Aws, emulator: VendorEmulator) -> None:
    emulator.add_existing_cover("made-elsewhere")
    assert invoke("start_cover", sqs_event({"musicTaskId": "made-elsewhere", "correlationId": "c9"})) == {
        "batchItemFailures": []
    }
    record = aws.record("made-elsewhere")
    assert (record.status, error_code(record.error)) == ("REJECTED", "COVER_ALREADY_EXISTS")
    events = aws.drain_events()
    assert [(e["detail-type"], e["detail"]["status"], e["detail"]["correlationId"]) for e in events] == [
        ("Cover Generation Failed", "REJECTED", "c9")
    ]


def test_an_unknown_music_task_is_retried_then_rejected(aws: Aws, emulator: VendorEmulator) -> None:
    event = sqs_event({"musicTaskId": "unknown-track"})
    assert failures(invoke("start_cover", event)) == {"msg-0"}
    assert failures(invoke("start_cover", event)) == {"msg-0"}
    assert aws.record("unknown-track").status == "GENERATING"
    assert invoke("start_cover", event) == {"batchItemFailures": []}  # third 404: give up
    record = aws.record("unknown-track")
    assert (record.status, error_code(record.error)) == ("REJECTED", "MUSIC_TASK_NOT_FOUND")
    assert emulator.stats.generate_requests["unknown-track"] == 3
    assert [e["detail"]["status"] for e in aws.drain_events()] == ["REJECTED"]


def test_a_late_registered_music_task_gets_its_cover_on_retry(aws: Aws, emulator: VendorEmulator) -> None:
    event = sqs_event({"musicTaskId": "late-track"})
    assert failures(invoke("start_cover", event)) == {"msg-0"}
    assert invoke("start_cover", event) == {"batchItemFailures": []}
    assert aws.record("late-track").status == "IN_PROGRESS"
    assert emulator.stats.credits_charged["late-track"] == 1


@pytest.mark.parametrize("fault", ["http_500", "http_503_html", "http_429", "code_in_body", "drop_before"])
def test_transient_vendor_faults_keep_the_message_and_the_retry_succeeds(
    aws: Aws, emulator: VendorEmulator, fault: str
) -> None:
    emulator.inject(fault, music_task_id="t")
    assert failures(invoke("start_cover", sqs_event({"musicTaskId": "t"}))) == {"msg-0"}
    assert aws.record("t").status == "GENERATING"
    assert invoke("start_cover", sqs_event({"musicTaskId": "t"})) == {"batchItemFailures": []}
    assert aws.record("t").status == "IN_PROGRESS"
    assert emulator.stats.credits_charged["t"] == 1
    assert aws.drain_events() == []  # never reported as a vendor failure


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.one_of(
        st.text(max_size=300),
        st.text(st.characters(codec=None, categories=None), max_size=30),  # lone surrogates too
        st.dictionaries(
            st.sampled_from(
                ["musicTaskId", "taskId", "workId", "metadata", "correlationId", "detail", "detail-type"]
            ),
            st.one_of(
                st.none(),
                st.integers(),
                st.text(max_size=30),
                st.lists(st.integers(), max_size=2),
                st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
            ),
            max_size=4,
        ).map(json.dumps),
    )
)
def test_arbitrary_bodies_never_crash_and_only_valid_ones_reach_the_vendor(
    aws: Aws, emulator: VendorEmulator, body: str
) -> None:
    named = named_id(body)
    assume(not (named or "").startswith(("unknown-", "late-", "lost-", "flaky-")))  # emulator scenario ids
    before = sum(emulator.stats.generate_requests.values())
    response = invoke("start_cover", sqs_event(body))
    assert response == {"batchItemFailures": []}  # started, a duplicate, or moved to the DLQ: never retried
    calls = sum(emulator.stats.generate_requests.values()) - before
    letters = take_dead_letters(aws)
    if letters:  # refused: in the DLQ (as SQS takes it, and as it was) with its reason, never at the vendor
        assert [
            (
                restored(m["Body"], m["MessageAttributes"]),
                bool(m["MessageAttributes"]["rejectReason"]["StringValue"]),
            )
            for m in letters
        ] == [(body.encode("utf-8", "surrogatepass"), True)]
        assert calls == 0
    else:  # accepted: it named a music task, which now has a record; at most one paid call for it
        assert named is not None
        assert aws.record(named).status in ("IN_PROGRESS", "REJECTED")
        assert calls <= 1


def take_dead_letters(aws: Aws) -> list[Any]:
    """Receive and delete what the DLQ holds (so each example sees only its own letters)."""
    sqs = boto3.client("sqs")
    messages = sqs.receive_message(
        QueueUrl=aws.dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages", [])
    for m in messages:
        sqs.delete_message(QueueUrl=aws.dlq_url, ReceiptHandle=m["ReceiptHandle"])
    return messages


def named_id(body: str) -> str | None:
    """The music task a body names, read independently of the parser: the first id key holding a string,
    in the object or in an EventBridge event's detail."""
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    if isinstance(doc, dict) and "detail" in doc and "detail-type" in doc and isinstance(doc["detail"], dict):
        doc = doc["detail"]
    if not isinstance(doc, dict):
        return None
    for key in ("musicTaskId", "taskId", "workId"):
        if doc.get(key) is not None:
            return doc[key] if isinstance(doc[key], str) else None
    return None


def test_no_vendor_call_starts_when_the_invocation_could_time_out_during_it(
    aws: Aws, emulator: VendorEmulator
) -> None:
    from covers_local.lambda_events import LambdaContext
    from tests.support.harness import handler

    # 10 s left; a vendor call may take connect + read timeout (3.05 + 15 s) + margin.
    response = handler("start_cover")(
        sqs_event({"musicTaskId": "a"}, {"musicTaskId": "b"}), LambdaContext("s", 10)
    )
    assert failures(response) == {"msg-0", "msg-1"}
    assert sum(emulator.stats.generate_requests.values()) == 0
    assert aws.find_record("a") is None  # not even claimed: the next delivery starts clean
