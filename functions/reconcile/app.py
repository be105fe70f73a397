"""ReconcileFunction: every few minutes (EventBridge Scheduler), repair what a crash or a throttle left
(docs/operations.md, "The reconciler"): unsent events, workflows that ended without finishing their cover,
claims whose message is gone, BLOCKED requests once the cause may be gone. Never calls generate."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from covers_core import log_context
from covers_core.domain.model import Status
from covers_core.domain.reconcile import Repair
from covers_core.metrics import Metric, outcome_metric, repair_metric
from covers_core.wiring import reconcile as wiring

logger = log_context.function_logger()
metrics = Metrics()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = wiring.reconciler().run()
    for repair, count in report.repaired.items():
        metrics.add_metric(name=repair_metric(repair), unit=MetricUnit.Count, value=count)
    metrics.add_metric(name=Metric.REPAIRS, unit=MetricUnit.Count, value=sum(report.repaired.values()))
    if report.repaired[Repair.SETTLE_LOST_CLAIM]:  # covers it ended NEEDS_ATTENTION (NeedsAttentionAlarm)
        metrics.add_metric(
            name=outcome_metric(Status.NEEDS_ATTENTION),
            unit=MetricUnit.Count,
            value=report.repaired[Repair.SETTLE_LOST_CLAIM],
        )
    summary = {
        "examined": report.examined,
        "repaired": {repair.value: count for repair, count in report.repaired.items()},
        "failed": report.failed,
        "truncated": report.truncated,
    }
    logger.info("reconciled", extra=summary)
    return summary
