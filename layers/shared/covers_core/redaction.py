"""Secrets never reach a log line, whatever logger writes it and at whatever level.

botocore at DEBUG prints whole responses, GetSecretValue's included. Every secret value the pipeline
reads is registered here; a log record factory (installed once, on the first registration) replaces each
registered value in a record's message with ``***`` before any handler sees it. Records are only created
for enabled levels, so this costs nothing at the usual INFO."""

from __future__ import annotations

import logging
import threading
from typing import Any

REDACTED = "***"
_SECRETS: set[str] = set()
_LOCK = threading.Lock()
_FACTORY: list[object] = []  # the installed record factory (installed once)
_MIN_LENGTH = 6  # shorter values would redact ordinary words


def register(secret: str) -> None:
    """Redact ``secret`` from every log record from now on."""
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


def _scrub(record: logging.LogRecord) -> logging.LogRecord:
    if not _SECRETS:
        return record
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a malformed record is logging's own business
        return record
    scrubbed = message
    for secret in tuple(_SECRETS):
        scrubbed = scrubbed.replace(secret, REDACTED)
    if scrubbed != message:
        record.msg, record.args = scrubbed, None
    return record
