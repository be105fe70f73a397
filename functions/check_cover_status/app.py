"""CheckCoverStatusFunction: one vendor status poll for the CoverWorkflow's wait/poll loop.

Vendor errors propagate as typed exceptions; their class names are what the state machine's Retry and
Catch blocks match (see covers_core.errors.STATE_MACHINE_RETRY)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from covers_core import wiring
from covers_core.checker import CheckInput

logger = Logger()
# covers_core logs through the standard logging module: give it this function's JSON format.
copy_config_to_registered_loggers(source_logger=logger, include={"covers_core"})
metrics = Metrics()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    state = CheckInput.from_state(event)
    logger.append_keys(musicTaskId=state.music_task_id, coverTaskId=state.cover_task_id)
    logger.set_correlation_id(event.get("correlationId") or state.music_task_id)
    result = wiring.checker().check(state)
    metrics.add_metric(name="Polls", unit=MetricUnit.Count, value=1)
    logger.info("cover status", extra={"status": result["status"], "pollCount": result["pollCount"]})
    return result
