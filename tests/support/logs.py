"""Logging for the tests that look for secrets in logs."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator


@contextlib.contextmanager
def everything_at_debug() -> Iterator[None]:
    """Every logger at DEBUG while inside: the root, botocore, urllib3, Powertools, the handlers'."""
    loggers = [logging.getLogger(), *(logging.getLogger(n) for n in list(logging.root.manager.loggerDict))]
    levels = [(lg, lg.level) for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        for lg, level in levels:
            lg.setLevel(level)
