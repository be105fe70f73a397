"""One typed settings object per function, read from the environment variables the SAM template sets.

Every value comes from ``template.yaml`` (its parameter defaults, or a literal in a function's
``Environment``): there are no defaults here, so the template is the one place a default lives, and a
missing or malformed variable raises :class:`ConfigError` naming it at the function's first invocation.
The only optional variable is ``ARCHIVE_ALLOW_LOOPBACK``, which local runs set and a deployment never does.
``tests/infra/test_contracts.py`` checks, for each function, that the variables read here are exactly the ones
the template sets on it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TypeVar
from urllib.parse import urlsplit

from covers_core.domain.reconcile import Timing
from covers_core.domain.schedule import FirstWaitPolicy, InvocationPolling
from covers_core.errors import ConfigError

N = TypeVar("N", int, float)

#: Variables a function may read that no deployment sets (local runs only).
LOCAL_ONLY = frozenset({"ARCHIVE_ALLOW_LOOPBACK"})
#: Where every AWS client of a function sends its requests (:func:`aws_endpoint`). The template sets it
#: empty on every function (AWS itself); only the ``--env-vars`` file ``covers local-stack`` writes for
#: ``sam local`` sets it, to the moto server. (``sam local`` only overrides variables the template
#: declares, hence the empty declaration.)
AWS_ENDPOINT_VARIABLE = "COVERS_AWS_ENDPOINT_URL"
#: The vendor's base URL (local tooling points it at the emulator).
VENDOR_BASE_URL_VARIABLE = "VENDOR_BASE_URL"
#: Where archived images are served from (local tooling points it at its archive server).
DELIVERY_BASE_URL_VARIABLE = "DELIVERY_BASE_URL"


def _text(env: Mapping[str, str], name: str, *, allow_empty: bool = False) -> str:
    if name not in env:
        raise ConfigError(f"environment variable {name} is required")
    value = env[name].strip()
    if not value and not allow_empty:
        raise ConfigError(f"environment variable {name} must not be empty")
    return value


def _number(env: Mapping[str, str], name: str, kind: type[N], minimum: N) -> N:
    raw = _text(env, name)
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


def _url(env: Mapping[str, str], name: str) -> str:
    value = _text(env, name)
    if not value.startswith(("https://", "http://")):
        raise ConfigError(f"{name} must be an http(s) URL, got {value!r}")
    return value


#: The largest thumbnail a deployment may ask for (``THUMBNAIL_SIZE``, pixels of the longest side).
MAX_THUMBNAIL_SIZE = 2048
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def _delivery_base(env: Mapping[str, str], name: str) -> str | None:
    """The base URL archived objects are served from (``https://<distribution domain>``), or None when
    empty (no distribution). Plain http is refused except on loopback (``covers local-stack``)."""
    value = _text(env, name, allow_empty=True).rstrip("/")
    if not value:
        return None
    parts = urlsplit(value)
    host = parts.hostname or ""
    secure = parts.scheme == "https" or (parts.scheme == "http" and host in _LOOPBACK_HOSTS)
    if not secure or not host or parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigError(f"{name} must be empty or an https:// URL (http:// on loopback), got {value!r}")
    return value


def _thumbnail_size(env: Mapping[str, str], name: str) -> int:
    size = _number(env, name, int, 0)
    if size > MAX_THUMBNAIL_SIZE:
        raise ConfigError(f"environment variable {name} must be <= {MAX_THUMBNAIL_SIZE}, got {size}")
    return size


def aws_endpoint(env: Mapping[str, str] = os.environ) -> str | None:
    """The AWS endpoint override (``COVERS_AWS_ENDPOINT_URL``), or None when it is unset or empty."""
    return _url(env, AWS_ENDPOINT_VARIABLE) if env.get(AWS_ENDPOINT_VARIABLE, "").strip() else None


@dataclass(frozen=True)
class VendorSettings:
    base_url: str
    api_key_secret: str
    connect_timeout: float
    read_timeout: float
    secret_cache_seconds: int

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> VendorSettings:
        return cls(
            base_url=_url(env, VENDOR_BASE_URL_VARIABLE),
            api_key_secret=_text(env, "VENDOR_API_KEY_SECRET"),
            connect_timeout=_number(env, "VENDOR_CONNECT_TIMEOUT_SECONDS", float, 0.1),
            read_timeout=_number(env, "VENDOR_READ_TIMEOUT_SECONDS", float, 0.1),
            secret_cache_seconds=_number(env, "SECRET_CACHE_SECONDS", int, 0),
        )

    @property
    def timeout(self) -> tuple[float, float]:
        return (self.connect_timeout, self.read_timeout)

    @property
    def longest_call_seconds(self) -> float:
        """The longest one vendor call may take, with a margin for the work around it."""
        return self.connect_timeout + self.read_timeout + 5


@dataclass(frozen=True)
class EventSettings:
    table_name: str
    bus_name: str
    event_source: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> EventSettings:
        return cls(
            table_name=_text(env, "COVERS_TABLE_NAME"),
            bus_name=_text(env, "COVERS_BUS_NAME"),
            event_source=_text(env, "EVENT_SOURCE"),
        )


@dataclass(frozen=True)
class LearningSettings:
    """Where the poll schedule's history lives, and the metadata field that names a cover's tenant
    (empty: one schedule for every cover)."""

    table_name: str
    tenant_field: str | None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> LearningSettings:
        return cls(
            table_name=_text(env, "POLL_STATS_TABLE_NAME"),
            tenant_field=cls.tenant_field_from_env(env),
        )

    @staticmethod
    def tenant_field_from_env(env: Mapping[str, str]) -> str | None:
        return _text(env, "FIRST_WAIT_TENANT_FIELD", allow_empty=True) or None


@dataclass(frozen=True)
class BudgetSettings:
    """The credit budgets (docs/operations.md, "Credit budgets"): where counters and caps live, the stack's
    caps where no override is stored (0: none), and the tenant field (the one ``FirstWaitTenantField``
    names: the same setting as the poll schedule's, not a second one)."""

    table_name: str
    per_day: int
    per_month: int
    tenant_field: str | None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> BudgetSettings:
        return cls(
            table_name=_text(env, "BUDGETS_TABLE_NAME"),
            per_day=_number(env, "CREDIT_BUDGET_PER_DAY", int, 0),
            per_month=_number(env, "CREDIT_BUDGET_PER_MONTH", int, 0),
            tenant_field=LearningSettings.tenant_field_from_env(env),
        )


@dataclass(frozen=True)
class FirstWaitSettings:
    """The learned first wait and poll interval: the policy, and where its history lives."""

    policy: FirstWaitPolicy
    learning: LearningSettings

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> FirstWaitSettings:
        try:
            policy = FirstWaitPolicy(
                fallback=_number(env, "POLL_FIRST_WAIT_SECONDS", int, 0),
                minimum=_number(env, "POLL_FIRST_WAIT_MIN_SECONDS", int, 0),
                maximum=_number(env, "POLL_FIRST_WAIT_MAX_SECONDS", int, 0),
                percentile=_number(env, "POLL_FIRST_WAIT_PERCENTILE", float, 0.0),
                interval=_number(env, "POLL_INVOCATION_INTERVAL_SECONDS", int, 1),
                max_interval=_number(env, "POLL_MAX_INTERVAL_SECONDS", int, 1),
                concurrency_target=_number(env, "CHECK_CONCURRENCY_TARGET", int, 0),
            )
            # A first wait past the deadline would only ever find the cover TIMED_OUT.
            deadline = _number(env, "POLL_MAX_WAIT_SECONDS", int, 1)
            policy = replace(policy, maximum=min(policy.maximum, deadline))
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
        return cls(policy=policy, learning=LearningSettings.from_env(env))


@dataclass(frozen=True)
class StartSettings:
    """StartCoverFunction."""

    records: EventSettings
    vendor: VendorSettings
    state_machine_arn: str
    queue_url: str
    dead_letter_queue_url: str
    #: The queue's maxReceiveCount: on a message's last delivery the batch moves it to the DLQ itself.
    max_receive_count: int
    claim_lease_seconds: int
    not_found_attempts: int
    first_wait: FirstWaitSettings
    #: Vendor calls one invocation makes at once (the requests of a batch run in parallel).
    concurrency: int
    budget: BudgetSettings

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> StartSettings:
        return cls(
            records=EventSettings.from_env(env),
            vendor=VendorSettings.from_env(env),
            state_machine_arn=_text(env, "STATE_MACHINE_ARN"),
            queue_url=_text(env, "COVER_REQUESTS_QUEUE_URL"),
            dead_letter_queue_url=_text(env, "DEAD_LETTER_QUEUE_URL"),
            max_receive_count=_number(env, "MAX_RECEIVE_COUNT", int, 1),
            claim_lease_seconds=_number(env, "CLAIM_LEASE_SECONDS", int, 1),
            not_found_attempts=_number(env, "NOT_FOUND_ATTEMPTS", int, 1),
            first_wait=FirstWaitSettings.from_env(env),
            concurrency=_number(env, "START_CONCURRENCY", int, 1),
            budget=BudgetSettings.from_env(env),
        )


@dataclass(frozen=True)
class CheckSettings:
    """CheckCoverStatusFunction (it reads and writes no table: the poll count travels in the workflow)."""

    vendor: VendorSettings
    deadline: int
    max_polls: int
    polling: InvocationPolling

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> CheckSettings:
        try:
            polling = InvocationPolling(
                budget=_number(env, "POLL_INVOCATION_BUDGET_SECONDS", int, 0), interval=1
            )
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
        return cls(
            vendor=VendorSettings.from_env(env),
            deadline=_number(env, "POLL_MAX_WAIT_SECONDS", int, 1),
            max_polls=_number(env, "POLL_MAX_POLLS", int, 1),
            polling=polling,
        )


@dataclass(frozen=True)
class FinalizeSettings:
    """FinalizeCoverFunction. ``archive_bucket`` is None when archiving is off (the template sets "");
    ``delivery_base_url`` None when no distribution serves the archive (events then carry vendor URLs);
    ``thumbnail_size`` 0 when no thumbnails are made (docs/contracts.md, "Archived images")."""

    records: EventSettings
    archive_bucket: str | None
    archive_max_bytes: int
    archive_allow_loopback: bool
    learning: LearningSettings
    #: "https://<CloudFront domain>" serving the archive (ArchiveDelivery=true), else None.
    delivery_base_url: str | None
    #: Longest side of the archived thumbnails, in pixels (0: none).
    thumbnail_size: int
    #: How Step Functions bills the execution (``WorkflowType``), for the cost estimate.
    workflow_type: str = "STANDARD"
    #: Tenants whose cost metrics carry their own ``Tenant`` dimension value (others: ``other``).
    cost_metric_tenants: frozenset[str] = frozenset()

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> FinalizeSettings:
        workflow_type = _text(env, "WORKFLOW_TYPE")
        if workflow_type not in ("STANDARD", "EXPRESS"):
            raise ConfigError(f"WORKFLOW_TYPE must be STANDARD or EXPRESS, got {workflow_type!r}")
        tenants = (t.strip() for t in _text(env, "COST_METRIC_TENANTS", allow_empty=True).split(","))
        return cls(
            records=EventSettings.from_env(env),
            archive_bucket=_text(env, "ARCHIVE_BUCKET", allow_empty=True) or None,
            archive_max_bytes=_number(env, "ARCHIVE_MAX_BYTES", int, 1),
            archive_allow_loopback=_flag(env, "ARCHIVE_ALLOW_LOOPBACK"),
            learning=LearningSettings.from_env(env),
            delivery_base_url=_delivery_base(env, DELIVERY_BASE_URL_VARIABLE),
            thumbnail_size=_thumbnail_size(env, "THUMBNAIL_SIZE"),
            workflow_type=workflow_type,
            cost_metric_tenants=frozenset(t for t in tenants if t),
        )


@dataclass(frozen=True)
class WebhookSettings:
    """MusicWebhookFunction."""

    queue_url: str
    dead_letter_queue_url: str
    secret: str
    tolerance_seconds: int
    secret_cache_seconds: int

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> WebhookSettings:
        return cls(
            queue_url=_text(env, "COVER_REQUESTS_QUEUE_URL"),
            dead_letter_queue_url=_text(env, "DEAD_LETTER_QUEUE_URL"),
            secret=_text(env, "WEBHOOK_SECRET"),
            tolerance_seconds=_number(env, "WEBHOOK_TOLERANCE_SECONDS", int, 1),
            secret_cache_seconds=_number(env, "SECRET_CACHE_SECONDS", int, 0),
        )


@dataclass(frozen=True)
class ReconcileSettings:
    """ReconcileFunction."""

    records: EventSettings
    state_machine_arn: str
    queue_url: str
    timing: Timing
    interval_seconds: int
    limit: int
    budget: BudgetSettings

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> ReconcileSettings:
        visibility = _number(env, "QUEUE_VISIBILITY_TIMEOUT_SECONDS", int, 1)
        receives = _number(env, "MAX_RECEIVE_COUNT", int, 1)
        lease = _number(env, "CLAIM_LEASE_SECONDS", int, 1)
        return cls(
            records=EventSettings.from_env(env),
            state_machine_arn=_text(env, "STATE_MACHINE_ARN"),
            queue_url=_text(env, "COVER_REQUESTS_QUEUE_URL"),
            # a message comes back at most `receives` times, one visibility timeout apart, after the lease
            timing=Timing(
                redelivery_seconds=visibility * receives + lease,
                deadline_seconds=_number(env, "POLL_MAX_WAIT_SECONDS", int, 1),
                min_age_seconds=lease,
            ),
            interval_seconds=round(_number(env, "RECONCILE_INTERVAL_MINUTES", float, 0.01) * 60),
            limit=_number(env, "RECONCILE_LIMIT", int, 1),
            budget=BudgetSettings.from_env(env),
        )


@dataclass(frozen=True)
class StatusApiSettings:
    """CoverStatusApiFunction (reads the table; signs URLs of the archive's images on request)."""

    table_name: str
    #: As :class:`FinalizeSettings`: with a distribution, image URLs are permanent (nothing to presign).
    delivery_base_url: str | None
    #: The archive bucket (None when archiving is off): the only bucket whose objects it presigns.
    archive_bucket: str | None
    #: Life of a presigned URL (docs/contracts.md, "Status API").
    presign_seconds: int

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> StatusApiSettings:
        return cls(
            table_name=_text(env, "COVERS_TABLE_NAME"),
            delivery_base_url=_delivery_base(env, DELIVERY_BASE_URL_VARIABLE),
            archive_bucket=_text(env, "ARCHIVE_BUCKET", allow_empty=True) or None,
            presign_seconds=_number(env, "PRESIGN_SECONDS", int, 1),
        )
