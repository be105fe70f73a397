"""Secrets Manager through Powertools Parameters (cached ``max_age`` seconds per container)."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable

from aws_lambda_powertools.utilities import parameters

from covers_core import redaction
from covers_core.adapters.aws import client
from covers_core.errors import ConfigError

#: What the stack-created secret holds until the operator stores the real key.
PLACEHOLDER_KEY = "SET-ME"


@functools.cache
def _provider() -> parameters.SecretsProvider:
    """The container's Powertools provider, on the container's Secrets Manager client (so it follows the
    endpoint override as every other client does)."""
    return parameters.SecretsProvider(boto3_client=client("secretsmanager"))


def read_secret(name: str, max_age: int) -> str:
    """A Secrets Manager secret's string, through Powertools' cache (``max_age`` seconds)."""
    value = _provider().get(name, max_age=max_age)
    text = value.decode() if isinstance(value, bytes) else str(value)
    redaction.register(text)
    return text


def api_key_reader(secret: str, max_age: int) -> Callable[[], str]:
    """A callable that returns the vendor API key: the secret's value, or its JSON ``apiKey``."""

    def read() -> str:
        text = read_secret(secret, max_age)
        if text.lstrip().startswith("{"):
            try:
                text = str(json.loads(text).get("apiKey") or "")
            except (ValueError, AttributeError) as exc:
                raise ConfigError("the API key secret is JSON but has no 'apiKey' string") from exc
        redaction.register(text.strip())  # the key alone, when the secret holds JSON
        if not text.strip() or text.strip() == PLACEHOLDER_KEY:
            raise ConfigError(
                "the vendor API key secret is not set: store the key with `aws secretsmanager "
                "put-secret-value --secret-id <VendorApiKeySecretArn> --secret-string <key>`"
            )
        return text.strip()

    return read


def forget_secrets() -> None:
    _provider.cache_clear()
    parameters.clear_caches()
    parameters.base.DEFAULT_PROVIDERS.clear()


class SigningKeys:
    """The webhook signing keys to accept: the secret's current value and, during a rotation, its
    previous one (Secrets Manager moves the ``AWSPREVIOUS`` label to the old version on every
    ``put-secret-value``). Both are cached ``max_age`` seconds; a secret without a previous version
    just has one key.

    The previous version is read through its own provider: Powertools' cache key is the secret's name
    (not the version stage), so one provider would hand back the cached current value for both."""

    def __init__(self, name: str, max_age: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.max_age = max_age
        self.clock = clock
        self._previous_provider = parameters.SecretsProvider(boto3_client=client("secretsmanager"))
        self._previous: tuple[float, str | None] | None = None

    def __call__(self) -> tuple[str, ...]:
        current = read_secret(self.name, self.max_age)
        previous = self._read_previous()
        return (current, previous) if previous and previous != current else (current,)

    def _read_previous(self) -> str | None:
        if self._previous is not None and self.clock() - self._previous[0] < self.max_age:
            return self._previous[1]
        try:
            value = self._previous_provider.get(self.name, max_age=self.max_age, VersionStage="AWSPREVIOUS")
            text: str | None = value.decode() if isinstance(value, bytes) else str(value)
            redaction.register(str(text))
        except parameters.exceptions.GetParameterError:
            text = None  # no rotation yet: there is no previous version
        self._previous = (self.clock(), text)
        return text
