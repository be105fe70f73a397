"""Operating a deployed stack: submit requests, read and list records, resume covers, redrive the
dead-letter queue.

Resources are found from the stack's CloudFormation outputs (``--stack``) or given explicitly."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from covers_core import redaction
from covers_core.adapters import secrets
from covers_core.adapters.queues import (
    BODY_ENCODING,
    MAX_MESSAGE_BYTES,
    REJECT_REASON,
    RequestQueue,
    is_sqs_text,
    restored,
)
from covers_core.adapters.records import CoverStore
from covers_core.adapters.workflow import WorkflowStarter
from covers_core.domain import jsontext
from covers_core.domain.model import CoverRecord, CoverRequest, Status
from covers_core.domain.requests import COVER_TASK_ID_ATTRIBUTE, request_from_mapping
from covers_core.errors import AwsTransientError, BadRequestError, ResumeRefusedError
from covers_core.logic.resume import Resumed, Resumer

OUTPUTS = {
    "queue_url": "CoverRequestsQueueUrl",
    "dlq_url": "CoverRequestsDeadLetterQueueUrl",
    "table": "CoversTableName",
    "workflow_arn": "CoverWorkflowArn",
}


class CommandError(Exception):
    """A failure of the command itself: printed as one line, exit code 1."""


class UsageError(CommandError):
    """Bad input on the command line (an argument, a file it names, a missing region): printed as one line
    naming the flag and the fix, exit code 2. A :class:`CommandError` itself is an operational failure
    (a stack, queue or vendor that answers an error or not at all): exit code 1."""


@dataclass(frozen=True)
class Target:
    region: str | None
    queue_url: str | None
    dlq_url: str | None
    table: str | None
    workflow_arn: str | None = None
    #: The clients made for this target, by service (one each, however many calls a command makes: a
    #: backfill sends thousands of batches).
    _clients: dict[str, Any] = field(default_factory=dict, init=False, compare=False, repr=False)

    def client(self, service: str) -> Any:
        """The boto3 client of ``service`` in the target's region (made once per target)."""
        if service not in self._clients:
            self._clients[service] = boto3.client(service, region_name=self.region)  # type: ignore[call-overload]
        return self._clients[service]

    def need(self, name: str) -> str:
        value = getattr(self, name)
        if not value:
            flag = "--" + name.replace("_", "-")
            raise UsageError(f"need {flag} or --stack (whose output {OUTPUTS[name]} gives it)")
        return str(value)


#: What each resource option names (the stack's output it replaces: :data:`OUTPUTS`).
RESOURCE_HELP = {
    "queue_url": "cover requests queue URL",
    "dlq_url": "dead-letter queue URL",
    "table": "covers table name",
    "workflow_arn": "cover workflow (state machine) ARN",
}


def whole_number(what: str, low: int, high: int | None = None, *, bounds: str = "") -> Callable[[str], int]:
    """An argparse type for a whole number from ``low`` to ``high`` (None: no upper bound), refused in one
    message that names ``what`` it is: "a cap is a whole number, 0 (none) or more, got '-1'"."""
    bounds = bounds or (f"{low} to {high}" if high is not None else f"{low} or more")

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{what} is a whole number, {bounds}, got {text!r}")
        return value

    return parse


def add_target_arguments(parser: argparse.ArgumentParser, resources: Iterable[str]) -> None:
    """``--stack``, ``--region`` and an option for each of ``resources`` (keys of :data:`OUTPUTS`: the ones
    the command reads), which names that resource instead of the stack's output."""
    parser.add_argument("--stack", help="CloudFormation stack name (reads its outputs)")
    parser.add_argument("--region", help="AWS region (default: your AWS configuration)")
    for name in resources:
        output = OUTPUTS[name]
        parser.add_argument(
            "--" + name.replace("_", "-"), help=f"{RESOURCE_HELP[name]} (default: --stack's {output})"
        )


