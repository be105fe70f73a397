"""CoverStatusApiFunction: ``GET /covers/{musicTaskId}`` (HTTP API, AWS_IAM) -> the cover's public view."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from covers_core import log_context
from covers_core.domain import jsontext
from covers_core.wiring import cover_status_api as wiring

#: The route's path parameter (template.yaml: ``/covers/{musicTaskId}``).
PATH_PARAMETER = "musicTaskId"

logger = log_context.function_logger()


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # The HTTP API's payload 2.0, read as it comes (Powertools' event classes cost a cold start ~10 ms).
    music_task_id = (event.get("pathParameters") or {}).get(PATH_PARAMETER)
    query = event.get("queryStringParameters") or {}  # absent without a query string
    with log_context.task(str(music_task_id)[:256]):
        result = wiring.reader().answer(music_task_id, query)
    return {
        "statusCode": result.status,
        "headers": {"content-type": "application/json", "cache-control": "no-store"},
        "body": jsontext.dumps(result.body),
    }
