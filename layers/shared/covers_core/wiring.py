"""Builds the domain objects for a Lambda container from its environment, once per container.

Handlers call these factories on every invocation; each is cached, so AWS clients, the vendor HTTP
session and the secret cache are created once. ``reset()`` forgets them (tests, the local runner)."""

from __future__ import annotations

import functools
import json
import time
from typing import Any

import boto3
from aws_lambda_powertools.utilities import parameters

from covers_core.archive import ImageArchiver, UrlGuard
from covers_core.batch import DeadLetters, RequestQueue
from covers_core.checker import CoverChecker
from covers_core.config import AwsSettings, VendorSettings, WebhookSettings, poll_schedule, start_settings
from covers_core.errors import ConfigError
from covers_core.events import EventPublisher
from covers_core.finalizer import Finalizer
from covers_core.records import CoverStore
from covers_core.starter import CoverStarter
from covers_core.vendor import VendorClient, new_session
from covers_core.webhook import WebhookIntake
from covers_core.workflow import WorkflowStarter


@functools.cache
def aws_client(service: Any) -> Any:
    return boto3.client(service)


@functools.cache
def store() -> CoverStore:
    settings = AwsSettings.from_env(need_bus=False)
    return CoverStore(boto3.resource("dynamodb").Table(settings.table_name))


#: What the stack-created secret holds until the operator stores the real key.
PLACEHOLDER_KEY = "SET-ME"


def read_secret(name: str, max_age: int) -> str:
    """A Secrets Manager secret's string, through Powertools' cache (``max_age`` seconds)."""
    value = parameters.get_secret(name, max_age=max_age)
    return value.decode() if isinstance(value, bytes) else str(value)


def api_key_reader(settings: VendorSettings) -> Any:
    """A callable that returns the API key from Secrets Manager (Powertools caches it ``max_age``)."""

    def read() -> str:
        text = read_secret(settings.api_key_secret, settings.secret_cache_seconds)
        if text.lstrip().startswith("{"):
            try:
                text = str(json.loads(text).get("apiKey") or "")
            except (ValueError, AttributeError) as exc:
                raise ConfigError("the API key secret is JSON but has no 'apiKey' string") from exc
        if not text.strip() or text.strip() == PLACEHOLDER_KEY:
            raise ConfigError(
                "the vendor API key secret is not set: store the key with `aws secretsmanager "
                "put-secret-value --secret-id <VendorApiKeySecretArn> --secret-string <key>`"
            )
        return text.strip()

    return read


@functools.cache
def vendor() -> VendorClient:
    settings = VendorSettings.from_env()
    return VendorClient(
        settings.base_url,
        api_key_reader(settings),
        session=new_session(),
        timeout=(settings.connect_timeout, settings.read_timeout),
    )


@functools.cache
def finalizer() -> Finalizer:
    settings = AwsSettings.from_env()
    archiver = None
    if settings.archive_bucket:
        archiver = ImageArchiver(
            aws_client("s3"),
            settings.archive_bucket,
            guard=UrlGuard(allow_loopback=settings.archive_allow_loopback),
            max_bytes=settings.archive_max_bytes,
        )
    publisher = EventPublisher(aws_client("events"), settings.bus_name, settings.event_source)
    return Finalizer(store(), publisher, archiver=archiver)


@functools.cache
def starter() -> CoverStarter:
    settings = AwsSettings.from_env()
    if not settings.state_machine_arn:
        raise ConfigError("environment variable STATE_MACHINE_ARN is required")
    workflow = WorkflowStarter(aws_client("stepfunctions"), settings.state_machine_arn)
    return CoverStarter(store(), vendor(), workflow, finalizer(), start_settings())


@functools.cache
def checker() -> CoverChecker:
    return CoverChecker(vendor(), poll_schedule(), store())


@functools.cache
def webhook_intake() -> WebhookIntake:
    settings = WebhookSettings.from_env()
    return WebhookIntake(
        RequestQueue(aws_client("sqs"), settings.queue_url),
        DeadLetters(aws_client("sqs"), dead_letter_queue_url()),
        lambda: read_secret(settings.secret, settings.secret_cache_seconds),
        tolerance=settings.tolerance_seconds,
        clock=time.time,
    )


@functools.cache
def dead_letter_queue_url() -> str:
    url = AwsSettings.from_env(need_bus=False).dead_letter_queue_url
    if not url:
        raise ConfigError("environment variable DEAD_LETTER_QUEUE_URL is required")
    return url


def reset() -> None:
    """Forget every cached client and object (for tests and the local runner)."""
    for factory in (
        aws_client,
        store,
        vendor,
        finalizer,
        starter,
        checker,
        webhook_intake,
        dead_letter_queue_url,
    ):
        factory.cache_clear()
    parameters.clear_caches()
    parameters.base.DEFAULT_PROVIDERS.clear()
