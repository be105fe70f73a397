"""Starting the CoverWorkflow state machine: execution names and idempotent StartExecution."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from covers_core.errors import AwsTransientError

_VALID_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
_INVALID_CHARS = re.compile(r"[^A-Za-z0-9_-]")
_HASH_CHARS = 16


def execution_name(music_task_id: str) -> str:
    """A Step Functions execution name derived from the music task id.

    Ids made only of ``[A-Za-z0-9_-]`` and at most 80 characters are used as they are. Any other id is
    reduced to its allowed characters, cut, and suffixed with a hash of the whole id, so two different
    ids never share a name."""
    if _VALID_NAME.match(music_task_id):
        return music_task_id
    digest = hashlib.sha256(music_task_id.encode("utf-8")).hexdigest()[:_HASH_CHARS]
    prefix = _INVALID_CHARS.sub("_", music_task_id)[: 80 - _HASH_CHARS - 1]
    return f"{prefix}-{digest}"


class WorkflowStarter:
    """Starts one execution per music task. ``client`` is a boto3 ``stepfunctions`` client."""

    def __init__(self, client: Any, state_machine_arn: str) -> None:
        self.client = client
        self.state_machine_arn = state_machine_arn

    def start(self, music_task_id: str, execution_input: dict[str, Any]) -> str:
        """Start (or find) the execution for a music task; returns its ARN.

        The input must be the same on every call for the same task, so a retried call is recognised as
        the same execution. ``ExecutionAlreadyExists`` means the workflow already ran: that is success."""
        name = execution_name(music_task_id)
        try:
            response = self.client.start_execution(
                stateMachineArn=self.state_machine_arn,
                name=name,
                input=json.dumps(execution_input, sort_keys=True, separators=(",", ":")),
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ExecutionAlreadyExists":
                return self.execution_arn(name)
            raise AwsTransientError(f"StartExecution failed: {exc}") from exc
        except BotoCoreError as exc:
            raise AwsTransientError(f"StartExecution failed: {exc}") from exc
        return str(response["executionArn"])

    def execution_arn(self, name: str) -> str:
        return self.state_machine_arn.replace(":stateMachine:", ":execution:", 1) + ":" + name
