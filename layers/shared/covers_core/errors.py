"""Every error code the pipeline writes, and the exception types that carry them.

Step Functions matches a Lambda error by the exception's class name, so the class names here are a
contract with ``statemachine/cover_workflow.asl.json`` (see ``covers_core.domain.outcomes`` for which
names each Retry block matches and what a caught error becomes). Each exception carries one
:class:`ErrorCode`; the code, not the class name, is what records and events show.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import ClassVar


class ErrorCode(StrEnum):
    """The ``code`` of a record's ``error`` / ``lastError`` and of a failed event's ``error``."""

    # Terminal outcomes: on the record's ``error`` and in ``Cover Generation Failed`` events.
    VENDOR_FAILED = "VENDOR_FAILED"
    NO_IMAGES = "NO_IMAGES"
    COVER_TASK_NOT_FOUND = "COVER_TASK_NOT_FOUND"
    DEADLINE_EXCEEDED = "DEADLINE_EXCEEDED"
    COVER_ALREADY_EXISTS = "COVER_ALREADY_EXISTS"
    MUSIC_TASK_NOT_FOUND = "MUSIC_TASK_NOT_FOUND"
    COVER_TASK_ID_LOST = "COVER_TASK_ID_LOST"
    VENDOR_AUTH_FAILED = "VENDOR_AUTH_FAILED"
    CREDITS_EXHAUSTED = "CREDITS_EXHAUSTED"
    VENDOR_UNAVAILABLE = "VENDOR_UNAVAILABLE"
    UNEXPECTED_STATE = "UNEXPECTED_STATE"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    # Retryable conditions: only ever on ``lastError`` (the request is still being worked on).
    VENDOR_ANSWER_LOST = "VENDOR_ANSWER_LOST"
    AWS_UNAVAILABLE = "AWS_UNAVAILABLE"
    CLAIM_BUSY = "CLAIM_BUSY"
    RETRY_LATER = "RETRY_LATER"
    VENDOR_BLOCKED = "VENDOR_BLOCKED"
    BUDGET_EXCEEDED = "BUDGET_EXCEEDED"  # a credit budget's cap is used up (docs/operations.md)
    # Never stored: refusals at the edges (config, input, webhook signature).
    CONFIG_ERROR = "CONFIG_ERROR"
    BAD_REQUEST = "BAD_REQUEST"
    UNAUTHORIZED = "UNAUTHORIZED"
    # On an image's ``archiveError``: the safety net finalized without archiving.
    ARCHIVE_SKIPPED = "ARCHIVE_SKIPPED"
    # On an image's ``archiveError``: the bytes are not a PNG, JPEG or WebP image that decodes within the
    # pixel limit (nothing of it is stored; docs/contracts.md, "Archived images").
    NOT_AN_IMAGE = "NOT_AN_IMAGE"
    # On an image's ``thumbnailError``: the image was archived but no thumbnail could be made of it.
    THUMBNAIL_FAILED = "THUMBNAIL_FAILED"


#: The codes a terminal record (and its ``Cover Generation Failed`` event) may carry.
TERMINAL_ERROR_CODES = frozenset(
    {
        ErrorCode.VENDOR_FAILED,
        ErrorCode.NO_IMAGES,
        ErrorCode.COVER_TASK_NOT_FOUND,
        ErrorCode.DEADLINE_EXCEEDED,
        ErrorCode.COVER_ALREADY_EXISTS,
        ErrorCode.MUSIC_TASK_NOT_FOUND,
        ErrorCode.COVER_TASK_ID_LOST,
        ErrorCode.VENDOR_AUTH_FAILED,
        ErrorCode.CREDITS_EXHAUSTED,
        ErrorCode.VENDOR_UNAVAILABLE,
        ErrorCode.UNEXPECTED_STATE,
        ErrorCode.INTERNAL_ERROR,
    }
)


class CoverPipelineError(Exception):
    """Base class of every error the pipeline raises on purpose. Always carries a message."""

    code: ClassVar[ErrorCode] = ErrorCode.INTERNAL_ERROR

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ResumeRefusedError(CoverPipelineError):
    """An operator's resume that the record does not allow (``covers resume``); the message says why."""


