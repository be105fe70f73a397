"""StartCoverFunction: SQS batch -> claim, generate (once per music task), start the CoverWorkflow."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from covers_core import wiring
from covers_core.batch import DeadLetters, StartBatch
from covers_core.errors import VendorCreditsExhaustedError
from covers_core.model import CoverRequest

logger = Logger()
# covers_core logs through the standard logging module: give it this function's JSON format.
copy_config_to_registered_loggers(source_logger=logger, include={"covers_core"})
metrics = Metrics()
# Report every failed record, even when all failed: the messages stay queued either way, and the
# invocation itself does not count as an error.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    dead_letters = DeadLetters(wiring.aws_client("sqs"), wiring.dead_letter_queue_url())
    batch = StartBatch(
        wiring.starter(),
        dead_letters,
        annotate=_correlate,
        time_left=lambda: context.get_remaining_time_in_millis() / 1000,
        reserve_seconds=sum(wiring.vendor().timeout) + 5,
    )

    def record_handler(record: SQSRecord) -> Any:
        return batch.handle(record.message_id, record.body)

    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    started = sum(1 for r in batch.results if r.action in ("started", "resumed"))
    metrics.add_metric(name="CoversRequested", unit=MetricUnit.Count, value=started)
    metrics.add_metric(name="BadMessages", unit=MetricUnit.Count, value=batch.bad_messages)
    if batch.blocked is not None:  # one data point per batch, not one per message
        name = (
            "CreditsExhausted"
            if isinstance(batch.blocked, VendorCreditsExhaustedError)
            else "VendorAuthFailed"
        )
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
    return response


def _correlate(request: CoverRequest | None) -> None:
    """Every log line about a record carries its music task id and correlation id."""
    if request is None:
        logger.remove_keys(["musicTaskId"])
        logger.set_correlation_id(None)
        return
    logger.append_keys(musicTaskId=request.music_task_id)
    logger.set_correlation_id(request.correlation_id or request.music_task_id)
