"""What the ``covers`` commands share: progress lines on stderr (:class:`Console`), the function log file,
and argument types."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any, TextIO

from covers_core.domain.model import CoverRecord

#: Where a local run (``covers run``, ``covers demo``, ``covers local-stack``) writes the functions' logs.
LOG_FILE = ".covers-local.log"


class Console:
    """Progress lines on stderr, with elapsed time."""

    def __init__(self, stream: TextIO | None = None, quiet: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.started = time.monotonic()

    def say(self, text: str = "") -> None:
        if not self.quiet:
            print(text, file=self.stream, flush=True)

    def change(self, task: str, old: str | None, new: str, record: CoverRecord | None) -> None:
        detail = ""
        if record is not None and record.error:
            detail = f"  ({record.error.code})"
        elif new == "IN_PROGRESS" and record is not None and record.cover_task_id:
            detail = f"  (cover task {record.cover_task_id}, polls {record.poll_count})"
        self.say(f"[{time.monotonic() - self.started:5.1f}s] {task}: {old or 'new'} -> {new}{detail}")


def positive(minimum: int) -> Any:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from exc
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}")
        return value

    return parse
