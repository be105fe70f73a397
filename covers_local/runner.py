"""The SAM app in one process: moto for AWS, the real handlers, the real ASL.

What it does (docs/getting-started.md, "What runs locally"):

* deploys ``template.yaml`` into moto as CloudFormation would (``covers_local.stack``);
* sets each function's environment variables as the stack gives them, plus a few local overrides;
* feeds the queue to the start function like an SQS event source mapping (batches, partial batch
  failures, visibility timeout, maxReceiveCount -> DLQ);
* lets moto's Step Functions engine run ``statemachine/cover_workflow.asl.json``, with every Lambda
  task dispatched in-process to the real handler (errors reported under their class name, so the
  ASL's Retry/Catch behave as in AWS);
* captures the events put on the covers bus through a rule and an SQS queue.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO
from unittest import mock

import boto3
from covers_core.adapters.records import A, item_view, record_from_item
from covers_core.domain.model import CoverError, CoverRecord, Status
from covers_core.settings import AWS_ENDPOINT_VARIABLE
from covers_core.wiring import reset as reset_wiring
from moto import mock_aws

from covers_local import aws_calls, moto_patches
from covers_local.cli_console import NO_METRICS_WARNING
from covers_local.lambda_events import LambdaContext, sqs_event, status_api_event
from covers_local.stack import REGION, deploy, project_root
from covers_local.template import DELIVERY_DEFAULTS

#: What ``run`` reports for a task whose workflow execution ended in failure before the task settled.
WORKFLOW_FAILED = "WORKFLOW_FAILED"
_FAILED_EXECUTION = frozenset({"FAILED", "TIMED_OUT", "ABORTED"})
_MOTO_CONFIG: Any = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
_FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}
#: Variables that would send in-process AWS calls to an endpoint instead of moto (a user exporting
#: ``AWS_ENDPOINT_URL`` for ``covers local-stack`` must not break ``covers run`` in the same shell).
_ENDPOINT_OVERRIDES = ("AWS_ENDPOINT_URL", AWS_ENDPOINT_VARIABLE)
#: Most keys one BatchGetItem request may name.
_BATCH_GET_KEYS = 100
_HANDLER_MODULES: dict[str, ModuleType] = {}
_IMPORT_LOCK = threading.Lock()
#: Told each status change of a run's task: (music task id, old status or None, new status, the record).
OnChange = Callable[[str, str | None, str, CoverRecord], None]


@dataclass
class LocalSettings:
    """What a local run may override; everything else comes from ``template.yaml``'s defaults."""

    vendor_url: str
    api_key: str
    first_wait: int = 1
    poll_interval: int = 1
    max_wait: int = 30
    archive: bool = False
    visibility_timeout: int = 2
    batch_size: int | None = None
    max_receive_count: int | None = None
    not_found_attempts: int | None = None
    claim_lease_seconds: int = 10
    log_level: str = "WARNING"
    webhook_secret: str = "local-webhook-signing-key"  # noqa: S105 - a local-only test value
    extra_env: dict[str, str] = field(default_factory=dict)


class _FunctionLog(io.TextIOBase):
    """The stream the in-process functions log to. A handler module is imported once per process and its
    logger keeps the stream it found then, so it gets this one: it writes to the file of the local run
    under way (:func:`function_log`), else to whatever ``sys.stdout`` is at the time of the write (the
    terminal, or pytest's capture)."""

    def __init__(self) -> None:
        super().__init__()
        self.target: TextIO | None = None

    def writable(self) -> bool:
        return True

    def _stream(self) -> TextIO:
        if self.target is not None and not self.target.closed:
            return self.target
        if sys.stdout is not self:
            return sys.stdout
        return sys.__stdout__ or sys.stderr

    def write(self, text: str) -> int:
        return self._stream().write(text)

    def flush(self) -> None:
        self._stream().flush()


FUNCTION_LOG = _FunctionLog()


@contextlib.contextmanager
def function_log(path: Path) -> Iterator[None]:
    """Send what the in-process functions print (their logs, their metrics) to ``path`` (appended)."""
    with path.open("a", encoding="utf-8") as log, contextlib.redirect_stdout(FUNCTION_LOG):
        previous, FUNCTION_LOG.target = FUNCTION_LOG.target, log
        try:
            yield
        finally:
            FUNCTION_LOG.target = previous


def load_handler(code_dir: Path, module_name: str) -> Callable[[dict[str, Any], Any], Any]:
    """Import ``<code_dir>/app.py`` once under a unique module name and return its handler. Its loggers
    get :data:`FUNCTION_LOG` as their stdout."""
    with _IMPORT_LOCK:
        module = _HANDLER_MODULES.get(str(code_dir))
        if module is None:
            spec = importlib.util.spec_from_file_location(module_name, code_dir / "app.py")
            assert spec and spec.loader
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            with contextlib.redirect_stdout(FUNCTION_LOG):
                spec.loader.exec_module(module)
            _HANDLER_MODULES[str(code_dir)] = module
    return module.lambda_handler


