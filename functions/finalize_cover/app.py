"""FinalizeCoverFunction: terminal record (+ optional S3 archive) and exactly one EventBridge event."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from covers_core import log_context
from covers_core.metrics import outcome_metric
from covers_core.wiring import finalize_cover as wiring

logger = log_context.function_logger()
metrics = Metrics()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    with log_context.task(str(event.get("musicTaskId"))[:256], event.get("correlationId")):
        record = wiring.finalizer().finish_workflow(event)
        metrics.add_metric(name=outcome_metric(record.status), unit=MetricUnit.Count, value=1)
        error = record.error.as_dict() if record.error else None
        logger.info("cover finalized", extra={"status": record.status, "error": error})
    return {
        "musicTaskId": record.music_task_id,
        "status": record.status,
        "images": list(record.images),
        "error": error,
    }
