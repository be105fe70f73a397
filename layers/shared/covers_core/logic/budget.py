"""The credit budget gate (docs/operations.md, "Credit budgets"; rules in ``domain/budget.py``): takes one
unit of each of a request's scopes (the stack, its tenant) before its generate call, gives the units back
when the call spent no credit, and tells the reconciler whether a parked request would fit now.

Caps are read at run time from the budgets store (an operator's override, ``covers budget --set-day``) and
kept ``cache_seconds`` per container, as the learned poll schedule is; the template's
``CreditBudgetPerDay``/``CreditBudgetPerMonth`` are the stack's caps where no override is stored. The
counters themselves are never cached: each take is one conditional write."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from covers_core.domain import budget
from covers_core.domain.budget import STACK, Caps, Counter, Refused, Usage
from covers_core.errors import CoverPipelineError
from covers_core.logic.ports import Budgets

log = logging.getLogger(__name__)
#: How long a container keeps a scope's caps (a raised cap applies within this).
CAPS_CACHE_SECONDS = 60


class BudgetGate:
    def __init__(
        self,
        store: Budgets,
        stack_caps: Caps,
        tenant_field: str | None,
        *,
        cache_seconds: int = CAPS_CACHE_SECONDS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.stack_caps = stack_caps
        self.tenant_field = tenant_field
        self.cache_seconds = cache_seconds
        self.clock = clock
        self._caps: dict[str, tuple[float, Caps]] = {}
        self._lock = threading.Lock()

    def caps(self, scope: str) -> Caps:
        """The scope's caps now (cached ``cache_seconds``)."""
        now = self.clock().timestamp()
        with self._lock:
            cached = self._caps.get(scope)
        if cached is not None and now - cached[0] < self.cache_seconds:
            return cached[1]
        default = self.stack_caps if scope == STACK else Caps()
        caps = budget.effective(self.store.override(scope), default)
        with self._lock:
            self._caps[scope] = (now, caps)
        return caps

    def charge(self, metadata: Mapping[str, Any], now: datetime) -> list[Counter] | Refused:
        """Take one unit of every scope of the request (all or none), or the cap that refused."""
        taken: list[Counter] = []
        for counter in budget.counters(budget.scopes(metadata, self.tenant_field), now):
            caps = self.caps(counter.scope)
            if self.store.take(counter, caps):
                taken.append(counter)
                continue
            self.refund([c.key() for c in taken])
            window = budget.room(self.store.usage(counter), caps) or budget.Window.DAY
            return Refused(counter.scope, window, caps.of(window))
        return taken

    def refund(self, keys: Sequence[str]) -> None:
        """Give taken units back (best effort: a refund that fails leaves the counter one high, never low)."""
        for key in keys:
            try:
                self.store.give_back(Counter.from_key(key))
            except CoverPipelineError as exc:
                log.warning("could not give budget unit %s back: %s", key, exc.message)

    def allows(
        self, metadata: Mapping[str, Any], now: datetime, read: dict[str, Usage] | None = None
    ) -> bool:
        """Whether one more generate of this request fits every cap now (a read: the reconciler's test).
        ``read``: the counters already read (by item), shared by the calls of one reconciler run, which
        then reads each counter once however many requests it parked."""
        read = {} if read is None else read
        for counter in budget.counters(budget.scopes(metadata, self.tenant_field), now):
            caps = self.caps(counter.scope)
            if not caps.any:
                continue
            if counter.item not in read:
                read[counter.item] = self.store.usage(counter)
            if budget.room(read[counter.item], caps) is not None:
                return False
        return True
