"""Secrets Manager through Powertools Parameters (cached ``max_age`` seconds per container), on a client
that registers every secret value for redaction before botocore can log it."""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

from aws_lambda_powertools.utilities import parameters

from covers_core import redaction
from covers_core.adapters.aws import client
from covers_core.errors import ConfigError

#: What the stack-created secret holds until the operator stores the real key.
PLACEHOLDER_KEY = "SET-ME"


#: A JSON string token: in a JSON text, the matches of this, scanned from the start, are its strings.
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)


def secrets_client() -> Any:
    """The container's Secrets Manager client (at the endpoint override, as every other client), with
    the secret values it receives or sends registered for redaction before botocore logs them.

    botocore logs a response body at DEBUG (``botocore.parsers``, "Response body") as it parses it,
    right after its ``before-parse`` event, and a request's parameters (``botocore.endpoint``, "Making
    request") after its ``before-parameter-build`` event: handlers on those two events see every value
    first. Registering after the call returns would be too late for the first read of each secret."""
    return redacting(client("secretsmanager"))


def redacting(sm: Any) -> Any:
    """``sm``, a Secrets Manager client, with every secret value it receives or sends registered for
    redaction before botocore can log it (see :func:`secrets_client`); for clients made elsewhere (the
    operator's commands pick their own region)."""
    events = sm.meta.events
    events.register("before-parse.secrets-manager", _register_response, unique_id="covers-redact-response")
    events.register(
        "before-parameter-build.secrets-manager", _register_request, unique_id="covers-redact-request"
    )
    return sm


def _register_response(response_dict: dict[str, Any] | None = None, **_: Any) -> None:
    body = (response_dict or {}).get("body")
    if not isinstance(body, bytes) or not body:
        return
    try:
        text = body.decode("utf-8")
        document = json.loads(text)
    except (ValueError, RecursionError):
        return  # not a JSON answer (an error page): it holds no secret value
    values = set(_secret_values(document))
    shown: dict[str, list[str]] = {value: [] for value in values}
    for token in _JSON_STRING.finditer(text):  # each value exactly as this body spells it
        try:
            decoded = json.loads(token.group())
        except ValueError:
            continue
        if isinstance(decoded, str) and decoded in shown:
            shown[decoded].append(token.group()[1:-1])
    for value in values:
        redaction.register_text(value, *shown[value])


def _register_request(params: dict[str, Any] | None = None, **_: Any) -> None:
    for value in _secret_values(params or {}):
        redaction.register_text(value)


def _secret_values(document: object) -> Iterator[str]:
    """The ``SecretString`` and ``SecretBinary`` values anywhere in a request or a response (one
    secret's, or a batch's)."""
    if isinstance(document, list):
        for item in document:
            yield from _secret_values(item)
    if not isinstance(document, dict):
        return
    for key, value in document.items():
        if key == "SecretString" and isinstance(value, str):
            yield value
        elif key == "SecretBinary":
            yield from _binary_texts(value)
        else:
            yield from _secret_values(value)


def _binary_texts(value: object) -> Iterator[str]:
    """A binary secret as a log line may show it: its base64 (as JSON carries it), and its bytes
    decoded, when they are UTF-8 (as ``read_secret`` reads them)."""
    if isinstance(value, str):  # a response: base64
        yield value
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return
    elif isinstance(value, bytes):  # a request's parameter
        raw = value
        yield base64.b64encode(raw).decode()
    else:
        return
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        return
    yield text


@functools.cache
def _provider() -> parameters.SecretsProvider:
    """The container's Powertools provider, on the container's Secrets Manager client."""
    return parameters.SecretsProvider(boto3_client=secrets_client())


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
        self._previous_provider = parameters.SecretsProvider(boto3_client=secrets_client())
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
