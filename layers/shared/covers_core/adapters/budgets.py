"""The credit budgets in the small BudgetsTable (template.yaml; docs/design.md, "Credit budgets"): one counter
item per scope and UTC month (``name`` = ``budget|<scope>|<YYYY-MM>``: ``m``, the month's count, and
``dDD``, each day's), and one caps item per scope an operator set (``caps|<scope>``: ``day``, ``month``).

A take is one UpdateItem: ``ADD`` one to the month and the day, on the condition that each capped one is
under its cap (``attribute_not_exists(x) OR x < :cap``): no read-then-write, so of racing starts exactly as
many pass as the cap has room for. Counter items expire (TTL) a year after their month."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from covers_core.adapters.aws import CONDITION_FAILED, aws_call
from covers_core.adapters.records.items import plain
from covers_core.domain import budget
from covers_core.domain.budget import Caps, Counter, Usage
from covers_core.logic.ports import Budgets

#: The item key's attribute, and the TTL attribute (template.yaml: BudgetsTable).
NAME, EXPIRES = "name", "expiresAt"
MONTH = "m"
#: Seconds a counter item is kept after its month began (for `covers budget`'s history).
KEEP_SECONDS = 400 * 86400


class BudgetStore(Budgets):
    """``table`` is a boto3 DynamoDB Table resource of BudgetsTable."""

    def __init__(self, table: Any) -> None:
        self.table = table

    def override(self, scope: str) -> dict[str, int] | None:
        item = self._get(budget.caps_item(scope))
        if item is None:
            return None
        return {k: int(plain(item[k])) for k in ("day", "month") if k in item}

    def set_caps(self, scope: str, *, day: int | None = None, month: int | None = None) -> None:
        """Store an operator's caps for ``scope`` (``covers budget``); None leaves a window as it is."""
        sets = {k: v for k, v in (("day", day), ("month", month)) if v is not None}
        if not sets:
            return
        aws_call(
            "DynamoDB UpdateItem (budget caps)",
            self.table.update_item,
            Key={NAME: budget.caps_item(scope)},
            UpdateExpression="SET " + ", ".join(f"#{k} = :{k}" for k in sets),
            ExpressionAttributeNames={f"#{k}": k for k in sets},
            ExpressionAttributeValues={f":{k}": v for k, v in sets.items()},
        )

    def take(self, counter: Counter, caps: Caps) -> bool:
        conditions, values = [], {":one": 1, ":expires": _expires(counter.month)}
        for attribute, cap in (("#m", caps.month), ("#d", caps.day)):
            if cap:
                name = f":cap{attribute[1]}"
                conditions.append(f"(attribute_not_exists({attribute}) OR {attribute} < {name})")
                values[name] = cap
        kwargs: dict[str, Any] = {}
        if conditions:
            kwargs["ConditionExpression"] = " AND ".join(conditions)
        taken = aws_call(
            "DynamoDB UpdateItem (budget)",
            self.table.update_item,
            tolerate={CONDITION_FAILED},
            Key={NAME: counter.item},
            UpdateExpression="ADD #m :one, #d :one SET #x = if_not_exists(#x, :expires)",
            ExpressionAttributeNames={"#m": MONTH, "#d": counter.day, "#x": EXPIRES},
            ExpressionAttributeValues=values,
            **kwargs,
        )
        return taken is not None

    def give_back(self, counter: Counter) -> None:
        aws_call(
            "DynamoDB UpdateItem (budget refund)",
            self.table.update_item,
            tolerate={CONDITION_FAILED},
            Key={NAME: counter.item},
            UpdateExpression="ADD #m :minus, #d :minus",
            ConditionExpression="#m > :zero AND #d > :zero",
            ExpressionAttributeNames={"#m": MONTH, "#d": counter.day},
            ExpressionAttributeValues={":minus": -1, ":zero": 0},
        )

    def usage(self, counter: Counter) -> Usage:
        item = self._get(counter.item) or {}
        return Usage(day=int(plain(item.get(counter.day, 0))), month=int(plain(item.get(MONTH, 0))))

    def _get(self, name: str) -> dict[str, Any] | None:
        found = aws_call(
            "DynamoDB GetItem (budget)", self.table.get_item, Key={NAME: name}, ConsistentRead=True
        )
        item = (found or {}).get("Item")
        return dict(item) if item else None


def _expires(month: str) -> int:
    start = datetime.strptime(month, "%Y-%m").replace(tzinfo=UTC)
    return int(start.timestamp()) + KEEP_SECONDS
