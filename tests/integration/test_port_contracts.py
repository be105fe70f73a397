"""Each port's fake honours its adapter's semantics: the same cases run on both.

The record store: every case of tests/support/record_store_cases.py, and a seeded random walk over every
write compared step by step, on ``covers_local.fakes.MemoryRecordStore`` and on the DynamoDB adapter
(``CoverStore``) over a moto table built from template.yaml's ``CoversTable``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from covers_core.adapters.records import CoverStore
from covers_core.logic.ports import RecordStore
from moto import mock_aws

from covers_local.fakes import MemoryRecordStore
from covers_local.stack import load_template
from tests.support.paths import ROOT
from tests.support.record_store_cases import CASES, random_operations


def default_branch(value: Any) -> Any:
    """A template value as deployed with the default parameters (KeepStatusIndex false: ``Fn::If``'s else)."""
    if isinstance(value, dict) and "Fn::If" in value:
        return value["Fn::If"][2]
    return value


@pytest.fixture
def dynamodb_store() -> Iterator[Callable[[], RecordStore]]:
    """A factory of empty CoverStores, each on a fresh table with CoversTable's keys and indexes."""
    spec = load_template(ROOT / "template.yaml")["Resources"]["CoversTable"]["Properties"]
    spec = {key: default_branch(value) for key, value in spec.items()}
    with mock_aws():
        resource = boto3.resource("dynamodb")
        made = iter(range(1000))

        def new() -> RecordStore:
            table = resource.create_table(
                TableName=f"covers-{next(made)}",
                BillingMode="PAY_PER_REQUEST",
                AttributeDefinitions=spec["AttributeDefinitions"],
                KeySchema=spec["KeySchema"],
                GlobalSecondaryIndexes=spec.get("GlobalSecondaryIndexes", []),
            )
            return CoverStore(table)

        yield new


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
@pytest.mark.parametrize("kind", ["memory", "dynamodb"])
def test_every_record_store_honours_the_contract(
    kind: str, case: Callable[[RecordStore], None], dynamodb_store: Callable[[], RecordStore]
) -> None:
    case(MemoryRecordStore() if kind == "memory" else dynamodb_store())


@pytest.mark.parametrize("seed", range(8))
def test_the_fake_and_dynamodb_answer_every_random_walk_alike(
    seed: int, dynamodb_store: Callable[[], RecordStore]
) -> None:
    fake, real = random_operations(MemoryRecordStore(), seed), random_operations(dynamodb_store(), seed)
    for step, (expected, got) in enumerate(zip(real, fake, strict=True)):
        assert got == expected, f"step {step}: DynamoDB {expected!r}\n fake {got!r}"
