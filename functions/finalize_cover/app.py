"""FinalizeCoverFunction: terminal record (+ optional S3 archive) and exactly one EventBridge event."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from covers_core import wiring
from covers_core.errors import BadRequestError
from covers_core.finalizer import outcome_from_workflow

logger = Logger()
# covers_core logs through the standard logging module: give it this function's JSON format.
copy_config_to_registered_loggers(source_logger=logger, include={"covers_core"})
metrics = Metrics()
_METRIC = {"SUCCEEDED": "CoversSucceeded", "NEEDS_ATTENTION": "CoversNeedingAttention"}


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    music_task_id = event.get("musicTaskId")
    if not isinstance(music_task_id, str) or not music_task_id:
        raise BadRequestError("finalize input has no musicTaskId")
    logger.append_keys(musicTaskId=music_task_id, coverTaskId=event.get("coverTaskId"))
    logger.set_correlation_id(event.get("correlationId") or music_task_id)
    outcome = outcome_from_workflow(event)
    record = wiring.finalizer().finish(
        music_task_id, outcome, cover_task_id=event.get("coverTaskId"), generated_at=event.get("generatedAt")
    )
    metrics.add_metric(
        name=_METRIC.get(record.get("status", ""), "CoversFailed"), unit=MetricUnit.Count, value=1
    )
    logger.info("cover finalized", extra={"status": record.get("status"), "error": record.get("error")})
    return {
        "musicTaskId": music_task_id,
        "status": record.get("status"),
        "images": record.get("images") or [],
        "error": record.get("error"),
    }
