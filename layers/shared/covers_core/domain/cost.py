"""What one cover cost (docs/operations.md, "Cost per cover"): the counts the pipeline knows about the cover
and ONE estimate of its AWS cost made from them with the unit prices of ``covers_core.domain.prices`` (the
table the benches use too). Pure: no I/O.

The counts, and how each is known:

* ``credits``: vendor credits the cover's generate calls spent: 1 once generate returned a cover task id
  (the vendor charges 1 credit per generate request, docs/contracts.md), 0 for a request refused before
  any credit (REJECTED for an existing cover or an unknown music task), 1 for a cover whose id was lost
  after an earlier attempt probably spent one (NEEDS_ATTENTION / COVER_TASK_ID_LOST).
* ``status_calls``: the vendor status calls of the poll loop (the record's ``pollCount``).
* ``transitions``: Step Functions STANDARD state transitions of the cover's execution, counted from what
  the workflow knows (:func:`transitions`): one per state entered, one per retry of a state.
* ``lambda_ms``/``lambda_gb_seconds``/``lambda_requests``: each function's billed milliseconds at its own
  memory size (read by each function from its runtime: ``context.memory_limit_in_mb``), summed: the
  start's share of its batch, every check invocation, finalize (:class:`LambdaShare`).
* ``detection_delay_seconds``: how late the poll loop saw the cover ready: the vendor gives no completion
  time, so it is half the gap between the last IN_PROGRESS answer and the answer that saw it done (the
  midpoint estimate the poll schedule learns from); 0 when the first check found it done (a lower bound:
  it was ready at some unknown moment before). None when no check saw it end (a caught failure, a
  timeout, a cover that ended at the start).

Everything else a cover spends is a fixed count per path (:data:`PER_COVER`): DynamoDB request units,
one EventBridge event, SQS requests, S3 puts of archived images. Not counted: CloudWatch Logs ingestion,
Secrets Manager reads (cached per container), S3 storage, Lambda cold-start (INIT) time, the reconciler.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from covers_core.domain.prices import usd

#: The workflow types (template parameter ``WorkflowType``): STANDARD bills transitions, EXPRESS bills
#: one request and its duration at 64 MB in 100 ms steps (https://aws.amazon.com/step-functions/pricing/).
STANDARD, EXPRESS = "STANDARD", "EXPRESS"
EXPRESS_MEMORY_GB = 64 / 1024

#: States of ``statemachine/cover_workflow.asl.json`` each execution enters once at least: the first wait,
#: the check, finalize. Every retry of the check (each poll round after the first, each vendor-error or
#: throttle retry: ``$$.State.RetryCount``) adds one; the safety net (FinalizeWithoutArchive) one more.
BASE_TRANSITIONS = 3


@dataclass(frozen=True)
class PerCover:
    """Requests every cover of a path makes besides its transitions and Lambda time (the code's writes,
    counted in docs/operations.md, "Cost per cover"; the load simulation meters the same)."""

    #: Write units (an item under 1 KB each): the table's claim, budget note, cover task id, execution ARN,
    #: terminal write and event published (6); the ``byOpen`` index entry made at the claim and removed at
    #: the close (2); the stack's credit budget counter (1).
    dynamodb_writes: int = 9
    #: The producer's SendMessage, and this message's share of the event source's ReceiveMessage (empty
    #: long polls included) and DeleteMessageBatch calls.
    sqs_requests: float = 1.7
    events: int = 1


#: A cover that went through the workflow.
PER_COVER = PerCover()
#: One the start ended (REJECTED, NEEDS_ATTENTION): no cover task id nor execution ARN write.
ENDED_AT_START = PerCover(dynamodb_writes=7)
#: The poll schedule's one write per SUCCEEDED cover (``adapters/poll_stats.py``).
LEARNING_WRITES = 1


@dataclass(frozen=True)
class LambdaShare:
    """A function's billed time for one cover: ``ms`` at ``memory_mb``, over ``requests`` invocations (a
    fraction for the start's share of a batch)."""

    ms: int
    memory_mb: int
    requests: float = 1.0

    @property
    def gb_seconds(self) -> float:
        return self.ms / 1000 * self.memory_mb / 1024

    def to_state(self) -> dict[str, Any]:
        return {"ms": self.ms, "memoryMb": self.memory_mb, "requests": self.requests}

    @classmethod
    def from_state(cls, value: Any) -> LambdaShare | None:
        """The share in workflow state or a stored item, or None when absent or malformed."""
        if not isinstance(value, Mapping):
            return None
        ms, memory = _number(value.get("ms")), _number(value.get("memoryMb"))
        requests = _number(value.get("requests", 1))
        if ms is None or memory is None or requests is None:
            return None
        return cls(max(0, int(ms)), max(0, int(memory)), max(0.0, requests))


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def billed_ms(seconds: float) -> int:
    """Lambda bills duration rounded up to the millisecond."""
    return max(1, math.ceil(seconds * 1000))