def resolve(args: argparse.Namespace) -> Target:
    found = _stack_outputs(args.stack, args.region) if args.stack else {}
    given = {name: getattr(args, name, None) for name in OUTPUTS}
    return Target(region=args.region, **{name: given[name] or found.get(name) for name in OUTPUTS})


def stack_target(stack: str, region: str | None = None) -> Target:
    """The resources of ``stack``, from its outputs alone (``--stack``)."""
    return Target(region=region, **{name: None for name in OUTPUTS} | _stack_outputs(stack, region))


def region(given: str | None) -> str:
    """The region to use: ``--region``, else the AWS configuration (``AWS_DEFAULT_REGION``, a profile's
    region), else ``AWS_REGION`` (which boto3 alone does not read); none is a bad argument."""
    found = given or boto3.session.Session().region_name or os.environ.get("AWS_REGION")
    if not found:
        raise UsageError("no AWS region: pass --region, or set AWS_REGION or AWS_DEFAULT_REGION")
    return str(found)


def _stack_outputs(stack: str, region: str | None) -> dict[str, str]:
    outputs = described(boto3.client("cloudformation", region_name=region), stack, region).get("Outputs", [])
    found = {o["OutputKey"]: o["OutputValue"] for o in outputs}
    return {name: found[key] for name, key in OUTPUTS.items() if key in found}


def described(cfn: Any, stack: str, region: str | None) -> dict[str, Any]:
    """DescribeStacks of one stack: :class:`StackMissing` (a bad argument) when there is none."""
    try:
        return dict(cfn.describe_stacks(StackName=stack)["Stacks"][0])
    except ClientError as exc:
        if "does not exist" in str(exc):
            raise StackMissing(f"no stack {stack} in region {region}") from exc
        raise CommandError(f"cannot read stack {stack}: {exc}") from exc
    except BotoCoreError as exc:
        raise CommandError(f"cannot read stack {stack}: {exc}") from exc


def submit(
    target: Target, music_task_ids: Iterable[str], *, correlation_id: str | None = None
) -> list[tuple[str, str]]:
    """Queue one cover request per music task (all are validated before any is sent)."""
    try:
        requests = [
            request_from_mapping({"musicTaskId": t, "correlationId": correlation_id}) for t in music_task_ids
        ]
    except BadRequestError as exc:
        raise CommandError(f"invalid request: {exc.message}") from exc
    queue = RequestQueue(target.client("sqs"), target.need("queue_url"))
    try:
        return [(request.music_task_id, queue.send(request)) for request in requests]
    except AwsTransientError as exc:
        raise CommandError(exc.message) from exc


#: Most messages one SendMessageBatch may carry.
SEND_BATCH_SIZE = 10


def send_batch(target: Target, requests: list[CoverRequest]) -> list[tuple[str, str]]:
    """Queue up to :data:`SEND_BATCH_SIZE` requests in one SendMessageBatch, each in the body the start
    function reads (as ``RequestQueue.send`` writes it). Returns the (music task id, reason) of each
    request SQS did not take; the others are queued."""
    if not 0 < len(requests) <= SEND_BATCH_SIZE:
        raise ValueError(f"a batch holds 1 to {SEND_BATCH_SIZE} requests, got {len(requests)}")
    entries = [
        {"Id": f"m{n}", "MessageBody": jsontext.dumps(request.to_message())}  # ASCII JSON: SQS-safe
        for n, request in enumerate(requests)
    ]
    sqs = target.client("sqs")
    answer = _call(sqs.send_message_batch, QueueUrl=target.need("queue_url"), Entries=entries)
    return [
        (requests[int(failed["Id"][1:])].music_task_id, f"{failed.get('Code')}: {failed.get('Message', '')}")
        for failed in answer.get("Failed", [])
    ]


