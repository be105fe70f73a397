"""Secrets never reach a log line, whatever logger writes it and at whatever level.

botocore at DEBUG prints whole responses, GetSecretValue's included. Every secret value the pipeline
reads is registered here (by the Secrets Manager client itself, before botocore logs the response: see
``covers_core.adapters.secrets``); a log record factory (installed once, on the first registration)
replaces each registered value in a record's message with ``***`` before any handler sees it. Records
are only created for enabled levels, so this costs nothing at the usual INFO.

A value is registered with the forms a log line may show it in: inside a JSON string (escaped), and as
``repr`` shows the bytes of those (botocore's "Response body" line)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

REDACTED = "***"
_SECRETS: set[str] = set()
_LOCK = threading.Lock()
_FACTORY: list[object] = []  # the installed record factory (installed once)
_MIN_LENGTH = 6  # shorter values would redact ordinary words


def register(secret: str) -> None:
    """Redact ``secret`` from every log record from now on (exactly this text)."""
    if len(secret) < _MIN_LENGTH:
        return
    with _LOCK:
        _SECRETS.add(secret)
        if not _FACTORY:
            previous = logging.getLogRecordFactory()

            def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
                return _scrub(previous(*args, **kwargs))

            logging.setLogRecordFactory(factory)
            _FACTORY.append(factory)


def register_text(secret: str, *shown: str) -> None:
    """Redact ``secret`` in every form a log line may carry it: as is, JSON-escaped (ASCII or not), and
    as ``repr`` shows the UTF-8 bytes of each; when ``secret`` is itself a JSON document (an API key
    secret may be ``{"apiKey": ...}``), every string in it too, in the same forms, escaped once more
    (a response body holds the document as a JSON string). ``shown``: the secret exactly as a
    particular document spells it (a JSON string's inside, with that writer's escapes), registered
    with its ``repr`` form too."""
    forms = _json_forms(secret)
    for value in _strings(_json_document(secret)):
        forms.update(twice for once in _json_forms(value) for twice in _json_forms(once))
    forms.update(shown)
    for form in forms | {bytes_repr(form) for form in forms}:
        register(form)


def bytes_repr(text: str) -> str:
    """``text`` as the ``repr`` of a bytes object holding it shows it (without the quotes). A JSON
    body always holds a double quote, so ``repr`` quotes it with apostrophes and escapes those."""
    return repr(b'"' + text.encode("utf-8", "surrogatepass"))[3:-1]


def _json_forms(text: str) -> set[str]:
    return {text, json.dumps(text)[1:-1], json.dumps(text, ensure_ascii=False)[1:-1]}


def _json_document(text: str) -> object:
    if not text.lstrip().startswith(("{", "[")):
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _strings(document: object) -> Iterator[str]:
    """Every string value (not key) in a decoded JSON document."""
    if isinstance(document, str):
        yield document
    elif isinstance(document, dict):
        for value in document.values():
            yield from _strings(value)
    elif isinstance(document, list):
        for item in document:
            yield from _strings(item)


def _scrub(record: logging.LogRecord) -> logging.LogRecord:
    if not _SECRETS:
        return record
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a malformed record is logging's own business
        return record
    with _LOCK:  # the longest first: a form that contains another is replaced whole
        secrets = sorted(_SECRETS, key=len, reverse=True)
    scrubbed = message
    for secret in secrets:
        scrubbed = scrubbed.replace(secret, REDACTED)
    if scrubbed != message:
        record.msg, record.args = scrubbed, None
    return record
