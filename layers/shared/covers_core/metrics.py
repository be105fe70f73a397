"""The names of the pipeline's custom CloudWatch metrics (namespace and ``service`` dimension come from
the template's Powertools settings). The template's alarms and dashboard use these names;
``tests/infra/test_contracts.py`` checks that they do."""

from __future__ import annotations

from collections.abc import Collection
from enum import StrEnum
from typing import Any

from covers_core.domain.budget import tenant_of
from covers_core.domain.model import CoverRecord, Status
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
    #: Per cover, once (by the finalize whose terminal write won; docs/operations.md, "Cost per cover"):
    #: its estimated AWS cost (USD) and the vendor credits it spent, by Outcome and by Tenant.
    COVER_COST_USD = "CoverCostUsd"
    CREDITS_SPENT = "CreditsSpent"


#: The cost metrics' dimensions (besides ``service``): each metric is emitted with three dimension sets,
#: ``[service]``, ``[service, Outcome]`` and, when the stack names a tenant field, ``[service, Tenant]``.
OUTCOME_DIMENSION = "Outcome"
TENANT_DIMENSION = "Tenant"
#: The Tenant value of every tenant not listed in ``CostMetricTenants`` (and of covers without one): each
#: listed tenant is one more CloudWatch metric per cost metric, so the list caps the metrics' number.
OTHER_TENANT = "other"


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


def cost_metrics(
    record: CoverRecord,
    *,
    namespace: str,
    service: str,
    tenant_field: str | None,
    tenants: Collection[str],
    timestamp_ms: int,
) -> dict[str, Any] | None:
    """One CloudWatch embedded-metric-format line with a cover's cost metrics (None when the record has no
    cost): ``CoverCostUsd`` and ``CreditsSpent`` under the dimension sets above."""
    if record.cost is None:
        return None
    dimensions = [["service"], ["service", OUTCOME_DIMENSION]]
    line: dict[str, Any] = {"service": service, OUTCOME_DIMENSION: record.status.value}
    if tenant_field:
        tenant = tenant_of(record.metadata, tenant_field)
        line[TENANT_DIMENSION] = tenant if tenant in tenants else OTHER_TENANT
        dimensions.append(["service", TENANT_DIMENSION])
    metrics = [
        {"Name": Metric.COVER_COST_USD.value, "Unit": "None"},
        {"Name": Metric.CREDITS_SPENT.value, "Unit": "Count"},
    ]
    return {
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{"Namespace": namespace, "Dimensions": dimensions, "Metrics": metrics}],
        },
        **line,
        Metric.COVER_COST_USD.value: record.cost.estimated_usd,
        Metric.CREDITS_SPENT.value: record.cost.credits,
    }
