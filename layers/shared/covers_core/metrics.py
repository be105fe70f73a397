"""The names of the pipeline's custom CloudWatch metrics (namespace and ``service`` dimension come from
the template's Powertools settings). The template's alarms and dashboard use these names;
``tests/infra/test_contracts.py`` checks that they do."""

from __future__ import annotations

from enum import StrEnum

from covers_core.domain.model import Status
from covers_core.domain.reconcile import Repair
from covers_core.errors import ErrorCode


class Metric(StrEnum):
    COVERS_REQUESTED = "CoversRequested"  # generate calls that returned a cover task (credits spent)
    COVERS_SUCCEEDED = "CoversSucceeded"
    COVERS_FAILED = "CoversFailed"  # FAILED, TIMED_OUT, REJECTED (by finalize or, REJECTED, the start)
    #: By finalize, the start (COVER_TASK_ID_LOST) and the reconciler (a lapsed claim): NeedsAttentionAlarm.
    COVERS_NEEDING_ATTENTION = "CoversNeedingAttention"
    POLLS = "Polls"
    #: Check invocations that ended with a not-ready error (the poll loop, not a failure: the check
    #: function's errors alarm subtracts them from Lambda's Errors).
    CHECKS_NOT_READY = "ChecksNotReady"
    BAD_MESSAGES = "BadMessages"
    CREDITS_EXHAUSTED = "CreditsExhausted"  # one per batch that met a 402
    VENDOR_AUTH_FAILED = "VendorAuthFailed"  # one per batch that met a 401
    #: One per budget window (scope and day or month) that parked a request in a batch (BudgetExceededAlarm).
    BUDGET_EXCEEDED = "BudgetExceeded"
    REPAIRS = "Repairs"  # the reconciler's repairs in one run, of every kind (RepairsKeepHappeningAlarm)


def outcome_metric(status: Status) -> Metric:
    """The metric a terminal record counts towards."""
    if status == Status.SUCCEEDED:
        return Metric.COVERS_SUCCEEDED
    if status == Status.NEEDS_ATTENTION:
        return Metric.COVERS_NEEDING_ATTENTION
    return Metric.COVERS_FAILED


def repair_metric(repair: Repair) -> str:
    """The metric of one kind of reconciler repair: ``Reconciled<kind>`` (e.g. ``ReconciledPublishEvent``)."""
    return f"Reconciled{repair.value}"


#: The metric a batch the vendor refused counts towards, by the refusal's code.
BLOCKED_METRIC = {
    ErrorCode.CREDITS_EXHAUSTED: Metric.CREDITS_EXHAUSTED,
    ErrorCode.VENDOR_AUTH_FAILED: Metric.VENDOR_AUTH_FAILED,
}