class ConfigError(CoverPipelineError):
    """A required setting is missing or malformed (raised at cold start)."""

    code = ErrorCode.CONFIG_ERROR


class BadRequestError(CoverPipelineError):
    """A queue message or webhook body that does not name a music task properly."""

    code = ErrorCode.BAD_REQUEST


class DeadLetterTooLargeError(CoverPipelineError):
    """A rejected body whose dead-letter copy SQS would refuse as too large (so it is not sent)."""

    code = ErrorCode.BAD_REQUEST


class RetryLaterError(CoverPipelineError):
    """The message cannot be handled now but may succeed later (leave it on the queue)."""

    code = ErrorCode.RETRY_LATER


class ClaimBusyError(RetryLaterError):
    """Another invocation holds a live claim on this music task (it is calling the vendor now)."""

    code = ErrorCode.CLAIM_BUSY


class MusicTaskNotReadyError(RetryLaterError):
    """The vendor does not know the music task yet (404); it may be registered a little later."""

    code = ErrorCode.MUSIC_TASK_NOT_FOUND


class AwsTransientError(CoverPipelineError):
    """An AWS call (DynamoDB, SQS, EventBridge, Step Functions, S3) failed in a way worth retrying."""

    code = ErrorCode.AWS_UNAVAILABLE

    def __init__(self, message: str, *, aws_code: str | None = None) -> None:
        super().__init__(message)
        self.aws_code = aws_code


class CoverNotReadyError(CoverPipelineError):
    """The cover is still being made: the state machine calls the check again after this class's
    ``cadence`` seconds (a Retry block of its own, which spends no attempt of any other: docs/design.md,
    "The poll loop"). ``polls``: the status calls made so far, carried in the message."""

    code = ErrorCode.RETRY_LATER
    cadence: ClassVar[int] = 2

    def __init__(self, message: str, *, polls: int = 0, calls: int = 0) -> None:
        super().__init__(message)
        self.polls = polls  # status calls for this cover so far
        self.calls = calls  # of which this invocation made


class PollAgainError(CoverNotReadyError):
    """The check polled for its whole budget inside the invocation: poll on in a new one at once (2 s)."""

    cadence = 2


class PollIn5sError(CoverNotReadyError):
    """One status call per invocation and the next in 5 s (EXPRESS, no in-invocation budget, or a cover the
    plan left to the state machine's waits)."""

    cadence = 5


class PollIn15sError(CoverNotReadyError):
    """The next check in 15 s (no Lambda is held while waiting; as every cadence below)."""

    cadence = 15


class PollIn30sError(CoverNotReadyError):
    """The next check in 30 s."""

    cadence = 30


class PollIn60sError(CoverNotReadyError):
    """The next check in 60 s (a vendor whose covers take many minutes)."""

    cadence = 60


class PollIn120sError(CoverNotReadyError):
    """The next check in 120 s."""

    cadence = 120


#: The not-ready errors, by how long the state machine waits before the next check.
NOT_READY_ERRORS: tuple[type[CoverNotReadyError], ...] = (
    PollAgainError,
    PollIn5sError,
    PollIn15sError,
    PollIn30sError,
    PollIn60sError,
    PollIn120sError,
)
#: The cadences a check that makes one call per invocation chooses from (all but the in-Lambda loop's).
WAITS_IN_WORKFLOW: tuple[type[CoverNotReadyError], ...] = NOT_READY_ERRORS[1:]


def wait_in_workflow(seconds: float) -> type[CoverNotReadyError]:
    """The workflow cadence nearest ``seconds`` in ratio (40 s is nearer 30 s than 60 s)."""
    seconds = max(seconds, 1.0)
    return min(WAITS_IN_WORKFLOW, key=lambda e: abs(math.log(seconds / e.cadence)))


def wait_at_least(seconds: float) -> type[CoverNotReadyError]:
    """The shortest workflow cadence of at least ``seconds`` (the longest there is when none is)."""
    return next((e for e in WAITS_IN_WORKFLOW if e.cadence >= seconds), WAITS_IN_WORKFLOW[-1])


