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
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from covers_core.adapters.records import A, CoverStore, record_from_item
from covers_core.domain import claim as claims
from covers_core.domain.claim import Claim, Settled
from covers_core.domain.model import CoverRecord, CoverRequest, Status, iso

from covers_local.stack import load_template

Latency = Callable[[], None]
_GONE = object()


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
    for gsi in props.get("GlobalSecondaryIndexes", ()):
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


class SimCoverStore:
    """What the start, check and finalize logic call on ``CoverStore``, on in-memory items (one per
    music task). Only the paths the simulated pipeline takes are modelled; a path it does not model
    raises NotImplementedError rather than returning something plausible."""

    outcome_fields = staticmethod(CoverStore.outcome_fields)

    def __init__(self, latency: Latency, indexes: tuple[IndexSpec, ...], usage: Usage) -> None:
        self.latency = latency
        self.indexes = indexes
        self.usage = usage
        self.items: dict[str, dict[str, Any]] = {}
        self.sizes: dict[str, int] = {}

    def _write(
        self, task: str, sets: Mapping[str, Any], removes: tuple[str, ...] = (), *, condition: bool = True
    ) -> None:
        """One write setting ``sets`` and removing ``removes`` (``condition`` False: a failed conditional
        write, which still consumes capacity). The item's size is updated from the changed attributes."""
        self.latency()
        self.usage.calls += 1
        old = self.items.get(task)
        old_size = self.sizes.get(task, 0)
        new_size, index = old_size, 0
        if condition:
            before = old or {}
            changed = [k for k, v in sets.items() if before.get(k, _GONE) != v]
            changed += [k for k in removes if k in before]
            new = dict(before)
            for key in changed:
                if key in before:
                    new_size -= len(key) + value_size(before[key])
                if key in sets:
                    new[key] = sets[key]
                    new_size += len(key) + value_size(sets[key])
                else:
                    del new[key]
            index = sum(i.writes(old, new) for i in self.indexes if i.touched(changed))
            self.items[task] = new
            self.sizes[task] = new_size
        units = write_units(max(old_size, new_size))
        self.usage.table_wcu += units
        self.usage.index_wcu += index
        counts = self.usage.per_cover.setdefault(task, [0, 0])
        counts[0] += units
        counts[1] += index

    def _record(self, task: str) -> CoverRecord:
        return record_from_item(self.items[task])

    def get(self, music_task_id: str) -> CoverRecord | None:
        self.latency()
        self.usage.calls += 1
        item = self.items.get(music_task_id)
        self.usage.table_rcu += math.ceil(item_size(item or {}) / 4096) or 1  # ConsistentRead
        return record_from_item(item) if item else None

    def claim(self, request: CoverRequest, now: datetime, lease_seconds: int) -> Claim | Settled:
        task = request.music_task_id
        if task in self.items:
            self._write(task, {}, condition=False)
            decision = claims.decide(self._record(task), int(now.timestamp()))
            if isinstance(decision, Settled):
                return decision
            raise NotImplementedError("sim: a second claim of a GENERATING/BLOCKED task is not modelled")
        stamp = iso(now)
        item: dict[str, Any] = {
            A.MUSIC_TASK_ID: task,
            A.STATUS: Status.GENERATING.value,
            A.CLAIM_TOKEN: secrets.token_hex(8),
            A.CLAIM_EXPIRES_AT: int(now.timestamp()) + lease_seconds,
            A.GENERATE_ATTEMPTS: 1,
            A.POLL_COUNT: 0,
            A.CREATED_AT: stamp,
            A.UPDATED_AT: stamp,
        }
        if request.correlation_id:
            item[A.CORRELATION_ID] = request.correlation_id
        if request.metadata:
            item[A.METADATA] = dict(request.metadata)
        self._write(task, item)
        return Claim(token=item[A.CLAIM_TOKEN], uncertain=False)

    def release(self, *args: Any, **kwargs: Any) -> int:
        raise NotImplementedError("sim: generate never fails")

    def block(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("sim: generate never fails")

    def record_cover_task(
        self, music_task_id: str, token: str, cover_task_id: str, now: datetime
    ) -> CoverRecord:
        item = self.items[music_task_id]
        if item[A.STATUS] != Status.GENERATING.value or item[A.CLAIM_TOKEN] != token:
            raise NotImplementedError("sim: a lapsed claim is not modelled")
        stamp = iso(now)
        sets = {A.STATUS: Status.IN_PROGRESS.value, A.COVER_TASK_ID: cover_task_id}
        sets.update({A.GENERATED_AT: stamp, A.UPDATED_AT: stamp})
        self._write(music_task_id, sets, (A.CLAIM_EXPIRES_AT, A.LAST_ERROR))
        return self._record(music_task_id)

    def _while_in_progress(self, task: str, fields: Mapping[str, Any]) -> None:
        ok = self.items[task][A.STATUS] == Status.IN_PROGRESS.value
        self._write(task, fields, condition=ok)

    def record_execution(self, music_task_id: str, execution_arn: str, now: datetime) -> None:
        self._while_in_progress(music_task_id, {A.EXECUTION_ARN: execution_arn, A.UPDATED_AT: iso(now)})

    def record_poll(self, music_task_id: str, poll_count: int, now: datetime) -> None:
        stamp = iso(now)
        fields = {A.POLL_COUNT: poll_count, A.LAST_POLLED_AT: stamp, A.UPDATED_AT: stamp}
        self._while_in_progress(music_task_id, fields)

    def finish(
        self,
        music_task_id: str,
        status: Status,
        fields: Mapping[str, Any],
        now: datetime,
        request: CoverRequest | None = None,
    ) -> CoverRecord | None:
        item = self.items.get(music_task_id)
        if item is None or request is not None:
            raise NotImplementedError("sim: finishing a task before its record exists is not modelled")
        if Status(item[A.STATUS]).terminal:
            self._write(music_task_id, {}, condition=False)
            return None
        stamp = iso(now)
        sets = {A.STATUS: status.value, A.UPDATED_AT: stamp, A.COMPLETED_AT: stamp, **fields}
        self._write(music_task_id, sets, (A.CLAIM_EXPIRES_AT,))
        return self._record(music_task_id)

    def claim_event(self, music_task_id: str, now: datetime, lease_seconds: int) -> bool:
        item = self.items[music_task_id]
        until = item.get(A.EVENT_CLAIMED_UNTIL)
        ok = A.EVENT_PUBLISHED_AT not in item and (until is None or until < int(now.timestamp()))
        self._write(
            music_task_id, {A.EVENT_CLAIMED_UNTIL: int(now.timestamp()) + lease_seconds}, condition=ok
        )
        return ok

    def event_published(self, music_task_id: str, event_id: str, now: datetime) -> None:
        sets = {A.EVENT_PUBLISHED_AT: iso(now), A.EVENT_ID: event_id}
        self._write(music_task_id, sets, (A.EVENT_CLAIMED_UNTIL,))

    def release_event(self, music_task_id: str) -> None:
        self._write(music_task_id, {}, (A.EVENT_CLAIMED_UNTIL,))


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
