"""DynamoDB in virtual time: the covers table behind the REAL logic (a stand-in for ``CoverStore`` with
the same attribute names, ``covers_core.adapters.records.A``) and PollStatsTable behind the REAL
``LearnedWaitStore`` (a boto3-like Table whose conditional PutItem can lose to a concurrent writer).

Every call takes ``latency()`` virtual seconds. Capacity units follow DynamoDB's sizing rules
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html and
GSI.html#GSI.Writes, read 2026-05): a write costs 1 WCU per started KB of the larger of the old and the
new item, a failed conditional write too; an index is written when an item enters or leaves it (1 write),
changes an indexed key (2: delete + put) or changes a projected attribute (1); a strongly consistent read
costs 1 RCU per started 4 KB, an eventually consistent one half that.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from botocore.exceptions import ClientError
from covers_core.adapters.records.items import record_to_item
from covers_core.domain.claim import Claim, Settled
from covers_core.domain.model import CoverError, CoverRecord, CoverRequest
from covers_core.domain.outcomes import Ending

from covers_local.fakes import MemoryRecordStore
from covers_local.stack import load_template

Latency = Callable[[], None]
T = TypeVar("T")


def value_size(value: Any) -> int:
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, bool) or value is None:
        return 1
    if isinstance(value, int | float | Decimal):
        digits = len(str(abs(value)).replace(".", "").strip("0")) or 1
        return 1 + (digits + 1) // 2
    if isinstance(value, Mapping):
        return 3 + sum(len(k.encode()) + value_size(v) + 1 for k, v in value.items())
    if isinstance(value, list | tuple):
        return 3 + sum(value_size(v) + 1 for v in value)
    raise TypeError(f"no DynamoDB size for {type(value).__name__}")


def item_size(item: Mapping[str, Any]) -> int:
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def write_units(size: int) -> int:
    return max(1, math.ceil(size / 1024))


@dataclass(frozen=True)
class IndexSpec:
    """A global secondary index as template.yaml declares it."""

    name: str
    keys: tuple[str, ...]
    projected: frozenset[str] | None  # None: ALL

    def entry(self, item: Mapping[str, Any] | None) -> dict[str, Any] | None:
        if item is None or any(k not in item for k in self.keys):
            return None
        if self.projected is None:
            return dict(item)
        return {k: v for k, v in item.items() if k in self.projected}

    def touched(self, changed: list[str]) -> bool:
        return self.projected is None or any(k in self.projected for k in changed)

    def writes(self, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> int:
        before, after = self.entry(old), self.entry(new)
        if before is None and after is None:
            return 0
        if before is None or after is None:
            return write_units(item_size(before or after or {}))
        if any(before[k] != after[k] for k in self.keys):
            return write_units(item_size(before)) + write_units(item_size(after))
        return write_units(item_size(after)) if before != after else 0


def table_indexes(table: str = "CoversTable", template: Path | None = None) -> tuple[IndexSpec, ...]:
    props = load_template(template)["Resources"][table]["Properties"]
    table_keys = [k["AttributeName"] for k in props["KeySchema"]]
    specs = []
    indexes = props.get("GlobalSecondaryIndexes", ())
    if isinstance(indexes, dict) and "Fn::If" in indexes:  # the default parameters' branch
        indexes = indexes["Fn::If"][2]
    for gsi in indexes:
        keys = tuple(k["AttributeName"] for k in gsi["KeySchema"])
        projection = gsi.get("Projection", {})
        kind = projection.get("ProjectionType", "KEYS_ONLY")
        extra = projection.get("NonKeyAttributes", []) if kind == "INCLUDE" else []
        projected = None if kind == "ALL" else frozenset([*table_keys, *keys, *extra])
        specs.append(IndexSpec(gsi["IndexName"], keys, projected))
    return tuple(specs)


@dataclass
class Usage:
    """Capacity used, by kind; the pipeline attributes it to covers."""

    table_wcu: int = 0
    index_wcu: int = 0
    stats_wcu: int = 0
    table_rcu: float = 0.0
    stats_rcu: float = 0.0
    calls: int = 0
    per_cover: dict[str, list[int]] = field(default_factory=dict)  # task -> [table wcu, index wcu]


class SimCoverStore(MemoryRecordStore):
    """The covers table behind the REAL logic: the project's in-memory record store (the fake that
    ``tests/integration/test_port_contracts.py`` holds to DynamoDB's conditional semantics), each call
    taking ``latency()`` virtual seconds and charged in capacity units by the size of the item the real
    mapping stores (``covers_core.adapters.records.items.record_to_item``) before and after it."""

    def __init__(self, latency: Latency, indexes: tuple[IndexSpec, ...], usage: Usage) -> None:
        super().__init__()
        self.latency = latency
        self.indexes = indexes
        self.usage = usage

    def _item(self, task: str) -> dict[str, Any] | None:
        record = self.records.get(task)
        return record_to_item(record, open_record=task in self.open) if record else None

    def _metered(self, task: str, call: Callable[[], T]) -> T:
        self.latency()
        self.usage.calls += 1
        before = self._item(task)
        try:
            return call()
        finally:
            after = self._item(task)
            units = write_units(max(item_size(before or {}), item_size(after or {})))
            index = sum(spec.writes(before, after) for spec in self.indexes)
            self.usage.table_wcu += units
            self.usage.index_wcu += index
            counts = self.usage.per_cover.setdefault(task, [0, 0])
            counts[0] += units
            counts[1] += index

    def get(self, music_task_id: str) -> CoverRecord | None:
        self.latency()
        self.usage.calls += 1
        self.usage.table_rcu += math.ceil(item_size(self._item(music_task_id) or {}) / 4096) or 1
        return super().get(music_task_id)

    def claim(self, request: CoverRequest, now: datetime, lease_seconds: int) -> Claim | Settled:
        return self._metered(
            request.music_task_id, lambda: super(SimCoverStore, self).claim(request, now, lease_seconds)
        )

    def release(self, music_task_id: str, token: str, **kwargs: Any) -> int:
        return self._metered(
            music_task_id, lambda: super(SimCoverStore, self).release(music_task_id, token, **kwargs)
        )

    def block(self, music_task_id: str, token: str, error: CoverError, now: datetime) -> None:
        self._metered(
            music_task_id, lambda: super(SimCoverStore, self).block(music_task_id, token, error, now)
        )

    def record_cover_task(
        self, music_task_id: str, token: str, cover_task_id: str, now: datetime
    ) -> CoverRecord:
        return self._metered(
            music_task_id,
            lambda: super(SimCoverStore, self).record_cover_task(music_task_id, token, cover_task_id, now),
        )

    def adopt(self, music_task_id: str, cover_task_id: str, now: datetime) -> CoverRecord | None:
        return self._metered(
            music_task_id, lambda: super(SimCoverStore, self).adopt(music_task_id, cover_task_id, now)
        )

    def record_execution(self, music_task_id: str, execution_arn: str, now: datetime) -> None:
        self._metered(
            music_task_id,
            lambda: super(SimCoverStore, self).record_execution(music_task_id, execution_arn, now),
        )

    def record_poll(self, music_task_id: str, poll_count: int, now: datetime) -> None:
        self._metered(
            music_task_id, lambda: super(SimCoverStore, self).record_poll(music_task_id, poll_count, now)
        )

    def resume(self, record: CoverRecord, cover_task_id: str, now: datetime) -> CoverRecord | None:
        return self._metered(
            record.music_task_id, lambda: super(SimCoverStore, self).resume(record, cover_task_id, now)
        )

    def finish(
        self,
        music_task_id: str,
        ending: Ending,
        now: datetime,
        request: CoverRequest | None = None,
        *,
        event_lease_seconds: int | None = None,
    ) -> CoverRecord | None:
        return self._metered(
            music_task_id,
            lambda: super(SimCoverStore, self).finish(
                music_task_id, ending, now, request, event_lease_seconds=event_lease_seconds
            ),
        )

    def claim_event(self, music_task_id: str, now: datetime, lease_seconds: int) -> bool:
        return self._metered(
            music_task_id, lambda: super(SimCoverStore, self).claim_event(music_task_id, now, lease_seconds)
        )

    def event_published(
        self, music_task_id: str, event_id: str, now: datetime, *, close: bool = True
    ) -> None:
        self._metered(
            music_task_id,
            lambda: super(SimCoverStore, self).event_published(music_task_id, event_id, now, close=close),
        )

    def release_event(self, music_task_id: str) -> None:
        self._metered(music_task_id, lambda: super(SimCoverStore, self).release_event(music_task_id))


class SimStatsTable:
    """PollStatsTable as a boto3 Table for ``LearnedWaitStore``: GetItem returns the item as it stands
    when the read completes; a conditional PutItem is judged when it lands, so a write that landed in
    between makes it fail (ConditionalCheckFailedException, as DynamoDB answers)."""

    def __init__(self, latency: Latency, usage: Usage) -> None:
        self.latency = latency
        self.usage = usage
        self.items: dict[str, dict[str, Any]] = {}
        self.writes = 0
        self.conflicts = 0

    def get_item(self, Key: Mapping[str, Any], **kwargs: Any) -> dict[str, Any]:
        self.latency()
        strong = kwargs.get("ConsistentRead", False)
        self.usage.stats_rcu += 1.0 if strong else 0.5
        item = self.items.get(next(iter(Key.values())))
        return {"Item": dict(item)} if item else {}

    def put_item(self, Item: Mapping[str, Any], **kwargs: Any) -> dict[str, Any]:
        self.latency()
        self.usage.stats_wcu += write_units(item_size(Item))
        key = next(iter(Item.values()))
        if not self._holds(self.items.get(key), kwargs):
            self.conflicts += 1
            raise ClientError({"Error": {"Code": "ConditionalCheckFailedException"}}, "PutItem")
        self.writes += 1
        self.items[key] = dict(Item)
        return {}

    @staticmethod
    def _holds(current: Mapping[str, Any] | None, kwargs: Mapping[str, Any]) -> bool:
        condition = kwargs.get("ConditionExpression")
        if condition is None:
            return True
        names = kwargs.get("ExpressionAttributeNames", {})
        values = kwargs.get("ExpressionAttributeValues", {})
        if condition.startswith("attribute_not_exists(") and condition.endswith(")"):
            return current is None or names.get(condition[21:-1], condition[21:-1]) not in current
        left, op, right = condition.partition(" = ")
        if op and left in names and right in values:
            return current is not None and current.get(names[left]) == values[right]
        raise NotImplementedError(f"sim: condition {condition!r} is not modelled")
