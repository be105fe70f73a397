"""How a cover ends: the one table from errors and check results to terminal statuses, and the
contract with ``statemachine/cover_workflow.asl.json``.

``RETRIED`` lists the exception names each Retry block of the state machine matches (only transient or
operator-fixable conditions: a plain bug is never retried). ``FAILURE_OUTCOMES`` says what a failure the
state machine caught becomes. ``tests/infra/test_contracts.py`` checks the ASL against both, both ways.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from covers_core.domain.cost import CoverCost
from covers_core.domain.events import EVENT_LEASE_SECONDS
from covers_core.domain.model import (
    MAX_ERROR_MESSAGE,
    CheckResult,
    CheckStatus,
    CoverError,
    ImageCopy,
    Status,
)
from covers_core.errors import (
    FUNCTION_KILLED_ERRORS,
    LAMBDA_SERVICE_ERRORS,
    LAMBDA_THROTTLED,
    NOT_READY_ERRORS,
    AwsTransientError,
    CoverTaskNotFoundError,
    ErrorCode,
    EventClaimHeldError,
    VendorAmbiguousError,
    VendorAuthError,
    VendorCreditsExhaustedError,
    VendorTransientError,
)

_SERVICE = {"lambda_service": LAMBDA_SERVICE_ERRORS, "throttled": (LAMBDA_THROTTLED,)}
#: The error names each Retry block of the state machine matches, by state and block, in order. Only
#: transient or operator-fixable conditions, and a killed check or safety net (neither spends a credit; a
#: killed FinalizeCover goes to the safety net, which skips the archive that most likely took the time).
RETRIED: dict[str, dict[str, tuple[str, ...]]] = {
    "CheckCoverStatus": {
        **_SERVICE,
        "function_killed": FUNCTION_KILLED_ERRORS,
        "transient": (VendorTransientError.__name__, VendorAmbiguousError.__name__),
        "blocked": (VendorAuthError.__name__, VendorCreditsExhaustedError.__name__),
        "not_found": (CoverTaskNotFoundError.__name__,),
        **{f"not_ready_{e.cadence}s": (e.__name__,) for e in NOT_READY_ERRORS},
    },
    "FinalizeCover": {
        **_SERVICE,
        "transient": (AwsTransientError.__name__,),
        "event_claim_held": (EventClaimHeldError.__name__,),
    },
    "FinalizeWithoutArchive": {
        **_SERVICE,
        "function_killed": FUNCTION_KILLED_ERRORS,
        "transient": (AwsTransientError.__name__,),
        "event_claim_held": (EventClaimHeldError.__name__,),
    },
}
#: Retry blocks that wait out a lease rather than back off: no jitter, and their waits add up to more than
#: the lease, so a retry always finds it lapsed (the right to publish held by a killed finalize).
LEASE_WAITS: dict[str, int] = {"event_claim_held": EVENT_LEASE_SECONDS}
#: Retry blocks that are the poll loop itself: a fixed wait (the error's cadence), no jitter, no backoff,
#: and attempts enough for the longest deadline (the check ends the loop with TIMED_OUT at the deadline).
CADENCES: dict[str, int] = {f"not_ready_{e.cadence}s": e.cadence for e in NOT_READY_ERRORS}

#: What a failure the state machine caught after the check step becomes, by error name. Anything not
#: listed ends as NEEDS_ATTENTION / INTERNAL_ERROR: the cover was paid for, so only the vendor's own
#: verdict may turn it into FAILED.
FAILURE_OUTCOMES: dict[str, tuple[Status, ErrorCode]] = {
    CoverTaskNotFoundError.__name__: (Status.FAILED, CoverTaskNotFoundError.code),
    VendorTransientError.__name__: (Status.NEEDS_ATTENTION, VendorTransientError.code),
    VendorAmbiguousError.__name__: (Status.NEEDS_ATTENTION, VendorTransientError.code),
    VendorAuthError.__name__: (Status.NEEDS_ATTENTION, VendorAuthError.code),
    VendorCreditsExhaustedError.__name__: (Status.NEEDS_ATTENTION, VendorCreditsExhaustedError.code),
    # The poll loop ran out of attempts (the check's own deadline normally ends it first).
    **dict.fromkeys((e.__name__ for e in NOT_READY_ERRORS), (Status.TIMED_OUT, ErrorCode.DEADLINE_EXCEEDED)),
    # The check could not run for hours (throttled past its long retry budget) or kept being killed.
    **dict.fromkeys(
        (LAMBDA_THROTTLED, *FUNCTION_KILLED_ERRORS), (Status.NEEDS_ATTENTION, ErrorCode.INTERNAL_ERROR)
    ),
}
DEFAULT_FAILURE_OUTCOME = (Status.NEEDS_ATTENTION, ErrorCode.INTERNAL_ERROR)

#: What each check status ends as (IN_PROGRESS never reaches finalize).
CHECK_OUTCOMES: dict[CheckStatus, tuple[Status, ErrorCode | None]] = {
    CheckStatus.SUCCESS: (Status.SUCCEEDED, None),
    CheckStatus.FAILED: (Status.FAILED, ErrorCode.VENDOR_FAILED),
    CheckStatus.TIMED_OUT: (Status.TIMED_OUT, ErrorCode.DEADLINE_EXCEEDED),
}

_DEFAULT_MESSAGES = {
    ErrorCode.VENDOR_FAILED: "the vendor reported FAILED",
    ErrorCode.DEADLINE_EXCEEDED: "the cover was not ready by the deadline",
}

#: What an operator reads on a NEEDS_ATTENTION record whose generate answer was lost.
LOST_COVER_TASK_ID = (
    "an earlier generate call for this music task got no usable answer and the vendor now says a cover "
    "exists: a credit was probably spent and the cover task id is lost. Find the cover in the vendor "
    "dashboard"
)


@dataclass(frozen=True)
class Outcome:
    """How a cover task ended: a terminal status, the images (on success) and the error (otherwise)."""

    status: Status
    images: tuple[str, ...] = ()
    error: CoverError | None = None
    poll_count: int | None = None

    def __post_init__(self) -> None:
        if not self.status.terminal:
            raise ValueError(f"an outcome is terminal, not {self.status}")

    @classmethod
    def failed(
        cls, status: Status, code: ErrorCode, message: str | None = None, poll_count: int | None = None
    ) -> Outcome:
        return cls(status, error=CoverError.of(code, message), poll_count=poll_count)


@dataclass(frozen=True)
class Ending:
    """What a terminal write records: the outcome, and what finalize gathered around it (when the images
    expire at the vendor, their archived copies, the cover task id when the record may lack it)."""

    outcome: Outcome
    images_expire_at: str | None = None
    archived: tuple[ImageCopy, ...] | None = None
    cover_task_id: str | None = None
    #: What the cover cost (``domain/cost.py``), recorded in the terminal write itself.
    cost: CoverCost | None = None

    @property
    def status(self) -> Status:
        return self.outcome.status


def cover_exists(message: str, *, credit_uncertain: bool) -> Outcome:
    """Generate answered 400: REJECTED, unless an earlier attempt of ours may have spent the credit."""
    if credit_uncertain:
        return Outcome.failed(
            Status.NEEDS_ATTENTION, ErrorCode.COVER_TASK_ID_LOST, f"{LOST_COVER_TASK_ID} ({message})"
        )
    return Outcome.failed(Status.REJECTED, ErrorCode.COVER_ALREADY_EXISTS, message)


def music_task_unknown(message: str, attempts: int) -> Outcome:
    return Outcome.failed(
        Status.REJECTED,
        ErrorCode.MUSIC_TASK_NOT_FOUND,
        f"the vendor does not know this music task after {attempts} attempts ({message})",
    )


def from_check(check: CheckResult) -> Outcome:
    """The outcome of a finished check (SUCCESS, FAILED or TIMED_OUT)."""
    polls = check.poll_count
    if check.status == CheckStatus.SUCCESS and not check.images:
        return Outcome.failed(
            Status.FAILED, ErrorCode.NO_IMAGES, "the vendor reported SUCCESS without any image", polls
        )
    if check.status not in CHECK_OUTCOMES:
        return unexpected(check.status.value, polls)
    status, code = CHECK_OUTCOMES[check.status]
    if code is None:
        return Outcome(status, images=check.images, poll_count=polls)
    return Outcome.failed(status, code, check.error or _DEFAULT_MESSAGES[code], polls)


def unexpected(status: str, poll_count: int | None) -> Outcome:
    return Outcome.failed(
        Status.NEEDS_ATTENTION,
        ErrorCode.UNEXPECTED_STATE,
        f"finalize got an unexpected check status {status!r}",
        poll_count,
    )


def from_failure(failure: Mapping[str, Any], cover_task_id: str | None, poll_count: int | None) -> Outcome:
    """What a failure the state machine caught (``{"Error", "Cause"}``) becomes."""
    name = str(failure.get("Error") or "Unknown")
    status, code = FAILURE_OUTCOMES.get(name, DEFAULT_FAILURE_OUTCOME)
    message = _cause_message(failure.get("Cause"), name)
    if status == Status.NEEDS_ATTENTION:
        message = (
            f"cover task {cover_task_id} was paid for but its status could not be read "
            f"({name}: {message}); read it with GET /v2/cover/status?task_id=<coverTaskId>"
        )
    return Outcome.failed(status, code, message, poll_count)


def from_workflow(state: Mapping[str, Any]) -> Outcome:
    """What the state machine's input to FinalizeCover means (``check`` result or caught ``failure``)."""
    raw_check = state.get("check") or {}
    polls = raw_check.get("pollCount", state.get("pollCount"))
    polls = polls if isinstance(polls, int) else None
    failure = state.get("failure")
    if failure:
        return from_failure(failure, state.get("coverTaskId"), polls)
    try:
        check = CheckResult.from_state(raw_check)
    except ValueError:
        return unexpected(str(raw_check.get("status")), polls)
    if check is None:
        return unexpected("None", polls)
    return from_check(check)


