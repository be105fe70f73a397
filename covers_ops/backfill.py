"""``covers backfill``: send a catalogue of music tasks to a deployed stack at a steady rate, within a credit
budget, resumable after Ctrl-C (docs/operations.md, "Backfilling a catalogue"). Registered by
``covers_ops/cli.py``.

The catalogue is CSV (a header naming ``musicTaskId``, other columns becoming metadata; or one id per line,
no header) or JSON Lines (request objects), ``-`` for stdin. Every line is checked with the pipeline's own
request parser (``covers_core.domain.requests``) before anything is sent. Ids the covers table already
holds, or that an earlier run sent (the state file), are skipped: a re-run sends nothing twice."""

from __future__ import annotations

import argparse
import contextlib
import csv
import functools
import json
import math
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from covers_core.domain.model import CoverRequest, Status
from covers_core.domain.requests import REQUEST_FIELDS, parse_request, request_from_mapping
from covers_core.errors import BadRequestError

from covers_ops import backfill_map, deployed
from covers_ops.deployed import CommandError, UsageError

#: The AWS cost of one cover, in USD per 1M covers: the STANDARD workflow with the template's defaults at
#: 11.6 covers/s, lognormal vendor (docs/performance.md, the load tables; docs/figures/bench.json).
#: tests/unit/test_backfill_plan.py checks it against that JSON so it cannot drift. Vendor credits are
#: billed by the vendor and are not in it.
AWS_USD_PER_MILLION_COVERS = 153.74
#: The performance run that figure comes from (the keys of docs/figures/bench.json).
COST_SOURCE = ("STANDARD (template defaults)", "lognormal(45s, 0.5)", 11.6)
#: The state file next to the catalogue unless ``--state`` says otherwise.
STATE_SUFFIX = ".backfill-state.json"
STATE_VERSION = 1
#: Invalid lines listed one by one; past this many, a count.
LISTED_INVALID = 20
#: Attempts at the requests SQS did not take in a batch before the run stops (a re-run sends them).
SEND_ATTEMPTS = 3

(ID_KEY, *OTHER_ID_KEYS) = REQUEST_FIELDS["music_task_id"]
(CORRELATION_ID_KEY,) = REQUEST_FIELDS["correlation_id"]
(METADATA_KEY,) = REQUEST_FIELDS["metadata"]


# --- the catalogue -------------------------------------------------------------------------------------


@dataclass
class Catalogue:
    """The valid requests of a catalogue (the first line of each music task), its invalid lines (line
    number, reason) and how many lines repeated a music task already read."""

    requests: list[CoverRequest] = field(default_factory=list)
    invalid: list[tuple[int, str]] = field(default_factory=list)
    duplicates: int = 0
    kind: str = "ids"

    def add(self, number: int, request_of: Callable[[Any], CoverRequest], line: Any, seen: set[str]) -> None:
        """Add line ``number``'s request (``request_of(line)``), or the reason it is invalid."""
        try:
            request = request_of(line)
        except BadRequestError as exc:
            self.invalid.append((number, exc.message))
            return
        if request.music_task_id in seen:
            self.duplicates += 1
            return
        seen.add(request.music_task_id)
        self.requests.append(request)


def read_catalogue(text: str) -> Catalogue:
    """Parse a catalogue: JSON Lines when its first non-blank line is an object, CSV with a header when that
    line names ``musicTaskId`` (or ``taskId``/``workId``), else one music task id per line. Blank lines are
    skipped; line numbers count every line from 1."""
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    first = next((line.strip() for line in lines if line.strip()), "")
    if first.startswith("{"):
        return _json_lines(lines)
    header = [cell.strip() for cell in next(csv.reader([first]))]
    if any(key in header for key in (ID_KEY, *OTHER_ID_KEYS)):
        return _csv(text)
    catalogue, seen = Catalogue(kind="ids"), set[str]()
    for number, line in enumerate(lines, start=1):
        if line.strip():
            catalogue.add(number, _id_line, line.strip(), seen)
    return catalogue


