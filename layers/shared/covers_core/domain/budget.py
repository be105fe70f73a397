"""Credit budgets (docs/operations.md, "Credit budgets"): caps on the generate calls per UTC day and per UTC
month, for the whole stack and per tenant (the metadata field ``FirstWaitTenantField`` names). Pure: the
windows, the counter each generate takes, and what a cap allows. The store (``adapters/budgets.py``)
applies one conditional ``ADD`` per scope; this module names what it adds to.

A scope's usage of one month lives in one counter item: the month's count (``m``) and one count per day of
it (``d01`` .. ``d31``). One generate adds one to both in one conditional write, so a day cap and a month
cap are checked and taken together, atomically: racing starts never pass a cap by even one credit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

#: The scope of the stack-wide caps and counters.
STACK = "*"


class Window(StrEnum):
    DAY = "day"
    MONTH = "month"


@dataclass(frozen=True)
class Caps:
    """A scope's caps; 0 = none."""

    day: int = 0
    month: int = 0

    def of(self, window: Window) -> int:
        return self.day if window is Window.DAY else self.month

    @property
    def any(self) -> bool:
        return bool(self.day or self.month)


@dataclass(frozen=True)
class Usage:
    day: int = 0
    month: int = 0

    def of(self, window: Window) -> int:
        return self.day if window is Window.DAY else self.month


@dataclass(frozen=True)
class Counter:
    """The counters one generate takes in one scope: the month item and the day attribute in it."""

    scope: str
    month: str  # YYYY-MM (UTC)
    day: str  # dDD

    @property
    def item(self) -> str:
        return counter_item(self.scope, self.month)

    def key(self) -> str:
        """How the record notes a taken counter (``budgetCharged``), so a refund finds it after a rollover."""
        return f"{self.item}#{self.day}"

    @classmethod
    def from_key(cls, key: str) -> Counter:
        item, day = key.rsplit("#", 1)
        scope, month = item.split("|", 1)[1].rsplit("|", 1)  # a tenant's name may hold "|" or "#"
        return cls(scope, month, day)


@dataclass(frozen=True)
class Refused:
    """A cap the generate would pass: the scope and window, and its cap."""

    scope: str
    window: Window
    cap: int

    def describe(self) -> str:
        who = "the stack" if self.scope == STACK else f"tenant {self.scope.removeprefix('tenant=')!r}"
        return f"the credit budget per {self.window.value} of {who} ({self.cap}) is used up"

    @property
    def alarm_key(self) -> tuple[str, Window]:
        return (self.scope, self.window)


def month_of(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m")


def day_of(now: datetime) -> str:
    return now.astimezone(UTC).strftime("d%d")


def counter_item(scope: str, month: str) -> str:
    return f"budget|{scope}|{month}"


def caps_item(scope: str) -> str:
    return f"caps|{scope}"


def tenant_scope(tenant: str) -> str:
    return f"tenant={tenant}"


def tenant_of(metadata: Mapping[str, Any], field: str | None) -> str | None:
    """The request's tenant (a non-empty string in the metadata field), or None."""
    if not field:
        return None
    value = metadata.get(field)
    return value if isinstance(value, str) and value else None


def scopes(metadata: Mapping[str, Any], tenant_field: str | None) -> list[str]:
    """The scopes a request's generate counts towards: the stack, and its tenant if it has one."""
    tenant = tenant_of(metadata, tenant_field)
    return [STACK] if tenant is None else [STACK, tenant_scope(tenant)]


def counters(scope_names: Sequence[str], now: datetime) -> list[Counter]:
    return [Counter(scope, month_of(now), day_of(now)) for scope in scope_names]


def effective(override: Mapping[str, Any] | None, default: Caps) -> Caps:
    """A scope's caps: the stored override's values (``day``, ``month``; 0 = none) where set, else the
    default (the template's for the stack, none for a tenant)."""
    override = override or {}

    def pick(name: str, fallback: int) -> int:
        value = override.get(name)
        return max(0, int(value)) if value is not None else fallback

    return Caps(day=pick("day", default.day), month=pick("month", default.month))


def room(usage: Usage, caps: Caps) -> Window | None:
    """The window whose cap leaves no room for one more generate, or None."""
    for window in (Window.DAY, Window.MONTH):
        cap = caps.of(window)
        if cap and usage.of(window) >= cap:
            return window
    return None
