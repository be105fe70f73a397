"""``covers backfill --manifest``: the catalogue backfill run in the account, by the stack's Step Functions
Distributed Map (``statemachine/backfill.asl.json``; docs/operations.md, "Backfilling a catalogue"), for
catalogues too big for one machine. Called by ``covers_ops/backfill.py`` when ``--manifest`` is given.

The manifest is CSV with a header: ``musicTaskId`` (required), ``correlationId`` and ``metadata`` (a JSON
object, as text) optional, no other column. The command reads it once (every row checked with the
pipeline's own request parser, as the state machine will build it), says what it will cost, and starts
one execution per manifest version: its name comes from the manifest's key and ETag, so running the same
command again reports the execution under way instead of starting a second one."""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import math
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from covers_core.domain.requests import CORRELATION_ID_KEY, METADATA_KEY, request_from_mapping
from covers_core.errors import BadRequestError

from covers_ops import deployed
from covers_ops.deployed import CommandError, UsageError

#: The stack's outputs the command reads (template.yaml, CatalogueBackfill=true).
MACHINE_OUTPUT = "CoverBackfillArn"
BUCKET_OUTPUT = "BackfillBucketName"
#: Where manifests live in the backfill bucket: the only keys the state machine's role may read.
MANIFEST_PREFIX = "manifests/"
ID_COLUMN = "musicTaskId"
COLUMNS = (ID_COLUMN, CORRELATION_ID_KEY, METADATA_KEY)
#: Rows one child execution sends (the ASL's ItemBatcher; SendMessageBatch's most).
BATCH = deployed.SEND_BATCH_SIZE
#: What one SendMessageBatch takes, as the pace counts it (an estimate: the rate is "about").
SEND_SECONDS = 0.1
#: A Distributed Map runs at most this many child executions at once.
MAX_CONCURRENCY = 10_000
#: Longest wait per batch the pace picks (an Express child lives 5 minutes at most).
MAX_WAIT_SECONDS = 240
#: How close to the rate asked a pace must come before a longer wait is tried (a longer wait is a longer,
#: dearer Express child: its duration is billed).
RATE_TOLERANCE = 0.05
#: The state machine's TimeoutSeconds (statemachine/backfill.asl.json; tests/infra/test_backfill_asl.py checks
#: they agree): a run the pace would stretch past it is refused.
RUN_TIMEOUT_SECONDS = 30 * 24 * 3600
#: The rate docs/operations.md prices the backfill at: `covers backfill`'s default --rate.
DOCUMENTED_RATE = 5.0
#: Express executions are billed in 64 MB steps; the backfill's child needs the smallest.
CHILD_GB = 64 / 1024
#: State transitions of the parent per child execution started (the Map Run's own, Standard-priced; an
#: Express child's own states are billed by duration, not by transition).
TRANSITIONS_PER_CHILD = 1
#: The unit prices the backfill's own cost is made of (USD, us-east-1): bench/prices.py's, with their sources
#: (tests/unit/test_backfill_plan.py checks they agree; covers_ops does not ship bench/).
PRICES = {
    "sfn_standard_transition": 0.025 / 1e3,
    "sfn_express_request": 1.00 / 1e6,
    "sfn_express_gb_second": 0.00001667,
    "sqs_request": 0.40 / 1e6,
}
LISTED_INVALID = 20
PROGRESS_EVERY_BYTES = 64 * 1024 * 1024
CONSOLE = "https://{region}.console.aws.amazon.com/states/home?region={region}#/v2/executions/details/{arn}"


# --- the pace ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pace:
    """``max_concurrency`` child executions at once, each waiting ``wait_seconds`` before its batch."""

    max_concurrency: int
    wait_seconds: int

    @property
    def rate(self) -> float:
        """About how many requests a second: ``max_concurrency`` x 10 / (wait + the send)."""
        return self.max_concurrency * BATCH / (self.wait_seconds + SEND_SECONDS)


