"""FinalizeCoverFunction: terminal record (+ optional S3 archive) and exactly one EventBridge event."""

from __future__ import annotations

import json
import os
import time
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from covers_core import log_context
from covers_core.domain.model import CoverRecord
from covers_core.metrics import cost_metrics, outcome_metric
from covers_core.wiring import finalize_cover as wiring

logger = log_context.function_logger()
metrics = Metrics()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    with log_context.task(str(event.get("musicTaskId"))[:256], event.get("correlationId")):
        finalized = wiring.finalizer().finalize(event, memory_mb=int(context.memory_limit_in_mb))
        record = finalized.record
        metrics.add_metric(name=outcome_metric(record.status), unit=MetricUnit.Count, value=1)
        if finalized.won:  # once per cover: only the call whose terminal write won
            emit_cost(record)
        error = record.error.as_dict() if record.error else None
        logger.info("cover finalized", extra={"status": record.status, "error": error})
    return {
        "musicTaskId": record.music_task_id,
        "status": record.status,
        "images": list(record.images),
        "error": error,
    }


def emit_cost(record: CoverRecord) -> None:
    """The cover's cost metrics (covers_core.metrics.cost_metrics): one embedded-metric-format line, as
    Powertools writes the others (and, like them, none when POWERTOOLS_METRICS_DISABLED is true)."""
    if os.environ.get("POWERTOOLS_METRICS_DISABLED", "").strip().lower() in ("1", "true", "yes", "on"):
        return
    settings = wiring.settings()
    line = cost_metrics(
        record,
        namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "CoverPipeline"),
        service=os.environ.get("POWERTOOLS_SERVICE_NAME", "covers"),
        tenant_field=settings.learning.tenant_field,
        tenants=settings.cost_metric_tenants,
        timestamp_ms=int(time.time() * 1000),
    )
    if line is not None:
        print(json.dumps(line, separators=(",", ":")))
