"""Shared fixtures: template.yaml deployed into moto, the vendor emulator, the real handlers.

Sockets: pytest-socket (``--allow-hosts`` in pyproject.toml) lets tests connect to loopback only."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from covers_core import wiring
from moto import mock_aws

from covers_local import aws_calls, lambda_events
from covers_local.emulator import EmulatorConfig, VendorEmulator
from covers_local.runner import FakeContext, atomic_dynamodb, load_handler
from covers_local.stack import Stack, deploy, functions, load_template

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
REGION = "us-east-1"
API_KEY = "test-key-0123456789"
WEBHOOK_KEY = "webhook-signing-key-abc"
#: Function logical id by code folder (``functions/<folder>``), for attributing AWS calls (aws_calls).
FUNCTION_OF_FOLDER = {
    Path(spec["Properties"]["CodeUri"]).name: logical_id
    for logical_id, spec in functions(load_template(ROOT / "template.yaml")).items()
}


def load_event(name: str) -> dict[str, Any]:
    """A sample event from events/ (the same files `sam local invoke -e` uses)."""
    return json.loads((EVENTS / name).read_text())


def handler(folder: str) -> Any:
    return load_handler(ROOT / "functions" / folder, f"covers_fn_{folder}")


def invoke(folder: str, event: dict[str, Any]) -> Any:
    with aws_calls.running(FUNCTION_OF_FOLDER[folder]):
        return handler(folder)(event, FakeContext(folder))


def sqs_event(*bodies: Any) -> dict[str, Any]:
    """An SQS event for the start function, one record per body (dicts are JSON-encoded)."""
    return lambda_events.sqs_event(bodies)


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "POWERTOOLS_METRICS_NAMESPACE": "CoverPipeline",
        "POWERTOOLS_SERVICE_NAME": "covers",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }.items():
        monkeypatch.setenv(key, value)
    wiring.reset()
    yield
    wiring.reset()


@pytest.fixture
def emulator() -> Iterator[VendorEmulator]:
    with VendorEmulator(EmulatorConfig(api_key=API_KEY, ready_after=(0.0, 0.0), seed=1)) as emu:
        yield emu


#: The moto stack a test runs against (see the ``aws`` fixture).
Aws = Stack


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, emulator: VendorEmulator) -> Iterator[Stack]:
    """template.yaml deployed into moto, pointing at the emulator, with bus events captured; the functions'
    environment variables set as the stack sets them (plus no secret caching and no metrics). moto's
    DynamoDB is serialised as DynamoDB applies each request atomically (a batch runs in threads)."""
    parameters = {
        "VendorBaseUrl": emulator.base_url,
        "PollFirstWaitSeconds": 0,
        "PollIntervalSeconds": 1,
        "PollMaxWaitSeconds": 30,
        "PollInvocationBudgetSeconds": 0,  # one status call per invocation, unless a test sets it
    }
    with mock_aws(), atomic_dynamodb():
        stack = deploy("covers-test", parameters, root=ROOT)
        stack.put_secret(stack.api_key_secret_arn, API_KEY)
        stack.put_secret(stack.webhook_secret_arn, WEBHOOK_KEY)
        stack.capture_events()
        env = stack.process_env() | {"SECRET_CACHE_SECONDS": "0", "POWERTOOLS_METRICS_DISABLED": "true"}
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        wiring.reset()
        yield stack
        wiring.reset()
