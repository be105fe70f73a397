"""The poll schedule: how long the first wait is, how often to poll after it, and polling inside one check
invocation (docs/design.md, "The poll schedule" and "The poll loop")."""

from __future__ import annotations

from dataclasses import dataclass

from covers_core.domain.first_wait import Counts, estimate


@dataclass(frozen=True)
class InvocationPolling:
    """Polling inside one check invocation: every ``interval`` seconds for at most ``budget`` seconds
    before the check returns IN_PROGRESS to the workflow's Wait. ``budget`` 0 = one status call per
    invocation (the old behaviour; the right choice for EXPRESS, which bills the execution's duration
    anyway). A status call may start up to ``budget`` seconds in, so the function's timeout must exceed
    ``budget`` plus the longest vendor call (the template's bounds keep it so; a contract test checks)."""

    budget: int
    interval: int

    def __post_init__(self) -> None:
        if self.budget < 0 or self.interval < 1:
            raise ValueError("invocation polling: budget >= 0 and interval >= 1")

    def may_poll_again(self, spent: float) -> bool:
        """Whether another status call (after sleeping ``interval``) still fits the budget."""
        return self.budget > 0 and spent + self.interval <= self.budget


#: One status call per invocation.
ONE_CALL = InvocationPolling(budget=0, interval=1)


#: Poll intervals from which a cover waits in the state machine, not in a Lambda. A state transition per
#: check ($25 per 1M) costs less than a Lambda held while waiting (128 MB: about $1.67 per 1M seconds) from
#: about 15 s (docs/performance.md, "Where the waiting happens"); the margin above it keeps the estimate's
#: noise around a vendor that answers in a minute or two from sending covers to the coarser cadences.
WAIT_IN_WORKFLOW_FROM_SECONDS = 20
#: Invocations of in-Lambda polling a cover gets; a cover still not ready after them (far slower than its
#: plan) waits in the state machine, at a cadence that grows with its age.
LAMBDA_ROUNDS = 4
#: In-Lambda seconds a cover is assumed to take beyond its polling (its first call, the invocation itself).
_CALL_OVERHEAD_SECONDS = 1.0


@dataclass(frozen=True)
class Plan:
    """A new cover's schedule: seconds before its first status check, and how it polls after it.

    ``in_lambda``: the check polls inside its invocation every ``poll_interval`` seconds (a Lambda held
    while waiting, billed by the second); otherwise it makes one call per invocation and the state machine
    waits about ``poll_interval`` seconds between (billed by the transition). ``lambda_share``: of the
    covers planned ``in_lambda``, the share that may be, so that the check Lambdas polling at once stay
    near the concurrency target (the planner sends the rest to the state machine's waits)."""

    first_wait: int
    poll_interval: int
    in_lambda: bool = True
    lambda_share: float = 1.0


@dataclass(frozen=True)
class FirstWaitPolicy:
    """The first wait at ``percentile`` of the vendor's time to ready, learned from recent covers
    (``covers_core.domain.first_wait``), within [``minimum``, ``maximum``]; ``fallback`` (the template's
    PollFirstWaitSeconds) until enough covers have taught it.

    After the first check: while the learned spread between the first wait and the median, over four polls,
    is under ``WAIT_IN_WORKFLOW_FROM_SECONDS``, the check polls in its invocation every ``interval`` seconds
    (PollInvocationIntervalSeconds: the detection delay it buys, since the Lambda is held either way); from
    there on, the state machine waits that spread (at most ``max_interval``) between single checks.
    ``concurrency_target`` (0: none) bounds the check Lambdas polling at once: at ``rate`` covers a
    second, each polling for the expected time between its first wait and being ready, the share of covers
    that keeps the product under the target polls in Lambda (docs/design.md, "The poll schedule")."""

    fallback: int
    minimum: int
    maximum: int
    percentile: float
    interval: int = 5
    max_interval: int = 60
    concurrency_target: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.minimum <= self.maximum or self.fallback < 0:
            raise ValueError("first wait: 0 <= minimum <= maximum and fallback >= 0")
        if not 0 < self.percentile < 100:
            raise ValueError("first wait: 0 < percentile < 100")
        if not 1 <= self.interval <= self.max_interval:
            raise ValueError("first wait: 1 <= interval <= max interval")
        if self.concurrency_target < 0:
            raise ValueError("first wait: concurrency target >= 0")

    def plan(self, counts: Counts | None, rate: float = 0.0) -> Plan:
        """The plan for a new cover, from the recent ``counts`` and the stack's ``rate`` (covers a second)."""
        learned = estimate(counts, self.percentile) if counts is not None else None
        if learned is None:
            return Plan(self.fallback, self.interval)
        wait = max(self.minimum, min(self.maximum, round(learned.first_wait)))
        spread = learned.poll_interval(wait)
        if spread >= WAIT_IN_WORKFLOW_FROM_SECONDS:
            interval = max(self.interval, min(self.max_interval, round(spread)))
            return Plan(wait, interval, in_lambda=False)
        holding = rate * (learned.polling_seconds(wait) + _CALL_OVERHEAD_SECONDS)
        share = 1.0
        if self.concurrency_target and holding > self.concurrency_target:
            share = self.concurrency_target / holding
        return Plan(wait, self.interval, in_lambda=True, lambda_share=share)


def tail_interval(elapsed: float) -> float:
    """The state machine's wait for a cover that outlived its in-Lambda rounds, ``elapsed`` seconds after
    generation: an eighth of its age (the slower it is, the less an extra poll tells)."""
    return max(float(WAIT_IN_WORKFLOW_FROM_SECONDS), elapsed / 8)
