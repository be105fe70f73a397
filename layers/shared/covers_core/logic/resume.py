"""An operator's resume (``covers resume``): put a TIMED_OUT / NEEDS_ATTENTION cover, or an IN_PROGRESS one
whose workflow ended without finishing it, back on the poll workflow, or adopt a cover task id found in
the vendor's dashboard. Never calls generate.

1. ``domain.resume.decide`` says whether the record may be resumed and with which cover task id;
2. one conditional write moves it to IN_PROGRESS (``CoverStore.resume``): two operators resuming at once
   cannot both win;
3. a new execution, named ``<execution name>.r<resume count>`` (Standard execution names cannot be
   reused), polls from now: the deadline restarts at the resume;
4. its ARN goes on the record. If the StartExecution fails, the record stays IN_PROGRESS without an
   execution, and running the same resume again a minute later starts it (``Restart``).

The resumed workflow ends like any other: one terminal record and one event for this run. A consumer can
so see a second event for the music task (``Cover Generated`` after ``Cover Generation Failed``
TIMED_OUT, or the same status again): docs/operations.md, "Resume".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from covers_core.domain import resume as policy
from covers_core.domain.model import CoverRecord, Status, WorkflowInput
from covers_core.domain.names import resumed_execution_name
from covers_core.errors import ResumeRefusedError
from covers_core.logic.ports import RecordStore, WorkflowEngine


@dataclass(frozen=True)
class Resumed:
    music_task_id: str
    previous: Status
    record: CoverRecord
    adopted: bool
    execution_arn: str


class Resumer:
    def __init__(
        self,
        store: RecordStore,
        workflow: WorkflowEngine,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.workflow = workflow
        self.clock = clock

    def resume(self, music_task_id: str, cover_task_id: str | None = None) -> Resumed:
        """Resume the music task's cover; :class:`ResumeRefusedError` says why not."""
        record = self.store.get(music_task_id)
        execution_status = None
        arn = record.execution_arn if record and record.status is Status.IN_PROGRESS else None
        if arn and not policy.is_express(arn):  # (EXPRESS executions cannot be described)
            execution_status = self.workflow.status(arn) or policy.EXECUTION_GONE
        decision = policy.decide(music_task_id, record, cover_task_id, self.clock(), execution_status)
        assert record is not None  # decide refuses a missing record
        previous, adopted = record.status, False
        if isinstance(decision, policy.Resume):
            moved = self.store.resume(record, decision.cover_task_id, self.clock())
            if moved is None:
                raise ResumeRefusedError(
                    f"{music_task_id} changed while resuming (another operator resumed it?): "
                    "nothing done; `covers status` shows it now"
                )
            record, adopted = moved, decision.adopted
        execution_input = WorkflowInput.for_record(record, policy.RESUME_FIRST_WAIT_SECONDS)
        arn = self.workflow.start(
            execution_input, name=resumed_execution_name(music_task_id, record.resume_count)
        )
        self.store.record_execution(music_task_id, arn, self.clock())
        return Resumed(music_task_id, previous, record.with_execution(arn), adopted, arn)
