"""StartCoverFunction: SQS batch -> claim, generate (once per music task), start the CoverWorkflow."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from covers_core import log_context
from covers_core.logic.batch import Message
from covers_core.metrics import BLOCKED_METRIC, Metric, outcome_metric
from covers_core.wiring import start_cover as wiring

logger = log_context.function_logger()
metrics = Metrics()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    messages = [message(r) for r in event.get("Records", [])]
    summary = wiring.batch().run(
        messages,
        time_left=lambda: context.get_remaining_time_in_millis() / 1000,
        memory_mb=int(context.memory_limit_in_mb),
    )
    metrics.add_metric(name=Metric.COVERS_REQUESTED, unit=MetricUnit.Count, value=summary.started)
    metrics.add_metric(name=Metric.BAD_MESSAGES, unit=MetricUnit.Count, value=summary.bad_messages)
    if summary.blocked in BLOCKED_METRIC:  # one data point per batch, not one per message
        metrics.add_metric(name=BLOCKED_METRIC[summary.blocked], unit=MetricUnit.Count, value=1)
    if summary.budget_exceeded:  # one data point per budget window that refused, not one per message
        metrics.add_metric(
            name=Metric.BUDGET_EXCEEDED, unit=MetricUnit.Count, value=len(summary.budget_exceeded)
        )
    for status, count in summary.ended.items():  # REJECTED, NEEDS_ATTENTION written here, not by finalize
        metrics.add_metric(name=outcome_metric(status), unit=MetricUnit.Count, value=count)
    # Every failed record is reported, even when all failed: the messages stay queued either way.
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in summary.failed]}


def message(record: dict[str, Any]) -> Message:
    """An SQS record as the batch reads it: id, body, delivery count and string message attributes."""
    attributes = record.get("messageAttributes") or {}
    return Message(
        record["messageId"],
        record.get("body") or "",
        receive_count=int((record.get("attributes") or {}).get("ApproximateReceiveCount") or 1),
        attributes={k: v["stringValue"] for k, v in attributes.items() if v.get("stringValue") is not None},
    )
