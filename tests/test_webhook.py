"""MusicWebhookFunction: signed webhooks in, cover requests on the queue; everything else refused clearly."""

from __future__ import annotations

import json
import time

import boto3
import pytest
from covers_core.webhook import sign
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from covers_local.lambda_events import http_api_event
from tests.conftest import WEBHOOK_KEY, Aws, invoke, load_event


def post(
    body: bytes,
    *,
    key: str = WEBHOOK_KEY,
    at: float | None = None,
    b64: bool = True,
    signature: str | None = "auto",
) -> tuple[int, dict]:
    header = sign(key, body, int(at or time.time())) if signature == "auto" else signature
    response = invoke("music_webhook", http_api_event(body, signature=header, b64=b64))
    return response["statusCode"], json.loads(response["body"])


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
    ("signature", "at", "key"),
    [
        (None, None, WEBHOOK_KEY),  # no header
        ("t=abc,v1=00", None, WEBHOOK_KEY),  # malformed
        ("auto", time.time() - 3600, WEBHOOK_KEY),  # replayed an hour later
        ("auto", None, "some-other-key"),  # wrong key
    ],
)
def test_unsigned_stale_or_forged_requests_are_refused_and_nothing_is_queued(
    aws: Aws, signature: str | None, at: float | None, key: str
) -> None:
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
