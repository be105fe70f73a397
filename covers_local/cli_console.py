"""What the ``covers`` commands share: the parser (one-line errors, exit code 2), progress on stderr
(:class:`Console`, :class:`Progress`), the function log file, and argument types."""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import NoReturn, TextIO
from urllib.parse import urlsplit

from covers_core.domain.model import TERMINAL_STATUSES, CoverRecord, Status

#: Where a local run (``covers run``, ``covers demo``, ``covers local-stack``) writes the functions' logs.
LOG_FILE = ".covers-local.log"
#: What a local run reports for a task whose workflow failed (``covers_local.runner.WORKFLOW_FAILED``).
_WORKFLOW_FAILED = "WORKFLOW_FAILED"
#: Statuses that end a task in a local run: terminal ones, BLOCKED (the run stops waiting on it) and a
#: failed workflow.
SETTLED = frozenset({*TERMINAL_STATUSES, Status.BLOCKED, _WORKFLOW_FAILED})
#: Powertools warns (``UserWarning``) each time a handler flushes no metric, which most local invocations
#: do (metrics are disabled locally); on the console, mid-progress, it reads like a problem. That warning
#: alone is silenced in a local run (covers_local/runner.py) and in ``covers invoke``'s handler process.
NO_METRICS_WARNING = "No application metrics to publish"
#: Up to this many tasks, a piped run prints every status change; past it, only each task's outcome.
EVERY_CHANGE_UP_TO = 10


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error (exit code 2) that names the argument and points at ``--help``,
    instead of the usage block. Its subcommands' parsers are of this class too (argparse's default)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions and epilogs as written (the examples keep their lines); each option's default shown
    after its help unless it has none (None, False) or its help already says it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        shown = action.default not in (None, False, argparse.SUPPRESS) and "(default" not in text
        if shown and (action.option_strings or action.nargs in (argparse.OPTIONAL, argparse.ZERO_OR_MORE)):
            text += " (default: %(default)s)"
        return text


def examples(*lines: str) -> str:
    """A subcommand's epilog: its examples, one per line."""
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