def pace_for(rate: float, max_concurrency: int | None = None) -> Pace:
    """The pace for ``rate`` requests a second: with ``max_concurrency`` given, the wait that fits it; else
    the shortest wait (1 s or more) whose concurrency comes within :data:`RATE_TOLERANCE` of the rate
    (else the closest pace of all)."""
    if max_concurrency is not None:
        wait = min(MAX_WAIT_SECONDS, max(0, round(max_concurrency * BATCH / rate - SEND_SECONDS)))
        return Pace(max_concurrency, wait)
    best = Pace(1, MAX_WAIT_SECONDS)
    for wait in range(1, MAX_WAIT_SECONDS + 1):
        concurrency = min(MAX_CONCURRENCY, max(1, round(rate * (wait + SEND_SECONDS) / BATCH)))
        pace = Pace(concurrency, wait)
        if abs(pace.rate - rate) <= RATE_TOLERANCE * rate:
            return pace
        if abs(pace.rate - rate) < abs(best.rate - rate) - 1e-9:
            best = pace
    return best


def execution_input(manifest_key: str, pace: Pace) -> dict[str, Any]:
    """What the state machine reads from its input (statemachine/backfill.asl.json)."""
    return {
        "manifestKey": manifest_key,
        "maxConcurrency": pace.max_concurrency,
        "waitSeconds": pace.wait_seconds,
    }


# --- cost ----------------------------------------------------------------------------------------------


def map_usd_per_batch(pace: Pace) -> float:
    """The Distributed Map's own cost of one batch of 10: the parent's transition for the child, the
    Express child (a request, and its duration rounded up to 100 ms at 64 MB, the wait included), and
    one SendMessageBatch request (bench/prices.py)."""
    seconds = math.ceil((pace.wait_seconds + SEND_SECONDS) * 10) / 10
    return (
        TRANSITIONS_PER_CHILD * PRICES["sfn_standard_transition"]
        + PRICES["sfn_express_request"]
        + seconds * CHILD_GB * PRICES["sfn_express_gb_second"]
        + PRICES["sqs_request"]
    )


def map_usd(rows: int, pace: Pace) -> float:
    return math.ceil(rows / BATCH) * map_usd_per_batch(pace)


# --- the manifest --------------------------------------------------------------------------------------


def parse_s3_uri(text: str) -> tuple[str, str]:
    found = re.fullmatch(r"s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(.+)", text)
    if not found:
        raise UsageError(f"--manifest: not an S3 object URI (s3://bucket/key.csv): {text!r}")
    return found.group(1), found.group(2)


@dataclass
class ManifestCheck:
    """A manifest read through: its header, its rows, the invalid ones (line, reason)."""

    header: list[str] = field(default_factory=list)
    rows: int = 0
    invalid: list[tuple[int, str]] = field(default_factory=list)
    invalid_count: int = 0


def header_problem(header: list[str]) -> str | None:
    if ID_COLUMN not in header:
        return f"the header must name {ID_COLUMN} (got {', '.join(header) or 'nothing'})"
    unknown = [c for c in header if c not in COLUMNS]
    if unknown:
        return (
            f"unknown column(s) {', '.join(unknown)}: a manifest has {', '.join(COLUMNS)} only "
            "(metadata as one JSON object; a local CSV with other columns is converted when you pass its "
            "path)"
        )
    if len(set(header)) != len(header):
        return "a column is named twice"
    return None


def row_body(header: list[str], row: list[str]) -> dict[str, Any]:
    """The request the state machine makes of a row (its Choice and Pass states): the id, the
    correlation id and the metadata when not empty. Raises BadRequestError as the start function would."""
    if len(row) > len(header):
        raise BadRequestError(f"{len(row)} cells, the header names {len(header)} columns")
    cells = dict(zip(header, row, strict=False))
    body: dict[str, Any] = {ID_COLUMN: cells.get(ID_COLUMN, "")}
    if cells.get(CORRELATION_ID_KEY):
        body[CORRELATION_ID_KEY] = cells[CORRELATION_ID_KEY]
    if cells.get(METADATA_KEY):
        try:
            body[METADATA_KEY] = json.loads(cells[METADATA_KEY])
        except ValueError as exc:
            raise BadRequestError(f"'{METADATA_KEY}' is not JSON: {exc}") from exc
    request_from_mapping(body)
    return body


