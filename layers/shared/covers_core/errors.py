"""The project's exception types, and the contract with ``statemachine/cover_workflow.asl.json``.

Step Functions matches a Lambda error by the exception's class name. The class names listed in
``STATE_MACHINE_RETRY`` are the ones the state machine's ``Retry`` blocks name, and
``FAILURE_OUTCOMES`` says what the finalize step makes of an error the state machine caught.
``tests/test_contracts.py`` checks the ASL against this module in both directions, so this file is the
one source of truth for those names.
"""

from __future__ import annotations


class CoverPipelineError(Exception):
    """Base class of every error the pipeline raises on purpose. Always carries a message."""

    code = "INTERNAL_ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(CoverPipelineError):
    """A required setting is missing or malformed (raised at cold start)."""

    code = "CONFIG_ERROR"


class BadRequestError(CoverPipelineError):
    """A queue message or webhook body that does not name a music task properly."""

    code = "BAD_REQUEST"


class RetryLaterError(CoverPipelineError):
    """The message cannot be handled now but may succeed later (leave it on the queue)."""

    code = "RETRY_LATER"


class ClaimBusyError(RetryLaterError):
    """Another invocation holds a live claim on this music task (it is calling the vendor now)."""

    code = "CLAIM_BUSY"


class MusicTaskNotReadyError(RetryLaterError):
    """The vendor does not know the music task yet (404); it may be registered a little later."""

    code = "MUSIC_TASK_NOT_FOUND"


class AwsTransientError(CoverPipelineError):
    """DynamoDB or EventBridge refused or failed a call that is safe to retry."""

    code = "AWS_UNAVAILABLE"


# --- vendor (udioapi.pro) answers -------------------------------------------------------------


class VendorError(CoverPipelineError):
    """Any non-success answer from the vendor. Keeps the HTTP status and the body's ``code``."""

    def __init__(self, message: str, *, http_status: int | None = None, vendor_code: object = None) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.vendor_code = vendor_code


class VendorTransientError(VendorError):
    """429, 5xx, timeouts, connection errors, unparsable bodies, 200 with an error code: retry."""

    code = "VENDOR_UNAVAILABLE"

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

    code = "VENDOR_ANSWER_LOST"


class VendorBlockedError(VendorError):
    """The vendor refused for a reason an operator can fix (bad key, no credits)."""

    code = "VENDOR_BLOCKED"


class VendorAuthError(VendorBlockedError):
    """401 (or 403): no or bad API key."""

    code = "VENDOR_AUTH_FAILED"


class VendorCreditsExhaustedError(VendorBlockedError):
    """402: the account has no credits left."""

    code = "CREDITS_EXHAUSTED"


class VendorNotFoundError(VendorError):
    """404: unknown music task (generate) or unknown cover task (status)."""

    code = "NOT_FOUND"


class CoverAlreadyExistsError(VendorError):
    """400 on generate: this music task already has a cover."""

    code = "COVER_ALREADY_EXISTS"


# --- contract with the state machine ------------------------------------------------------------

#: Error names each Retry block of the CheckCoverStatus / FinalizeCover states matches, by block.
#: Only transient or operator-fixable conditions are retried; a plain bug is never retried.
STATE_MACHINE_RETRY: dict[str, dict[str, tuple[str, ...]]] = {
    "CheckCoverStatus": {
        "transient": ("VendorTransientError", "VendorAmbiguousError"),
        "blocked": ("VendorAuthError", "VendorCreditsExhaustedError"),
        "not_found": ("VendorNotFoundError",),
    },
    "FinalizeCover": {
        "transient": ("AwsTransientError",),
    },
}

#: What the finalize step records when the check step failed for good, by error name:
#: (record status, error code). Anything not listed ends as NEEDS_ATTENTION / INTERNAL_ERROR: the
#: cover was paid for, so only the vendor's own verdict may turn it into FAILED.
FAILURE_OUTCOMES: dict[str, tuple[str, str]] = {
    "VendorNotFoundError": ("FAILED", "COVER_TASK_NOT_FOUND"),
    "VendorTransientError": ("NEEDS_ATTENTION", "VENDOR_UNAVAILABLE"),
    "VendorAmbiguousError": ("NEEDS_ATTENTION", "VENDOR_UNAVAILABLE"),
    "VendorAuthError": ("NEEDS_ATTENTION", "VENDOR_AUTH_FAILED"),
    "VendorCreditsExhaustedError": ("NEEDS_ATTENTION", "CREDITS_EXHAUSTED"),
}
DEFAULT_FAILURE_OUTCOME = ("NEEDS_ATTENTION", "INTERNAL_ERROR")

#: Lambda service errors every Task state retries (the AWS-recommended set).
LAMBDA_SERVICE_ERRORS = (
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
)
