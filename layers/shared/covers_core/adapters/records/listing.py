"""Reading cover records: by key, and the open ones through the sparse ``byOpen`` index.

A record is open from its claim until its terminal event is published, and stays open when it ended in a
status an operator acts on (NEEDS_ATTENTION, TIMED_OUT). The index holds only keys (``openShard``,
``createdAt``, ``musicTaskId``), so a record's own writes never touch it between those two moments
(docs/design.md, "The open index"); the records are then read by key."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from covers_core.adapters.aws import aws_call
from covers_core.adapters.records.items import OPEN_INDEX, OPEN_SHARDS, A, item_view, record_from_item
from covers_core.domain.model import LISTED_WHEN_ENDED, NON_TERMINAL_STATUSES, CoverRecord, Status, iso

#: Most keys one BatchGetItem may name.
_BATCH_KEYS = 100


class RecordReads:
    """The reads of ``CoverStore``. ``table`` is a boto3 ``dynamodb.Table``."""

    table: Any

    def get(self, music_task_id: str) -> CoverRecord | None:
        item = self.get_item(music_task_id)
        return record_from_item(item) if item else None

    def get_item(self, music_task_id: str) -> dict[str, Any] | None:
        """The stored item as it is (attribute names and all): for operators and tests."""
        response = aws_call(
            "DynamoDB GetItem",
            self.table.get_item,
            Key={A.MUSIC_TASK_ID: music_task_id},
            ConsistentRead=True,
        )
        item = response.get("Item")
        return item_view(item) if item else None

    def open_records(
        self, created_before: datetime | None = None, limit: int | None = None
    ) -> Iterator[CoverRecord]:
        """Open records created at or before ``created_before`` (None: all), oldest first within each index
        partition, at most ``limit`` (read by key, strongly consistent, after the index named them)."""
        keys: list[str] = []
        wanted = limit if limit is not None else float("inf")
        for shard in range(OPEN_SHARDS):
            keys.extend(self._open_keys(str(shard), created_before, wanted - len(keys)))
            if len(keys) >= wanted:
                break
        yield from self.records_of(keys)

    def by_status(self, status: Status, since: datetime | None = None) -> Iterator[CoverRecord]:
        """Records in ``status`` (updated at or after ``since``), oldest update first. Open statuses come
        from the ``byOpen`` index; the others (SUCCEEDED, FAILED, REJECTED) need a scan of the table."""
        if status in NON_TERMINAL_STATUSES or status in LISTED_WHEN_ENDED:
            found = [r for r in self.open_records() if r.status == status]
        else:
            found = list(self._scan(status))
        found = [r for r in found if since is None or (r.updated_at or "") >= iso(since)]
        yield from sorted(found, key=lambda r: r.updated_at or "")

    def _open_keys(self, shard: str, created_before: datetime | None, limit: float) -> Iterator[str]:
        kwargs: dict[str, Any] = {
            "IndexName": OPEN_INDEX,
            "KeyConditionExpression": "#shard = :shard AND #created <= :before",
            "ExpressionAttributeNames": {"#shard": A.OPEN_SHARD, "#created": A.CREATED_AT},
            # ISO timestamps sort as text; "9" sorts after every one of them
            "ExpressionAttributeValues": {
                ":shard": shard,
                ":before": iso(created_before) if created_before else "9",
            },
        }
        taken = 0
        while taken < limit:
            page = aws_call("DynamoDB Query", self.table.query, **kwargs)
            for item in page.get("Items", [])[: int(min(limit - taken, 10**9))]:
                taken += 1
                yield str(item[A.MUSIC_TASK_ID])
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def records_of(self, keys: list[str]) -> Iterator[CoverRecord]:
        """The records of ``keys`` that exist (BatchGetItem, strongly consistent), in the keys' order."""
        # The table resource's client: boto3 converts its DynamoDB values to Python ones both ways.
        client = self.table.meta.client
        for first in range(0, len(keys), _BATCH_KEYS):
            chunk = [{A.MUSIC_TASK_ID: key} for key in keys[first : first + _BATCH_KEYS]]
            request: dict[str, Any] = {self.table.name: {"Keys": chunk, "ConsistentRead": True}}
            found: dict[str, CoverRecord] = {}
            while request:
                page = aws_call("DynamoDB BatchGetItem", client.batch_get_item, RequestItems=request)
                for item in page.get("Responses", {}).get(self.table.name, []):
                    record = record_from_item(item)
                    found[record.music_task_id] = record
                request = page.get("UnprocessedKeys") or {}
            yield from (found[k[A.MUSIC_TASK_ID]] for k in chunk if k[A.MUSIC_TASK_ID] in found)

    def _scan(self, status: Status) -> Iterator[CoverRecord]:
        kwargs: dict[str, Any] = {
            "FilterExpression": "#s = :status",
            "ExpressionAttributeNames": {"#s": A.STATUS},
            "ExpressionAttributeValues": {":status": status.value},
        }
        while True:
            page = aws_call("DynamoDB Scan", self.table.scan, **kwargs)
            for item in page.get("Items", []):
                yield record_from_item(item)
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
