"""CheckCoverStatusFunction: vendor status polls (a few per invocation) for the CoverWorkflow's poll loop.

Done (or past the deadline): the check result. Not ready: a not-ready error whose class name the state
machine's Retry blocks match (the loop's cadence); vendor errors propagate as typed exceptions likewise
(see covers_core.domain.outcomes.RETRIED)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from covers_core import log_context
from covers_core.errors import CoverNotReadyError
from covers_core.logic.check import CheckInput
from covers_core.metrics import Metric
from covers_core.wiring import check_cover_status as wiring

logger = log_context.function_logger()
metrics = Metrics()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    state = CheckInput.from_state(event)
    with log_context.task(state.music_task_id, state.correlation_id):
        try:
            result = wiring.checker().check(
                state,
                time_left=lambda: context.get_remaining_time_in_millis() / 1e3,
                memory_mb=int(context.memory_limit_in_mb),
            )
        except CoverNotReadyError as exc:
            metrics.add_metric(name=Metric.POLLS, unit=MetricUnit.Count, value=exc.calls)
            metrics.add_metric(name=Metric.CHECKS_NOT_READY, unit=MetricUnit.Count, value=1)
            logger.info("cover not ready", extra={"polls": exc.polls, "next": type(exc).__name__})
            raise
        metrics.add_metric(name=Metric.POLLS, unit=MetricUnit.Count, value=result.calls)
        logger.info("cover status", extra={"status": result.status, "pollCount": result.poll_count})
    return result.to_state()
