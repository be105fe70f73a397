"""Each port's fake honours its adapter's semantics: the same cases run on both.

The record store: every case of tests/support/record_store_cases.py, and a seeded random walk over every
write compared step by step, on ``covers_local.fakes.MemoryRecordStore`` and on the DynamoDB adapter
(``CoverStore``) over a moto table built from template.yaml's ``CoversTable``. The credit budgets: the same
cases (racing takes at a cap included) on ``MemoryBudgets`` and on ``BudgetStore`` over ``BudgetsTable``."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from covers_core.adapters.budgets import BudgetStore
from covers_core.adapters.records import CoverStore
from covers_core.domain import budget
from covers_core.domain.budget import STACK, Caps, Usage
from covers_core.logic.ports import Budgets, RecordStore
from moto import mock_aws

from covers_local import moto_patches
from covers_local.fakes import MemoryBudgets, MemoryRecordStore
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


# --- the credit budgets: MemoryBudgets and BudgetStore (a moto table built from BudgetsTable) ---------------

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # tomorrow is in the same month


@pytest.fixture
def dynamodb_budgets() -> Iterator[Callable[[], Budgets]]:
    spec = load_template(ROOT / "template.yaml")["Resources"]["BudgetsTable"]["Properties"]
    # DynamoDB applies each request atomically; moto needs the help (the racing takes below)
    with mock_aws(), moto_patches.atomic_dynamodb():
        resource = boto3.resource("dynamodb")
        made = iter(range(1000))

        def new() -> Budgets:
            table = resource.create_table(
                TableName=f"budgets-{next(made)}",
                BillingMode="PAY_PER_REQUEST",
                AttributeDefinitions=spec["AttributeDefinitions"],
                KeySchema=spec["KeySchema"],
            )
            return BudgetStore(table)

        yield new


def budget_stores(kind: str, dynamodb_budgets: Callable[[], Budgets]) -> Budgets:
    return MemoryBudgets() if kind == "memory" else dynamodb_budgets()


@pytest.mark.parametrize("kind", ["memory", "dynamodb"])
def test_a_take_adds_to_the_day_and_the_month_only_under_their_caps(
    kind: str, dynamodb_budgets: Callable[[], Budgets]
) -> None:
    store = budget_stores(kind, dynamodb_budgets)
    today, tomorrow = (budget.counters([STACK], NOW + timedelta(days=d))[0] for d in (0, 1))
    assert [store.take(today, Caps(day=2, month=3)) for _ in range(3)] == [True, True, False]
    assert store.usage(today) == Usage(day=2, month=2)
    assert store.take(tomorrow, Caps(day=2, month=3)) is True  # a new day: its own count
    assert store.take(tomorrow, Caps(day=2, month=3)) is False  # but the month is full
    assert store.usage(tomorrow) == Usage(day=1, month=3)
    assert store.take(tomorrow, Caps()) is True  # no cap: counted, never refused
    store.give_back(today)
    assert (store.usage(today), store.usage(tomorrow)) == (Usage(day=1, month=3), Usage(day=2, month=3))
    other = budget.counters([budget.tenant_scope("acme")], NOW)[0]
    store.give_back(other)  # nothing taken: nothing to give back, never below zero
    assert store.usage(other) == Usage()


@pytest.mark.parametrize("kind", ["memory", "dynamodb"])
def test_caps_an_operator_stored_are_read_back_per_scope(
    kind: str, dynamodb_budgets: Callable[[], Budgets]
) -> None:
    store = budget_stores(kind, dynamodb_budgets)
    assert store.override(STACK) is None
    store.set_caps(STACK, day=5)  # type: ignore[attr-defined]
    store.set_caps(STACK, month=50)  # type: ignore[attr-defined]
    store.set_caps(budget.tenant_scope("acme"), day=0)  # type: ignore[attr-defined]
    assert store.override(STACK) == {"day": 5, "month": 50}
    assert budget.effective(store.override(budget.tenant_scope("acme")), Caps(day=9, month=9)) == Caps(0, 9)


@pytest.mark.parametrize("kind", ["memory", "dynamodb"])
def test_racing_takes_at_the_cap_boundary_pass_exactly_the_cap(
    kind: str, dynamodb_budgets: Callable[[], Budgets]
) -> None:
    store, cap = budget_stores(kind, dynamodb_budgets), 10
    counter = budget.counters([STACK], NOW)[0]
    barrier = threading.Barrier(cap + 5)

    def take() -> bool:
        barrier.wait()
        return store.take(counter, Caps(day=cap))

    with ThreadPoolExecutor(max_workers=cap + 5) as pool:
        results = list(pool.map(lambda _: take(), range(cap + 5)))
    assert results.count(True) == cap and results.count(False) == 5
    assert store.usage(counter) == Usage(day=cap, month=cap)