def existing(target: Target, music_task_ids: Iterable[str]) -> dict[str, Status]:
    """The status of each of ``music_task_ids`` that has a record in the covers table (read by key with
    BatchGetItem, strongly consistent, through the record adapter); ids without a record are absent."""
    try:
        return {r.music_task_id: r.status for r in _store(target).records_of(list(music_task_ids))}
    except AwsTransientError as exc:
        raise CommandError(exc.message) from exc


def _store(target: Target) -> CoverStore:
    return CoverStore(boto3.resource("dynamodb", region_name=target.region).Table(target.need("table")))


def status(target: Target, music_task_id: str) -> CoverRecord | None:
    try:
        return _store(target).get(music_task_id)
    except AwsTransientError as exc:
        raise CommandError(exc.message) from exc


def list_by_status(
    target: Target, statuses: Iterable[Status], since: datetime | None = None
) -> Iterator[CoverRecord]:
    """The records in each of ``statuses`` (updated at or after ``since``), status by status."""
    store = _store(target)
    try:
        for wanted in statuses:
            yield from store.by_status(wanted, since)
    except AwsTransientError as exc:
        raise CommandError(exc.message) from exc


def resume(target: Target, music_task_id: str, cover_task_id: str | None = None) -> Resumed:
    """Put a TIMED_OUT / NEEDS_ATTENTION cover back on the poll workflow (``covers_core.logic.resume``)."""
    workflow = WorkflowStarter(target.client("stepfunctions"), target.need("workflow_arn"))
    try:
        return Resumer(_store(target), workflow).resume(music_task_id, cover_task_id)
    except (AwsTransientError, ResumeRefusedError) as exc:
        raise CommandError(exc.message) from exc