def transitions(check_retries: int | None, *, safety_net: bool = False, workflow: bool = True) -> int:
    """State transitions of one execution (see :data:`BASE_TRANSITIONS`). ``check_retries``: the check's
    ``$$.State.RetryCount`` on its last invocation (None when unknown: a failure the check did not return
    is counted as no retry). Not counted: finalize's own retries (only after an AWS error)."""
    if not workflow:
        return 0
    return BASE_TRANSITIONS + max(0, check_retries or 0) + (1 if safety_net else 0)


@dataclass(frozen=True)
class CoverCost:
    """What one cover cost: the counts (module docstring) and their estimated AWS cost in USD."""

    credits: int
    status_calls: int
    transitions: int
    lambda_requests: float
    lambda_ms: int
    lambda_gb_seconds: float
    s3_puts: int
    estimated_usd: float
    detection_delay_seconds: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """The ``cost`` object of the status view and of the stored record."""
        out: dict[str, Any] = {
            "credits": self.credits,
            "statusCalls": self.status_calls,
            "transitions": self.transitions,
            "lambdaRequests": round(self.lambda_requests, 4),
            "lambdaMs": self.lambda_ms,
            "lambdaGbSeconds": round(self.lambda_gb_seconds, 6),
            "s3Puts": self.s3_puts,
            "estimatedUsd": round(self.estimated_usd, 9),
        }
        if self.detection_delay_seconds is not None:
            out["detectionDelaySeconds"] = round(self.detection_delay_seconds, 3)
        return out

    @classmethod
    def from_dict(cls, value: Any) -> CoverCost | None:
        """A stored ``cost`` object; None when absent (records written before costs were kept)."""
        if not isinstance(value, Mapping) or "estimatedUsd" not in value:
            return None
        delay = value.get("detectionDelaySeconds")
        return cls(
            credits=int(value.get("credits") or 0),
            status_calls=int(value.get("statusCalls") or 0),
            transitions=int(value.get("transitions") or 0),
            lambda_requests=float(value.get("lambdaRequests") or 0),
            lambda_ms=int(value.get("lambdaMs") or 0),
            lambda_gb_seconds=float(value.get("lambdaGbSeconds") or 0),
            s3_puts=int(value.get("s3Puts") or 0),
            estimated_usd=float(value["estimatedUsd"]),
            detection_delay_seconds=None if delay is None else float(delay),
        )


def estimate(
    *,
    credits: int,
    status_calls: int,
    transitions: int,
    lambdas: tuple[LambdaShare, ...],
    per_cover: PerCover = PER_COVER,
    extra_writes: int = 0,
    s3_puts: int = 0,
    workflow_type: str = STANDARD,
    execution_seconds: float = 0.0,
    detection_delay_seconds: float | None = None,
) -> CoverCost:
    """The one estimate of a cover's AWS cost (module docstring), from its counts and the unit prices.
    ``execution_seconds``: how long the execution ran (EXPRESS bills it instead of transitions)."""
    requests = sum(share.requests for share in lambdas)
    gb_seconds = sum(share.gb_seconds for share in lambdas)
    if workflow_type == EXPRESS:
        steps = math.ceil(execution_seconds * 10) / 10 if transitions else 0.0
        workflow = (usd("sfn_express_request") if transitions else 0.0) + steps * EXPRESS_MEMORY_GB * usd(
            "sfn_express_gb_second"
        )
    else:
        workflow = transitions * usd("sfn_standard_transition")
    amount = (
        workflow
        + requests * usd("lambda_request")
        + gb_seconds * usd("lambda_arm_gb_second")
        + (per_cover.dynamodb_writes + extra_writes) * usd("dynamodb_write")
        + per_cover.events * usd("eventbridge_event")
        + per_cover.sqs_requests * usd("sqs_request")
        + s3_puts * usd("s3_put")
    )
    return CoverCost(
        credits=credits,
        status_calls=status_calls,
        transitions=transitions,
        lambda_requests=requests,
        lambda_ms=sum(share.ms for share in lambdas),
        lambda_gb_seconds=gb_seconds,
        s3_puts=s3_puts,
        estimated_usd=amount,
        detection_delay_seconds=detection_delay_seconds,
    )