def check_manifest(lines: Iterable[str]) -> ManifestCheck:
    """Read a manifest's lines (a stream: a file of millions of rows is never held whole)."""
    check = ManifestCheck()
    rows = csv.reader(lines)
    for row in rows:
        if not check.header:
            check.header = [c.strip() for c in row]
            problem = header_problem(check.header)
            if problem:
                raise UsageError(f"--manifest: {problem}")
            continue
        check.rows += 1
        try:
            if not row:
                raise BadRequestError("an empty line (the state machine would fail its batch on it)")
            row_body(check.header, row)
        except BadRequestError as exc:
            check.invalid_count += 1
            if len(check.invalid) < LISTED_INVALID:
                check.invalid.append((rows.line_num, exc.message))
    if not check.header:
        raise UsageError("--manifest: the manifest is empty (no header)")
    return check


def s3_lines(body: Any, size: int, progress: Callable[[int], None]) -> Iterator[str]:
    """The lines of a streamed S3 body (UTF-8, a BOM dropped), ``progress`` told the bytes read."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    done = shown = 0
    pending = ""
    for chunk in body.iter_chunks(chunk_size=1024 * 1024):
        done += len(chunk)
        if done - shown >= PROGRESS_EVERY_BYTES and done < size:
            shown = done
            progress(done)
        pending += decoder.decode(chunk)
        *lines, pending = pending.split("\n")
        for line in lines:
            yield line + "\n"
    pending += decoder.decode(b"", final=True)
    if pending:
        yield pending


def normalised_csv(text: str) -> bytes:
    """A local catalogue in the local backfill's CSV form (other columns as metadata) written as a manifest:
    ``musicTaskId,correlationId,metadata`` with the metadata as one JSON object."""
    from covers_ops.backfill import read_catalogue  # the local command's reader (covers_ops/backfill.py)

    catalogue = read_catalogue(text)
    if catalogue.kind == "JSON Lines" or catalogue.invalid:
        problems = "; ".join(f"line {n}: {why}" for n, why in catalogue.invalid[:3])
        raise UsageError(
            f"--manifest: the local file must be a valid CSV catalogue ({problems or 'JSON Lines'})"
        )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for r in catalogue.requests:
        metadata = json.dumps(r.metadata, separators=(",", ":"), ensure_ascii=False) if r.metadata else ""
        writer.writerow([r.music_task_id, r.correlation_id or "", metadata])
    return out.getvalue().encode("utf-8")


# --- the stack -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Backfill:
    region: str
    machine_arn: str
    bucket: str
    clients: dict[str, Any] = field(default_factory=dict, compare=False)

    def client(self, service: str) -> Any:
        if service not in self.clients:
            self.clients[service] = boto3.client(service, region_name=self.region)  # type: ignore[call-overload]
        return self.clients[service]


def stack_backfill(stack: str, region: str) -> Backfill:
    outputs = deployed.described(boto3.client("cloudformation", region_name=region), stack, region).get(
        "Outputs", []
    )
    found = {o["OutputKey"]: o["OutputValue"] for o in outputs}
    if MACHINE_OUTPUT not in found or BUCKET_OUTPUT not in found:
        raise UsageError(
            f"stack {stack} has no backfill state machine: deploy it with CatalogueBackfill=true "
            "(docs/deploy.md), or send a local file without --manifest"
        )
    return Backfill(region, found[MACHINE_OUTPUT], found[BUCKET_OUTPUT])


def execution_name(key: str, etag: str) -> str:
    """One name per manifest version: the file's name (for people) and a hash of key and ETag."""
    base = re.sub(r"[^A-Za-z0-9_-]", "-", Path(key).stem)[:40].strip("-") or "manifest"
    digest = hashlib.sha256(f"{key}\0{etag.strip(chr(34))}".encode()).hexdigest()[:20]
    return f"{base}-{digest}"


def console_link(region: str, execution_arn: str) -> str:
    return CONSOLE.format(region=region, arn=execution_arn)


def _aws(what: str, call: Callable[..., Any], **kwargs: Any) -> Any:
    try:
        return call(**kwargs)
    except (BotoCoreError, ClientError) as exc:
        raise CommandError(f"{what}: {exc}") from exc