def redrive(
    target: Target,
    *,
    include_rejected: bool = False,
    limit: int = 10_000,
    progress: Callable[[int], None] | None = None,
    unsendable: Callable[[str, str], None] | None = None,
) -> tuple[int, int]:
    """Move DLQ messages back to the requests queue (after a recharge or a key fix). Messages the start
    function rejected as bad input (``rejectReason``) stay unless ``include_rejected``; those moved go
    back with their original body (a ``bodyEncoding`` copy decoded: docs/operations.md, "Dead letters"),
    or stay when SQS would refuse that body: ``unsendable`` is told each one's message id and why.
    Returns (moved, left)."""
    sqs = target.client("sqs")
    queue_url, dlq_url = target.need("queue_url"), target.need("dlq_url")
    moved = kept = 0
    while moved < limit:
        # Keep received messages invisible long enough that this loop never sees one twice.
        batch = _call(
            sqs.receive_message,
            QueueUrl=dlq_url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=300,
            MessageAttributeNames=["All"],
            WaitTimeSeconds=1,
        ).get("Messages", [])
        if not batch:
            break
        for message in batch:
            if REJECT_REASON in message.get("MessageAttributes", {}) and not include_rejected:
                kept += 1
                continue
            body, why = original_body(message)
            if body is None:
                kept += 1
                if unsendable:
                    unsendable(str(message.get("MessageId")), why)
                continue
            extra = {}  # a cover task id the record could not keep goes back with it (an adoption)
            cover = message.get("MessageAttributes", {}).get(COVER_TASK_ID_ATTRIBUTE)
            if cover:
                extra["MessageAttributes"] = {COVER_TASK_ID_ATTRIBUTE: cover}
            _call(sqs.send_message, QueueUrl=queue_url, MessageBody=body, **extra)
            _call(sqs.delete_message, QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
            moved += 1
            if progress and moved % 50 == 0:
                progress(moved)
    return moved, kept


def original_body(message: dict[str, Any]) -> tuple[str | None, str]:
    """A DLQ message's original body as SQS would take it back, or None and why not."""
    attributes = message.get("MessageAttributes", {})
    if BODY_ENCODING not in attributes:
        return message["Body"], ""  # the original as it was (SQS took it, so it takes it again)
    try:
        raw = restored(message["Body"], attributes)
    except ValueError as exc:
        return None, f"its body cannot be decoded: {exc}"
    if not raw:
        return None, "its original body was empty, which SQS refuses"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, f"its original body ({len(raw)} bytes) is not UTF-8, which SQS refuses"
    if not is_sqs_text(text):
        return None, f"its original body ({len(raw)} bytes) holds characters SQS refuses"
    if len(raw) > MAX_MESSAGE_BYTES:
        return None, f"its original body is {len(raw)} bytes; SQS takes at most {MAX_MESSAGE_BYTES}"
    return text, ""


def _call(func: Callable[..., Any], **kwargs: Any) -> Any:
    try:
        return func(**kwargs)
    except (ClientError, BotoCoreError) as exc:
        raise CommandError(one_line(str(exc))) from exc


def one_line(text: str, limit: int = 300) -> str:
    """An AWS error for a one-line report: whitespace folded, an HTML page in it (an endpoint without the
    API answers with one: moto behind ``covers local-stack``) named instead of shown, at most ``limit``."""
    text = " ".join(text.split())
    lowered = text.lower()
    html = min((i for i in (lowered.find("<!doctype"), lowered.find("<html")) if i >= 0), default=-1)
    if html >= 0:
        text = text[:html] + "an HTML page (this endpoint does not have the API)"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _read(func: Callable[..., Any], **kwargs: Any) -> Any:
    """``_call`` for a read ``covers doctor`` can do without: an API the endpoint does not have (moto, behind
    ``covers local-stack``, lacks some) is a CommandError too, which doctor reports as not read."""
    try:
        return _call(func, **kwargs)
    except NotImplementedError as exc:
        raise CommandError(f"not available at this endpoint: {exc}") from exc


# --- what `covers doctor` reads (covers_ops/doctor.py): one function per AWS read, so a test can replace the
# answer of one AWS API (moto has no Lambda GetAccountSettings) without touching moto.


@dataclass(frozen=True)
class StackInfo:
    """A deployed stack as CloudFormation describes it: outputs and parameters by key, when it was created,
    and its resources (logical id -> (type, physical id))."""

    name: str
    region: str | None
    outputs: dict[str, str]
    parameters: dict[str, str]
    created: datetime
    resources: dict[str, tuple[str, str]]

    def target(self) -> Target:
        found = {name: self.outputs.get(key) for name, key in OUTPUTS.items()}
        return Target(region=self.region, **found)

    def number(self, parameter: str, default: int = 0) -> int:
        try:
            return int(float(self.parameters.get(parameter, default)))
        except ValueError:
            return default


class StackMissing(UsageError):
    """The stack named does not exist (in that region): a bad argument."""


def describe_stack(stack: str, region: str | None) -> StackInfo:
    cfn = boto3.client("cloudformation", region_name=region)
    found = described(cfn, stack, region)
    try:
        resources: dict[str, tuple[str, str]] = {}
        for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack):
            for r in page["StackResourceSummaries"]:
                resources[r["LogicalResourceId"]] = (r["ResourceType"], r.get("PhysicalResourceId", ""))
    except (ClientError, BotoCoreError) as exc:
        raise CommandError(f"cannot read stack {stack}: {exc}") from exc
    return StackInfo(
        name=stack,
        region=region,
        outputs={o["OutputKey"]: o["OutputValue"] for o in found.get("Outputs", [])},
        parameters={p["ParameterKey"]: p["ParameterValue"] for p in found.get("Parameters", [])},
        created=found["CreationTime"],
        resources=resources,
    )


#: What :func:`api_key_state` says of the vendor API key secret (never its value).
KEY_SET, KEY_PLACEHOLDER, KEY_EMPTY, KEY_NO_API_KEY = "set", "placeholder", "empty", "json-without-apiKey"