def _id_line(music_task_id: str) -> CoverRequest:
    return request_from_mapping({ID_KEY: music_task_id})


def _json_lines(lines: Sequence[str]) -> Catalogue:
    catalogue, seen = Catalogue(kind="JSON Lines"), set[str]()
    for number, line in enumerate(lines, start=1):
        if line.strip():
            catalogue.add(number, parse_request, line, seen)  # the queue's own parser
    return catalogue


def _csv(text: str) -> Catalogue:
    """CSV with a header: the id column, ``correlationId`` as the correlation id, every other column as
    metadata (text; an empty cell is left out)."""
    catalogue, seen = Catalogue(kind="CSV"), set[str]()
    rows = csv.reader(text.splitlines(keepends=True))
    header: list[str] | None = None
    for row in rows:
        if not any(cell.strip() for cell in row):
            continue
        if header is None:
            header = [cell.strip() for cell in row]
            continue
        catalogue.add(rows.line_num, functools.partial(_row_request, header), row, seen)
    return catalogue


def _row_request(header: list[str], row: list[str]) -> CoverRequest:
    if len(row) > len(header):
        raise BadRequestError(f"{len(row)} cells, the header names {len(header)} columns")
    doc: dict[str, Any] = {}
    metadata: dict[str, str] = {}
    for name, cell in zip(header, row, strict=False):
        if name in (ID_KEY, *OTHER_ID_KEYS, CORRELATION_ID_KEY):
            doc[name] = cell.strip() or None
        elif cell != "":
            metadata[name] = cell
    return request_from_mapping(doc | {METADATA_KEY: metadata})


# --- the plan ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """What a run will do with a catalogue's requests."""

    to_send: list[CoverRequest]
    existing: Mapping[str, Status]  # skipped: the covers table has a record
    already_sent: int  # skipped: an earlier run sent them (the state file)
    held_back: int  # new, beyond --max-credits: left for a later run

    @property
    def credits(self) -> int:
        """At most one generate call (one vendor credit) per new music task: the pipeline never pays twice
        for a music task (docs/contracts.md)."""
        return len(self.to_send)

    @property
    def aws_usd(self) -> float:
        return self.credits * AWS_USD_PER_MILLION_COVERS / 1_000_000


def make_plan(
    requests: Sequence[CoverRequest],
    existing: Mapping[str, Status],
    already_sent: Iterable[str],
    max_credits: int | None = None,
) -> Plan:
    sent = set(already_sent)
    new = [r for r in requests if r.music_task_id not in sent and r.music_task_id not in existing]
    taken = new if max_credits is None else new[:max_credits]
    return Plan(
        to_send=taken,
        existing={
            r.music_task_id: existing[r.music_task_id] for r in requests if r.music_task_id in existing
        },
        already_sent=sum(1 for r in requests if r.music_task_id in sent and r.music_task_id not in existing),
        held_back=len(new) - len(taken),
    )


def plan_lines(catalogue: Catalogue, plan: Plan, rate: float) -> list[str]:
    """The dry run's summary (also printed before a real run)."""
    statuses = Counter(plan.existing.values())
    by_status = ", ".join(f"{s} {n}" for s, n in sorted(statuses.items()))
    lines = [
        f"catalogue ({catalogue.kind}): {len(catalogue.requests)} music task(s), "
        f"{len(catalogue.invalid)} invalid line(s), {catalogue.duplicates} duplicate(s)",
        f"skipped: {len(plan.existing)} already have a record"
        + (f" ({by_status})" if by_status else "")
        + f", {plan.already_sent} sent by an earlier run (no credit for either)",
        f"new: {plan.credits} to send -> at most {plan.credits} credit(s), about ${plan.aws_usd:.2f} of AWS "
        f"(${AWS_USD_PER_MILLION_COVERS} per 1M covers, docs/performance.md), "
        f"{duration(plan.credits / rate)} at {rate:g}/s",
    ]
    if plan.held_back:
        lines.append(f"held back by --max-credits: {plan.held_back} new (a later run sends them)")
    return lines