class EventClaimHeldError(CoverPipelineError):
    """Another finalize holds the right to publish the terminal event and has not published it (it may
    have been killed): retry once its lease has run out (the state machine does; docs/design.md)."""

    code = ErrorCode.AWS_UNAVAILABLE


class CoverTaskIdNotStoredError(AwsTransientError):
    """Generate returned a cover task id (a credit is spent) that the record could not keep: the id
    travels on with this error so the batch can hand it on (docs/design.md, "Nothing lost")."""

    def __init__(self, message: str, *, cover_task_id: str) -> None:
        super().__init__(message)
        self.cover_task_id = cover_task_id


# --- vendor (udioapi.pro) answers -------------------------------------------------------------


class VendorError(CoverPipelineError):
    """Any non-success answer from the vendor. Keeps the HTTP status and the body's ``code``."""

    def __init__(self, message: str, *, http_status: int | None = None, vendor_code: object = None) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.vendor_code = vendor_code


class VendorTransientError(VendorError):
    """429, 5xx, timeouts, connection errors, unparsable bodies, 200 with an error code: retry."""

    code = ErrorCode.VENDOR_UNAVAILABLE

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        vendor_code: object = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, http_status=http_status, vendor_code=vendor_code)
        self.retry_after = retry_after


class VendorAmbiguousError(VendorTransientError):
    """The request was (or may have been) processed but no usable answer came back.

    For ``POST /v2/cover/generate`` this means a credit may have been spent and the cover task id lost.
    """

    code = ErrorCode.VENDOR_ANSWER_LOST


class VendorBlockedError(VendorError):
    """The vendor refused for a reason an operator can fix (bad key, no credits)."""

    code = ErrorCode.VENDOR_BLOCKED


class VendorAuthError(VendorBlockedError):
    """401 (or 403): no or bad API key."""

    code = ErrorCode.VENDOR_AUTH_FAILED


class VendorCreditsExhaustedError(VendorBlockedError):
    """402: the account has no credits left."""

    code = ErrorCode.CREDITS_EXHAUSTED


class VendorNotFoundError(VendorError):
    """404: the vendor does not know the task named in the request (see the two subclasses)."""

    code = ErrorCode.MUSIC_TASK_NOT_FOUND


class MusicTaskNotFoundError(VendorNotFoundError):
    """404 on generate: unknown music task (it may not be registered yet)."""

    code = ErrorCode.MUSIC_TASK_NOT_FOUND


class CoverTaskNotFoundError(VendorNotFoundError):
    """404 on status: unknown cover task."""

    code = ErrorCode.COVER_TASK_NOT_FOUND


class CoverAlreadyExistsError(VendorError):
    """400 on generate: this music task already has a cover."""

    code = ErrorCode.COVER_ALREADY_EXISTS


#: Errors of the Lambda service itself, which every Task state retries (the set AWS recommends:
#: https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html).
LAMBDA_SERVICE_ERRORS = (
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
)
#: The function's concurrency (or the account's) is exhausted: Lambda refused the invocation. Nothing ran,
#: so every Task retries it for as long as a throttle storm may last (docs/operations.md, "Throttling").
LAMBDA_THROTTLED = "Lambda.TooManyRequestsException"
#: How Step Functions reports a function killed by Lambda: a timeout (``Sandbox.Timedout``, Lambda
#: troubleshooting guide, https://docs.aws.amazon.com/lambda/latest/dg/troubleshooting-invocation.html),
#: the runtime process dying, e.g. out of memory (``Runtime.ExitError``), or an unhandled error without
#: a type (``Lambda.Unknown``: "these include out-of-memory errors and function timeouts", the Step
#: Functions page above).
FUNCTION_KILLED_ERRORS = ("Lambda.Unknown", "Sandbox.Timedout", "Runtime.ExitError")
#: Every error name of the Lambda service or runtime that a state machine may see (not our exceptions).
LAMBDA_ERRORS = (*LAMBDA_SERVICE_ERRORS, LAMBDA_THROTTLED, *FUNCTION_KILLED_ERRORS)
