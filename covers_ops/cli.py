"""The ``covers`` subcommands that operate a deployed stack: ``submit``, ``status``, ``redrive``, ``list``,
``resume``, ``doctor``, ``budget``, ``backfill``, ``report`` (the operations themselves:
:mod:`covers_ops.deployed`, :mod:`covers_ops.doctor`, and a module each for the last three).
:func:`add_commands` registers them on the ``covers`` parser, which ``covers_local/cli.py`` composes with
the local commands.

Human output goes to stderr; ``--json`` output (and nothing else) to stdout. ``covers list`` prints its
result (one line per cover) on stdout, its progress on stderr; ``covers doctor`` its findings (one line per
check) on stdout, its summary on stderr."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from covers_core.domain.events import public_view
from covers_core.domain.model import Status, parse_iso
from covers_core.domain.requests import request_from_mapping
from covers_core.errors import BadRequestError

from covers_ops import backfill, budget, deployed, doctor, report
from covers_ops.deployed import CommandError


def music_task_id(text: str) -> str:
    """An argparse ``type``: a music task id the pipeline accepts (docs/contracts.md), else exit 2."""
    try:
        request_from_mapping({"musicTaskId": text})
    except BadRequestError as exc:
        raise argparse.ArgumentTypeError(f"invalid music task id {text!r}: {exc.message}") from exc
    return text


def _target(args: argparse.Namespace) -> deployed.Target:
    """The stack's resources, once a region is known: ``--region``, else the AWS configuration
    (``AWS_DEFAULT_REGION``, a profile's region), else ``AWS_REGION`` (which boto3 alone does not read)."""
    args.region = deployed.region(args.region)
    return deployed.resolve(args)


def cmd_submit(args: argparse.Namespace) -> int:
    target = _target(args)
    sent = deployed.submit(target, args.music_task_ids, correlation_id=args.correlation_id)
    for task_id, message_id in sent:
        print(f"submitted {task_id} (message {message_id})", file=sys.stderr)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    target = _target(args)
    record = deployed.status(target, args.music_task_id)
    if record is None:
        raise CommandError(f"no record for music task {args.music_task_id}")
    json.dump(public_view(record), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


def cmd_redrive(args: argparse.Namespace) -> int:
    target = _target(args)
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
LIST_DEFAULT_STATUSES = (Status.NEEDS_ATTENTION, Status.TIMED_OUT, Status.BLOCKED, Status.BUDGET_EXCEEDED)
LIST_PROGRESS_EVERY = 500


def cmd_list(args: argparse.Namespace) -> int:
    target = _target(args)
    statuses = args.status or list(LIST_DEFAULT_STATUSES)
    found = []
    n = 0
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
    if n == 0:  # said on stderr: a pipe gets nothing
        since = f" updated since {args.since.isoformat()}" if args.since else ""
        print(f"0 covers in {', '.join(dict.fromkeys(statuses))}{since}", file=sys.stderr)
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    target = _target(args)
    done = deployed.resume(target, args.music_task_id, args.cover_task_id)
    adopted = f" (adopted cover task {done.record.cover_task_id})" if done.adopted else ""
    print(
        f"resumed {done.music_task_id}: {done.previous} -> {done.record.status}{adopted}; "
        f"execution {done.execution_arn}",
        file=sys.stderr,
    )
    return 0


DOCTOR_HELP = """Check a deployed stack the way an on-call engineer would: one line per check, OK, WARN
(look at it: the stack works) or FAIL (broken, or waiting for a person), each WARN and FAIL with its fix.
Checks: the vendor API key secret (never printed), the alarm topic's confirmed subscriptions, the dead-letter
queues, covers IN_PROGRESS past their deadline, the account's Lambda concurrency and Step Functions quotas
against the stack's settings, the reconciler's last run. Exit code: 0 when no check FAILs (WARNs alone exit
0), 1 when any does, 2 for bad arguments (no region, no such stack)."""


def cmd_doctor(args: argparse.Namespace) -> int:
    region = deployed.region(args.region)
    stack = deployed.describe_stack(args.stack, region)  # StackMissing: a UsageError, exit 2
    findings = doctor.diagnose(stack)
    worst = doctor.worst(findings)
    if args.json:
        report = {"stack": stack.name, "region": region, "result": worst.value}
        json.dump(report | {"checks": [f.as_dict() for f in findings]}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for finding in findings:
            print(finding.line(), flush=True)
        counts = ", ".join(f"{sum(f.level is level for f in findings)} {level}" for level in doctor.Level)
        print(f"{stack.name} ({region}): {counts}", file=sys.stderr)
    return 1 if worst is doctor.Level.FAIL else 0


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


#: Each operator command: (name, function, the stack's resources it reads (keys of deployed.OUTPUTS), one-line
#: help, description, examples for the epilog).
_COMMANDS = (
    (
        "submit",
        cmd_submit,
        ("queue_url",),
        "send music tasks to a deployed stack's queue",
        "Queue one cover request per music task on a deployed stack (every id is checked before any is "
        "sent). The stack makes the covers; read them with `covers status` or the status API.",
        [
            "covers submit --stack covers gen123 gen456",
            "covers submit --stack covers --correlation-id c1 gen123",
        ],
    ),
    (
        "status",
        cmd_status,
        ("table",),
        "print a music task's record from a deployed stack",
        "Print a music task's record (its public view, as the status API gives it) as JSON on stdout. "
        "Exit code 1 if the stack has no record of it.",
        [
            "covers status --stack covers gen123",
            "AWS_ENDPOINT_URL=http://127.0.0.1:5050 AWS_DEFAULT_REGION=us-east-1 "
            "covers status --stack covers-local my-track-1",
        ],
    ),
    (
        "redrive",
        cmd_redrive,
        ("queue_url", "dlq_url"),
        "move a deployed stack's DLQ messages back to its queue",
        "Move the dead-letter queue's messages back to the cover requests queue (after a recharge or a key "
        "fix), each with its original body. Messages rejected as bad input stay unless --include-rejected.",
        ["covers redrive --stack covers", "covers redrive --stack covers --max 100 --include-rejected"],
    ),
    (
        "list",
        cmd_list,
        ("table",),
        "list a deployed stack's covers by status",
        "List a deployed stack's covers by status, one tab-separated line per cover on stdout (music task, "
        "status, updated at, error code, cover task): open ones through the byOpen index; SUCCEEDED, FAILED "
        "and REJECTED by a scan of the table.",
        [
            "covers list --stack covers",
            "covers list --stack covers --status TIMED_OUT --since 2026-11-01T00:00:00Z --json",
        ],
    ),
    (
        "resume",
        cmd_resume,
        ("table", "workflow_arn"),
        "restart the poll workflow of a TIMED_OUT, NEEDS_ATTENTION or stranded IN_PROGRESS cover",
        "Put a cover the vendor already accepted back on the poll workflow (no new credit is spent): a "
        "TIMED_OUT or NEEDS_ATTENTION cover (one without a cover task id, COVER_TASK_ID_LOST, with "
        "--cover-task-id), or an IN_PROGRESS cover whose workflow execution has ended (stranded) or whose "
        "last resume never started its workflow. Everything else is refused: SUCCEEDED, FAILED and "
        "REJECTED are final; GENERATING, BLOCKED and IN_PROGRESS with its workflow running are the "
        "pipeline's.",
        [
            "covers resume --stack covers gen123",
            "covers resume --stack covers --cover-task-id cover3f1288e5d24629e87bcf gen123",
        ],
    ),
)


def add_commands(sub: Any) -> None:
    for name, func, resources, text, description, examples in _COMMANDS:
        p = sub.add_parser(
            name, help=text, description=description, epilog="examples:\n  " + "\n  ".join(examples)
        )
        deployed.add_target_arguments(p, resources)
        _arguments(p, name)
        p.set_defaults(func=func)
    doctor_examples = [
        "covers doctor --stack covers",
        "covers doctor --stack covers --region eu-west-1 --json",
    ]
    _doctor_arguments(
        sub.add_parser(
            "doctor",
            help="check a deployed stack",
            description=DOCTOR_HELP,
            epilog="examples:\n  " + "\n  ".join(doctor_examples),
        )
    )
    budget.add_command(sub)  # `covers budget` (covers_ops/budget.py)
    backfill.add_command(sub)  # `covers backfill` (covers_ops/backfill.py)
    report.add_command(sub)  # `covers report` (covers_ops/report.py)


def _doctor_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stack", required=True, help="CloudFormation stack name")
    p.add_argument("--region", help="AWS region (default: your AWS configuration)")
    p.add_argument("--json", action="store_true", help="print the findings as one JSON object on stdout")
    p.set_defaults(func=cmd_doctor)


def _arguments(p: argparse.ArgumentParser, name: str) -> None:
    if name == "submit":
        p.add_argument(
            "music_task_ids", nargs="+", metavar="MUSIC_TASK_ID", type=music_task_id, help="music task ids"
        )
        p.add_argument("--correlation-id", help="correlation id carried by each request and its event")
    elif name == "status":
        p.add_argument("music_task_id", metavar="MUSIC_TASK_ID", type=music_task_id, help="music task id")
    elif name == "list":
        p.add_argument(
            "--status",
            type=_status,
            action="append",
            help="list covers in this status; repeatable (default: " + ", ".join(LIST_DEFAULT_STATUSES) + ")",
        )
        p.add_argument("--since", type=_since, help="only records updated at or after this ISO time")
        p.add_argument("--json", action="store_true", help="print one JSON array on stdout")
    elif name == "resume":
        p.add_argument("music_task_id", metavar="MUSIC_TASK_ID", type=music_task_id, help="music task id")
        p.add_argument(
            "--cover-task-id",
            help="adopt this cover task (found in the vendor dashboard) for a COVER_TASK_ID_LOST record",
        )
    else:
        p.add_argument(
            "--include-rejected", action="store_true", help="also move messages rejected as bad input"
        )
        p.add_argument("--max", type=_at_least_one, default=10_000, help="move at most this many")


def _at_least_one(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from exc
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value