def locate(target: Backfill, manifest: str, stream: TextIO) -> str:
    """The manifest's key in the backfill bucket: a local file is uploaded (as a manifest) first."""
    if not manifest.startswith("s3:"):
        path = Path(manifest)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"--manifest: cannot read {manifest}: {exc}") from exc
        body = normalised_csv(text)
        key = MANIFEST_PREFIX + path.name
        print(f"uploading {manifest} to s3://{target.bucket}/{key} ...", file=stream)
        _aws(
            "cannot upload the manifest",
            target.client("s3").put_object,
            Bucket=target.bucket,
            Key=key,
            Body=body,
        )
        return key
    bucket, key = parse_s3_uri(manifest)
    if bucket != target.bucket or not key.startswith(MANIFEST_PREFIX):
        raise UsageError(
            f"--manifest: the backfill reads s3://{target.bucket}/{MANIFEST_PREFIX}... only; copy it there: "
            f"aws s3 cp {manifest} s3://{target.bucket}/{MANIFEST_PREFIX}{Path(key).name}"
        )
    return key


def head(target: Backfill, key: str) -> dict[str, Any]:
    try:
        return dict(target.client("s3").head_object(Bucket=target.bucket, Key=key))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
            raise UsageError(f"--manifest: no such object s3://{target.bucket}/{key}") from exc
        raise CommandError(f"cannot read s3://{target.bucket}/{key}: {exc}") from exc
    except BotoCoreError as exc:
        raise CommandError(f"cannot read s3://{target.bucket}/{key}: {exc}") from exc


def read_check(target: Backfill, key: str, size: int, stream: TextIO) -> ManifestCheck:
    body = _aws("cannot read the manifest", target.client("s3").get_object, Bucket=target.bucket, Key=key)[
        "Body"
    ]
    progress = lambda done: print(f"read {done / 1e6:.0f} of {size / 1e6:.0f} MB...", file=stream, flush=True)  # noqa: E731
    return check_manifest(s3_lines(body, size, progress))


def start(target: Backfill, name: str, payload: dict[str, Any]) -> tuple[str, str | None]:
    """Start the execution ``name``: (its ARN, None); when one of that name exists (a re-run of the same
    manifest version), (its ARN, its status) and nothing is started."""
    sfn = target.client("stepfunctions")
    arn = target.machine_arn.replace(":stateMachine:", ":execution:") + ":" + name
    try:
        return arn, str(sfn.describe_execution(executionArn=arn)["status"])
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ExecutionDoesNotExist":
            raise CommandError(f"cannot read the backfill execution: {exc}") from exc
    except BotoCoreError as exc:
        raise CommandError(f"cannot read the backfill execution: {exc}") from exc
    try:
        sfn.start_execution(stateMachineArn=target.machine_arn, name=name, input=json.dumps(payload))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ExecutionAlreadyExists":  # started meanwhile
            raise CommandError(f"cannot start the backfill: {exc}") from exc
        return arn, "RUNNING"
    except BotoCoreError as exc:
        raise CommandError(f"cannot start the backfill: {exc}") from exc
    return arn, None


def watch(
    target: Backfill, execution_arn: str, stream: TextIO, sleep: Callable[[float], None], every: float = 10
) -> str:
    """Print the Map Run's item counts until the execution ends (its status); Ctrl-C stops watching only."""
    sfn = target.client("stepfunctions")
    last = ""
    while True:
        status = str(
            _aws("cannot read the execution", sfn.describe_execution, executionArn=execution_arn)["status"]
        )
        runs = _aws("cannot list map runs", sfn.list_map_runs, executionArn=execution_arn).get("mapRuns", [])
        if runs:
            run = _aws("cannot read the map run", sfn.describe_map_run, mapRunArn=runs[0]["mapRunArn"])
            items = run.get("itemCounts", {})
            line = (
                f"backfill {status}: {items.get('succeeded', 0)} of {items.get('total', 0)} row(s) queued, "
                f"{items.get('failed', 0)} failed, {items.get('running', 0)} running"
            )
        else:
            line = f"backfill {status}: reading the manifest"
        if line != last:
            print(line, file=stream, flush=True)
            last = line
        if status != "RUNNING":
            return status
        sleep(every)