class Console:
    """Progress lines on stderr, with elapsed time."""

    def __init__(self, stream: TextIO | None = None, quiet: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.started = time.monotonic()
        self._status_line = ""

    @property
    def is_terminal(self) -> bool:
        isatty = getattr(self.stream, "isatty", None)
        return bool(isatty and isatty())

    def elapsed(self) -> str:
        return f"[{time.monotonic() - self.started:5.1f}s]"

    def say(self, text: str = "") -> None:
        if self.quiet:
            return
        if self._status_line:  # a line said while a status line shows: it goes above, the status line stays
            print("\r\x1b[K" + text, file=self.stream, flush=True)
            self.stream.write(self._status_line)
            self.stream.flush()
            return
        print(text, file=self.stream, flush=True)

    def status(self, text: str) -> None:
        """On a terminal: show ``text`` as the single line updated in place (``""`` clears it)."""
        if self.quiet or not self.is_terminal:
            return
        width = shutil.get_terminal_size((100, 24)).columns - 1
        self._status_line = "\r\x1b[K" + text[:width] if text else ""
        self.stream.write(self._status_line or "\r\x1b[K")
        self.stream.flush()

    def change(self, task: str, old: str | None, new: str, record: CoverRecord | None) -> None:
        self.say(f"{self.elapsed()} {task}: {old or 'new'} -> {new}{_detail(new, record)}")


def _detail(new: str, record: CoverRecord | None) -> str:
    if record is not None and record.error:
        return f"  ({record.error.code})"
    if new == "IN_PROGRESS" and record is not None and record.cover_task_id:
        return f"  (cover task {record.cover_task_id}, polls {record.poll_count})"
    return ""


class Progress:
    """A local run's progress on the console: ``done/total``, the outcomes so far and an ETA.

    On a terminal, one line updated in place (outcomes other than SUCCEEDED are printed above it as they
    happen). Piped (a file, CI), plain lines: each task's outcome with ``done/total``, and with at most
    :data:`EVERY_CHANGE_UP_TO` tasks every status change too. Its :meth:`change` is the runner's
    ``on_change``."""

    def __init__(self, console: Console, task_ids: Iterable[str]) -> None:
        self.console = console
        self.total = len(set(task_ids))
        self.started = time.monotonic()
        self.latest: dict[str, str] = {}
        self.done: dict[str, str] = {}

    def change(self, task: str, old: str | None, new: str, record: CoverRecord | None) -> None:
        self.latest[task] = new
        settled = new in SETTLED and task not in self.done
        if settled:
            self.done[task] = new
        line = f"{self.console.elapsed()} {task}: {old or 'new'} -> {new}{_detail(new, record)}"
        if self.console.is_terminal:
            if settled and new != Status.SUCCEEDED:
                self.console.say(line)
            self.console.status(self.summary())
        elif settled:
            self.console.say(f"{line}  [{self.summary(with_time=False)}]")
        elif self.total <= EVERY_CHANGE_UP_TO:
            self.console.say(line)

    def summary(self, *, with_time: bool = True) -> str:
        """``12/200 done (SUCCEEDED 10, FAILED 2; in flight: IN_PROGRESS 150), ETA 40s``."""
        outcomes = ", ".join(f"{s} {n}" for s, n in sorted(Counter(self.done.values()).items()))
        flying = Counter(s for t, s in self.latest.items() if t not in self.done)
        in_flight = ", ".join(f"{s} {n}" for s, n in sorted(flying.items()))
        parts = "; ".join(p for p in (outcomes, f"in flight: {in_flight}" if in_flight else "") if p)
        text = f"{len(self.done)}/{self.total} done" + (f" ({parts})" if parts else "")
        eta = self.eta()
        if eta is not None:
            text += f", ETA {eta:.0f}s"
        return f"{self.console.elapsed()} {text}" if with_time else text

    def eta(self) -> float | None:
        """Seconds until every task is done at the pace so far (None before the first one)."""
        done = len(self.done)
        if not done or done >= self.total:
            return None
        return (time.monotonic() - self.started) / done * (self.total - done)

    def finish(self) -> None:
        """Clear the status line; say where the run ended."""
        self.console.status("")
        self.console.say(f"{self.console.elapsed()} {self.summary(with_time=False)}")


# --- argument types (argparse ``type=``: a bad value exits 2 with one line naming the flag) -------------


def positive(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from exc
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    return parse


def whole_number(text: str) -> int:
    """A whole number; its bounds are checked where they are defined (a local run's settings)."""
    try:
        return int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from exc


def port(text: str) -> int:
    """A TCP port: 1-65535, or 0 for any free one."""
    value = positive(0)(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"must be a TCP port, 0-65535 (0: any free one), got {value}")
    return value


def fraction(text: str) -> float:
    """A share, 0 to 1."""
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from exc
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def seconds(text: str) -> float:
    """A duration in seconds, >= 0."""
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from exc
    if not value >= 0:  # (also refuses nan)
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def http_url(text: str) -> str:
    """An http(s) URL with a host."""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(
            f"must be an http(s) URL like http://127.0.0.1:8787/api, got {text!r}"
        )
    try:
        parts.port  # noqa: B018 - raises on a port out of range
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"bad port in {text!r}: {exc}") from exc
    return text


def readable_file(text: str) -> Path:
    """A file that exists and can be read."""
    path = Path(text)
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"cannot read {text}: {exc.strerror or exc}") from exc
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"not a file: {text}")
    return path


def choices_of(known: Iterable[str]) -> Callable[[str], tuple[str, ...]]:
    """A comma-separated list of some of ``known`` (at least one)."""
    allowed = tuple(known)

    def parse(text: str) -> tuple[str, ...]:
        kinds = tuple(k.strip() for k in text.split(",") if k.strip())
        unknown = sorted(set(kinds) - set(allowed))
        if unknown or not kinds:
            raise argparse.ArgumentTypeError(
                f"unknown {', '.join(unknown) or '(none given)'}; choose from {', '.join(allowed)}"
            )
        return kinds

    return parse


def help_walk(parser: argparse.ArgumentParser) -> Iterable[tuple[str, argparse.ArgumentParser]]:
    """``(prog, parser)`` for ``parser`` and each subcommand's parser (the ``covers`` tree)."""
    yield parser.prog, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):  # (aliases share a parser)
                yield from help_walk(sub)


def tree_formatter(parser: argparse.ArgumentParser) -> None:
    """Every parser of the tree shows its defaults and keeps its examples' lines (:class:`HelpFormatter`)."""
    for _, each in help_walk(parser):
        each.formatter_class = HelpFormatter
