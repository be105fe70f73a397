"""Invariant 5: no secret in any log line, at any level, whichever library writes it."""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from collections.abc import Iterator

import boto3
import pytest
from covers_core import redaction

from covers_local.emulator import EmulatorConfig, VendorEmulator
from covers_local.lambda_events import LambdaContext, signed_webhook_event
from covers_local.runner import LocalPipeline, LocalSettings
from tests.support.harness import Aws, handler, invoke, sqs_event
from tests.support.logs import everything_at_debug
from tests.support.paths import load_event

API_KEY = "vendor-key-Zq81xP0s7Lw2"
SIGNING_KEY = "signing-key-Hy5Nc3Vb9Kd0"


@pytest.fixture(name="everything_at_debug")
def _everything_at_debug() -> Iterator[None]:
    with everything_at_debug():
        yield


@pytest.mark.slow
def test_a_whole_run_at_debug_logs_neither_the_api_key_nor_the_signing_key(
    everything_at_debug: None, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with VendorEmulator(EmulatorConfig(api_key=API_KEY, ready_after=(0.2, 0.5))) as vendor:
        settings = LocalSettings(
            vendor_url=vendor.base_url, api_key=API_KEY, webhook_secret=SIGNING_KEY, log_level="DEBUG"
        )
        with LocalPipeline(settings) as stack:
            webhook = stack.handlers[stack.stack.functions["MusicWebhookFunction"].name]
            event = signed_webhook_event(SIGNING_KEY, b'{"musicTaskId": "hooked"}')
            answer = webhook(event, LambdaContext("webhook"))
            assert answer["statusCode"] == 202
            stack.submit([{"musicTaskId": "plain"}])
            records = stack.run(["plain", "hooked"], timeout=60)
    assert {records[t]["status"] for t in ("plain", "hooked")} == {"SUCCEEDED"}
    out, err = capfd.readouterr()
    logged = out + err + caplog.text
    assert "GetSecretValue" in logged or "secretsmanager" in logged  # botocore's DEBUG lines were there
    assert len(logged) > 10_000
    assert API_KEY not in logged
    assert SIGNING_KEY not in logged
    assert json.dumps(API_KEY)[1:-1] not in logged


def test_a_registered_secret_is_replaced_in_any_record(caplog: pytest.LogCaptureFixture) -> None:
    redaction.register("s3cr3t-value-for-test")
    caplog.set_level(logging.DEBUG)
    body = b'{"SecretString":"s3cr3t-value-for-test"}'
    logging.getLogger("botocore.parsers").debug("Response body:\n%r", body)
    assert "s3cr3t-value-for-test" not in caplog.text
    assert "***" in caplog.text


class Recorder(logging.Handler):
    """Every record, formatted with its traceback, from whichever logger (propagating or not)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@contextlib.contextmanager
def every_record_at_debug() -> Iterator[Recorder]:
    """Every logger that exists at DEBUG (the root, botocore, urllib3, Powertools, covers_core, the
    handlers'), and a recorder on the root and on every logger that does not pass records up to it."""
    recorder = Recorder()
    loggers = [logging.getLogger()] + [
        lg for lg in logging.root.manager.loggerDict.values() if isinstance(lg, logging.Logger)
    ]
    levels = [(lg, lg.level) for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
        if lg is loggers[0] or not lg.propagate:
            lg.addHandler(recorder)
    try:
        yield recorder
    finally:
        for lg, level in levels:
            lg.setLevel(level)
            lg.removeHandler(recorder)


#: Each secret carries a token no other test uses: whatever encoding a log line uses (JSON escapes,
#: ``repr`` of bytes), the token itself survives it, so finding it means the secret leaked.
TOKENS = {name: uuid.uuid4().hex for name in ("api", "current", "previous")}
QUIET_API_KEY = f"vendor-key-{TOKENS['api']}"
#: A signing key with what JSON and ``repr`` escape: a quote, a backslash, an apostrophe, non-ASCII.
QUIET_SIGNING_KEY = f"sig\"n\\ing'-kéy-{TOKENS['current']}"
QUIET_PREVIOUS_KEY = f"previous-signing-key-{TOKENS['previous']}"


@pytest.fixture
def emulator() -> Iterator[VendorEmulator]:
    """The vendor, expecting this module's own API key (the ``aws`` fixture's stack points at it)."""
    with VendorEmulator(EmulatorConfig(api_key=QUIET_API_KEY, ready_after=(0.0, 0.0), seed=1)) as emu:
        yield emu


def test_no_secret_read_by_a_handler_is_logged_even_before_it_is_first_registered(
    aws: Aws,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every handler that reads a secret, with nothing registered for redaction beforehand (the stack
    registers what it stores; a deployed function starts with nothing): botocore's DEBUG lines of the
    first GetSecretValue of each secret already show it redacted."""
    secrets = boto3.client("secretsmanager")
    # The API key as a JSON secret (the reader takes its apiKey); the signing key rotated once, so the
    # webhook reads both its AWSCURRENT and its AWSPREVIOUS version.
    secrets.put_secret_value(
        SecretId=aws.api_key_secret_arn, SecretString=json.dumps({"apiKey": QUIET_API_KEY})
    )
    secrets.put_secret_value(SecretId=aws.webhook_secret_arn, SecretString=QUIET_PREVIOUS_KEY)
    secrets.put_secret_value(SecretId=aws.webhook_secret_arn, SecretString=QUIET_SIGNING_KEY)
    monkeypatch.setattr(redaction, "_SECRETS", set())  # nothing registered: not by the stack, not before
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "DEBUG")
    for folder in ("start_cover", "check_cover_status", "music_webhook"):
        handler(folder)  # imported first, so that their loggers are among those set to DEBUG
    capfd.readouterr()
    with every_record_at_debug() as recorder:
        caplog.set_level(logging.DEBUG)
        assert invoke("start_cover", sqs_event({"musicTaskId": "quiet-1"})) == {"batchItemFailures": []}
        record = aws.record("quiet-1")
        assert record.status == "IN_PROGRESS"  # the vendor took the key
        state = {
            **load_event("check_cover_status.json"),
            "musicTaskId": "quiet-1",
            "coverTaskId": record.cover_task_id,
            "generatedAt": record.generated_at,
        }
        assert invoke("check_cover_status", state)["status"] == "SUCCESS"  # the key again, to poll
        for key, task in ((QUIET_SIGNING_KEY, "hooked-1"), (QUIET_PREVIOUS_KEY, "hooked-2")):
            body = json.dumps({"musicTaskId": task}).encode()
            assert invoke("music_webhook", signed_webhook_event(key, body))["statusCode"] == 202
    out, err = capfd.readouterr()
    logged = "\n".join([out, err, caplog.text, *recorder.lines])
    assert "Response body" in logged and "GetSecretValue" in logged  # botocore's DEBUG lines were there
    assert logged.count("***") >= 4  # and what they held was redacted
    for secret in (QUIET_API_KEY, QUIET_SIGNING_KEY, QUIET_PREVIOUS_KEY):
        assert secret not in logged
    for name, token in TOKENS.items():
        assert token not in logged, f"the {name} secret was logged"
