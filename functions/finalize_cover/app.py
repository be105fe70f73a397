"""FinalizeCoverFunction: terminal record (+ optional S3 archive) and exactly one EventBridge event."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from covers_core import log_context
from covers_core.domain import outcomes
from covers_core.errors import BadRequestError
from covers_core.metrics import outcome_metric
from covers_core.wiring import finalize_cover as wiring

logger = log_context.function_logger()
metrics = Metrics()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    music_task_id = event.get("musicTaskId")
    if not isinstance(music_task_id, str) or not music_task_id:
        raise BadRequestError("finalize input has no musicTaskId")
    with log_context.task(music_task_id, event.get("correlationId")):
        # Set when the state machine's safety net calls again after FinalizeCover failed for good.
        failed_before = event.get("finalizeFailure")
        record = wiring.finalizer().finish(
            music_task_id,
            outcomes.from_workflow(event),
            cover_task_id=event.get("coverTaskId"),
            generated_at=event.get("generatedAt"),
            skip_archive=outcomes.finalize_failure_reason(failed_before) if failed_before else None,
        )
        metrics.add_metric(name=outcome_metric(record.status), unit=MetricUnit.Count, value=1)
        error = record.error.as_dict() if record.error else None
        logger.info("cover finalized", extra={"status": record.status, "error": error})
    return {
        "musicTaskId": music_task_id,
        "status": record.status,
        "images": list(record.images),
        "error": error,
    }
