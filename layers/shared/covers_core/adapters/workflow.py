"""Step Functions: starting the CoverWorkflow execution of a music task, idempotently."""

from __future__ import annotations

import json
from typing import Any

from covers_core.adapters.aws import aws_call
from covers_core.domain.model import WorkflowInput
from covers_core.domain.names import execution_name
from covers_core.logic.ports import WorkflowEngine

EXECUTION_EXISTS = "ExecutionAlreadyExists"
#: DescribeExecution's answers for an execution (or a state machine) Step Functions no longer has.
GONE = frozenset({"ExecutionDoesNotExist", "StateMachineDoesNotExist"})


class WorkflowStarter(WorkflowEngine):
    """Starts one execution per music task. ``client`` is a boto3 ``stepfunctions`` client."""

    def __init__(self, client: Any, state_machine_arn: str) -> None:
        self.client = client
        self.state_machine_arn = state_machine_arn

    def start(self, execution_input: WorkflowInput, name: str | None = None) -> str:
        """Start (or find) the execution for a music task; returns its ARN.

        The input is built from the stored record, so it is the same on every call for the same task and
        a retried call is recognised as the same execution. ``ExecutionAlreadyExists`` means the
        workflow already ran: that is success. ``name`` overrides the derived name (an operator's
        resume runs under a name of its own)."""
        name = name or execution_name(execution_input.music_task_id)
        response = aws_call(
            "Step Functions StartExecution",
            self.client.start_execution,
            tolerate={EXECUTION_EXISTS},
            stateMachineArn=self.state_machine_arn,
            name=name,
            input=json.dumps(execution_input.to_state(), sort_keys=True, separators=(",", ":")),
        )
        if response is None:
            return self.execution_arn(name)
        return str(response["executionArn"])

    def status(self, execution_arn: str) -> str | None:
        """The execution's status (``RUNNING``, ``SUCCEEDED``, ``FAILED``, ``TIMED_OUT``, ``ABORTED``...), or
        None when Step Functions no longer has it (closed executions are kept 90 days; replacing the state
        machine drops them)."""
        response = aws_call(
            "Step Functions DescribeExecution",
            self.client.describe_execution,
            tolerate=GONE,
            executionArn=execution_arn,
        )
        return None if response is None else str(response["status"])

    def execution_arn(self, name: str) -> str:
        return self.state_machine_arn.replace(":stateMachine:", ":execution:", 1) + ":" + name
