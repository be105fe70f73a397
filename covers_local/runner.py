"""The SAM app in one process: moto for AWS, the real handlers, the real ASL.

What it does, as DESIGN.md ("Local run") describes:

* creates the table, queues (with the redrive policy), bus, secret, bucket and state machine that
  ``template.yaml`` describes, in moto;
* sets each function's environment variables as the template sets them;
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
import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock

import boto3
from covers_core.adapters.records import plain
from covers_core.wiring import reset as reset_wiring
from moto import mock_aws
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.dynamodb.models import DynamoDBBackend

from covers_local.template import Resolver, function_environment, functions, load_template, project_root

REGION = "us-east-1"
ACCOUNT = "123456789012"
TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "REJECTED", "NEEDS_ATTENTION"}
_MOTO_CONFIG: Any = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
_FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}
_HANDLER_MODULES: dict[str, ModuleType] = {}
_IMPORT_LOCK = threading.Lock()


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


class FakeContext:
    """Enough of a Lambda context for Powertools."""

    def __init__(self, function_name: str, timeout_seconds: int = 30) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 256
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@contextlib.contextmanager
def atomic_dynamodb() -> Iterator[None]:
    """Serialise moto's DynamoDB requests, as DynamoDB applies each request atomically.

    moto checks a condition and then writes, and iterates items while other threads add them; with Step
    Functions executions running handlers in threads, both would otherwise race inside moto itself."""
    lock = threading.RLock()
    patches = []
    for name in ("put_item", "update_item", "get_item", "delete_item", "scan", "query"):
        original = getattr(DynamoDBBackend, name)

        def locked(self: Any, *args: Any, _original: Callable[..., Any] = original, **kwargs: Any) -> Any:
            with lock:
                return _original(self, *args, **kwargs)

        patches.append(mock.patch.object(DynamoDBBackend, name, locked))
    for patch in patches:
        patch.start()
    try:
        yield
    finally:
        for patch in reversed(patches):
            patch.stop()


def load_handler(code_dir: Path, module_name: str) -> Callable[[dict[str, Any], Any], Any]:
    """Import ``<code_dir>/app.py`` once under a unique module name and return its handler."""
    with _IMPORT_LOCK:
        module = _HANDLER_MODULES.get(str(code_dir))
        if module is None:
            spec = importlib.util.spec_from_file_location(module_name, code_dir / "app.py")
            assert spec and spec.loader
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
            _HANDLER_MODULES[str(code_dir)] = module
    return module.lambda_handler


class LocalPipeline:
    """Context manager: ``with LocalPipeline(settings) as stack: stack.submit(...); stack.run(...)``."""

    def __init__(self, settings: LocalSettings, *, root: Path | None = None) -> None:
        self.settings = settings
        self.root = root or project_root()
        self.template = load_template(self.root / "template.yaml")
        self._mock = mock_aws(config=_MOTO_CONFIG)
        self._exit_stack = contextlib.ExitStack()
        self.handlers: dict[str, Callable[[dict[str, Any], Any], Any]] = {}
        self.start_invocation_errors: list[str] = []
        self.events: list[dict[str, Any]] = []
        self.dead_letters: list[dict[str, Any]] = []

    # --- lifecycle ----------------------------------------------------------------------------

    def __enter__(self) -> LocalPipeline:
        with contextlib.ExitStack() as stack:
            stack.callback(reset_wiring)
            stack.enter_context(mock.patch.dict(os.environ, _FAKE_AWS_ENV))
            stack.enter_context(atomic_dynamodb())
            stack.enter_context(self._mock)
            stack.callback(self._stop_executions)
            self._create_resources()
            stack.enter_context(mock.patch.object(LambdaSimpleBackend, "invoke", self._make_invoke()))
            self._exit_stack = stack.pop_all()  # everything set up: undone in __exit__
        return self

    def __exit__(self, *exc: object) -> None:
        self._exit_stack.close()

    # --- resources (from template.yaml) ------------------------------------------------------------

    def _create_resources(self) -> None:
        s = self.settings
        parameters = {
            "VendorBaseUrl": s.vendor_url,
            "PollFirstWaitSeconds": str(s.first_wait),
            "PollIntervalSeconds": str(s.poll_interval),
            "PollMaxWaitSeconds": str(s.max_wait),
            "ArchiveImages": "true" if s.archive else "false",
        }
        if s.max_receive_count:
            parameters["MaxReceiveCount"] = str(s.max_receive_count)
        if s.not_found_attempts:
            parameters["NotFoundAttempts"] = str(s.not_found_attempts)
        self.resolver = Resolver(self.template, parameters, refs={}, attributes={})
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.sfn = boto3.client("stepfunctions", region_name=REGION)
        self.s3 = boto3.client("s3", region_name=REGION)
        refs: dict[str, str] = {}
        attrs: dict[str, str] = {}
        self._create_table(refs)
        self._create_queues(refs, attrs)
        self._create_bus(refs)
        secrets = boto3.client("secretsmanager", region_name=REGION)
        for logical_id, name, value in (
            ("VendorApiKeySecret", "covers-local-vendor-api-key", s.api_key),
            ("WebhookSigningSecret", "covers-local-webhook-signing-key", s.webhook_secret),
        ):
            refs[logical_id] = secrets.create_secret(Name=name, SecretString=value)["ARN"]
        if self.resolver.condition("ArchiveEnabled"):
            self.s3.create_bucket(Bucket="covers-local-archive")
            refs["ArchiveBucket"] = "covers-local-archive"
        names = {logical_id: f"covers-local-{logical_id}" for logical_id in functions(self.template)}
        for logical_id, name in names.items():
            attrs[f"{logical_id}.Arn"] = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
            refs[logical_id] = name
        self.resolver.refs, self.resolver.attributes = refs, attrs
        self._create_state_machine(refs)
        self._load_functions(names)
        start_events = self.template["Resources"]["StartCoverFunction"]["Properties"]["Events"]
        self.batch_size = int(
            s.batch_size or self.resolver.resolve(start_events["CoverRequests"]["Properties"]["BatchSize"])
        )

    def _create_table(self, refs: dict[str, str]) -> None:
        table = self.template["Resources"]["CoversTable"]["Properties"]
        self.table_name = "covers-local-CoversTable"
        boto3.client("dynamodb", region_name=REGION).create_table(
            TableName=self.table_name,
            KeySchema=table["KeySchema"],
            AttributeDefinitions=table["AttributeDefinitions"],
            BillingMode=table["BillingMode"],
        )
        refs["CoversTable"] = self.table_name

    def _queue_arn(self, url: str) -> str:
        return self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]

    def _create_queues(self, refs: dict[str, str], attrs: dict[str, str]) -> None:
        self.dlq_url = self.sqs.create_queue(QueueName="covers-local-dlq")["QueueUrl"]
        dlq_arn = self._queue_arn(self.dlq_url)
        redrive = self.template["Resources"]["CoverRequestsQueue"]["Properties"]["RedrivePolicy"]
        self.max_receive_count = int(self.resolver.resolve(redrive["maxReceiveCount"]))
        redrive_policy = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": self.max_receive_count}
        self.queue_url = self.sqs.create_queue(
            QueueName="covers-local-requests",
            # The template's visibility timeout (180 s) is shortened so local retries take seconds.
            Attributes={
                "VisibilityTimeout": str(self.settings.visibility_timeout),
                "RedrivePolicy": json.dumps(redrive_policy),
            },
        )["QueueUrl"]
        refs.update(CoverRequestsQueue=self.queue_url, CoverRequestsDeadLetterQueue=self.dlq_url)
        attrs["CoverRequestsDeadLetterQueue.Arn"] = dlq_arn
        attrs["CoverRequestsDeadLetterQueue.QueueName"] = "covers-local-dlq"

    def _create_bus(self, refs: dict[str, str]) -> None:
        events = boto3.client("events", region_name=REGION)
        self.bus_name = "covers-local-covers"
        events.create_event_bus(Name=self.bus_name)
        refs["CoversBus"] = self.bus_name
        self.capture_url = self.sqs.create_queue(QueueName="covers-local-events")["QueueUrl"]
        self.event_source = self.resolver.param("EventSource")
        events.put_rule(
            Name="capture-covers",
            EventBusName=self.bus_name,
            EventPattern=json.dumps({"source": [self.event_source]}),
        )
        events.put_targets(
            Rule="capture-covers",
            EventBusName=self.bus_name,
            Targets=[{"Id": "capture", "Arn": self._queue_arn(self.capture_url)}],
        )

    def _create_state_machine(self, refs: dict[str, str]) -> None:
        workflow = self.template["Resources"]["CoverWorkflow"]["Properties"]
        definition = (self.root / workflow["DefinitionUri"]).read_text(encoding="utf-8")
        for key, value in workflow.get("DefinitionSubstitutions", {}).items():
            definition = definition.replace("${" + key + "}", str(self.resolver.resolve(value)))
        self.state_machine_arn = self.sfn.create_state_machine(
            name="covers-local-CoverWorkflow",
            definition=definition,
            type=workflow.get("Type", "STANDARD"),
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/covers-local-workflow",
        )["stateMachineArn"]
        refs["CoverWorkflow"] = self.state_machine_arn

    def _load_functions(self, names: dict[str, str]) -> None:
        """Environment from the template, handler code from each function's CodeUri."""
        s = self.settings
        local_overrides = {
            "CLAIM_LEASE_SECONDS": str(s.claim_lease_seconds),
            "POWERTOOLS_LOG_LEVEL": s.log_level,
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "ARCHIVE_ALLOW_LOOPBACK": "true",  # the emulator serves images on 127.0.0.1
            "SECRET_CACHE_SECONDS": "0",
            **s.extra_env,
        }
        for logical_id in names:
            # All functions share one process: the union of their variables (they agree where they
            # overlap), set before the handler modules are imported (Powertools reads them then).
            os.environ.update(function_environment(self.template, logical_id, self.resolver))
            os.environ.update(local_overrides)
        for logical_id, name in names.items():
            code_dir = self.root / self.template["Resources"][logical_id]["Properties"]["CodeUri"]
            self.handlers[name] = load_handler(code_dir, f"covers_fn_{code_dir.name}")
        self.start_function = names["StartCoverFunction"]
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
            result = handler(payload, FakeContext(name))
        except Exception as exc:  # noqa: BLE001 - reported to Step Functions as Lambda does
            if response_headers is not None:
                response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)}).encode()
        return json.dumps(result).encode()

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
            WaitTimeSeconds=0,
        )
        messages = response.get("Messages", [])
        if not messages:
            return 0
        records = [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": {},
                "md5OfBody": m.get("MD5OfBody"),
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:covers-local-requests",
                "awsRegion": REGION,
            }
            for m in messages
        ]
        raw = self.invoke(self.start_function, {"Records": records})
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

    def records(self) -> dict[str, dict[str, Any]]:
        table = boto3.resource("dynamodb", region_name=REGION).Table(self.table_name)

        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"ConsistentRead": True}
        while True:
            page = table.scan(**kwargs)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return {item["musicTaskId"]: plain(item) for item in items}

    def drain_events(self) -> list[dict[str, Any]]:
        while True:
            msgs = self.sqs.receive_message(QueueUrl=self.capture_url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not msgs:
                return self.events
            for m in msgs:
                self.events.append(json.loads(m["Body"]))
                self.sqs.delete_message(QueueUrl=self.capture_url, ReceiptHandle=m["ReceiptHandle"])

    def read_dead_letters(self) -> list[dict[str, Any]]:
        """What waits in the DLQ, with each message's reason. The messages stay there (for a redrive)."""
        letters, handles = [], []
        while True:
            msgs = self.sqs.receive_message(
                QueueUrl=self.dlq_url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=30,
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not msgs:
                break
            for m in msgs:
                attributes: dict[str, Any] = dict(m.get("MessageAttributes") or {})
                reason = (attributes.get("rejectReason") or {}).get("StringValue")
                letters.append({"body": m["Body"], "reason": reason or "maxReceiveCount reached"})
                handles.append(m["ReceiptHandle"])
        for handle in handles:  # visible again at once
            self.sqs.change_message_visibility(
                QueueUrl=self.dlq_url, ReceiptHandle=handle, VisibilityTimeout=0
            )
        self.dead_letters = letters
        return letters

    def queue_depth(self) -> int:
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])

    def running_executions(self) -> int:
        pages = self.sfn.get_paginator("list_executions").paginate(
            stateMachineArn=self.state_machine_arn, statusFilter="RUNNING"
        )
        return sum(len(p["executions"]) for p in pages)

    def _stop_executions(self) -> None:
        try:
            for page in self.sfn.get_paginator("list_executions").paginate(
                stateMachineArn=self.state_machine_arn, statusFilter="RUNNING"
            ):
                for execution in page["executions"]:
                    self.sfn.stop_execution(executionArn=execution["executionArn"], cause="local run ended")
        except Exception:  # noqa: BLE001, S110 - best effort on the way out
            pass

    def run(
        self,
        music_task_ids: Iterable[str],
        *,
        timeout: float,
        on_change: Callable[[str, str | None, str, dict[str, Any]], None] | None = None,
        stop_when_blocked: bool = True,
    ) -> dict[str, dict[str, Any]]:
        """Pump the queue until every task is terminal (with its event), BLOCKED, or nothing is left to
        do (its message then waits in the DLQ). Returns the final records."""
        wanted = set(music_task_ids)
        seen: dict[str, str] = {}
        deadline = time.monotonic() + timeout
        while True:
            handled = self.pump()
            records = self.records()
            for task_id, record in records.items():
                status = record.get("status", "")
                if seen.get(task_id) != status:
                    if on_change:
                        on_change(task_id, seen.get(task_id), status, record)
                    seen[task_id] = status
            settled = {
                t
                for t, r in records.items()
                if (r.get("status") in TERMINAL and r.get("eventPublishedAt"))
                or (stop_when_blocked and r.get("status") == "BLOCKED")
            }
            if wanted <= settled:
                break
            if not handled and self.queue_depth() == 0 and self.running_executions() == 0:
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
        return self.records()