# --- the command ---------------------------------------------------------------------------------------


def plan_lines(
    key: str, size: int, check: ManifestCheck, pace: Pace, pipeline_usd_per_million: float
) -> list[str]:
    rows = check.rows - check.invalid_count
    pipeline = rows * pipeline_usd_per_million / 1e6
    own = map_usd(check.rows, pace)
    per_million = map_usd(1_000_000, pace)
    return [
        f"manifest {key}: {size / 1e6:.1f} MB, {check.rows} row(s), {check.invalid_count} invalid",
        f"at most {rows} credit(s) (music tasks that already have a record spend none)",
        f"AWS: about ${pipeline:.2f} for the covers (${pipeline_usd_per_million} per 1M, docs/performance.md)"
        f" + ${own:.2f} for the backfill itself (${per_million:.2f} per 1M rows: Distributed Map, Express"
        " children, SQS)",
        f"pace: {pace.max_concurrency} batch(es) of {BATCH} at once, each waiting {pace.wait_seconds}s "
        f"-> about {pace.rate:.3g}/s, {duration(check.rows / pace.rate)}",
    ]


def duration(seconds: float) -> str:
    from covers_ops.backfill import duration as local_duration

    return local_duration(seconds)


def run(args: Any, pipeline_usd_per_million: float, sleep: Callable[[float], None]) -> int:
    """``covers backfill --manifest`` (the arguments of covers_ops/backfill.py's parser)."""
    stream = sys.stderr
    region = deployed.region(args.region)
    target = stack_backfill(args.stack, region)
    pace = pace_for(args.rate, args.max_concurrency)
    if args.dry_run and not args.manifest.startswith("s3:"):
        key = MANIFEST_PREFIX + Path(args.manifest).name
        text = normalised_csv(_local_text(args.manifest)).decode("utf-8")
        size, check = len(text.encode()), check_manifest(text.splitlines(keepends=True))
    else:
        key = locate(target, args.manifest, stream)
        meta = head(target, key)
        size = int(meta.get("ContentLength", 0))
        check = read_check(target, key, size, stream)
    for number, reason in check.invalid:
        print(f"{key}:{number}: {reason}", file=stream)
    if check.invalid_count > len(check.invalid):
        print(f"{key}: ... and {check.invalid_count - len(check.invalid)} more invalid row(s)", file=stream)
    for line in plan_lines(key, size, check, pace, pipeline_usd_per_million):
        print(line, file=stream)
    if check.rows / pace.rate > RUN_TIMEOUT_SECONDS:
        raise UsageError(
            f"at about {pace.rate:.3g}/s the run would take {duration(check.rows / pace.rate)}, past the "
            f"state machine's timeout ({duration(RUN_TIMEOUT_SECONDS)}): raise --rate, or split the manifest"
        )
    if args.dry_run:
        print("dry run: nothing started", file=stream)
        return 0
    if check.invalid_count and not args.skip_invalid:
        raise UsageError(
            f"{check.invalid_count} invalid row(s) in the manifest (listed above): fix them, or pass "
            "--skip-invalid (the start function rejects a bad request to the dead-letter queue; a row the "
            "state machine cannot read fails its batch)"
        )
    name = execution_name(key, str(meta.get("ETag", "")))
    arn, existing = start(target, name, execution_input(key, pace))
    if existing:
        print(f"this manifest version already has a backfill ({existing}): {arn}", file=stream)
    else:
        print(f"started {arn}", file=stream)
    print(console_link(region, arn), file=stream)
    if not args.watch:
        return 0
    try:
        status = watch(target, arn, stream, sleep)
    except KeyboardInterrupt:
        print(
            "stopped watching; the backfill goes on (watch again with the same command and --watch)",
            file=stream,
        )
        return 130
    return 0 if status == "SUCCEEDED" else 1


def _local_text(name: str) -> str:
    try:
        return Path(name).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--manifest: cannot read {name}: {exc}") from exc