def duration(seconds: float) -> str:
    seconds = math.ceil(seconds)
    hours, rest = divmod(seconds, 3600)
    return (f"{hours}h" if hours else "") + (f"{rest // 60}m" if seconds >= 60 else "") + f"{rest % 60}s"


# --- the state file ------------------------------------------------------------------------------------


class State:
    """The music tasks a run sent to ``stack``, rewritten after each batch (a temporary file, then
    ``os.replace``: a crash leaves the old state or the new one, never half of one)."""

    def __init__(self, path: Path, stack: str, sent: Iterable[str] = ()) -> None:
        self.path, self.stack = path, stack
        self.sent: dict[str, None] = dict.fromkeys(sent)  # a set that keeps the order sent

    @classmethod
    def load(cls, path: Path, stack: str) -> State:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls(path, stack)
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot read the state file {path} (--state): {exc}") from exc
        if not isinstance(doc, dict) or not isinstance(doc.get("sent"), list):
            raise UsageError(f"{path} (--state) is not a backfill state file")
        if doc.get("stack") != stack:
            raise UsageError(
                f"the state file {path} is of stack {doc.get('stack')!r}, not {stack!r}: pass --state"
            )
        return cls(path, stack, (str(t) for t in doc["sent"]))

    def add(self, music_task_ids: Iterable[str]) -> None:
        self.sent.update(dict.fromkeys(music_task_ids))

    def save(self) -> None:
        doc = {"version": STATE_VERSION, "stack": self.stack, "sent": list(self.sent)}
        temporary = self.path.with_name(self.path.name + ".tmp")
        try:
            temporary.write_text(json.dumps(doc, indent=0) + "\n", encoding="utf-8")
            temporary.replace(self.path)  # atomic (os.replace)
        except OSError as exc:
            raise CommandError(f"cannot write the state file {self.path}: {exc}") from exc


# --- sending -------------------------------------------------------------------------------------------

#: The clock and the sleep of a run (tests replace them: no real waiting).
clock: Callable[[], float] = time.monotonic
sleep: Callable[[float], None] = time.sleep


@contextlib.contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Ctrl-C (SIGINT) inside the block waits until its end: a batch's send and its bookkeeping finish
    together. Outside the main thread (no signals there) the block runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, _frame: pending.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)
    if pending:
        raise KeyboardInterrupt


