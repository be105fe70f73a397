"""What a cold container's first invocation pays for (docs/performance.md, "Cold start"): the clients it
uses, each created once, and one read of each secret, however many workers want it at once. A client only
some invocations need (the reconciler's repairs, the start function's dead letters and early finishes) is
created when one does."""

from __future__ import annotations

import time
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient

from covers_local.emulator import VendorEmulator
from tests.support.harness import Aws, invoke, sqs_event


@pytest.fixture
def clients_made(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The services the functions create a client of (covers_core.adapters.aws.client), in order."""
    made: list[str] = []
    original: Any = boto3.client

    def client(service: str, *args: Any, **kwargs: Any) -> Any:
        made.append(service)
        return original(service, *args, **kwargs)

    monkeypatch.setattr(boto3, "client", client)
    return made


def test_the_workers_of_a_cold_batch_share_one_read_of_the_api_key(
    aws: Aws, emulator: VendorEmulator, monkeypatch: pytest.MonkeyPatch, clients_made: list[str]
) -> None:
    monkeypatch.setenv("SECRET_CACHE_SECONDS", "300")  # as deployed (the suite's stack reads it every time)
    reads: list[str] = []
    original = getattr(BaseClient, "_make_api_call")  # noqa: B009 - private: not in the stubs

    def slow_secret_reads(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        if operation == "GetSecretValue":
            reads.append(params["SecretId"])
            time.sleep(0.2)  # every worker wants the key while the first read is under way
        return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", slow_secret_reads)
    bodies = [{"musicTaskId": f"cold-{i}"} for i in range(5)]
    assert invoke("start_cover", sqs_event(*bodies)) == {"batchItemFailures": []}  # StartConcurrency 10
    assert reads == [aws.api_key_secret_arn]
    assert sum(emulator.stats.credits_charged.values()) == 5
    # Nothing refused, nothing settled early, no bad message: no EventBridge or SQS client either.
    assert sorted(clients_made) == ["secretsmanager", "stepfunctions"]


def test_a_reconciler_run_with_nothing_to_repair_creates_no_client_but_the_tables(
    aws: Aws, clients_made: list[str]
) -> None:
    report = invoke("reconcile", {})
    assert report["examined"] == 0 and report["repaired"] == {}
    assert clients_made == []  # (the table's client comes with the DynamoDB resource)
