"""The one translation of AWS failures into the project's :class:`AwsTransientError`, and the AWS
clients of a container (created once, on first use)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from covers_core.errors import AwsTransientError
from covers_core.settings import aws_endpoint

CONDITION_FAILED = "ConditionalCheckFailedException"


def aws_call(
    action: str, call: Callable[..., Any], /, *, tolerate: Collection[str] = (), **kwargs: Any
) -> Any:
    """``call(**kwargs)``; any AWS failure is raised as :class:`AwsTransientError` (from the original),
    except a ``ClientError`` whose code is in ``tolerate``, which returns None (an expected refusal,
    such as a conditional write whose condition did not hold)."""
    try:
        return call(**kwargs)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code") or "Unknown")
        if code in tolerate:
            return None
        raise AwsTransientError(f"{action} failed: {code}: {exc}", aws_code=code) from exc
    except BotoCoreError as exc:
        raise AwsTransientError(f"{action} failed: {exc}") from exc


@functools.cache
def client(service: str) -> Any:
    """The container's boto3 client for ``service`` (at the endpoint override, when one is set)."""
    return boto3.client(service, endpoint_url=aws_endpoint())  # type: ignore[call-overload]


@functools.cache
def signing_s3() -> Any:
    """The container's S3 client for presigned URLs: SigV4, as every region accepts (boto3's S3 client
    presigns SigV2 unless told), at the region's own endpoint."""
    config = Config(signature_version="s3v4")
    return boto3.client("s3", endpoint_url=aws_endpoint(), config=config)


@functools.cache
def _dynamodb() -> Any:
    """The container's DynamoDB resource: its tables share it (and its one client)."""
    return boto3.resource("dynamodb", endpoint_url=aws_endpoint())


@functools.cache
def table(name: str) -> Any:
    """The container's boto3 DynamoDB ``Table`` resource named ``name``."""
    return _dynamodb().Table(name)


def forget_clients() -> None:
    client.cache_clear()
    signing_s3.cache_clear()
    table.cache_clear()
    _dynamodb.cache_clear()
