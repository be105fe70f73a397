"""Fixtures for tests that run against template.yaml deployed into moto and the vendor emulator.

A folder's conftest imports the ones it uses (unit tests use none of them: no moto, no sockets)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from covers_core import wiring
from moto import mock_aws

from covers_local import moto_patches
from covers_local.emulator import EmulatorConfig, VendorEmulator
from covers_local.stack import Stack, deploy
from covers_local.template import DELIVERY_DEFAULTS
from tests.support import sqs_rules
from tests.support.paths import API_KEY, ROOT, WEBHOOK_KEY


@pytest.fixture
def emulator() -> Iterator[VendorEmulator]:
    with VendorEmulator(EmulatorConfig(api_key=API_KEY, ready_after=(0.0, 0.0), seed=1)) as emu:
        yield emu


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, emulator: VendorEmulator) -> Iterator[Stack]:
    """template.yaml deployed into moto, pointing at the emulator, with bus events captured; the functions'
    environment variables set as the stack sets them (plus no secret caching and no metrics). moto's
    DynamoDB is serialised as DynamoDB applies each request atomically (a batch runs in threads); moto is
    patched as covers_local.moto_patches says (CloudFormation, empty map keys), and its SendMessage
    refuses what SQS refuses (``sqs_rules``: characters and size, which moto lets through)."""
    sqs_rules.enforce(monkeypatch)
    parameters = {
        "VendorBaseUrl": emulator.base_url,
        "PollFirstWaitSeconds": 0,
        "PollInvocationIntervalSeconds": 1,
        "PollMaxWaitSeconds": 30,
        "PollInvocationBudgetSeconds": 0,  # one status call per invocation, unless a test sets it
    }
    with (
        mock_aws(),
        moto_patches.cloudformation(),
        moto_patches.empty_map_keys(),
        moto_patches.atomic_dynamodb(),
    ):
        stack = deploy("covers-test", parameters, root=ROOT)
        stack.put_secret(stack.api_key_secret_arn, API_KEY)
        stack.put_secret(stack.webhook_secret_arn, WEBHOOK_KEY)
        stack.capture_events()
        env = (
            DELIVERY_DEFAULTS
            | stack.process_env()
            | {"SECRET_CACHE_SECONDS": "0", "POWERTOOLS_METRICS_DISABLED": "true"}
        )
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        wiring.reset()
        yield stack
        wiring.reset()
