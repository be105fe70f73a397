"""What recent covers taught the poll schedule, in the small PollStatsTable (never in the covers table, so no
list, scan or status path can mistake it for a cover): one item per key and minute, ``name`` =
``fw|<key>|<minute>``, holding counters (``w<bucket>``, ``e<bucket>``, ``d<bucket>``:
``covers_core.domain.first_wait``) that finalize adds to with one atomic ``ADD`` (no read-modify-write:
nothing is lost at any rate) and that start containers read once a minute. Items expire (TTL) after the
window they can be read in."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from covers_core.adapters.aws import aws_call
from covers_core.domain.first_wait import WINDOW_MINUTES, Counts, Observation, counts_from_item
from covers_core.logic.ports import LearnedWaits

log = logging.getLogger(__name__)

#: The item key's attribute, and the TTL attribute (template.yaml: PollStatsTable).
NAME, EXPIRES = "name", "expiresAt"


def item_name(key: str, minute: int) -> str:
    return f"fw|{key}|{minute}"


class LearnedWaitStore(LearnedWaits):
    """``table`` is a boto3 DynamoDB Table resource of PollStatsTable."""

    def __init__(self, table: Any) -> None:
        self.table = table

    def observe(self, keys: Sequence[str], observation: Observation, now: datetime) -> None:
        minute = int(now.timestamp()) // 60
        added = observation.fields()
        names = {f"#c{i}": name for i, name in enumerate(added)}
        for key in keys:
            aws_call(
                "DynamoDB UpdateItem (poll stats)",
                self.table.update_item,
                Key={NAME: item_name(key, minute)},
                UpdateExpression="ADD "
                + ", ".join(f"#c{i} :one" for i in range(len(added)))
                + " SET #x = if_not_exists(#x, :expires)",
                ExpressionAttributeNames={**names, "#x": EXPIRES},
                ExpressionAttributeValues={":one": 1, ":expires": (minute + WINDOW_MINUTES + 60) * 60},
            )

    def recent(self, key: str, now: datetime) -> list[Counts]:
        minute = int(now.timestamp()) // 60
        names = [item_name(key, minute - back) for back in range(WINDOW_MINUTES)]
        client = self.table.meta.client  # (the resource's client: Python values both ways)
        request: dict[str, Any] = {self.table.name: {"Keys": [{NAME: n} for n in names]}}
        found: dict[str, Counts] = {}
        while request:
            page = aws_call("DynamoDB BatchGetItem (poll stats)", client.batch_get_item, RequestItems=request)
            for item in page.get("Responses", {}).get(self.table.name, []):
                found[str(item[NAME])] = counts_from_item(item)
            request = page.get("UnprocessedKeys") or {}
        return [found.get(n) or Counts() for n in names]
