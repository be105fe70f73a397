"""DynamoDB in virtual time: the covers table behind the REAL logic (a stand-in for ``CoverStore`` with
the same attribute names, ``covers_core.adapters.records.A``) and PollStatsTable behind the REAL
``LearnedWaitStore`` (a boto3-like Table: atomic ADD updates, batch reads).

Every call takes ``latency()`` virtual seconds. Capacity units follow DynamoDB's sizing rules
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html and
GSI.html#GSI.Writes, read 2026-05): a write costs 1 WCU per started KB of the larger of the old and the
new item, a failed conditional write too; an index is written when an item enters or leaves it (1 write),
changes an indexed key (2: delete + put) or changes a projected attribute (1); a strongly consistent read
costs 1 RCU per started 4 KB, an eventually consistent one half that.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar

from covers_core.adapters.records.items import record_to_item
from covers_core.domain import budget
from covers_core.domain.claim import Claim, Settled
from covers_core.domain.cost import LambdaShare
from covers_core.domain.model import CoverError, CoverRecord, CoverRequest, Status
from covers_core.domain.outcomes import Ending

from covers_local.fakes import MemoryBudgets, MemoryRecordStore
from covers_local.template import load_template

Latency = Callable[[], None]
T = TypeVar("T")
SizedEntry = tuple[dict[str, Any] | None, int]


def value_size(value: Any) -> int:
    if type(value) is str:  # the common case first
        return len(value.encode())
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

    def sized(self, item: Mapping[str, Any] | None) -> SizedEntry:
        """The item's entry in this index (None: not in it) and the entry's size."""
        entry = self.entry(item)
        return entry, item_size(entry) if entry is not None else 0

    def writes(self, old: SizedEntry, new: SizedEntry) -> int:
        """Index write units for an item whose entry goes from ``old`` to ``new`` (both from ``sized``)."""
        (before, before_size), (after, after_size) = old, new
        if before is None and after is None:
            return 0
        if before is None or after is None:
            return write_units(before_size or after_size)
        if any(before[k] != after[k] for k in self.keys):
            return write_units(before_size) + write_units(after_size)
        return write_units(after_size) if before != after else 0


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
    budget_wcu: int = 0
    table_rcu: float = 0.0
    stats_rcu: float = 0.0
    budget_rcu: float = 0.0
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
        #: The last item built per task (its size, its index entries), with the immutable record and the
        #: open flag it was built from: an item is built once per write, not before and after.
        self._built: dict[str, tuple[CoverRecord, bool, int, tuple[SizedEntry, ...]]] = {}
        self._absent = tuple(spec.sized(None) for spec in indexes)

    def _item(self, task: str) -> tuple[int, tuple[SizedEntry, ...]]:
        """The size of the task's item as the real mapping stores it (0: no item), and its index entries."""
        record = self.records.get(task)
        if record is None:
            return 0, self._absent
        is_open = task in self.open
        built = self._built.get(task)
        if built is None or built[0] is not record or built[1] != is_open:
            item = record_to_item(record, open_record=is_open)
            entries = tuple(spec.sized(item) for spec in self.indexes)
            built = self._built[task] = (record, is_open, item_size(item), entries)
        return built[2], built[3]

    def _metered(self, task: str, call: Callable[[], T]) -> T:
        self.latency()
        self.usage.calls += 1
        size_before, before = self._item(task)
        try:
            return call()
        finally:
            size_after, after = self._item(task)
            units = write_units(max(size_before, size_after))
            index = sum(
                spec.writes(old, new) for spec, old, new in zip(self.indexes, before, after, strict=True)
            )
            self.usage.table_wcu += units
            self.usage.index_wcu += index
            counts = self.usage.per_cover.setdefault(task, [0, 0])
            counts[0] += units
            counts[1] += index

    def get(self, music_task_id: str) -> CoverRecord | None:
        self.latency()
        self.usage.calls += 1
        self.usage.table_rcu += math.ceil(self._item(music_task_id)[0] / 4096) or 1
        return super().get(music_task_id)

    def claim(self, request: CoverRequest, now: datetime, lease_seconds: int) -> Claim | Settled:
        return self._metered(
            request.music_task_id, lambda: super(SimCoverStore, self).claim(request, now, lease_seconds)
        )

    def release(self, music_task_id: str, token: str, **kwargs: Any) -> int:
        return self._metered(
            music_task_id, lambda: super(SimCoverStore, self).release(music_task_id, token, **kwargs)
        )

    def block(
        self,
        music_task_id: str,
        token: str,
        error: CoverError,
        now: datetime,
        status: Status = Status.BLOCKED,
    ) -> None:
        self._metered(
            music_task_id, lambda: super(SimCoverStore, self).block(music_task_id, token, error, now, status)
        )

    def record_cover_task(
        self,
        music_task_id: str,
        token: str,
        cover_task_id: str,
        now: datetime,
        *,
        start_lambda: LambdaShare | None = None,
    ) -> CoverRecord:
        return self._metered(
            music_task_id,
            lambda: super(SimCoverStore, self).record_cover_task(
                music_task_id, token, cover_task_id, now, start_lambda=start_lambda
            ),
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

    def note_budget(self, music_task_id: str, token: str, keys: Sequence[str]) -> bool:
        return self._metered(
            music_task_id, lambda: super(SimCoverStore, self).note_budget(music_task_id, token, keys)
        )


class SimBudgets(MemoryBudgets):
    """The budgets table behind the REAL budget gate (``covers_core.logic.budget``): the project's in-memory
    budgets (held to the DynamoDB adapter by the port contract tests), each call taking ``latency()``
    virtual seconds; a take or a refund is one conditional UpdateItem of a counter item under 1 KB (1 WCU),
    reading an override or a counter one strongly consistent GetItem (1 RCU, as ``BudgetStore`` reads; the
    gate caches an override per container and reads a counter only when a take is refused)."""

    def __init__(self, latency: Latency, usage: Usage) -> None:
        super().__init__()
        self.latency = latency
        self.meter = usage

    def _write(self) -> None:
        self.latency()
        self.meter.calls += 1
        self.meter.budget_wcu += 1

    def take(self, counter: budget.Counter, caps: budget.Caps) -> bool:
        self._write()
        return super().take(counter, caps)

    def give_back(self, counter: budget.Counter) -> None:
        self._write()
        super().give_back(counter)

    def _read(self) -> None:
        self.latency()
        self.meter.calls += 1
        self.meter.budget_rcu += 1

    def override(self, scope: str) -> dict[str, int] | None:
        self._read()
        return super().override(scope)

    def usage(self, counter: budget.Counter) -> budget.Usage:
        self._read()
        return super().usage(counter)


class SimPollStatsTable:
    """PollStatsTable as the boto3 Table resource the REAL ``LearnedWaitStore`` uses: ``update_item`` with the
    ``ADD ... SET #x = if_not_exists(#x, :v)`` expression it sends (applied whole when the call lands, as
    DynamoDB applies an update atomically: concurrent ADDs never lose each other) and
    ``meta.client.batch_get_item`` (eventually consistent: 0.5 RCU per item asked for, found or not, per
    started 4 KB). An update costs 1 WCU per started KB of the larger of the item before and after; the
    minute's item grows with the buckets it counts (``w<k>``, ``e<k>``, ``d<k>``). Any other expression is
    refused, so a changed adapter is noticed rather than simulated wrongly."""

    name = "PollStatsTable"

    def __init__(self, latency: Latency, usage: Usage) -> None:
        self.latency = latency
        self.usage = usage
        self.items: dict[str, dict[str, Any]] = {}
        self.updates = 0
        self.reads = 0
        self.meta = SimpleNamespace(client=self)

    def update_item(
        self,
        *,
        Key: Mapping[str, Any],
        UpdateExpression: str,
        ExpressionAttributeNames: Mapping[str, str],
        ExpressionAttributeValues: Mapping[str, Any],
    ) -> dict[str, Any]:
        adds, sets = _parse_update(UpdateExpression)
        self.latency()
        ((key_name, key),) = Key.items()
        before = self.items.get(key)
        item = dict(before) if before else {key_name: key}
        for name, value in adds:
            attribute, amount = ExpressionAttributeNames[name], ExpressionAttributeValues[value]
            item[attribute] = item.get(attribute, 0) + amount
        for name, default in sets:
            attribute = ExpressionAttributeNames[name]
            item.setdefault(attribute, ExpressionAttributeValues[default])
        self.items[key] = item
        self.updates += 1
        self.usage.stats_wcu += write_units(max(item_size(before or {}), item_size(item)))
        return {}

    def batch_get_item(self, *, RequestItems: Mapping[str, Any]) -> dict[str, Any]:
        ((table, request),) = RequestItems.items()
        if table != self.name or set(request) != {"Keys"} or len(request["Keys"]) > 100:
            raise NotImplementedError(f"sim: BatchGetItem {sorted(request)} on {table} is not modelled")
        self.latency()
        self.reads += 1
        found = []
        for key in request["Keys"]:
            ((_, name),) = key.items()
            item = self.items.get(name)
            self.usage.stats_rcu += 0.5 * max(1, math.ceil(item_size(item or {}) / 4096))
            if item is not None:
                found.append(dict(item))
        return {"Responses": {table: found}, "UnprocessedKeys": {}}


def _parse_update(expression: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """``ADD #a :v, #b :v SET #x = if_not_exists(#x, :d)`` -> ([(#a, :v), ...], [(#x, :d)])."""
    adds: list[tuple[str, str]] = []
    sets: list[tuple[str, str]] = []
    match = re.fullmatch(r"ADD (?P<adds>.+?)(?: SET (?P<sets>.+))?", expression.strip())
    if match is None:
        raise NotImplementedError(f"sim: update {expression!r} is not modelled")
    for clause in match["adds"].split(","):
        name, value = clause.split()
        adds.append((name, value))
    pattern = r"(#\w+) = if_not_exists\((#\w+), (:\w+)\)"
    text = match["sets"] or ""
    if re.sub(pattern, "", text).replace(",", "").strip():
        raise NotImplementedError(f"sim: update {expression!r} is not modelled")
    for target, source, default in re.findall(pattern, text):
        if target != source:
            raise NotImplementedError(f"sim: update {expression!r} is not modelled")
        sets.append((target, default))
    return adds, sets