class Progress:
    """``done/total`` (skipped included), sent, skipped and the ETA on ``stream``: one line updated in place
    on a terminal; piped, a plain line every tenth of the run and at its end."""

    def __init__(self, stream: TextIO, total: int, skipped: int, to_send: int, rate: float) -> None:
        self.stream, self.total, self.skipped, self.to_send, self.rate = stream, total, skipped, to_send, rate
        self.terminal = bool(getattr(stream, "isatty", None) and stream.isatty())
        self.started = clock()
        self.step = max(1, to_send // 10)
        self.shown = 0

    def line(self, sent: int) -> str:
        elapsed = clock() - self.started
        pace = max(1 / self.rate, elapsed / sent if sent else 0)
        eta = duration((self.to_send - sent) * pace)
        done = self.skipped + sent
        return f"backfill: {done}/{self.total} done (sent {sent}, skipped {self.skipped}), ETA {eta}"

    def update(self, sent: int) -> None:
        if self.terminal:
            self.stream.write("\r\x1b[K" + self.line(sent))
            self.stream.flush()
        elif sent - self.shown >= self.step or sent == self.to_send:
            self.shown = sent
            print(self.line(sent), file=self.stream, flush=True)

    def finish(self) -> None:
        if self.terminal:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def send_all(
    target: deployed.Target,
    requests: Sequence[CoverRequest],
    state: State,
    rate: float,
    progress: Progress,
) -> int:
    """Send ``requests`` in batches of up to 10, paced so that the run averages ``rate`` per second, each
    batch's ids saved in ``state`` before the next one goes. Returns how many were sent."""
    started = clock()
    sent = 0
    size = deployed.SEND_BATCH_SIZE
    for first in range(0, len(requests), size):
        wait = started + sent / rate - clock()
        if wait > 0:
            sleep(wait)
        batch = list(requests[first : first + size])
        with interrupts_deferred():
            failed = _send(target, batch)
            state.add(r.music_task_id for r in batch if r.music_task_id not in failed)
            state.save()
        sent += len(batch) - len(failed)
        progress.update(sent)
        if failed:
            reasons = "; ".join(f"{task}: {why}" for task, why in list(failed.items())[:3])
            raise CommandError(
                f"SQS did not take {len(failed)} request(s) ({reasons}); the others are recorded in "
                f"{state.path}: run the same command again to send the rest"
            )
    return sent


def _send(target: deployed.Target, batch: list[CoverRequest]) -> dict[str, str]:
    """One batch, the requests SQS did not take tried again (up to :data:`SEND_ATTEMPTS` in all); returns
    those it never took, with SQS's reason."""
    failed: dict[str, str] = {}
    for attempt in range(SEND_ATTEMPTS):
        failed = dict(deployed.send_batch(target, batch))
        batch = [r for r in batch if r.music_task_id in failed]
        if not batch:
            return {}
        if attempt + 1 < SEND_ATTEMPTS:
            sleep(2**attempt)
    return failed


# --- the command ---------------------------------------------------------------------------------------


DESCRIPTION = """Send every music task of a catalogue to a deployed stack's queue, at --rate per second, at
most --max-credits new ones. FILE is CSV (a header naming musicTaskId, other columns become metadata; or one
id per line) or JSON Lines of requests. Every line is checked first: bad ones are listed by line number
(exit 2). Music tasks the stack already has a record of, or that an earlier run sent (the state file), are
skipped. The summary (new, skipped, credits, AWS cost) is printed before anything is sent; --dry-run stops
there. Ctrl-C stops after the current batch (exit 130): run the same command again to resume.

With --manifest (a stack deployed with CatalogueBackfill=true), the stack sends the catalogue itself: a Step
Functions Distributed Map reads the CSV manifest from the stack's backfill bucket (a local path is uploaded
there first) and queues its rows at about --rate per second; the command checks every row, prints the
summary, starts one execution per manifest version (the same command again reports it) and, with --watch,
follows it (Ctrl-C stops watching only)."""


def add_command(sub: Any) -> None:
    examples = [
        "covers backfill --stack covers --dry-run catalogue.csv",
        "covers backfill --stack covers --rate 10 --max-credits 5000 catalogue.csv",
        "zcat ids.txt.gz | covers backfill --stack covers --state ids.backfill-state.json -",
        "covers backfill --stack covers --manifest s3://BUCKET/manifests/catalogue.csv --dry-run",
        "covers backfill --stack covers --manifest catalogue.csv --rate 200 --watch",
    ]
    p = sub.add_parser(
        "backfill",
        help="send a catalogue of music tasks to a deployed stack, paced and resumable",
        description=DESCRIPTION,
        epilog="examples:\n  " + "\n  ".join(examples),
    )
    p.add_argument(
        "file",
        metavar="FILE",
        nargs="?",
        help="the catalogue: CSV or JSON Lines; - reads stdin (not with --manifest)",
    )
    p.add_argument(
        "--manifest",
        metavar="S3_URI_OR_PATH",
        help="run the backfill in the account on this CSV manifest (s3://<backfill bucket>/manifests/..., "
        "or a local CSV uploaded there)",
    )
    p.add_argument(
        "--max-concurrency",
        type=_concurrency,
        metavar="N",
        help="with --manifest: batches of 10 sent at once (default: picked from --rate)",
    )
    p.add_argument("--watch", action="store_true", help="with --manifest: follow the run until it ends")
    p.add_argument("--stack", required=True, help="CloudFormation stack name (reads its outputs)")
    p.add_argument("--region", help="AWS region (default: your AWS configuration)")
    p.add_argument("--dry-run", action="store_true", help="print the summary and send nothing")
    p.add_argument("--rate", type=_rate, default=5.0, help="music tasks sent per second")
    p.add_argument(
        "--max-credits", type=_credits, metavar="N", help="send at most N new music tasks this run"
    )
    p.add_argument(
        "--state", type=Path, metavar="PATH", help="the state file (default: FILE" + STATE_SUFFIX + ")"
    )
    p.add_argument(
        "--skip-invalid", action="store_true", help="send the valid lines even if some are invalid"
    )
    p.set_defaults(func=cmd_backfill)


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value <= 10_000 or math.isnan(value):
        raise argparse.ArgumentTypeError(
            f"a rate is a number of music tasks per second, 0 to 10000, got {text!r}"
        )
    return value


_concurrency = deployed.whole_number("a concurrency", 1, backfill_map.MAX_CONCURRENCY)
_credits = deployed.whole_number("a credit budget", 1)


def _text(name: str) -> str:
    try:
        if name == "-":
            return sys.stdin.read()
        return Path(name).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read the catalogue {name} (FILE): {exc}") from exc


def cmd_backfill(args: argparse.Namespace) -> int:
    if args.manifest is not None:
        if args.file is not None or args.state is not None or args.max_credits is not None:
            raise UsageError(
                "--manifest takes no FILE, --state or --max-credits (the credit budgets cap spend)"
            )
        return backfill_map.run(args, AWS_USD_PER_MILLION_COVERS, sleep)
    if args.file is None:
        raise UsageError("name a catalogue FILE (or - for stdin), or pass --manifest")
    if args.watch or args.max_concurrency is not None:
        raise UsageError("--watch and --max-concurrency go with --manifest")
    catalogue = read_catalogue(_text(args.file))
    where = "stdin" if args.file == "-" else args.file
    for number, reason in catalogue.invalid[:LISTED_INVALID]:
        print(f"{where}:{number}: {reason}", file=sys.stderr)
    if len(catalogue.invalid) > LISTED_INVALID:
        print(
            f"{where}: ... and {len(catalogue.invalid) - LISTED_INVALID} more invalid line(s)",
            file=sys.stderr,
        )
    if catalogue.invalid and not args.skip_invalid:
        raise UsageError(
            f"{len(catalogue.invalid)} invalid line(s) in {where} (listed above): fix them, or pass "
            "--skip-invalid to send the others"
        )
    if args.state is None and args.file == "-" and not args.dry_run:
        raise UsageError(
            "a catalogue read from stdin needs --state PATH (where the run records what it sent)"
        )
    state_path = args.state or Path(args.file + STATE_SUFFIX)
    region = deployed.region(args.region)
    target = deployed.stack_target(args.stack, region)
    state = State.load(state_path, args.stack) if args.file != "-" or args.state else State(state_path, "")
    unsent = [r.music_task_id for r in catalogue.requests if r.music_task_id not in state.sent]
    if unsent:
        print(f"checking {len(unsent)} music task(s) against the covers table...", file=sys.stderr)
    plan = make_plan(catalogue.requests, deployed.existing(target, unsent), state.sent, args.max_credits)
    for line in plan_lines(catalogue, plan, args.rate):
        print(line, file=sys.stderr)
    if args.dry_run or not plan.to_send:
        print("dry run: nothing sent" if args.dry_run else "nothing to send", file=sys.stderr)
        return 0
    skipped = len(plan.existing) + plan.already_sent
    progress = Progress(sys.stderr, len(catalogue.requests), skipped, len(plan.to_send), args.rate)
    before = len(state.sent)
    try:
        sent = send_all(target, plan.to_send, state, args.rate, progress)
    except KeyboardInterrupt:
        progress.finish()
        print(
            f"covers backfill: interrupted; {len(state.sent) - before} of {len(plan.to_send)} sent, "
            f"recorded in {state.path}: run the same command again to resume (nothing is sent twice)",
            file=sys.stderr,
        )
        return 130
    progress.finish()
    print(f"sent {sent} music task(s) to {args.stack}; recorded in {state.path}", file=sys.stderr)
    return 0
