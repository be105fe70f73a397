"""``covers``: run the pipeline locally, serve the vendor emulator, operate a deployed stack.

Human output goes to stderr; ``--json`` output (and nothing else) to stdout. ``covers list`` prints its
result (one line per cover) on stdout, its progress on stderr."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

from covers_core.domain.events import public_view
from covers_core.domain.model import CoverRecord, Status, parse_iso
from covers_core.domain.requests import request_from_mapping
from covers_core.errors import BadRequestError

from covers_local import deployed
from covers_local.deployed import CommandError
from covers_local.emulator import FAULT_KINDS, SAFE_FAULTS, EmulatorConfig, VendorEmulator
from covers_local.lambda_events import signed_webhook_event

#: The demo's music tasks: each id's prefix picks an emulator scenario (see covers_local.emulator).
DEMO_TASKS = [
    ("demo-track-001", "SUCCEEDED", "cover made on the first try"),
    ("late-demo-track-002", "SUCCEEDED", "music registered late: one 404, retried, then made"),
    ("flaky-demo-track-003", "SUCCEEDED", "vendor answers 503 then 429 first: retried with backoff"),
    ("fail-demo-track-004", "FAILED", "the vendor reports FAILED"),
    ("noimg-demo-track-005", "FAILED", "the vendor reports SUCCESS without images"),
    ("hascover-demo-track-006", "REJECTED", "a cover already exists (400)"),
    ("unknown-demo-track-007", "REJECTED", "unknown music task: 404 on every attempt"),
    ("lost-demo-track-008", "NEEDS_ATTENTION", "generate answer lost in transit, retry gets 400"),
    ("slow-demo-track-009", "TIMED_OUT", "still IN_PROGRESS at the deadline"),
]
#: Resumed by the demo once the emulator has made its cover (``covers resume``; no new credit).
DEMO_RESUME = ("slow-demo-track-009", "SUCCEEDED")
#: Blocked while the credits are out, its message given up on; repaired by the reconciler once they are back.
DEMO_REPAIR = ("blocked-demo-track-010", "SUCCEEDED")
LOG_FILE = ".covers-local.log"
#: Where ``covers local-stack`` writes the ``--env-vars`` file for ``sam local`` (and ``covers invoke``).
LOCAL_ENV_FILE = ".aws-sam/local-env.json"
#: How a Lambda container reaches the machine it runs on (Docker Desktop; ``--add-host`` on Linux).
CONTAINER_HOST = "host.docker.internal"
CONTAINER_HOST_URL = f"://{CONTAINER_HOST}:"


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


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("covers: interrupted", file=sys.stderr)
        return 130
    except CommandError as exc:
        print(f"covers: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        if os.environ.get("COVERS_DEBUG"):
            raise
        print(
            f"covers: internal error: {type(exc).__name__}: {exc} (COVERS_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        return 1


# --- local runs ---------------------------------------------------------------------------------


def run_local(
    task_ids: list[str],
    *,
    vendor_url: str | None,
    api_key: str | None,
    first_wait: int,
    poll_interval: int,
    max_wait: int,
    archive: bool,
    console: Console,
    extra_messages: Sequence[dict[str, Any] | str] = (),
    emulator: VendorEmulator | None = None,
    log_path: Path | None = None,
    read_status_of: str | None = None,
    resume: Sequence[str] = (),
    repair: Sequence[str] = (),
    template_schedule: bool = False,
) -> dict[str, Any]:
    """Run ``task_ids`` through the local stack; returns {"tasks": [...], "deadLetters": [...], ...}.
    Unless ``template_schedule``, each check invocation makes one status call (the short local schedule).
    With ``read_status_of``, "statusApi": that task's (status code, body) from the status API handler.
    Then each of ``resume`` is made ready at the ``emulator`` and resumed as ``covers resume`` would
    (``"resumed"``: each one's statuses and new events)."""
    from covers_local.runner import LocalPipeline, LocalSettings, function_log

    own_emulator = None
    if vendor_url is None:
        own_emulator = emulator or VendorEmulator(EmulatorConfig(ready_after=(1.0, 3.0)))
        vendor_url = own_emulator.ensure_serving()
        api_key = api_key or own_emulator.config.api_key
        console.say(f"vendor: built-in emulator at {vendor_url}")
    else:
        _check_reachable(vendor_url)
        if not api_key:
            raise CommandError("--api-key (or COVERS_API_KEY) is required with --udio-url")
        console.say(f"vendor: {vendor_url}")
    settings = LocalSettings(
        vendor_url=vendor_url,
        api_key=api_key or "",
        first_wait=first_wait,
        poll_interval=poll_interval,
        max_wait=max_wait,
        archive=archive,
        extra_env={} if template_schedule else {"POLL_INVOCATION_BUDGET_SECONDS": "0"},
    )
    log_path = log_path or Path(LOG_FILE)
    console.say(f"aws: moto (in-process); function logs -> {log_path}")
    timeout = max_wait + first_wait + 120
    try:
        with function_log(log_path), LocalPipeline(settings) as stack:
            stack.submit([{"musicTaskId": t} for t in task_ids])
            stack.submit(extra_messages)
            console.say(
                f"submitted {len(task_ids) + len(extra_messages)} message(s) to the cover requests queue"
            )
            records = stack.run(task_ids, timeout=timeout, on_change=console.change)
            summary = _summary(
                task_ids, records, stack.events, stack.dead_letters, stack.start_invocation_errors
            )
            if read_status_of is not None:
                summary["statusApi"] = stack.status_api(read_status_of)
            summary["resumed"] = [
                _resume_local(stack, task_id, own_emulator, console, timeout) for task_id in resume
            ]
            summary["repaired"] = [
                _repair_local(stack, task_id, own_emulator, console, timeout) for task_id in repair
            ]
            return summary
    finally:
        if own_emulator is not None and emulator is None:
            own_emulator.close()


def _resume_local(
    stack: Any, task_id: str, emulator: VendorEmulator | None, console: Console, timeout: float
) -> dict[str, Any]:
    """The demo's ``covers resume`` of ``task_id`` on the local stack, after the emulator made its cover."""
    if emulator is None:
        raise CommandError("resuming in a local run needs the built-in emulator")
    emulator.finish(task_id)
    before = stack.records()[task_id].status
    done = deployed.resume(deployed.stack_target(stack.STACK_NAME), task_id)
    path = [before]

    def change(task: str, old: str | None, new: str, record: CoverRecord | None) -> None:
        if task == task_id and new != path[-1]:
            console.change(task, path[-1], new, record)
            path.append(new)

    already = len(stack.events)
    change(task_id, before, done.record.status, None)
    stack.run([task_id], timeout=timeout, on_change=change)
    events = [e for e in stack.events[already:] if e["detail"]["musicTaskId"] == task_id]
    return {"musicTaskId": task_id, "statuses": path, "events": events}


def _repair_local(
    stack: Any, task_id: str, emulator: VendorEmulator | None, console: Console, timeout: float
) -> dict[str, Any]:
    """The demo's reconciler repair: ``task_id`` is refused for want of credits (BLOCKED) until its message
    is given up on (the dead-letter queue); the credits come back; one reconciler run queues it again."""
    if emulator is None:
        raise CommandError("a repair in a local run needs the built-in emulator")
    credits, emulator.credits = emulator.credits, 0
    stack.submit([{"musicTaskId": task_id}])
    path: list[str] = []

    def change(task: str, old: str | None, new: str, record: CoverRecord | None) -> None:
        if task == task_id and (not path or new != path[-1]):
            console.change(task, path[-1] if path else None, new, record)
            path.append(new)

    deadline = time.monotonic() + timeout
    while not any(_names(d, task_id) for d in stack.read_dead_letters()):  # its last delivery gives up
        if time.monotonic() > deadline:
            raise CommandError(f"{task_id} never reached the dead-letter queue")
        if not stack.pump():
            time.sleep(0.2)
        for task, record in stack.read_records([task_id]).items():
            change(task, None, record.status, record)
    # The reconciler leaves a record alone while its claim could still be live (the lease).
    time.sleep(stack.settings.claim_lease_seconds + 1)
    emulator.recharge(credits)
    console.say("credits are back: the reconciler runs (every ReconcileIntervalMinutes when deployed)")
    report = stack.reconcile()
    console.say(f"reconciler: {json.dumps(report['repaired'])} (examined {report['examined']} open records)")
    already = len(stack.events)
    stack.run([task_id], timeout=timeout, on_change=change)
    events = [e for e in stack.events[already:] if e["detail"]["musicTaskId"] == task_id]
    return {"musicTaskId": task_id, "statuses": path, "repaired": report["repaired"], "events": events}


def _names(dead_letter: dict[str, Any], task_id: str) -> bool:
    try:
        return json.loads(dead_letter["body"]).get("musicTaskId") == task_id
    except (ValueError, AttributeError):
        return False


def _summary(
    task_ids: list[str],
    records: dict[str, Any],
    events: list[dict[str, Any]],
    dead_letters: list[dict[str, Any]],
    errors: list[str],
) -> dict[str, Any]:
    by_task: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_task.setdefault(event["detail"]["musicTaskId"], []).append(
            {"detail-type": event["detail-type"], "source": event["source"], "detail": event["detail"]}
        )
    dead_ids = {}
    for letter in dead_letters:
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            dead_ids[json.loads(letter["body"]).get("musicTaskId")] = letter["reason"]
    tasks = []
    for task_id in task_ids:
        record = records.get(task_id, {})
        tasks.append(
            {
                "musicTaskId": task_id,
                "status": record.get("status", "NOT_STARTED"),
                "coverTaskId": record.get("coverTaskId"),
                "images": record.get("images") or [],
                "archivedImages": [
                    a.get("s3Uri") for a in record.get("archivedImages") or [] if a.get("s3Uri")
                ],
                "error": record.get("error") or record.get("lastError"),
                "pollCount": int(record.get("pollCount") or 0),
                "seconds": _duration(record),
                "deadLettered": task_id in dead_ids,
                "events": by_task.get(task_id, []),
            }
        )
    return {"tasks": tasks, "deadLetters": dead_letters, "invocationErrors": errors}


def _duration(record: dict[str, Any]) -> float | None:
    if not record.get("createdAt") or not record.get("completedAt"):
        return None
    return round((parse_iso(record["completedAt"]) - parse_iso(record["createdAt"])).total_seconds(), 1)


def _check_reachable(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CommandError(f"--udio-url must be an http(s) URL, got {url!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=5):
            pass
    except OSError as exc:
        raise CommandError(f"vendor server unreachable at {parts.hostname}:{port} ({exc})") from exc


def print_table(summary: dict[str, Any], console: Console) -> None:
    rows = [("music task", "status", "cover task", "images", "polls", "time")]
    for t in summary["tasks"]:
        images = str(len(t["images"])) + (
            f" ({len(t['archivedImages'])} in S3)" if t["archivedImages"] else ""
        )
        rows.append(
            (
                t["musicTaskId"],
                t["status"] + (" (DLQ)" if t["deadLettered"] else ""),
                t["coverTaskId"] or "-",
                images,
                str(t["pollCount"]),
                f"{t['seconds']}s" if t["seconds"] is not None else "-",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    console.say()
    for n, row in enumerate(rows):
        console.say("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            console.say("  ".join("-" * w for w in widths))
    console.say()
    events = [e for t in summary["tasks"] for e in t["events"]]
    console.say(f"events on the covers bus: {len(events)}")
    for e in events:
        d = e["detail"]
        why = f"  {d['error']['code']}: {d['error']['message'][:90]}" if d.get("error") else ""
        console.say(f"  {e['detail-type']:<24} {d['musicTaskId']:<26} {d['status']:<16}{why}".rstrip())
    if summary["deadLetters"]:
        console.say(f"dead-letter queue: {len(summary['deadLetters'])} message(s)")
        for letter in summary["deadLetters"]:
            console.say(f"  {letter['body'][:40]!r}: {letter['reason']}")
    for error in summary["invocationErrors"]:
        console.say(f"start function invocation failed: {error}")
    for resumed in summary.get("resumed", []):
        new = ", ".join(f"{e['detail-type']} {e['detail']['status']}" for e in resumed["events"]) or "none"
        console.say(
            f"resumed {resumed['musicTaskId']}: {' -> '.join(resumed['statuses'])}  (new events: {new})"
        )
    for repaired in summary.get("repaired", []):
        new = ", ".join(f"{e['detail-type']} {e['detail']['status']}" for e in repaired["events"]) or "none"
        console.say(
            f"repaired by the reconciler ({', '.join(repaired['repaired']) or 'nothing'}): "
            f"{repaired['musicTaskId']}: {' -> '.join(repaired['statuses'])}  (new events: {new})"
        )


def status_api_line(music_task_id: str, status: int, body: dict[str, Any]) -> str:
    """One line showing what an app reading the status API got: the code and the body's main fields."""
    shown = {key: body[key] for key in ("status", "coverTaskId", "pollCount", "error") if key in body}
    text = json.dumps(shown or body)
    if len(shown) < len(body):
        text = text[:-1] + ", ...}"
    return f"status API: GET /covers/{music_task_id} -> {status} {text}"


def cmd_run(args: argparse.Namespace) -> int:
    for task_id in args.music_task_ids:
        try:
            request_from_mapping({"musicTaskId": task_id})
        except BadRequestError as exc:
            raise CommandError(f"invalid music task id {task_id!r}: {exc.message}") from exc
    console = Console(quiet=False)
    first_wait, poll_interval, max_wait = args.initial_wait, args.poll_interval, args.max_wait
    if args.template_schedule:  # a default deployment's Poll* values (the rest are template defaults anyway)
        from covers_local.stack import parameter_defaults

        defaults = parameter_defaults()
        first_wait, poll_interval, max_wait = (
            int(defaults[name])
            for name in ("PollFirstWaitSeconds", "PollInvocationIntervalSeconds", "PollMaxWaitSeconds")
        )
    summary = run_local(
        args.music_task_ids,
        vendor_url=args.udio_url,
        api_key=args.api_key or os.environ.get("COVERS_API_KEY"),
        first_wait=first_wait,
        poll_interval=poll_interval,
        max_wait=max_wait,
        archive=args.archive,
        console=console,
        template_schedule=args.template_schedule,
    )
    if args.json:
        json.dump(summary["tasks"], sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print_table(summary, console)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    console = Console()
    console.say("covers demo: the real handlers and state machine on moto, against the vendor emulator")
    for task_id, expected, what in DEMO_TASKS:
        console.say(f"  {task_id:<26} expect {expected:<16} {what}")
    console.say("  plus: a duplicate message for demo-track-001 (must not spend a second credit),")
    console.say("        and a message that is not JSON (must land in the dead-letter queue)")
    console.say(f"  then {DEMO_REPAIR[0]}: refused while the credits are out, given up on by the queue;")
    console.say("        the reconciler queues it again once they are back (no operator step)")
    emulator = VendorEmulator(EmulatorConfig(ready_after=(1.0, 3.0), seed=7))
    emulator.serve()
    try:
        summary = run_local(
            [t for t, _, _ in DEMO_TASKS],
            vendor_url=None,
            api_key=None,
            first_wait=1,
            poll_interval=1,
            max_wait=args.max_wait,
            archive=True,
            console=console,
            extra_messages=[{"musicTaskId": "demo-track-001"}, "this is not json"],
            emulator=emulator,
            read_status_of=DEMO_TASKS[0][0],
            resume=[DEMO_RESUME[0]],
            repair=[DEMO_REPAIR[0]],
        )
    finally:
        emulator.close()
    print_table(summary, console)
    console.say(status_api_line(DEMO_TASKS[0][0], *summary["statusApi"]))
    charged = emulator.stats.credits_charged
    console.say(
        f"credits spent: {sum(charged.values())} for {len(charged)} music task(s); "
        f"most generate calls charged for one task: {max(charged.values(), default=0)}"
    )
    mismatches = [
        (t["musicTaskId"], t["status"], expected)
        for t, (_, expected, _) in zip(summary["tasks"], DEMO_TASKS, strict=True)
        if t["status"] != expected
    ]
    for resumed in summary["resumed"]:
        if resumed["statuses"][-1] != DEMO_RESUME[1]:
            mismatches.append((resumed["musicTaskId"], resumed["statuses"][-1], DEMO_RESUME[1]))
    for repaired in summary["repaired"]:
        if repaired["statuses"][-1:] != [DEMO_REPAIR[1]] or repaired["repaired"] != {"Requeue": 1}:
            mismatches.append((repaired["musicTaskId"], repaired["statuses"][-1], DEMO_REPAIR[1]))
    for task_id, got, expected in mismatches:
        console.say(f"UNEXPECTED: {task_id} ended {got}, expected {expected}")
    if args.json:
        json.dump(summary["tasks"], sys.stdout, indent=2)
        sys.stdout.write("\n")
    return 1 if mismatches else 0


def cmd_emulator(args: argparse.Namespace) -> int:
    config = EmulatorConfig(
        api_key=args.api_key,
        credits=args.credits,
        ready_after=(args.ready_min, args.ready_max),
        failure_rate=args.failure_rate,
        fault_rate=args.fault_rate,
        fault_kinds=_fault_kinds(args.fault_kinds),
        seed=args.seed,
    )
    # Stop cleanly on Ctrl-C or SIGTERM, even when started from a shell that ignores SIGINT (a
    # background job inherits that).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    emulator = VendorEmulator(config)
    url = emulator.serve(args.host, args.port)
    print(
        f"vendor emulator serving {url} (API key {args.api_key!r}, {args.credits} credits); Ctrl-C stops it",
        file=sys.stderr,
        flush=True,
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        emulator.close()
        return 0


def cmd_webhook_event(args: argparse.Namespace) -> int:
    body = (
        Path(args.body_file).read_bytes()
        if args.body_file
        else json.dumps({"musicTaskId": args.music_task_id or "gen123213213213123bksv"}).encode()
    )
    event = signed_webhook_event(args.secret, body)
    if args.curl:
        url = args.curl.rstrip("/") + event["rawPath"]
        headers = [f"{name}: {value}" for name, value in event["headers"].items()]
        command = ["curl", "-sS", "-i", "-X", "POST", url]
        for header in headers:
            command += ["-H", header]
        print(shlex.join([*command, "--data-binary", event["body"]]))
        return 0
    json.dump(event, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


def cmd_local_stack(args: argparse.Namespace) -> int:
    from covers_local.local_stack import LocalStack, LocalStackOptions, PortTakenError
    from covers_local.runner import function_log

    options = LocalStackOptions(
        host=args.host,
        advertise_host=args.advertise_host,
        aws_port=args.aws_port,
        vendor_port=args.vendor_port,
        api_port=args.api_port,
        env_file=Path(args.env_file),
        seed_samples=not args.no_samples,
    )
    signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C or SIGTERM: stop cleanly
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    console = Console()
    console.say("covers local-stack: deploying template.yaml into moto ...")
    log_path = Path(args.log_file)
    try:
        with function_log(log_path), LocalStack(options) as served:
            _say_local_stack(console, served, args, log_path)
            served.serve(
                console.change,
                on_error=lambda text: console.say(
                    f"covers local-stack: a round failed ({text}); still serving"
                ),
            )
    except PortTakenError as exc:
        raise CommandError(str(exc)) from exc
    except KeyboardInterrupt:
        console.say("covers local-stack: stopped")
    return 0


def _say_local_stack(console: Console, served: Any, args: argparse.Namespace, log_path: Path) -> None:
    from covers_local.runner import LocalPipeline
    from covers_local.stack import REGION

    endpoints, outside = served.endpoints, served.endpoints.advertised(args.advertise_host)
    pipeline = served.pipeline
    webhook_key = pipeline.settings.webhook_secret
    stack = LocalPipeline.STACK_NAME
    console.say(f"  AWS (moto server)  {endpoints.aws}   containers: {outside.aws}")
    console.say(f"  vendor emulator    {endpoints.vendor}   API key {pipeline.settings.api_key!r}")
    console.say(f"  HTTP API           {endpoints.api}   POST /webhooks/music, GET /covers/{{musicTaskId}}")
    console.say(f"  webhook signing key {webhook_key!r} (local only); function logs -> {log_path}")
    console.say(f"  env file           {args.env_file}")
    if served.seeded:
        console.say(f"  seeded for the samples in events/: {', '.join(served.seeded)} (IN_PROGRESS)")
    console.say("try:")
    sample = f"StartCoverFunction -e events/start_cover.json --env-vars {args.env_file}"
    console.say(f"  sam local invoke {sample}")
    console.say(f"  covers invoke {sample}")
    console.say(
        f"  covers webhook-event --secret {webhook_key} --music-task-id my-track-1 --curl {endpoints.api}"
    )
    region = f"AWS_DEFAULT_REGION={REGION}"
    console.say(f"  AWS_ENDPOINT_URL={endpoints.aws} {region} covers status --stack {stack} my-track-1")
    console.say(
        f"covers local-stack ready: aws={endpoints.aws} vendor={endpoints.vendor} api={endpoints.api}"
    )


def cmd_invoke(args: argparse.Namespace) -> int:
    from covers_local.sam_env import SamEnvError, function_environment
    from covers_local.stack import project_root

    template = Path(args.template) if args.template else project_root() / "template.yaml"
    try:
        environment, code_dir = function_environment(
            template, args.function, Path(args.env_vars), shell=os.environ
        )
    except SamEnvError as exc:
        raise CommandError(str(exc)) from exc
    event_file = Path(args.event)
    if not event_file.is_file():
        raise CommandError(f"no event file {event_file}")
    # The function runs on this machine, not in a container: the address containers reach the local stack
    # by (the env file's default) is loopback here.
    environment = {k: v.replace(CONTAINER_HOST_URL, "://127.0.0.1:") for k, v in environment.items()}
    # Like a Lambda container: the function's variables and nothing else of ours (PATH to find Python).
    environment["PATH"] = os.environ.get("PATH", "")
    completed = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-m", "covers_local.lambda_process", str(code_dir), str(event_file.resolve())],
        env=environment,
        check=False,
    )
    return completed.returncode


# --- deployed stacks ------------------------------------------------------------------------------


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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="covers", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run sample music tasks through the local pipeline and the emulator")
    demo.add_argument("--max-wait", type=int, default=8, help="deadline in seconds (default 8)")
    demo.add_argument("--json", action="store_true", help="also print the results as JSON on stdout")
    demo.set_defaults(func=cmd_demo)

    run = sub.add_parser("run", help="run music tasks through the local pipeline")
    run.add_argument("music_task_ids", nargs="+", metavar="MUSIC_TASK_ID")
    run.add_argument("--udio-url", help="vendor base URL (default: the built-in emulator)")
    run.add_argument("--api-key", help="vendor API key (or COVERS_API_KEY); needed with --udio-url")
    run.add_argument("--initial-wait", type=_positive(0), default=2, help="seconds before the first check")
    run.add_argument("--poll-interval", type=_positive(1), default=2, help="seconds between checks")
    run.add_argument("--max-wait", type=_positive(1), default=120, help="deadline in seconds")
    run.add_argument("--archive", action="store_true", help="archive images to (moto) S3")
    run.add_argument(
        "--template-schedule",
        action="store_true",
        help="poll exactly as a default deployment does (template defaults, adaptive first wait, polling "
        "inside each check invocation), in real time; overrides --initial-wait/--poll-interval/--max-wait",
    )
    run.add_argument("--json", action="store_true", help="print one JSON array on stdout")
    run.set_defaults(func=cmd_run)

    emu = sub.add_parser("emulator", help="serve the vendor emulator on its own")
    emu.add_argument("--host", default="127.0.0.1")
    emu.add_argument("--port", type=int, default=8787)
    emu.add_argument("--api-key", default="local-demo-key")
    emu.add_argument("--credits", type=int, default=1000)
    emu.add_argument("--ready-min", type=float, default=1.0, help="shortest time to ready, seconds")
    emu.add_argument("--ready-max", type=float, default=3.0, help="longest time to ready, seconds")
    emu.add_argument("--failure-rate", type=float, default=0.0, help="share of covers that end FAILED")
    emu.add_argument("--fault-rate", type=float, default=0.0, help="share of calls answered with a fault")
    emu.add_argument(
        "--fault-kinds",
        default=",".join(SAFE_FAULTS),
        help=f"comma-separated faults to draw from (default {','.join(SAFE_FAULTS)}; also drop_after)",
    )
    emu.add_argument("--seed", type=int)
    emu.set_defaults(func=cmd_emulator)

    hook = sub.add_parser(
        "webhook-event", help="print a freshly signed webhook event (for sam local invoke -e)"
    )
    hook.add_argument("--secret", required=True, help="the webhook signing key")
    hook.add_argument("--body-file", help="JSON body to sign (default: a request for --music-task-id)")
    hook.add_argument("--music-task-id")
    hook.add_argument(
        "--curl", metavar="API_URL", help="print a curl command posting the signed request to API_URL instead"
    )
    hook.set_defaults(func=cmd_webhook_event)

    _local_stack_commands(sub)

    for name, func, text in (
        ("submit", cmd_submit, "send music tasks to a deployed stack's queue"),
        ("status", cmd_status, "print a music task's record from a deployed stack"),
        ("redrive", cmd_redrive, "move a deployed stack's DLQ messages back to its queue"),
        ("list", cmd_list, "list a deployed stack's covers by status (the byStatus index)"),
        ("resume", cmd_resume, "restart the poll workflow of a TIMED_OUT / NEEDS_ATTENTION cover"),
    ):
        p = sub.add_parser(name, help=text)
        deployed.add_target_arguments(p)
        _deployed_arguments(p, name)
        p.set_defaults(func=func)
    return parser


def _local_stack_commands(sub: Any) -> None:
    served = sub.add_parser(
        "local-stack",
        help="serve the stack locally (moto server, vendor emulator, HTTP API) for sam local and apps",
    )
    served.add_argument(
        "--host", default="127.0.0.1", help="listen address (default 127.0.0.1; 0.0.0.0 lets containers in)"
    )
    served.add_argument(
        "--advertise-host",
        default=CONTAINER_HOST,
        help="how a Lambda container reaches this machine (written to the env file)",
    )
    # 5050, not moto's usual 5000 (macOS's AirPlay receiver); 3001, not 3000 (sam local start-api's)
    served.add_argument("--aws-port", type=_positive(0), default=5050, help="moto server port (0: any)")
    served.add_argument("--vendor-port", type=_positive(0), default=8787, help="vendor emulator port")
    served.add_argument("--api-port", type=_positive(0), default=3001, help="HTTP API port")
    served.add_argument("--env-file", default=LOCAL_ENV_FILE, help="--env-vars file to write")
    served.add_argument("--log-file", default=LOG_FILE, help="where the functions' logs go")
    served.add_argument(
        "--no-samples", action="store_true", help="do not seed the records the events/ samples refer to"
    )
    served.set_defaults(func=cmd_local_stack)

    invoke = sub.add_parser(
        "invoke", help="sam local invoke without Docker: one handler, in a process of its own"
    )
    invoke.add_argument("function", metavar="FUNCTION", help="logical id, e.g. StartCoverFunction")
    invoke.add_argument("-e", "--event", required=True, help="event file (e.g. events/start_cover.json)")
    invoke.add_argument(
        "--env-vars",
        required=True,
        help="env file (covers local-stack writes one; without it the function would use real AWS and the "
        "paid vendor)",
    )
    invoke.add_argument("-t", "--template", help="template (default: the project's template.yaml)")
    invoke.set_defaults(func=cmd_invoke)


def _deployed_arguments(p: argparse.ArgumentParser, name: str) -> None:
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


def _fault_kinds(text: str) -> tuple[str, ...]:
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    unknown = set(kinds) - set(FAULT_KINDS)
    if unknown or not kinds:
        raise CommandError(
            f"unknown fault kind(s) {', '.join(sorted(unknown)) or '(none given)'}; "
            f"choose from {', '.join(FAULT_KINDS)}"
        )
    return kinds


def _positive(minimum: int) -> Any:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from exc
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}")
        return value

    return parse


if __name__ == "__main__":
    sys.exit(main())
