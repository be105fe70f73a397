"""Which records an operator may resume (``covers resume``), and with which cover task id. Pure.

A resume restarts the poll workflow for a cover the vendor already accepted; it never calls generate
(no credit). Resumable:

* ``TIMED_OUT`` and ``NEEDS_ATTENTION`` records that hold a cover task id (the deadline passed, or the
  status checks stayed refused through an outage): resumed with that id;
* ``NEEDS_ATTENTION`` without one (``COVER_TASK_ID_LOST``): adopted, with the cover task id the operator
  found in the vendor's dashboard (required then);
* an ``IN_PROGRESS`` record whose last resume stored its transition but never started its workflow (the
  operator's StartExecution failed): started again under the same execution name, once the transition is
  ``RESUME_LEASE_SECONDS`` old (until then another operator is probably between the two steps);
* an ``IN_PROGRESS`` record stranded by its workflow: the execution ended without finishing the record
  (``FinalizeFailed``: finalize and its safety net both failed; an execution stopped by hand or timed
  out). Nothing else would ever finish it. An EXPRESS execution cannot be described: it is taken as ended
  once the record has not changed for longer than an EXPRESS execution may run.

Everything else is refused: ``SUCCEEDED``, ``FAILED`` (the vendor's own verdict) and ``REJECTED`` are
final, and a record still in flight (``GENERATING``, ``BLOCKED``, ``IN_PROGRESS`` with its workflow
running) is the pipeline's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from covers_core.domain.model import CoverRecord, Status, parse_iso
from covers_core.errors import ResumeRefusedError

RESUMABLE_STATUSES = frozenset({Status.TIMED_OUT, Status.NEEDS_ATTENTION})
#: A resumed workflow checks the vendor at once: the cover has usually been ready for a while.
RESUME_FIRST_WAIT_SECONDS = 0
#: How long a resume's transition belongs to the operator who made it (it starts the workflow at once).
RESUME_LEASE_SECONDS = 60
#: What the resume reads for an execution Step Functions no longer has (kept 90 days after it closed).
EXECUTION_GONE = "GONE"
#: Step Functions execution statuses after which the execution will never touch the record again.
ENDED_EXECUTIONS = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", EXECUTION_GONE})
#: An EXPRESS execution runs 5 minutes at most; a record unchanged for longer than this has none running.
EXPRESS_QUIET_SECONDS = 300 + 60


@dataclass(frozen=True)
class Resume:
    """Move ``status`` -> IN_PROGRESS with ``cover_task_id`` (``adopted``: the record had none)."""

    status: Status
    cover_task_id: str
    adopted: bool


@dataclass(frozen=True)
class Restart:
    """The record is IN_PROGRESS from an earlier resume whose workflow never started: start it."""

    resume_count: int


def is_express(execution_arn: str) -> bool:
    """Whether the ARN is an EXPRESS execution's (which DescribeExecution cannot read)."""
    return ":express:" in execution_arn


def decide(
    music_task_id: str,
    record: CoverRecord | None,
    cover_task_id: str | None,
    now: datetime,
    execution_status: str | None = None,
) -> Resume | Restart:
    """The resume allowed for ``record``, or :class:`ResumeRefusedError` with the one-line reason.
    ``execution_status``: the Step Functions status of an IN_PROGRESS record's execution (None when it
    was not, or cannot be, read)."""
    if record is None:
        raise ResumeRefusedError(f"no record for music task {music_task_id}")
    if record.status is Status.IN_PROGRESS and record.resume_count and not record.execution_arn:
        since = (now - parse_iso(record.updated_at)).total_seconds() if record.updated_at else None
        if since is not None and since < RESUME_LEASE_SECONDS:
            raise ResumeRefusedError(
                f"{music_task_id} is being resumed by another operator right now (resume "
                f"{record.resume_count}, {since:.0f}s ago): nothing done; `covers status` shows it"
            )
        return Restart(record.resume_count)
    if record.status is Status.IN_PROGRESS and record.execution_arn:
        if not _stranded(record, execution_status, now):
            raise ResumeRefusedError(
                f"{music_task_id} is IN_PROGRESS and its workflow is {execution_status or 'running'}: "
                "the pipeline is still on it; nothing done"
            )
    elif record.status not in RESUMABLE_STATUSES:
        raise ResumeRefusedError(
            f"{music_task_id} is {record.status}: only "
            f"{' or '.join(sorted(RESUMABLE_STATUSES))} records, or IN_PROGRESS ones whose workflow has "
            "ended, can be resumed"
        )
    if record.cover_task_id:
        if cover_task_id and cover_task_id != record.cover_task_id:
            raise ResumeRefusedError(
                f"{music_task_id} holds cover task {record.cover_task_id}, not {cover_task_id}: "
                "drop --cover-task-id to resume it"
            )
        return Resume(record.status, record.cover_task_id, adopted=False)
    if not cover_task_id:
        code = record.error.code if record.error else "no cover task id"
        raise ResumeRefusedError(
            f"{music_task_id} is {record.status} ({code}) without a cover task id: find it in the vendor's "
            "dashboard and pass --cover-task-id"
        )
    return Resume(record.status, cover_task_id, adopted=True)


def _stranded(record: CoverRecord, execution_status: str | None, now: datetime) -> bool:
    """Whether the workflow of an IN_PROGRESS record has ended (so nothing will finish the record)."""
    if execution_status is not None:
        return execution_status in ENDED_EXECUTIONS
    if record.execution_arn and is_express(record.execution_arn) and record.updated_at:
        return (now - parse_iso(record.updated_at)).total_seconds() > EXPRESS_QUIET_SECONDS
    return False
