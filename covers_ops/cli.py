"""The ``covers`` subcommands that operate a deployed stack: ``submit``, ``status``, ``redrive``, ``list``,
``resume`` (the operations themselves: :mod:`covers_ops.deployed`). :func:`add_commands` registers them
on the ``covers`` parser, which ``covers_local/cli.py`` composes with the local commands.

Human output goes to stderr; ``--json`` output (and nothing else) to stdout. ``covers list`` prints its
result (one line per cover) on stdout, its progress on stderr."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from covers_core.domain.events import public_view
from covers_core.domain.model import Status, parse_iso

from covers_ops import budget, deployed
from covers_ops.deployed import CommandError


def cmd_submit(args: argparse.Namespace) -> int:
    target = deployed.resolve(args)
    sent = deployed.submit(target, args.music_task_ids, correlation_id=args.correlation_id)
    for task_id, message_id in sent:
        print(f"submitted {task_id} (message {message_id})", file=sys.stderr)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    target = deployed.resolve(args)
    record = deployed.status(target, args.music_task_id)
    if record is None:
        raise CommandError(f"no record for music task {args.music_task_id}")
    json.dump(public_view(record), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


def cmd_redrive(args: argparse.Namespace) -> int:
    target = deployed.resolve(args)
    moved, kept = deployed.redrive(
        target,
        include_rejected=args.include_rejected,
        limit=args.max,
        progress=lambda n: print(f"moved {n} message(s)...", file=sys.stderr),
        unsendable=lambda message_id, why: print(
            f"left DLQ message {message_id} where it is: {why} (read it with its bodyEncoding attribute)",
            file=sys.stderr,
        ),
    )
    print(
        f"moved {moved} message(s) back to the cover requests queue; left {kept} rejected as bad input "
        f"in the DLQ" + ("" if args.include_rejected else " (--include-rejected moves them too)"),
        file=sys.stderr,
    )
    return 0


#: What ``covers list`` shows without ``--status``: the records an operator may have to act on.
LIST_DEFAULT_STATUSES = (Status.NEEDS_ATTENTION, Status.TIMED_OUT, Status.BLOCKED)
LIST_PROGRESS_EVERY = 500


def cmd_list(args: argparse.Namespace) -> int:
    target = deployed.resolve(args)
    statuses = args.status or list(LIST_DEFAULT_STATUSES)
    found = []
    for n, record in enumerate(deployed.list_by_status(target, statuses, args.since), start=1):
        if args.json:
            found.append(
                {
                    "musicTaskId": record.music_task_id,
                    "status": record.status.value,
                    "updatedAt": record.updated_at,
                    "error": record.error.as_dict() if record.error else None,
                    "coverTaskId": record.cover_task_id,
                }
            )
        else:
            error = record.error.code if record.error else "-"
            print(
                f"{record.music_task_id}\t{record.status}\t{record.updated_at}\t{error}\t"
                f"{record.cover_task_id or '-'}",
                flush=True,
            )
        if n % LIST_PROGRESS_EVERY == 0:
            print(f"listed {n} cover(s)...", file=sys.stderr, flush=True)
    if args.json:
        json.dump(found, sys.stdout, indent=2)
        sys.stdout.write("\n")
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    target = deployed.resolve(args)
    done = deployed.resume(target, args.music_task_id, args.cover_task_id)
    adopted = f" (adopted cover task {done.record.cover_task_id})" if done.adopted else ""
    print(
        f"resumed {done.music_task_id}: {done.previous} -> {done.record.status}{adopted}; "
        f"execution {done.execution_arn}",
        file=sys.stderr,
    )
    return 0


def _since(text: str) -> Any:
    try:
        return parse_iso(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time (2026-11-01T00:00:00Z): {text!r}") from exc


def _status(text: str) -> Status:
    try:
        return Status(text.upper())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"unknown status {text!r}; one of {', '.join(Status)}") from exc


def add_commands(sub: Any) -> None:
    for name, func, text in (
        ("submit", cmd_submit, "send music tasks to a deployed stack's queue"),
        ("status", cmd_status, "print a music task's record from a deployed stack"),
        ("redrive", cmd_redrive, "move a deployed stack's DLQ messages back to its queue"),
        (
            "list",
            cmd_list,
            "list a deployed stack's covers by status (open ones through the byOpen index; SUCCEEDED, "
            "FAILED and REJECTED by a scan of the table)",
        ),
        ("resume", cmd_resume, "restart the poll workflow of a TIMED_OUT / NEEDS_ATTENTION cover"),
    ):
        p = sub.add_parser(name, help=text)
        deployed.add_target_arguments(p)
        _arguments(p, name)
        p.set_defaults(func=func)
    budget.add_command(sub)  # `covers budget` (covers_ops/budget.py)


def _arguments(p: argparse.ArgumentParser, name: str) -> None:
    if name == "submit":
        p.add_argument("music_task_ids", nargs="+", metavar="MUSIC_TASK_ID")
        p.add_argument("--correlation-id")
    elif name == "status":
        p.add_argument("music_task_id", metavar="MUSIC_TASK_ID")
    elif name == "list":
        p.add_argument(
            "--status",
            type=_status,
            action="append",
            help="repeatable (default: " + ", ".join(LIST_DEFAULT_STATUSES) + ")",
        )
        p.add_argument("--since", type=_since, help="only records updated at or after this ISO time")
        p.add_argument("--json", action="store_true", help="print one JSON array on stdout")
    elif name == "resume":
        p.add_argument("music_task_id", metavar="MUSIC_TASK_ID")
        p.add_argument(
            "--cover-task-id",
            help="adopt this cover task (found in the vendor dashboard) for a COVER_TASK_ID_LOST record",
        )
    else:
        p.add_argument(
            "--include-rejected", action="store_true", help="also move messages rejected as bad input"
        )
        p.add_argument("--max", type=int, default=10_000, help="move at most this many")