#: Endings whose generate call probably spent a credit although the record has no cover task id.
CREDIT_PROBABLY_SPENT = frozenset({ErrorCode.COVER_TASK_ID_LOST.value})


def credits_spent(outcome: Outcome, cover_task_id: str | None) -> int:
    """Vendor credits a cover's generate spent (1 per generate request the vendor accepted): 1 once it
    returned a cover task id, or when the answer was lost after the vendor probably charged; else 0 (the
    vendor refused it: 400 for an existing cover, 404)."""
    if cover_task_id:
        return 1
    return 1 if outcome.error is not None and outcome.error.code in CREDIT_PROBABLY_SPENT else 0


def finalize_failure_reason(failure: Mapping[str, Any]) -> str:
    """Why the safety net finalizes without archiving: the error FinalizeCover failed with."""
    name = str(failure.get("Error") or "Unknown")
    return f"FinalizeCover failed ({name}: {_cause_message(failure.get('Cause'), name)})"


def _cause_message(cause: Any, name: str) -> str:
    """Step Functions passes the Lambda error as a JSON string ``{"errorMessage": ...}``."""
    if isinstance(cause, str):
        try:
            parsed = json.loads(cause)
        except ValueError:
            return cause[:MAX_ERROR_MESSAGE]
        if isinstance(parsed, dict):
            return str(parsed.get("errorMessage") or name)[:MAX_ERROR_MESSAGE]
    return name
