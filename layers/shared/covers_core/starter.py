"""Starting cover generation for one request: claim, generate (once), record, start the workflow.

The decision table (DESIGN.md, error taxonomy, generate column):

* 200: store the cover task id at once, then start the workflow (idempotent by execution name).
* 400 "cover exists": REJECTED, unless an earlier attempt of ours may have spent the credit and lost
  the answer, in which case NEEDS_ATTENTION (an operator must look the cover up with the vendor).
* 401/402: BLOCKED, message kept for retry/redrive; the caller stops calling the vendor for the batch.
* 404: retried through the queue ``not_found_attempts`` times, then REJECTED.
* transient: the claim is released (marked uncertain when the request may have been processed) and the
  message retried through the queue.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from covers_core.errors import (
    CoverAlreadyExistsError,
    MusicTaskNotReadyError,
    VendorAmbiguousError,
    VendorBlockedError,
    VendorError,
    VendorNotFoundError,
    VendorTransientError,
)
from covers_core.finalizer import Finalizer, Outcome
from covers_core.model import CoverRequest, Status
from covers_core.records import Claim, CoverStore
from covers_core.vendor import VendorClient
from covers_core.workflow import WorkflowStarter

#: What an operator reads on a NEEDS_ATTENTION record whose generate answer was lost.
LOST_COVER_TASK_ID = (
    "an earlier generate call for this music task got no usable answer and the vendor now says a cover "
    "exists: a credit was probably spent and the cover task id is lost. Find the cover in the vendor "
    "dashboard"
)
Action = Literal["started", "resumed", "duplicate", "rejected", "needs_attention"]


@dataclass(frozen=True)
class StartSettings:
    claim_lease_seconds: int = 120
    not_found_attempts: int = 3
    first_wait_seconds: int = 30


@dataclass(frozen=True)
class StartResult:
    music_task_id: str
    action: Action
    status: str
    cover_task_id: str | None = None
    execution_arn: str | None = None


class CoverStarter:
    def __init__(
        self,
        store: CoverStore,
        vendor: VendorClient,
        workflow: WorkflowStarter,
        finalizer: Finalizer,
        settings: StartSettings,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.vendor = vendor
        self.workflow = workflow
        self.finalizer = finalizer
        self.settings = settings
        self.clock = clock

    def start(self, request: CoverRequest, *, blocked: VendorBlockedError | None = None) -> StartResult:
        """Handle one request. ``blocked`` is the vendor refusal already seen in this batch: a request
        that would need a generate call is then parked as BLOCKED without calling the vendor.

        Raises :class:`~covers_core.errors.RetryLaterError`, :class:`VendorBlockedError` or
        :class:`VendorTransientError` when the message should stay on the queue."""
        claim = self.store.claim(request, self.clock(), self.settings.claim_lease_seconds)
        if not isinstance(claim, Claim):
            return self._existing(request, claim.record)
        if blocked is not None:
            self.store.block(request.music_task_id, claim.token, _error(blocked), self.clock())
            raise type(blocked)(f"not calling the vendor: {blocked.message}")
        return self._generate(request, claim)

    def _generate(self, request: CoverRequest, claim: Claim) -> StartResult:
        task = request.music_task_id
        try:
            cover_task_id = self.vendor.generate(task)
        except CoverAlreadyExistsError as exc:
            if claim.uncertain:
                return self._end(
                    request,
                    Outcome(
                        Status.NEEDS_ATTENTION,
                        error_code="COVER_TASK_ID_LOST",
                        error_message=f"{LOST_COVER_TASK_ID} ({exc.message})",
                    ),
                    "needs_attention",
                )
            return self._end(
                request,
                Outcome(Status.REJECTED, error_code="COVER_ALREADY_EXISTS", error_message=exc.message),
                "rejected",
            )
        except VendorNotFoundError as exc:
            count = self.store.release(
                task, claim.token, uncertain=False, error=_error(exc), now=self.clock(), count_not_found=True
            )
            if count >= self.settings.not_found_attempts:
                return self._end(
                    request,
                    Outcome(
                        Status.REJECTED,
                        error_code="MUSIC_TASK_NOT_FOUND",
                        error_message=f"the vendor does not know this music task after {count} attempts "
                        f"({exc.message})",
                    ),
                    "rejected",
                )
            raise MusicTaskNotReadyError(
                f"{exc.message} (attempt {count} of {self.settings.not_found_attempts}; retrying later)"
            ) from exc
        except VendorBlockedError as exc:
            self.store.block(task, claim.token, _error(exc), self.clock())
            raise
        except VendorTransientError as exc:
            self.store.release(
                task,
                claim.token,
                uncertain=isinstance(exc, VendorAmbiguousError),
                error=_error(exc),
                now=self.clock(),
            )
            raise
        # Anything else (a bug, a Lambda timeout) leaves the claim to lapse: the next holder treats the
        # credit as possibly spent.
        record = self.store.record_cover_task(task, claim.token, cover_task_id, self.clock())
        return self._start_workflow(record, "started")

    def _existing(self, request: CoverRequest, record: dict[str, Any]) -> StartResult:
        status = record.get("status")
        if status == Status.IN_PROGRESS:
            if record.get("executionArn"):
                return _result(record, "duplicate")
            # Crashed after storing the cover task id: start (or find) the workflow, no new credit.
            return self._start_workflow(record, "resumed")
        # Terminal: nothing to do, but finish publishing if an earlier run crashed before it.
        self.finalizer.publish_once(record)
        return _result(record, "duplicate")

    def _start_workflow(self, record: dict[str, Any], action: Action) -> StartResult:
        arn = self.workflow.start(
            record["musicTaskId"], workflow_input(record, self.settings.first_wait_seconds)
        )
        self.store.record_execution(record["musicTaskId"], arn, self.clock())
        return _result({**record, "executionArn": arn}, action)

    def _end(self, request: CoverRequest, outcome: Outcome, action: Action) -> StartResult:
        record = self.finalizer.finish(request.music_task_id, outcome, request=request)
        return _result(record, action)


def workflow_input(record: dict[str, Any], first_wait_seconds: int) -> dict[str, Any]:
    """The execution input: built only from the stored record, so a retry sends the same input."""
    return {
        "musicTaskId": record["musicTaskId"],
        "coverTaskId": record["coverTaskId"],
        "generatedAt": record["generatedAt"],
        "correlationId": record.get("correlationId"),
        "metadata": record.get("metadata") or {},
        "firstWaitSeconds": first_wait_seconds,
        "pollCount": 0,
    }


def _error(exc: VendorError) -> dict[str, str]:
    return {"code": exc.code, "message": exc.message[:500]}


def _result(record: dict[str, Any], action: Action) -> StartResult:
    return StartResult(
        music_task_id=record["musicTaskId"],
        action=action,
        status=str(record.get("status")),
        cover_task_id=record.get("coverTaskId"),
        execution_arn=record.get("executionArn"),
    )
