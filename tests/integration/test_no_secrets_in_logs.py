"""Invariant 5: no secret in any log line, at any level, whichever library writes it."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from covers_core import redaction

from covers_local.emulator import EmulatorConfig, VendorEmulator
from covers_local.lambda_events import signed_webhook_event
from covers_local.runner import FakeContext, LocalPipeline, LocalSettings

API_KEY = "vendor-key-Zq81xP0s7Lw2"
SIGNING_KEY = "signing-key-Hy5Nc3Vb9Kd0"


@pytest.fixture
def everything_at_debug() -> Iterator[None]:
    """Every logger at DEBUG: the root, botocore, urllib3, Powertools, the handlers'."""
    loggers = [logging.getLogger(), *(logging.getLogger(n) for n in list(logging.root.manager.loggerDict))]
    levels = [(lg, lg.level) for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        for lg, level in levels:
            lg.setLevel(level)


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
            answer = webhook(event, FakeContext("webhook"))
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
