"""The real handlers, invoked in-process as Lambda would (for tests against the moto stack)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from covers_core.domain.model import CoverError

from covers_local import aws_calls, lambda_events
from covers_local.lambda_events import LambdaContext
from covers_local.runner import load_handler
from covers_local.stack import Stack, functions, load_template
from tests.support.paths import ROOT

#: Function logical id by code folder (``functions/<folder>``), for attributing AWS calls (aws_calls).
FUNCTION_OF_FOLDER = {
    Path(spec["Properties"]["CodeUri"]).name: logical_id
    for logical_id, spec in functions(load_template(ROOT / "template.yaml")).items()
}
#: The moto stack a test runs against (see the ``aws`` fixture).
Aws = Stack


def handler(folder: str) -> Any:
    return load_handler(ROOT / "functions" / folder, f"covers_fn_{folder}")


def invoke(folder: str, event: dict[str, Any]) -> Any:
    with aws_calls.running(FUNCTION_OF_FOLDER[folder]):
        return handler(folder)(event, LambdaContext(folder))


def error_code(error: CoverError | None) -> str | None:
    """The code of a record's ``error`` or ``last_error``; None when it has none."""
    return error.code if error else None


def sqs_event(*bodies: Any) -> dict[str, Any]:
    """An SQS event for the start function, one record per body (dicts are JSON-encoded)."""
    return lambda_events.sqs_event(bodies)
