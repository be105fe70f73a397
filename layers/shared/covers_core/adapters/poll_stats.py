"""The adaptive first wait, stored as ONE item of the small PollStatsTable (never in the covers table, so
no list, scan or status path can mistake it for a cover).

Finalize teaches it (one conditional write per SUCCEEDED cover, optimistic on ``count``); the start
function reads it, at most once a minute per container."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from covers_core.adapters.aws import CONDITION_FAILED, aws_call
from covers_core.domain.schedule import FirstWaitPolicy, LearnedWait
from covers_core.errors import AwsTransientError
from covers_core.logic.ports import LearnedWaits

log = logging.getLogger(__name__)

#: The item's key, and its attribute names.
FIRST_WAIT_KEY = "firstWait"
NAME, SECONDS, COUNT = "name", "seconds", "count"
#: Writers that lose the conditional write this many times give the observation up (best effort).
WRITE_ATTEMPTS = 3
#: How long the start function trusts its copy of the learned wait.
READ_CACHE_SECONDS = 60.0


class LearnedWaitStore(LearnedWaits):
    """``table`` is a boto3 DynamoDB Table resource of PollStatsTable."""

    def __init__(self, table: Any) -> None:
        self.table = table

    def get(self) -> LearnedWait | None:
        item = aws_call("DynamoDB GetItem", self.table.get_item, Key={NAME: FIRST_WAIT_KEY}).get("Item")
        if not item:
            return None
        return LearnedWait(float(item[SECONDS]), int(item[COUNT]))

    def observe(self, policy: FirstWaitPolicy, *, ready_at_first_check: bool) -> LearnedWait | None:
        """Apply one SUCCEEDED cover's lesson atomically; None when it could not be stored (best effort:
        the schedule is an optimisation, never a reason to fail a finalize)."""
        try:
            for _ in range(WRITE_ATTEMPTS):
                current = self.get()
                learned = policy.observe(current, ready_at_first_check=ready_at_first_check)
                if self._put(learned, current):
                    return learned
        except AwsTransientError:
            log.warning("could not update the learned first wait", exc_info=True)
            return None
        log.info("the learned first wait was busy; observation dropped")
        return None

    def _put(self, learned: LearnedWait, current: LearnedWait | None) -> bool:
        """Store ``learned`` unless another writer changed the item since ``current`` was read."""
        if current is None:
            condition: dict[str, Any] = {
                "ConditionExpression": "attribute_not_exists(#n)",
                "ExpressionAttributeNames": {"#n": NAME},
            }
        else:
            condition = {
                "ConditionExpression": "#c = :c",
                "ExpressionAttributeNames": {"#c": COUNT},
                "ExpressionAttributeValues": {":c": current.count},
            }
        item = {NAME: FIRST_WAIT_KEY, SECONDS: Decimal(f"{learned.seconds:.3f}"), COUNT: learned.count}
        put = self.table.put_item
        return (
            aws_call("DynamoDB PutItem", put, tolerate={CONDITION_FAILED}, Item=item, **condition) is not None
        )


class CachedFirstWait:
    """The first wait for a new execution: the policy applied to the stored learned wait, read at most
    every ``ttl`` seconds (the fallback when the table cannot be read)."""

    def __init__(
        self,
        store: LearnedWaitStore,
        policy: FirstWaitPolicy,
        *,
        ttl: float = READ_CACHE_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.policy = policy
        self.ttl = ttl
        self.monotonic = monotonic
        self._value: int | None = None
        self._read_at = 0.0

    def __call__(self) -> int:
        now = self.monotonic()
        if self._value is None or now - self._read_at >= self.ttl:
            try:
                self._value = self.policy.first_wait(self.store.get())
            except AwsTransientError:
                log.warning("could not read the learned first wait; using the fixed one", exc_info=True)
                self._value = self.policy.fallback
            self._read_at = now
        return self._value
