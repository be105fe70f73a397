"""What the reconciler does with one open record: which repair, if any, a crash or a throttle left it needing.
Pure: every decision here is a rule on the record, the time and (for a workflow) its execution's status.

The pipeline repairs most failures on its own (SQS redelivers a start, Step Functions retries a check or a
finalize). The reconciler repairs what is left when those paths have ended (docs/operations.md, "The
reconciler"), and never where a credit may be spent: it never calls generate.

* a terminal record whose event was not sent, once the right to publish is free or lapsed: publish it;
* IN_PROGRESS without a workflow, quiet longer than its message's redelivery span: start the workflow;
* IN_PROGRESS past its deadline whose execution has ended (an EXPRESS one: quiet longer than EXPRESS may
  run): resume it (a new run, as ``covers resume`` does);
* GENERATING whose claim lapsed (its holder died mid-call) or was released uncertain, quiet past the
  redelivery span: a credit may be spent and the id is lost: NEEDS_ATTENTION (COVER_TASK_ID_LOST);
* GENERATING whose claim was released with nothing spent, quiet past the span: queue the request again;
* BLOCKED, once the cause may be gone (:func:`blocked_to_requeue`): queue the request again;
* BUDGET_EXCEEDED, once its caps have room (the window rolled over, a cap was raised): the same rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from covers_core.domain import resume
from covers_core.domain.model import CoverRecord, Status, parse_iso


class Repair(StrEnum):
    """One kind of repair (also the name of its metric: ``Reconciled<kind>``)."""

    PUBLISH_EVENT = "PublishEvent"
    START_WORKFLOW = "StartWorkflow"
    RESUME_WORKFLOW = "ResumeWorkflow"
    SETTLE_LOST_CLAIM = "SettleLostClaim"
    REQUEUE = "Requeue"


@dataclass(frozen=True)
class Timing:
    """The times a decision compares with (from the template's settings)."""

    #: Longest a message can still come back from SQS: visibility timeout x maxReceiveCount, plus a margin.
    redelivery_seconds: int
    #: The poll deadline (PollMaxWaitSeconds): a workflow still running past it plus ``grace`` is looked at.
    deadline_seconds: int
    grace_seconds: int = 600
    #: Records younger than this are the pipeline's (the claim lease: nothing can be stranded sooner).
    min_age_seconds: int = 60


def _age(stamp: str | None, now: datetime) -> float:
    return (now - parse_iso(stamp)).total_seconds() if stamp else float("inf")


def needs_execution_status(record: CoverRecord, now: datetime, timing: Timing) -> bool:
    """Whether deciding for ``record`` needs its execution's status (read only then: one call each)."""
    if record.status is not Status.IN_PROGRESS or not record.execution_arn:
        return False
    if resume.is_express(record.execution_arn):
        return False
    return _age(record.generated_at, now) > timing.deadline_seconds + timing.grace_seconds


def decide(
    record: CoverRecord, now: datetime, timing: Timing, execution_status: str | None = None
) -> Repair | None:
    """The repair ``record`` needs now, or None. ``execution_status``: what DescribeExecution said of an
    IN_PROGRESS record's execution (``resume.EXECUTION_GONE`` when it no longer exists)."""
    quiet = _age(record.updated_at, now)
    if record.terminal:
        lapsed = record.event_claimed_until is None or record.event_claimed_until < now.timestamp()
        return Repair.PUBLISH_EVENT if not record.event_published_at and lapsed else None
    if record.status is Status.IN_PROGRESS:
        if not record.execution_arn:
            return Repair.START_WORKFLOW if quiet > timing.redelivery_seconds else None
        ended = execution_status is not None and execution_status in resume.ENDED_EXECUTIONS
        express_gone = resume.is_express(record.execution_arn) and quiet > resume.EXPRESS_QUIET_SECONDS
        overdue = _age(record.generated_at, now) > timing.deadline_seconds + timing.grace_seconds
        return Repair.RESUME_WORKFLOW if overdue and (ended or express_gone) else None
    if record.status is Status.GENERATING:
        expires = record.claim_expires_at or 0
        if expires > now.timestamp() or quiet <= timing.redelivery_seconds:
            return None  # held, or the message may still come back and settle it
        spent_maybe = record.generate_uncertain or expires != 0  # a lapsed claim: its holder died mid-call
        return Repair.SETTLE_LOST_CLAIM if spent_maybe else Repair.REQUEUE
    return None  # BLOCKED, BUDGET_EXCEEDED: see blocked_to_requeue (it looks at all of them together)


def blocked_to_requeue(blocked: Sequence[CoverRecord], since: datetime) -> list[CoverRecord]:
    """Which BLOCKED records to queue again, a credit-free probe of whether the vendor took the key or the
    credits back (a refused generate costs nothing). While one was blocked (again) since ``since`` (the
    previous run), the cause persists: queue only the oldest, as a canary. Once none was (the last canary
    went through), queue them all."""

    def recent(record: CoverRecord) -> bool:  # blocked again, or queued again by the last run
        return bool(record.updated_at) and parse_iso(record.updated_at or "") >= since

    idle = sorted((r for r in blocked if not recent(r)), key=lambda r: (r.updated_at or "", r.music_task_id))
    return idle[:1] if any(recent(r) for r in blocked) else idle