def api_key_state(region: str | None, secret_id: str) -> str:
    """Whether the vendor API key secret holds a key, the stack's placeholder, nothing, or JSON without
    ``apiKey`` (docs/deploy.md, "The secret"). The value never leaves this function; the client registers it
    for redaction before botocore can log the response (``covers_core.adapters.secrets``), so not even a
    DEBUG log line shows it."""
    sm = secrets.redacting(boto3.client("secretsmanager", region_name=region))
    text = str(_read(sm.get_secret_value, SecretId=secret_id).get("SecretString") or "")
    redaction.register(text)
    if text.lstrip().startswith("{"):
        try:
            key = json.loads(text).get("apiKey")
        except (ValueError, AttributeError):
            key = None
        if not isinstance(key, str):
            return KEY_NO_API_KEY
        text = key
    redaction.register(text.strip())
    if not text.strip():
        return KEY_EMPTY
    return KEY_PLACEHOLDER if text.strip() == secrets.PLACEHOLDER_KEY else KEY_SET


def topic_subscriptions(region: str | None, topic_arn: str) -> list[dict[str, Any]]:
    """ListSubscriptionsByTopic, every page (a pending one's ``SubscriptionArn``: ``PendingConfirmation``)."""
    sns = boto3.client("sns", region_name=region)
    found: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TopicArn": topic_arn}
    while True:
        page = _read(sns.list_subscriptions_by_topic, **kwargs)
        found.extend(page.get("Subscriptions", []))
        if not page.get("NextToken"):
            return found
        kwargs["NextToken"] = page["NextToken"]


def queue_messages(region: str | None, queue_url: str) -> tuple[int, int]:
    """(waiting, in flight) messages of a queue (SQS's approximate counts)."""
    sqs = boto3.client("sqs", region_name=region)
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = _read(sqs.get_queue_attributes, QueueUrl=queue_url, AttributeNames=names)["Attributes"]
    return int(attributes.get(names[0], 0)), int(attributes.get(names[1], 0))


def open_records(target: Target, created_before: datetime) -> Iterator[CoverRecord]:
    """The open records (the ``byOpen`` index) created at or before ``created_before``."""
    try:
        yield from _store(target).open_records(created_before)
    except AwsTransientError as exc:
        raise CommandError(exc.message) from exc


def lambda_account_limit(region: str | None) -> dict[str, Any]:
    """GetAccountSettings' ``AccountLimit`` (``ConcurrentExecutions``, ``UnreservedConcurrentExecutions``)."""
    answer = _read(boto3.client("lambda", region_name=region).get_account_settings)
    return dict(answer.get("AccountLimit", {}))


def service_quotas(region: str | None, service_code: str) -> list[dict[str, Any]]:
    """ListServiceQuotas for ``service_code``, every page (the values applied to this account)."""
    quotas = boto3.client("service-quotas", region_name=region)
    found: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"ServiceCode": service_code}
    while True:
        page = _read(quotas.list_service_quotas, **kwargs)
        found.extend(page.get("Quotas", []))
        if not page.get("NextToken"):
            return found
        kwargs["NextToken"] = page["NextToken"]


def metric_sums(
    region: str | None,
    namespace: str,
    metric: str,
    dimensions: dict[str, str],
    *,
    start: datetime,
    end: datetime,
    period: int = 60,
) -> dict[datetime, float]:
    """A CloudWatch metric's Sum per ``period`` seconds between ``start`` and ``end`` (periods with data)."""
    answer = _read(
        boto3.client("cloudwatch", region_name=region).get_metric_statistics,
        Namespace=namespace,
        MetricName=metric,
        Dimensions=[{"Name": k, "Value": v} for k, v in dimensions.items()],
        StartTime=start,
        EndTime=end,
        Period=period,
        Statistics=["Sum"],
    )
    sums: dict[datetime, float] = {}
    for point in answer.get("Datapoints", []):  # CloudWatch starts each period on a multiple of it
        stamp = point["Timestamp"]
        start_of_period = stamp - timedelta(seconds=stamp.timestamp() % period)
        sums[start_of_period] = sums.get(start_of_period, 0.0) + float(point["Sum"])
    return sums
