"""Which music task a log line is about, for every line logged while handling it.

The domain code runs ``with task(music_task_id, correlation_id): ...``; a logging filter installed on the
function's log handler (:func:`install`) puts ``musicTaskId`` and ``correlation_id`` on every record made
inside, whichever logger made it. Context variables keep concurrent records (threads) apart."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from contextvars import ContextVar

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

_TASK: ContextVar[tuple[str, str] | None] = ContextVar("covers_task", default=None)


@contextlib.contextmanager
def task(music_task_id: str, correlation_id: str | None = None) -> Iterator[None]:
    token = _TASK.set((music_task_id, correlation_id or music_task_id))
    try:
        yield
    finally:
        _TASK.reset(token)


class TaskFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        current = _TASK.get()
        if current is not None:
            record.musicTaskId, record.correlation_id = current
        return True


def install(handler: logging.Handler) -> None:
    """Add the filter to ``handler`` once."""
    if not any(isinstance(f, TaskFilter) for f in handler.filters):
        handler.addFilter(TaskFilter())


def function_logger() -> Logger:
    """The function's Powertools logger, whose JSON format covers_core's standard-library loggers share,
    with every record about a music task tagged (:func:`task`)."""
    logger = Logger()
    copy_config_to_registered_loggers(source_logger=logger, include={"covers_core"})
    install(logger.registered_handler)
    return logger
