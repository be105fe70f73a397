"""The poll schedule's learning: finalize teaches (each SUCCEEDED cover's observation, added to its minute's
counters), the start function plans (first wait and poll interval from the recent minutes, read at most once
a minute per container and tenant; the stack's rate of covers from the same counters, for the concurrency
target). docs/design.md, "The poll schedule"."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from covers_core.domain.first_wait import MIN_COVERS, Counts, Observation
from covers_core.domain.model import CheckResult, CoverRecord, Status
from covers_core.domain.schedule import FirstWaitPolicy, Plan
from covers_core.errors import AwsTransientError
from covers_core.logic.ports import LearnedWaits

log = logging.getLogger(__name__)
#: The key of every cover's observations, and the prefix of a tenant's own.
ALL, TENANT = "*", "t:"
#: Covers a plan should rest on: the newest minutes are added up until they hold this many.
TARGET_COVERS = 600
#: How long a container trusts its plan for a key.
READ_CACHE_SECONDS = 60.0
#: Tenants whose plans a container keeps (the least recently used go first).
CACHED_TENANTS = 256
#: The complete minutes (newest first, after the current one) the stack's rate is measured over.
RATE_MINUTES = 2


def tenant_of(metadata: Mapping[str, Any], field: str | None) -> str | None:
    """The tenant named by ``metadata[field]`` (a short string), or None."""
    if not field:
        return None
    value = metadata.get(field)
    if isinstance(value, str) and 0 < len(value) <= 128:
        return value
    return None


def rate_of(minutes: list[Counts], seconds_into_minute: float = 0.0) -> float:
    """Covers a second that taught the schedule: over the newest complete minutes, or over the current one so
    far (``minutes[0]``, still filling) when that says more (a rising rate shows there first; read over at
    least 20 s, so an early count does not say too much)."""
    complete = minutes[1 : 1 + RATE_MINUTES]
    settled = sum(m.covers for m in complete) / (60.0 * RATE_MINUTES) if complete else 0.0
    current = minutes[0].covers / max(seconds_into_minute, 20.0) if minutes else 0.0
    return max(settled, current)


def window(minutes: list[Counts]) -> Counts:
    """The newest minutes (first in the list) added up until they hold ``TARGET_COVERS`` covers."""
    total = Counts()
    for minute in minutes:
        total.add(minute)
        if total.covers >= TARGET_COVERS:
            break
    return total


class Teacher:
    """Finalize's side: one observation per SUCCEEDED cover whose checks say how long it took."""

    def __init__(
        self,
        store: LearnedWaits,
        tenant_field: str | None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.tenant_field = tenant_field
        self.clock = clock

    def learn(self, record: CoverRecord, check: CheckResult | None) -> bool:
        """Best effort: False when nothing was learned or it could not be stored (never raises)."""
        if record.status is not Status.SUCCEEDED or check is None or check.first_wait is None:
            return False
        observation = Observation(
            first_wait=check.first_wait,
            ready_at_first_check=check.ready_at_first_check,
            detected_after=check.ready_after if check.ready_after is not None else float(check.first_wait),
        )
        tenant = tenant_of(record.metadata, self.tenant_field)
        keys = [ALL] if tenant is None else [ALL, TENANT + tenant]
        try:
            self.store.observe(keys, observation, self.clock())
        except AwsTransientError:
            log.warning("could not store what this cover taught the poll schedule", exc_info=True)
            return False
        return True


class Planner:
    """The start function's side: the plan for a new cover, per tenant when its own history suffices."""

    def __init__(
        self,
        store: LearnedWaits,
        policy: FirstWaitPolicy,
        tenant_field: str | None,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.policy = policy
        self.tenant_field = tenant_field
        self.clock = clock
        self.monotonic = monotonic
        self._cache: OrderedDict[str, tuple[float, Counts | None, float]] = OrderedDict()
        self._lambda_credit = 0.0

    def plan(self, metadata: Mapping[str, Any]) -> Plan:
        everyone, rate = self._read(ALL)
        tenant = tenant_of(metadata, self.tenant_field)
        counts = everyone
        if tenant is not None:
            own, _ = self._read(TENANT + tenant)
            if own is not None and own.covers >= MIN_COVERS:
                counts = own
        return self._share(self.policy.plan(counts, rate))

    def _share(self, plan: Plan) -> Plan:
        """In-Lambda polling for ``plan.lambda_share`` of the covers planned so, in turn (a credit that
        grows by the share per cover and is spent by each cover that gets it)."""
        if not plan.in_lambda or plan.lambda_share >= 1.0:
            return plan
        self._lambda_credit += plan.lambda_share
        if self._lambda_credit >= 1.0:
            self._lambda_credit -= 1.0
            return plan
        return replace(plan, in_lambda=False)

    def _read(self, key: str) -> tuple[Counts | None, float]:
        now = self.monotonic()
        cached = self._cache.get(key)
        if cached is not None and now - cached[0] < READ_CACHE_SECONDS:
            self._cache.move_to_end(key)
            return cached[1], cached[2]
        counts: Counts | None
        try:
            now_utc = self.clock()
            minutes = self.store.recent(key, now_utc)
            counts, rate = window(minutes), rate_of(minutes, now_utc.timestamp() % 60)
        except AwsTransientError:
            log.warning("could not read the poll schedule's history; using the template's", exc_info=True)
            counts, rate = None, 0.0
        self._cache[key] = (now, counts, rate)
        self._cache.move_to_end(key)
        while len(self._cache) > CACHED_TENANTS:
            self._cache.popitem(last=False)
        return counts, rate
