"""Typed settings, read from the environment variables the SAM template (or the local runner) sets.

A missing or malformed required variable raises :class:`ConfigError` at cold start, naming it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from covers_core.errors import ConfigError
from covers_core.events import DEFAULT_SOURCE
from covers_core.schedule import PollSchedule
from covers_core.starter import StartSettings
from covers_core.vendor import DEFAULT_BASE_URL
from covers_core.webhook import DEFAULT_TOLERANCE_SECONDS


def _str(env: Mapping[str, str], name: str, default: str | None = None) -> str:
    value = env.get(name, "").strip()
    if value:
        return value
    if default is None:
        raise ConfigError(f"environment variable {name} is required")
    return default


def _num(env: Mapping[str, str], name: str, default: float, minimum: float, kind: type = int) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError as exc:
        raise ConfigError(f"environment variable {name} must be a {kind.__name__}, got {raw!r}") from exc
    if value < minimum:
        raise ConfigError(f"environment variable {name} must be >= {minimum}, got {raw!r}")
    return value


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"environment variable {name} must be true or false, got {raw!r}")


@dataclass(frozen=True)
class VendorSettings:
    base_url: str
    api_key_secret: str
    connect_timeout: float
    read_timeout: float
    secret_cache_seconds: int

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> VendorSettings:
        base_url = _str(env, "VENDOR_BASE_URL", DEFAULT_BASE_URL)
        if not base_url.startswith(("https://", "http://")):
            raise ConfigError(f"VENDOR_BASE_URL must be an http(s) URL, got {base_url!r}")
        return cls(
            base_url=base_url,
            api_key_secret=_str(env, "VENDOR_API_KEY_SECRET"),
            connect_timeout=_num(env, "VENDOR_CONNECT_TIMEOUT_SECONDS", 3.05, 0.1, float),
            read_timeout=_num(env, "VENDOR_READ_TIMEOUT_SECONDS", 15.0, 0.1, float),
            secret_cache_seconds=int(_num(env, "SECRET_CACHE_SECONDS", 300, 0)),
        )


def poll_schedule(env: Mapping[str, str] = os.environ) -> PollSchedule:
    interval = int(_num(env, "POLL_INTERVAL_SECONDS", 10, 1))
    try:
        return PollSchedule(
            first_wait=int(_num(env, "POLL_FIRST_WAIT_SECONDS", 30, 0)),
            interval=interval,
            deadline=int(_num(env, "POLL_MAX_WAIT_SECONDS", 900, 1)),
            backoff=float(_num(env, "POLL_BACKOFF_RATE", 1.0, 1.0, float)),
            max_interval=int(_num(env, "POLL_MAX_INTERVAL_SECONDS", max(60, interval), 1)),
            max_polls=int(_num(env, "POLL_MAX_POLLS", 500, 1)),
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


def start_settings(env: Mapping[str, str] = os.environ) -> StartSettings:
    return StartSettings(
        claim_lease_seconds=int(_num(env, "CLAIM_LEASE_SECONDS", 120, 1)),
        not_found_attempts=int(_num(env, "NOT_FOUND_ATTEMPTS", 3, 1)),
        first_wait_seconds=poll_schedule(env).first_wait,
    )


@dataclass(frozen=True)
class WebhookSettings:
    queue_url: str
    secret: str
    tolerance_seconds: int
    secret_cache_seconds: int

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> WebhookSettings:
        return cls(
            queue_url=_str(env, "COVER_REQUESTS_QUEUE_URL"),
            secret=_str(env, "WEBHOOK_SECRET"),
            tolerance_seconds=int(_num(env, "WEBHOOK_TOLERANCE_SECONDS", DEFAULT_TOLERANCE_SECONDS, 1)),
            secret_cache_seconds=int(_num(env, "SECRET_CACHE_SECONDS", 300, 0)),
        )


@dataclass(frozen=True)
class AwsSettings:
    table_name: str
    bus_name: str
    event_source: str
    state_machine_arn: str | None
    dead_letter_queue_url: str | None
    archive_bucket: str | None
    archive_max_bytes: int
    archive_allow_loopback: bool

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ, *, need_bus: bool = True) -> AwsSettings:
        return cls(
            table_name=_str(env, "COVERS_TABLE_NAME"),
            bus_name=_str(env, "COVERS_BUS_NAME") if need_bus else env.get("COVERS_BUS_NAME", ""),
            event_source=_str(env, "EVENT_SOURCE", DEFAULT_SOURCE),
            state_machine_arn=env.get("STATE_MACHINE_ARN") or None,
            dead_letter_queue_url=env.get("DEAD_LETTER_QUEUE_URL") or None,
            archive_bucket=env.get("ARCHIVE_BUCKET") or None,
            archive_max_bytes=int(_num(env, "ARCHIVE_MAX_BYTES", 20 * 1024 * 1024, 1)),
            archive_allow_loopback=_flag(env, "ARCHIVE_ALLOW_LOOPBACK"),
        )
