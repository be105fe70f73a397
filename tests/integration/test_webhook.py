"""MusicWebhookFunction: signed webhooks in, cover requests on the queue; everything else refused clearly."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from typing import Any

import boto3
import pytest
from covers_core.adapters.queues import restored
from covers_core.domain.signature import sign
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from covers_local.lambda_events import http_api_event
from tests.support.harness import Aws, invoke
from tests.support.paths import WEBHOOK_KEY, load_event


def post(
    body: bytes,
    *,
    key: str = WEBHOOK_KEY,
    at: float | None = None,
    b64: bool = True,
    signature: str | None = "auto",
    content_type: str | None = "application/json",
    request_id: str = "local-request",
) -> tuple[int, dict]:
    header = sign(key, body, int(at or time.time())) if signature == "auto" else signature
    event = http_api_event(body, signature=header, b64=b64, content_type=content_type, request_id=request_id)
    response = invoke("music_webhook", event)
    return response["statusCode"], json.loads(response["body"])


def take_dead_letters(aws: Aws) -> list[Any]:
    """Receive and delete what the DLQ holds (so each example sees only its own letters)."""
    sqs = boto3.client("sqs")
    messages = sqs.receive_message(
        QueueUrl=aws.dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages", [])
    for m in messages:
        sqs.delete_message(QueueUrl=aws.dlq_url, ReceiptHandle=m["ReceiptHandle"])
    return messages


def queued(aws: Aws) -> list[dict]:
    msgs = (
        boto3.client("sqs")
        .receive_message(QueueUrl=aws.queue_url, MaxNumberOfMessages=10)
        .get("Messages", [])
    )
    return [json.loads(m["Body"]) for m in msgs]


def test_a_signed_upstream_event_is_queued_as_a_cover_request(aws: Aws) -> None:
    body = json.dumps(load_event("upstream_music_completed.json")).encode()
    status, answer = post(body, b64=False)
    assert (status, answer["musicTaskId"]) == (202, "gen998877665544332211")
    assert queued(aws) == [{"musicTaskId": "gen998877665544332211", "correlationId": "order-43"}]


@pytest.mark.parametrize(
    ("signature", "age", "key"),
    [
        (None, 0, WEBHOOK_KEY),  # no header
        ("t=abc,v1=00", 0, WEBHOOK_KEY),  # malformed
        ("auto", 3600, WEBHOOK_KEY),  # replayed an hour later
        ("auto", 0, "some-other-key"),  # wrong key
        ("t=1" + "0" * 400 + ",v1=" + "0" * 64, 0, WEBHOOK_KEY),  # a timestamp too big for a float
        ("t=1700000000,v1=é", 0, WEBHOOK_KEY),  # not ASCII
        ("t=1700000000,v1=" + "A" * 64, 0, WEBHOOK_KEY),  # not lowercase hex
        ("t=1,t=2,v1=" + "0" * 64, 0, WEBHOOK_KEY),  # two timestamps
        ("t=1700000000, v1=" + "0" * 64 + ",garbage", 0, WEBHOOK_KEY),  # an item that is not key=value
    ],
    ids=["none", "malformed", "replayed", "wrong-key", "huge-t", "non-ascii", "upper-hex", "two-t", "junk"],
)
def test_unsigned_stale_or_forged_requests_are_refused_and_nothing_is_queued(
    aws: Aws, signature: str | None, age: int, key: str
) -> None:
    at = time.time() - age
    status, answer = post(b'{"musicTaskId": "gen1"}', key=key, at=at, signature=signature)
    assert (status, answer) == (401, {"error": "invalid or missing signature"})
    assert queued(aws) == [] and aws.dead_letters() == []


def test_an_authentic_but_unusable_body_is_refused_with_its_reason_and_kept_in_the_dlq(aws: Aws) -> None:
    status, answer = post(b'{"title": "no id here"}')
    assert status == 400 and "no music task id" in answer["error"]
    (letter,) = aws.dead_letters()
    assert letter["body"] == '{"title": "no id here"}'
    assert "no music task id" in letter["reason"]
    assert queued(aws) == []


def test_oversized_bodies_are_refused(aws: Aws) -> None:
    status, answer = post(b"x" * (256 * 1024 + 1))
    assert status == 413 and "bytes" in answer["error"]


def test_a_body_that_is_not_base64_when_it_says_so(aws: Aws) -> None:
    event = http_api_event(b"", signature="t=1,v1=0") | {"body": "%%%", "isBase64Encoded": True}
    assert invoke("music_webhook", event)["statusCode"] == 400


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=400))
def test_any_signed_byte_string_gets_a_clear_answer_and_never_crashes(aws: Aws, body: bytes) -> None:
    status, answer = post(body)
    assert status in (202, 400)
    assert ("musicTaskId" in answer) if status == 202 else answer["error"]
    letters = take_dead_letters(aws)  # the DLQ takes only what real SQS takes (the aws fixture)
    if status == 400:  # kept, byte for byte
        assert [restored(m["Body"], m["MessageAttributes"]) for m in letters] == [body]
    else:
        assert letters == []


@pytest.mark.parametrize(
    "body",
    [b"\x00", b'{"musicTaskId": "gen\x1b1"}', b"\xff{", b'{"musicTaskId": "\xed\xa0\x80"}', b"\xef\xbf\xbe"],
    ids=["nul", "escape", "not-utf8", "encoded-surrogate", "noncharacter"],
)
def test_an_authentic_body_sqs_refuses_as_text_is_kept_in_the_dlq_as_base64_of_its_bytes(
    aws: Aws, body: bytes
) -> None:
    status, answer = post(body, request_id="req-7")
    assert status == 400 and answer["error"]
    (letter,) = take_dead_letters(aws)
    attributes = letter["MessageAttributes"]
    assert attributes["bodyEncoding"]["StringValue"] == "base64"
    assert base64.b64decode(letter["Body"]) == body
    assert attributes["rejectReason"]["StringValue"] == answer["error"]
    assert attributes["originalMessageId"]["StringValue"] == "req-7"


def test_a_rejected_body_too_large_to_keep_in_the_dlq_is_refused_and_logged(
    aws: Aws, caplog: pytest.LogCaptureFixture
) -> None:
    body = b"\x00" * (256 * 1024)  # the webhook takes it; its base64 copy would be 341 KiB
    status, answer = post(body)
    assert status == 400 and answer["error"]
    assert aws.dead_letters() == []
    assert "not kept in the DLQ" in caplog.text and hashlib.sha256(body).hexdigest() in caplog.text


HEADER_TEXT = st.one_of(
    st.text(max_size=200),
    st.builds(
        lambda t, v: f"t={t},v1={v}",
        st.one_of(st.integers(min_value=-(10**500), max_value=10**500).map(str), st.text(max_size=20)),
        st.one_of(st.text(max_size=70), st.text("0123456789abcdef", min_size=64, max_size=64)),
    ),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.one_of(st.binary(max_size=300), st.just(b"[" * 5000 + b"]" * 5000)),
    signature=st.one_of(st.none(), HEADER_TEXT, st.just("auto")),
    content_type=st.one_of(
        st.none(), st.text(max_size=40), st.sampled_from(["application/json", "text/plain"])
    ),
    b64=st.booleans(),
)
def test_the_webhook_never_answers_500_whatever_the_headers_and_body(
    aws: Aws, body: bytes, signature: str | None, content_type: str | None, b64: bool
) -> None:
    status, answer = post(body, signature=signature, content_type=content_type, b64=b64)
    assert status in (202, 400, 401, 413, 415)
    assert answer.get("error") or status == 202


def test_a_non_json_content_type_is_refused_with_415(aws: Aws) -> None:
    status, answer = post(b'{"musicTaskId": "gen1"}', content_type="application/x-www-form-urlencoded")
    assert (status, answer) == (415, {"error": "Content-Type must be application/json"})
    assert post(b'{"musicTaskId": "gen1"}', content_type="application/json; charset=utf-8")[0] == 202
    assert queued(aws) == [{"musicTaskId": "gen1"}]


def test_a_body_nested_too_deep_is_refused_and_kept_with_its_reason(aws: Aws) -> None:
    body = b'{"musicTaskId": "gen1", "metadata": ' + b'{"a": ' * 5000 + b"1" + b"}" * 5001
    status, answer = post(body)
    assert status == 400 and "nests deeper than" in answer["error"]
    (letter,) = aws.dead_letters()
    assert "nests deeper than" in letter["reason"]


def test_after_a_rotation_both_the_new_and_the_previous_key_are_accepted(aws: Aws) -> None:
    secrets = boto3.client("secretsmanager")
    webhook_secret = aws.webhook_secret_arn
    secrets.put_secret_value(SecretId=webhook_secret, SecretString="the-new-key")  # old -> AWSPREVIOUS
    assert post(b'{"musicTaskId": "old"}', key=WEBHOOK_KEY)[0] == 202  # senders not switched yet
    assert post(b'{"musicTaskId": "new"}', key="the-new-key")[0] == 202  # senders already switched
    assert post(b'{"musicTaskId": "x"}', key="never-a-key")[0] == 401
    secrets.put_secret_value(SecretId=webhook_secret, SecretString="the-newest-key")  # next rotation
    assert post(b'{"musicTaskId": "old2"}', key=WEBHOOK_KEY)[0] == 401  # two rotations ago: gone


def test_covers_webhook_event_prints_an_event_the_function_accepts(
    aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    from covers_local import cli

    assert cli.main(["webhook-event", "--secret", WEBHOOK_KEY, "--music-task-id", "gen-from-cli"]) == 0
    event = json.loads(capsys.readouterr().out)
    assert invoke("music_webhook", event)["statusCode"] == 202
    assert queued(aws) == [{"musicTaskId": "gen-from-cli"}]


def test_the_sample_event_is_refused_until_signed_afresh_with_your_key(aws: Aws) -> None:
    response = invoke("music_webhook", load_event("music_webhook.json"))
    assert response["statusCode"] == 401  # signed with "abc" long ago: regenerate with `covers webhook-event`