class LocalPipeline:
    """Context manager: ``with LocalPipeline(settings) as stack: stack.submit(...); stack.run(...)``."""

    STACK_NAME = "covers-local"

    def __init__(self, settings: LocalSettings, *, root: Path | None = None) -> None:
        self.settings = settings
        self.root = root or project_root()
        self._mock = mock_aws(config=_MOTO_CONFIG)
        self._exit_stack = contextlib.ExitStack()
        self.handlers: dict[str, Callable[[dict[str, Any], Any], Any]] = {}
        #: function name -> (timeout s, memory MB) as deployed: each invocation's context, as Lambda gives it
        #: (the check function polls inside an invocation while its remaining time allows one more call).
        self.limits: dict[str, tuple[float, int]] = {}
        self.logical_ids: dict[str, str] = {}  # function name -> logical id (aws_calls attribution)
        self.start_invocation_errors: list[str] = []
        self.events: list[dict[str, Any]] = []
        self.dead_letters: list[dict[str, Any]] = []

    # --- lifecycle ----------------------------------------------------------------------------

    def __enter__(self) -> LocalPipeline:
        with contextlib.ExitStack() as stack:
            stack.callback(reset_wiring)
            stack.enter_context(mock.patch.dict(os.environ, _FAKE_AWS_ENV))
            for name in [n for n in os.environ if n.startswith(_ENDPOINT_OVERRIDES)]:
                del os.environ[name]  # (restored on exit) boto3 must reach moto in-process, not an endpoint
            stack.enter_context(moto_patches.atomic_dynamodb())
            stack.enter_context(moto_patches.empty_map_keys())
            stack.enter_context(moto_patches.cloudformation())
            stack.enter_context(self._mock)
            stack.callback(self._stop_executions)
            self._deploy()
            stack.enter_context(moto_patches.lambda_invoke(self._make_invoke()))
            self._exit_stack = stack.pop_all()  # everything set up: undone in __exit__
        return self

    def __exit__(self, *exc: object) -> None:
        self._exit_stack.close()

    # --- the stack (template.yaml, deployed by moto's CloudFormation) --------------------------------

    def _deploy(self) -> None:
        s = self.settings
        parameters = {
            "VendorBaseUrl": s.vendor_url,
            "PollFirstWaitSeconds": s.first_wait,
            "PollInvocationIntervalSeconds": s.poll_interval,
            "PollMaxWaitSeconds": s.max_wait,
            "ArchiveImages": "true" if s.archive else "false",
        }
        if s.max_receive_count:
            parameters["MaxReceiveCount"] = s.max_receive_count
        if s.not_found_attempts:
            parameters["NotFoundAttempts"] = s.not_found_attempts
        self.stack = deploy(self.STACK_NAME, parameters, root=self.root)
        self.stack.put_secret(self.stack.api_key_secret_arn, s.api_key)
        self.stack.put_secret(self.stack.webhook_secret_arn, s.webhook_secret)
        self.sqs = boto3.client("sqs", region_name=REGION)
        self._dynamodb = boto3.resource("dynamodb", region_name=REGION)
        # The template's visibility timeout (180 s) is shortened so local retries take seconds.
        self.sqs.set_queue_attributes(
            QueueUrl=self.queue_url, Attributes={"VisibilityTimeout": str(s.visibility_timeout)}
        )
        self.stack.capture_events()
        start, batch_size = self.stack.queue_fed_function(self.queue_url)
        self.start_function = start.name
        self.batch_size = s.batch_size or batch_size
        self._load_functions()

    @property
    def queue_url(self) -> str:
        return self.stack.queue_url

    @property
    def dlq_url(self) -> str:
        return self.stack.dlq_url

    def _load_functions(self) -> None:
        """Environment as the stack gives it (plus local overrides), code from each function's CodeUri."""
        s = self.settings
        # All functions share one process: the union of their variables, set before the handler modules
        # are imported (Powertools reads them then).
        os.environ.update(DELIVERY_DEFAULTS | self.stack.process_env())
        os.environ.update(
            {
                "CLAIM_LEASE_SECONDS": str(s.claim_lease_seconds),
                # A local run's reconciler runs when asked; its "last run" is a few seconds ago.
                "RECONCILE_INTERVAL_MINUTES": "0.1",
                "POWERTOOLS_LOG_LEVEL": s.log_level,
                "POWERTOOLS_METRICS_DISABLED": "true",
                "POWERTOOLS_TRACE_DISABLED": "true",
                "ARCHIVE_ALLOW_LOOPBACK": "true",  # the emulator serves images on 127.0.0.1
                "SECRET_CACHE_SECONDS": "0",
                **s.extra_env,
            }
        )
        warnings.filterwarnings("ignore", message=NO_METRICS_WARNING, category=UserWarning)
        for function in self.stack.functions.values():
            self.handlers[function.name] = load_handler(
                function.code_dir, f"covers_fn_{function.code_dir.name}"
            )
            self.logical_ids[function.name] = function.logical_id
            self.limits[function.name] = (function.timeout, function.memory_mb)
        reset_wiring()

    # --- Lambda dispatch --------------------------------------------------------------------------

    def _make_invoke(self) -> Callable[..., bytes]:
        pipeline = self

        def invoke(  # noqa: PLR0917 - moto's signature
            backend: Any,
            function_name: str,
            qualifier: Any,
            body: Any,
            headers: Any,
            response_headers: dict[str, str],
        ) -> bytes:
            name = function_name.split(":function:", 1)[-1].split(":", 1)[0]
            payload = json.loads(body) if body else {}
            return pipeline.invoke(name, payload, response_headers)

        return invoke

    def invoke(self, name: str, payload: Any, response_headers: dict[str, str] | None = None) -> bytes:
        handler = self.handlers[name]
        try:
            with aws_calls.running(self.logical_ids[name]):
                result = handler(payload, LambdaContext(name, *self.limits.get(name, (30, 256))))
        except Exception as exc:  # noqa: BLE001 - reported to Step Functions as Lambda does
            if response_headers is not None:
                response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)}).encode()
        return json.dumps(result).encode()

    def reconcile(self) -> dict[str, Any]:
        """One run of the real reconciler (as its schedule runs it on AWS): its report."""
        function = self.stack.functions["ReconcileFunction"]
        report = json.loads(self.invoke(function.name, {}))
        if "errorType" in report:
            raise RuntimeError(f"the reconciler failed: {report['errorType']}: {report['errorMessage']}")
        return dict(report)

    def status_api(self, music_task_id: str) -> tuple[int, dict[str, Any]]:
        """``GET /covers/{music_task_id}`` through the real status API handler, as an app would call it
        (the HTTP API's event, payload 2.0): the answer's status code and JSON body."""
        function = self.stack.functions["CoverStatusApiFunction"]
        answer = json.loads(self.invoke(function.name, status_api_event(music_task_id)))
        return int(answer["statusCode"]), json.loads(answer["body"])

    # --- the queue, as an event source mapping -------------------------------------------------------

    def submit(self, bodies: Iterable[dict[str, Any] | str]) -> None:
        for body in bodies:
            text = body if isinstance(body, str) else json.dumps(body)
            self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=text)

    def pump(self) -> int:
        """Receive one batch and hand it to the start function; returns the number of messages."""
        response = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
            WaitTimeSeconds=0,
        )
        messages = response.get("Messages", [])
        if not messages:
            return 0
        event = sqs_event(messages, queue_arn=self.stack.queue_arn(self.queue_url))
        raw = self.invoke(self.start_function, event)
        result = json.loads(raw)
        if isinstance(result, dict) and "errorType" in result:
            # The whole invocation failed: like Lambda, every message stays on the queue.
            self.start_invocation_errors.append(f"{result['errorType']}: {result['errorMessage']}")
            return len(messages)
        failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(done[start : start + 10])
                ],
            )
        return len(messages)

    # --- observing ------------------------------------------------------------------------------

    def records(self) -> dict[str, CoverRecord]:
        """Every record in the table (a full scan)."""
        return self.stack.records()

    def read_records(self, music_task_ids: Iterable[str]) -> dict[str, CoverRecord]:
        """The records of ``music_task_ids`` (those that exist), read by key, strongly consistent."""
        return {item[A.MUSIC_TASK_ID]: record_from_item(item) for item in self._read_items(music_task_ids)}

    def _read_items(self, music_task_ids: Iterable[str]) -> list[dict[str, Any]]:
        keys = [{A.MUSIC_TASK_ID: t} for t in sorted(set(music_task_ids))]
        items: list[dict[str, Any]] = []
        for first in range(0, len(keys), _BATCH_GET_KEYS):
            request = {
                self.stack.table_name: {"Keys": keys[first : first + _BATCH_GET_KEYS], "ConsistentRead": True}
            }
            while request:
                page = self._dynamodb.batch_get_item(RequestItems=request)
                items.extend(page["Responses"].get(self.stack.table_name, []))
                request = page.get("UnprocessedKeys") or {}
        return items

    def drain_events(self) -> list[dict[str, Any]]:
        self.events.extend(self.stack.drain_events())
        return self.events

    def read_dead_letters(self) -> list[dict[str, Any]]:
        """What waits in the DLQ, with each message's reason. The messages stay there (for a redrive)."""
        self.dead_letters = self.stack.dead_letters()
        return self.dead_letters

    def _stop_executions(self) -> None:
        try:
            sfn = boto3.client("stepfunctions", region_name=REGION)
            for execution in self.stack.executions("RUNNING"):
                sfn.stop_execution(executionArn=execution["executionArn"], cause="local run ended")
        except Exception:  # noqa: BLE001, S110 - best effort on the way out
            pass

    def run(
        self,
        music_task_ids: Iterable[str],
        *,
        timeout: float,
        on_change: OnChange | None = None,
        stop_when_blocked: bool = True,
    ) -> dict[str, dict[str, Any]]:
        """Pump the queue until every task is terminal (with its event), BLOCKED, or nothing is left to
        do (its message then waits in the DLQ). ``on_change`` is told each status change, with the record.

        Returns the run's report of ``music_task_ids`` (those that have a record): each one's stored item as
        plain values (attribute names and all, as ``covers_core.adapters.records.item_view`` gives it; the
        CLI's summary and ``bench/local_scale.py`` read it), a failed workflow reported as
        ``WORKFLOW_FAILED`` with the execution's error. Read a record itself with :meth:`read_records`."""
        wanted = set(music_task_ids)
        seen: dict[str, str] = {}
        settled: set[str] = set()
        failed: dict[str, CoverError] = {}
        next_failure_check = 0.0
        deadline = time.monotonic() + timeout
        while True:
            handled = self.pump()
            # Only the open tasks are read (a terminal record never changes), so a loop costs the same
            # whatever the table holds.
            open_records = self.read_records(wanted - settled)
            for task_id, record in open_records.items():
                if seen.get(task_id) != record.status:
                    if on_change:
                        on_change(task_id, seen.get(task_id), record.status, record)
                    seen[task_id] = record.status
                if (record.terminal and record.event_published_at) or (
                    stop_when_blocked and record.status == Status.BLOCKED
                ):
                    settled.add(task_id)
            idle = not handled and self.stack.queue_depth() == 0 and not self.stack.executions("RUNNING")
            if idle or time.monotonic() >= next_failure_check:  # a failed workflow settles nothing itself
                newly_failed = self._failed_workflows(open_records, wanted - settled)
                failed.update(newly_failed)
                settled |= set(newly_failed)
                next_failure_check = time.monotonic() + 2
            if wanted <= settled:
                break
            if idle:
                break  # nothing left anywhere: whatever is not settled went to the DLQ
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"local run did not settle within {timeout:.0f}s "
                    f"({len(wanted - settled)} task(s) still open)"
                )
            if not handled:
                time.sleep(0.2)
        self.drain_events()
        self.read_dead_letters()
        return self._report(self._read_items(wanted), failed, on_change)

    def _failed_workflows(
        self, records: dict[str, CoverRecord], open_tasks: set[str]
    ) -> dict[str, CoverError]:
        """Open tasks whose workflow execution FAILED, TIMED_OUT or was ABORTED (e.g. the safety net
        failed too: ``FinalizeFailed``): nothing will settle them. Task -> the execution's error."""
        arns = {arn: t for t in open_tasks if t in records and (arn := records[t].execution_arn) is not None}
        if not arns:
            return {}
        ended = {e["executionArn"] for status in _FAILED_EXECUTION for e in self.stack.executions(status)}
        sfn = boto3.client("stepfunctions", region_name=REGION)
        failed = {}
        for arn in ended & arns.keys():
            execution = sfn.describe_execution(executionArn=arn)
            failed[arns[arn]] = CoverError(
                execution.get("error") or f"EXECUTION_{execution['status']}",
                execution.get("cause") or f"the workflow execution {execution['status']}",
            )
        return failed

    @staticmethod
    def _report(
        items: list[dict[str, Any]], failed: dict[str, CoverError], on_change: OnChange | None
    ) -> dict[str, dict[str, Any]]:
        """The run's report (see :meth:`run`). A failed workflow is reported as one (``WORKFLOW_FAILED``
        with the execution's error), never with the record's status (IN_PROGRESS) as if it were still
        running; ``on_change`` gets the record with the execution's error."""
        records = {item[A.MUSIC_TASK_ID]: record_from_item(item) for item in items}
        report = {item[A.MUSIC_TASK_ID]: item_view(item) for item in items}
        for task_id, error in failed.items():
            record = records[task_id]  # a failed workflow is found through its record's execution
            if on_change:
                on_change(task_id, record.status, WORKFLOW_FAILED, replace(record, error=error))
            report[task_id] = report[task_id] | {"status": WORKFLOW_FAILED, "error": error.as_dict()}
        return report
