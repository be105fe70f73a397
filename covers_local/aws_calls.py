"""Which AWS operations each function performs, and on which resource ARN, recorded while its handler runs
(tests/infra/test_iam.py compares them with what the function's role grants).

Every AWS call goes through ``botocore.client.BaseClient._make_api_call``, whichever session made the
client: boto3's default session (``covers_core.adapters.aws``) and the sessions Powertools Parameters'
providers create for themselves alike. :class:`Recorder` wraps that method; a call is attributed to the
function whose handler is running (:func:`running`, set by ``LocalPipeline.invoke`` and the tests'
``invoke``), and calls made outside any handler (test set-up, the local runner itself) are not recorded.

A presigned URL (``generate_presigned_url``) is recorded as the call it authorises: signing makes no
request, but whoever holds the URL makes that call with the function's credentials, so its role needs the
grant. botocore hands the request's parameters to ``BaseClient._emit_api_params`` on that path, marked
``is_presign_request`` in the request context.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any
from unittest import mock

from botocore.client import BaseClient

#: The logical id of the function whose handler is running in this thread or task.
current_function: ContextVar[str | None] = ContextVar("covers_current_function", default=None)

#: The account of resources a request names by name alone (moto's default account): ARNs and queue URLs
#: carry their own.
DEFAULT_ACCOUNT = "123456789012"

#: Operations whose IAM action is not ``<service prefix>:<operation name>``.
_IAM_ACTIONS = {
    ("sqs", "SendMessageBatch"): "sqs:SendMessage",
    ("sqs", "DeleteMessageBatch"): "sqs:DeleteMessage",
    ("sqs", "ChangeMessageVisibilityBatch"): "sqs:ChangeMessageVisibility",
    ("s3", "HeadObject"): "s3:GetObject",
    ("s3", "ListObjectsV2"): "s3:ListBucket",
}


@dataclass(frozen=True, order=True)
class AwsCall:
    """One kind of call: ``function`` (logical id) performed IAM ``action`` on ``resource`` (the ARN of
    what the request named: ``arn:aws:s3:::bucket/key`` for an S3 object, ``.../table/name/index/x`` for
    a DynamoDB index; ``*`` for a request that names no resource)."""

    function: str
    action: str
    resource: str


def iam_action(service_prefix: str, operation: str) -> str:
    """The IAM action that authorises botocore ``operation`` of the service with ``service_prefix``."""
    return _IAM_ACTIONS.get((service_prefix, operation), f"{service_prefix}:{operation}")


def _arn(service: str, region: str, account: str, resource: str) -> str:
    return f"arn:aws:{service}:{region}:{account}:{resource}"


def _named(value: Any, service: str, region: str, account: str, kind: str) -> str:
    """An ARN as given, or the ARN of the resource of ``kind`` (``table/``, ``event-bus/`` ...) so named."""
    text = str(value)
    return text if text.startswith("arn:") else _arn(service, region, account, f"{kind}{text}")


def resources(service: str, params: dict[str, Any], region: str, account: str = DEFAULT_ACCOUNT) -> list[str]:
    """The ARNs of the resources a request to ``service`` (endpoint prefix) names, as IAM matches a
    grant's ``Resource`` against them (one per entry for batches); ``["*"]`` when it names none.
    A secret named by name gets no random suffix: the code names its secrets by ARN."""
    found: set[str] = set()
    if service == "dynamodb":
        tables = [params["TableName"]] if "TableName" in params else list(params.get("RequestItems", {}))
        index = f"/index/{params['IndexName']}" if "IndexName" in params else ""
        found = {_named(t, service, region, account, "table/") + index for t in tables}
    elif service == "sqs" and "QueueUrl" in params:
        queue_account, name = str(params["QueueUrl"]).rstrip("/").split("/")[-2:]
        found = {_arn(service, region, queue_account, name)}
    elif service == "events" and "Entries" in params:
        buses = {e.get("EventBusName") or "default" for e in params["Entries"]}
        found = {_named(b, service, region, account, "event-bus/") for b in buses}
    elif service == "states":
        found = {str(params[k]) for k in ("stateMachineArn", "executionArn") if k in params}
    elif service == "secretsmanager" and "SecretId" in params:
        found = {_named(params["SecretId"], service, region, account, "secret:")}
    elif service == "s3" and "Bucket" in params:
        found = {f"arn:aws:s3:::{params['Bucket']}" + (f"/{params['Key']}" if "Key" in params else "")}
    elif service == "lambda" and "FunctionName" in params:
        function = _named(params["FunctionName"], service, region, account, "function:")
        found = {function + (f":{params['Qualifier']}" if "Qualifier" in params else "")}
    return sorted(found) or ["*"]


@contextlib.contextmanager
def running(function: str) -> Iterator[None]:
    """AWS calls made inside this block are ``function``'s (its logical id)."""
    token = current_function.set(function)
    try:
        yield
    finally:
        current_function.reset(token)


class Recorder:
    """``with Recorder() as recorder:`` ... ``recorder.calls``: every :class:`AwsCall` made by a handler
    (see :func:`running`) while the block ran, from any thread. ``account`` is the account of the
    resources requests name by name alone."""

    def __init__(self, account: str = DEFAULT_ACCOUNT) -> None:
        self.calls: set[AwsCall] = set()
        self.account = account
        self._lock = threading.Lock()
        original = getattr(BaseClient, "_make_api_call")  # noqa: B009 - private: not in the stubs
        emit = getattr(BaseClient, "_emit_api_params")  # noqa: B009 - private: not in the stubs
        self._patches = (
            mock.patch.object(BaseClient, "_make_api_call", self._wrap(original)),
            mock.patch.object(BaseClient, "_emit_api_params", self._wrap_presign(emit)),
        )

    def _record(self, client: BaseClient, operation: str, params: dict[str, Any]) -> None:
        function = current_function.get()
        if function is not None:
            service = client.meta.service_model.endpoint_prefix
            action = iam_action(service, operation)
            arns = resources(service, params, client.meta.region_name, self.account)
            with self._lock:
                self.calls.update(AwsCall(function, action, arn) for arn in arns)

    def _wrap(self, original: Any) -> Any:
        recorder = self

        def _make_api_call(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
            recorder._record(client, operation, params)
            return original(client, operation, params)

        return _make_api_call

    def _wrap_presign(self, original: Any) -> Any:
        recorder = self

        def _emit_api_params(
            client: BaseClient, api_params: dict[str, Any], operation_model: Any, context: dict[str, Any]
        ) -> Any:
            if context.get("is_presign_request"):
                recorder._record(client, operation_model.name, api_params)
            return original(client, api_params=api_params, operation_model=operation_model, context=context)

        return _emit_api_params

    def __enter__(self) -> Recorder:
        for patch in self._patches:
            patch.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for patch in self._patches:
            patch.stop()
