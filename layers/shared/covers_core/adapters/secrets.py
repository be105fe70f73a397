"""Secrets Manager through Powertools Parameters (cached ``max_age`` seconds per container)."""

from __future__ import annotations

import json
from collections.abc import Callable

from aws_lambda_powertools.utilities import parameters

from covers_core.errors import ConfigError

#: What the stack-created secret holds until the operator stores the real key.
PLACEHOLDER_KEY = "SET-ME"


def read_secret(name: str, max_age: int) -> str:
    """A Secrets Manager secret's string, through Powertools' cache (``max_age`` seconds)."""
    value = parameters.get_secret(name, max_age=max_age)
    return value.decode() if isinstance(value, bytes) else str(value)


def api_key_reader(secret: str, max_age: int) -> Callable[[], str]:
    """A callable that returns the vendor API key: the secret's value, or its JSON ``apiKey``."""

    def read() -> str:
        text = read_secret(secret, max_age)
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


def forget_secrets() -> None:
    parameters.clear_caches()
    parameters.base.DEFAULT_PROVIDERS.clear()
