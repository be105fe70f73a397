"""Secrets are redacted from log lines in every form a line shows them, from the moment the Secrets
Manager client sees them (docs/security.md, "Secrets in logs": no secret in any log line)."""

from __future__ import annotations

import base64
import json
import logging
import uuid

import pytest
from covers_core import redaction
from covers_core.adapters import secrets
from hypothesis import given, settings
from hypothesis import strategies as st


def logged(fmt: str, *args: object) -> str:
    """The message of a record made now, as every handler would get it."""
    record = logging.getLogRecordFactory()("botocore.parsers", logging.DEBUG, __file__, 1, fmt, args, None)
    return record.getMessage()


def body_line(body: bytes) -> str:
    return logged("Response body:\n%r", body)  # what botocore.parsers logs at DEBUG


@settings(max_examples=200, derandomize=True)
@given(prefix=st.text(), ascii_only=st.booleans())
def test_a_secret_read_is_redacted_from_the_response_body_line_however_it_is_spelled(
    prefix: str, ascii_only: bool
) -> None:
    token = uuid.uuid4().hex  # each example its own: an earlier example's forms cannot hide a leak
    secret = prefix + token
    body = json.dumps({"Name": "s", "SecretString": secret}, ensure_ascii=ascii_only).encode()
    secrets._register_response(response_dict={"body": body})
    line = body_line(body)
    assert token not in line
    assert token not in logged("read %s", secret)  # and as it is, wherever the value goes later


def test_a_secret_spelled_with_escapes_json_dumps_does_not_use_is_redacted_as_the_body_spells_it() -> None:
    token = uuid.uuid4().hex
    # Uppercase hex escapes and an escaped slash: valid JSON that Python's encoder never writes.
    body = ('{"Name":"s","SecretString":"sig\\u001Bnal\\/' + token + '"}').encode()
    secrets._register_response(response_dict={"body": body})
    assert json.loads(body)["SecretString"] == "sig\x1bnal/" + token
    line = body_line(body)
    assert "Response body" in line and token not in line


def test_every_string_of_a_json_secret_is_redacted_from_the_body_line() -> None:
    key, user = "k-" + uuid.uuid4().hex, 'us"er-' + uuid.uuid4().hex
    body = json.dumps({"SecretString": json.dumps({"apiKey": key, "user": user, "port": 1})}).encode()
    secrets._register_response(response_dict={"body": body})
    line = body_line(body)
    assert key[2:] not in line and user[6:] not in line


def test_a_binary_secret_is_redacted_as_base64_and_as_text() -> None:
    text = "binary-" + uuid.uuid4().hex
    encoded = base64.b64encode(text.encode()).decode()
    body = json.dumps({"SecretBinary": encoded}).encode()
    secrets._register_response(response_dict={"body": body})
    assert encoded not in body_line(body)
    assert text not in logged("read %s", text)


def test_a_secret_sent_is_redacted_from_the_request_line() -> None:
    token = uuid.uuid4().hex
    params = {"SecretId": "s", "SecretString": f"new'key\\{token}"}
    secrets._register_request(params=params)
    request = {"url_path": "/", "body": json.dumps(params).encode()}
    assert token not in logged(
        "Making request for OperationModel(name=PutSecretValue) with params: %s", request
    )


@pytest.mark.parametrize("body", [b"", b"<html>busy</html>", b'{"Name": "s"}', b"\xff{", b"[" * 5000])
def test_answers_without_a_secret_register_nothing_and_never_fail(body: bytes) -> None:
    before = set(redaction._SECRETS)
    secrets._register_response(response_dict={"body": body})
    secrets._register_response()
    assert before == redaction._SECRETS


def test_the_longest_form_is_replaced_whole() -> None:
    token = uuid.uuid4().hex
    redaction.register("x" + token)
    redaction.register('ab\\"x' + token)
    assert logged("%s", 'ab\\"x' + token) == "***"
