"""Which AWS operations each function performs, recorded while its handler runs (tests/infra/test_iam.py
compares them with what the function's role grants).

Every AWS call goes through ``botocore.client.BaseClient._make_api_call``, whichever session made the
client: boto3's default session (``covers_core.adapters.aws``) and the sessions Powertools Parameters'
providers create for themselves alike. :class:`Recorder` wraps that method; a call is attributed to the
function whose handler is running (:func:`running`, set by ``LocalPipeline.invoke`` and the tests'
``invoke``), and calls made outside any handler (test set-up, the local runner itself) are not recorded.
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

#: Operations whose IAM action is not ``<service prefix>:<operation name>``.
_IAM_ACTIONS = {
    ("sqs", "SendMessageBatch"): "sqs:SendMessage",
    ("sqs", "DeleteMessageBatch"): "sqs:DeleteMessage",
    ("sqs", "ChangeMessageVisibilityBatch"): "sqs:ChangeMessageVisibility",
    ("s3", "HeadObject"): "s3:GetObject",
    ("s3", "ListObjectsV2"): "s3:ListBucket",
}
#: Request parameters that name the resource a call acts on.
_RESOURCE_PARAMETERS = ("TableName", "QueueUrl", "stateMachineArn", "SecretId", "Bucket")


@dataclass(frozen=True, order=True)
class AwsCall:
    """One kind of call: ``function`` (logical id) performed IAM ``action`` on ``resource`` (the
    physical identifier the request named; for S3 ``bucket/key``)."""

    function: str
    action: str
    resource: str


def iam_action(service_prefix: str, operation: str) -> str:
    """The IAM action that authorises botocore ``operation`` of the service with ``service_prefix``."""
    return _IAM_ACTIONS.get((service_prefix, operation), f"{service_prefix}:{operation}")


def resources(operation: str, params: dict[str, Any]) -> list[str]:
    """The resources a request names (physical ids; ``bucket/key`` for S3 objects)."""
    if operation == "PutEvents":
        return sorted({str(e.get("EventBusName") or "default") for e in params.get("Entries", [])})
    for name in _RESOURCE_PARAMETERS:
        if name in params:
            value = str(params[name])
            return [f"{value}/{params['Key']}" if name == "Bucket" and "Key" in params else value]
    return ["*"]


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
    (see :func:`running`) while the block ran, from any thread."""

    def __init__(self) -> None:
        self.calls: set[AwsCall] = set()
        self._lock = threading.Lock()
        original = getattr(BaseClient, "_make_api_call")  # noqa: B009 - private: not in the stubs
        self._patch = mock.patch.object(BaseClient, "_make_api_call", self._wrap(original))

    def _wrap(self, original: Any) -> Any:
        recorder = self

        def _make_api_call(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
            function = current_function.get()
            if function is not None:
                action = iam_action(client.meta.service_model.endpoint_prefix, operation)
                with recorder._lock:
                    recorder.calls.update(AwsCall(function, action, r) for r in resources(operation, params))
            return original(client, operation, params)

        return _make_api_call

    def __enter__(self) -> Recorder:
        self._patch.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._patch.stop()

    def by_function(self) -> dict[str, dict[str, set[str]]]:
        """``{function: {action: {resource, ...}}}``."""
        found: dict[str, dict[str, set[str]]] = {}
        for call in sorted(self.calls):
            found.setdefault(call.function, {}).setdefault(call.action, set()).add(call.resource)
        return found
