"""``covers run`` and ``covers demo``: music tasks through the local pipeline (moto, the real handlers and
state machine) against the vendor emulator or a vendor URL, with a summary table or JSON."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import socket
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from covers_core.domain.model import CoverRecord, parse_iso
from covers_core.errors import WAITS_IN_WORKFLOW

from covers_local.archive_server import ArchiveServer, delivered_images
from covers_local.cli_console import LOG_FILE, Console, Progress, examples, http_url, whole_number
from covers_local.emulator import EmulatorConfig, VendorEmulator
from covers_ops.cli import music_task_id
from covers_ops.deployed import CommandError, UsageError

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
    ("indie-demo-track-011", "SUCCEEDED", "tenant indie, a credit budget of 1 a day: its one credit"),
]
#: Resumed by the demo once the emulator has made its cover (``covers resume``; no new credit).
DEMO_RESUME = ("slow-demo-track-009", "SUCCEEDED")
#: Blocked while the credits are out, its message given up on; repaired by the reconciler once they are back.
DEMO_REPAIR = ("blocked-demo-track-010", "SUCCEEDED")
#: A tenant's credit budget (the ``tenant`` metadata field, as ``FirstWaitTenantField`` names it): its cap per
#: day, the track that waits BUDGET_EXCEEDED once the cap is spent (sent with the repair above), and the cap
#: that lets the reconciler queue it again (``covers budget --tenant indie --set-day 2``).
DEMO_TENANT = ("indie", 1, "indie-demo-track-012", 2)
TENANT_FIELD = "tenant"
#: The flags of a local run that set the functions' settings: the variable each one sets -> the flag.
SETTING_FLAGS = {
    "POLL_FIRST_WAIT_SECONDS": "--initial-wait",
    "POLL_INVOCATION_INTERVAL_SECONDS": "--poll-interval",
    "POLL_MAX_WAIT_SECONDS": "--max-wait",
}


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
    over_budget: Sequence[str] = (),
    tenant_caps: Mapping[str, tuple[int, int]] | None = None,
    template_schedule: bool = False,
    intro: Sequence[str] = (),
) -> dict[str, Any]:
    """Run ``task_ids`` through the local stack; returns {"tasks": [...], "deadLetters": [...], ...}.
    Unless ``template_schedule``, each check invocation makes one status call (the short local schedule).
    With ``read_status_of``, "statusApi": that task's (status code, body) from the status API handler.
    Then each of ``resume`` is made ready at the ``emulator`` and resumed as ``covers resume`` would
    (``"resumed"``: each one's statuses and new events).

    The functions' settings are checked (:func:`check_settings`) before anything is submitted: a flag
    they refuse stops the run with :class:`UsageError`, before any credit is spent; ``intro`` is said
    once they pass.

    With ``tenant_caps`` (tenant -> (day cap, the cap raised before the repair)), a task id that starts with
    ``<tenant>-`` names that tenant in its metadata; ``over_budget`` (with ``repair``) are sent after the run
    and wait BUDGET_EXCEEDED until the caps are raised; the functions' metrics are counted and
    ``"alarms"`` says which alarms they set off."""
    import boto3

    from covers_local.runner import LocalPipeline, LocalSettings, function_log
    from covers_local.stack import REGION

    own_emulator, vendor_url, api_key, vendor = _vendor(vendor_url, api_key, emulator)
    # With archiving, the archive is served on loopback as the delivery distribution serves it in AWS
    # (covers_local/archive_server.py): events and the status API carry URLs an app can fetch.
    pipeline: list[LocalPipeline] = []
    archive_server = (
        ArchiveServer(
            lambda: boto3.client("s3", region_name=REGION), lambda: pipeline[0].stack.archive_bucket
        )
        if archive
        else None
    )
    extra_env = {} if template_schedule else {"POLL_INVOCATION_BUDGET_SECONDS": "0"}
    if archive_server is not None:
        extra_env["DELIVERY_BASE_URL"] = archive_server.base_url
    settings = LocalSettings(
        vendor_url=vendor_url,
        api_key=api_key or "",
        first_wait=first_wait,
        poll_interval=poll_interval,
        max_wait=max_wait,
        archive=archive,
        extra_env=extra_env | ({"FIRST_WAIT_TENANT_FIELD": TENANT_FIELD} if tenant_caps else {}),
        log_level="INFO",  # what each function did, in the log file (docs/getting-started.md)
        metrics=bool(tenant_caps),
    )
    tenant_caps = tenant_caps or {}

    def request(task_id: str) -> dict[str, Any]:
        tenant = task_id.split("-", 1)[0]
        return {"musicTaskId": task_id} | (
            {"metadata": {TENANT_FIELD: tenant}} if tenant in tenant_caps else {}
        )

    log_path = log_path or Path(LOG_FILE)
    timeout = max_wait + first_wait + 120
    try:
        with function_log(log_path), LocalPipeline(settings) as stack:
            pipeline.append(stack)
            check_settings(os.environ)  # the functions' environment, as the pipeline set it
            for line in (*intro, vendor, f"aws: moto (in-process); function logs -> {log_path}"):
                console.say(line)
            for tenant, (cap, _) in tenant_caps.items():
                _set_day_cap(stack, tenant, cap)
            stack.submit([request(t) for t in task_ids])
            stack.submit(extra_messages)
            console.say(
                f"submitted {len(task_ids) + len(extra_messages)} message(s) to the cover requests queue"
            )
            progress = Progress(console, task_ids)
            try:
                records = stack.run(task_ids, timeout=timeout, on_change=progress.change)
            finally:
                progress.finish()
            summary = _summary(
                task_ids, records, stack.events, stack.dead_letters, stack.start_invocation_errors
            )
            if read_status_of is not None:
                summary["statusApi"] = stack.status_api(read_status_of)
                summary["delivered"] = delivered_images(summary["statusApi"][1]) if archive_server else []
            summary["resumed"] = [
                _resume_local(stack, task_id, own_emulator, console, timeout) for task_id in resume
            ]
            if repair or over_budget:
                raised = {tenant: raised for tenant, (_, raised) in tenant_caps.items()}
                parked = [request(t) for t in over_budget]
                summary["repaired"] = _repair_local(
                    stack, repair, parked, raised, own_emulator, console, timeout
                )
            else:
                summary["repaired"] = []
            if settings.metrics:
                summary["alarms"] = stack.alarms_fired()
            return summary
    finally:
        if archive_server is not None:
            archive_server.close()
        if own_emulator is not None and emulator is None:
            own_emulator.close()


def _vendor(
    vendor_url: str | None, api_key: str | None, emulator: VendorEmulator | None
) -> tuple[VendorEmulator | None, str, str | None, str]:
    """The vendor a run calls: ``vendor_url`` (checked reachable), else the built-in emulator (``emulator``
    or a new one, serving): (the emulator, its URL, the API key, the line that says which)."""
    if vendor_url is not None:
        if not api_key:
            raise UsageError("argument --api-key: required with --udio-url (or set COVERS_API_KEY)")
        _check_reachable(vendor_url)
        return None, vendor_url, api_key, f"vendor: {vendor_url}"
    own_emulator = emulator or VendorEmulator(EmulatorConfig(ready_after=(1.0, 3.0)))
    vendor_url = own_emulator.ensure_serving()
    return (
        own_emulator,
        vendor_url,
        api_key or own_emulator.config.api_key,
        f"vendor: built-in emulator at {vendor_url}",
    )


def check_settings(env: Mapping[str, str]) -> None:
    """Read every function's settings from ``env`` as the functions do (``covers_core.settings``, whose
    bounds are the template's: docs/configuration.md): one they refuse is a :class:`UsageError` naming the
    flag that set it. So ``covers run`` and ``covers demo`` refuse the same values the same way."""
    from covers_core import settings
    from covers_core.errors import ConfigError

    readers = (
        settings.StartSettings,
        settings.CheckSettings,
        settings.FinalizeSettings,
        settings.WebhookSettings,
        settings.ReconcileSettings,
        settings.StatusApiSettings,
    )
    for reader in readers:
        try:
            reader.from_env(env)
        except ConfigError as exc:
            named = [(v, flag) for v, flag in SETTING_FLAGS.items() if v in exc.message]
            if named:
                variable, flag = named[0]
                raise UsageError(f"argument {flag}: {_as_flag(exc.message, variable)}") from exc
            flags = ", ".join(SETTING_FLAGS.values())
            raise UsageError(f"the functions refuse these settings ({flags}): {exc.message}") from exc


def _as_flag(message: str, variable: str) -> str:
    """A settings error about ``variable`` as said of the flag that set it: ``environment variable
    POLL_MAX_WAIT_SECONDS must be >= 1, got '0'`` -> ``must be >= 1, got 0`` (the bound stays the settings'
    own, ``covers_core.settings``)."""
    text = message.removeprefix(f"environment variable {variable} ")
    return re.sub(r"got '([^']*)'$", r"got \1", text)


def _resume_local(
    stack: Any, task_id: str, emulator: VendorEmulator | None, console: Console, timeout: float
) -> dict[str, Any]:
    """The demo's ``covers resume`` of ``task_id`` on the local stack, after the emulator made its cover."""
    if emulator is None:
        raise CommandError("resuming in a local run needs the built-in emulator")
    emulator.finish(task_id)
    before = stack.records()[task_id].status
    from covers_ops import deployed  # the operator's own `covers resume`, on the local stack

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


def _repair_local(  # noqa: PLR0917 - the demo's one repair scene
    stack: Any,
    blocked: Sequence[str],
    parked: Sequence[dict[str, Any]],
    raised_caps: Mapping[str, int],
    emulator: VendorEmulator | None,
    console: Console,
    timeout: float,
) -> list[dict[str, Any]]:
    """The demo's reconciler repair: each of ``blocked`` is refused for want of credits (BLOCKED) until its
    message is given up on (the dead-letter queue), each of ``parked`` waits BUDGET_EXCEEDED (its tenant's
    cap is spent); the credits come back, the caps are raised to ``raised_caps``; one reconciler run queues
    them all again."""
    if emulator is None:
        raise CommandError("a repair in a local run needs the built-in emulator")
    from covers_core.domain.model import Status

    credits, emulator.credits = emulator.credits, 0
    stack.submit([{"musicTaskId": t} for t in blocked])
    stack.submit(parked)
    over_budget = [p["musicTaskId"] for p in parked]
    paths: dict[str, list[str]] = {t: [] for t in (*blocked, *over_budget)}

    def change(task: str, old: str | None, new: str, record: CoverRecord | None) -> None:
        path = paths.get(task)
        if path is not None and (not path or new != path[-1]):
            console.change(task, path[-1] if path else None, new, record)
            path.append(new)

    def waiting() -> bool:  # each blocked one given up on by its last delivery, each parked one parked
        records = stack.read_records(paths)
        for task, record in records.items():
            change(task, None, record.status, record)
        dead = stack.read_dead_letters()
        return not (
            all(any(_names(d, t) for d in dead) for t in blocked)
            and all(t in records and records[t].status == Status.BUDGET_EXCEEDED for t in over_budget)
        )

    deadline = time.monotonic() + timeout
    while waiting():
        if time.monotonic() > deadline:
            raise CommandError(f"{', '.join(paths)} never reached the dead-letter queue or BUDGET_EXCEEDED")
        if not stack.pump():
            time.sleep(0.2)
    # The reconciler leaves a record alone while its claim could still be live (the lease).
    time.sleep(stack.settings.claim_lease_seconds + 1)
    emulator.recharge(credits)
    for tenant, cap in raised_caps.items():
        _set_day_cap(stack, tenant, cap)
        console.say(f"tenant {tenant}'s credit budget raised to {cap} a day (covers budget --set-day)")
    if raised_caps:
        # The functions read caps at most a minute old; fresh containers here, rather than a minute's wait.
        from covers_core.wiring import reset

        reset()
    console.say("credits are back: the reconciler runs (every ReconcileIntervalMinutes when deployed)")
    report = stack.reconcile()
    console.say(f"reconciler: {json.dumps(report['repaired'])} (examined {report['examined']} open records)")
    already = len(stack.events)
    stack.run(list(paths), timeout=timeout, on_change=change)
    new_events = stack.events[already:]
    return [
        {
            "musicTaskId": task,
            "statuses": path,
            "repaired": report["repaired"],
            "events": [e for e in new_events if e["detail"]["musicTaskId"] == task],
        }
        for task, path in paths.items()
    ]


def _set_day_cap(stack: Any, tenant: str, cap: int) -> None:
    """``covers budget --stack covers-local --tenant TENANT --set-day CAP``, on the local stack."""
    from covers_core.domain.budget import tenant_scope

    from covers_ops.budget import stack_budgets

    store, _ = stack_budgets(stack.STACK_NAME, None)
    store.set_caps(tenant_scope(tenant), day=cap)


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
    if "alarms" in summary:  # each one notification to the alarm topic (docs/operations.md, "Alarms")
        fired = ", ".join(f"{name} x{n}" for name, n in sorted(summary["alarms"].items())) or "none"
        console.say(f"alarms set off (the functions' metrics, as CloudWatch evaluates them): {fired}")


def status_api_line(music_task_id: str, status: int, body: dict[str, Any]) -> str:
    """One line showing what an app reading the status API got: the code and the body's main fields."""
    shown = {key: body[key] for key in ("status", "coverTaskId", "pollCount", "error") if key in body}
    text = json.dumps(shown or body)
    if len(shown) < len(body):
        text = text[:-1] + ", ...}"
    return f"status API: GET /covers/{music_task_id} -> {status} {text}"


def cmd_run(args: argparse.Namespace) -> int:
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
    intro = [
        "covers demo: the real handlers and state machine on moto, against the vendor emulator",
        *(f"  {task_id:<26} expect {expected:<16} {what}" for task_id, expected, what in DEMO_TASKS),
        "  plus: a duplicate message for demo-track-001 (must not spend a second credit),",
        "        and a message that is not JSON (must land in the dead-letter queue)",
        f"  then {DEMO_REPAIR[0]}: refused while the credits are out, given up on by the queue;",
        f"  and {DEMO_TENANT[2]}: tenant {DEMO_TENANT[0]}'s budget is spent: it waits BUDGET_EXCEEDED,",
        "        with no credit and no event, until its cap is raised",
        "        the reconciler queues both again once credits and cap allow (no operator step)",
    ]
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
            over_budget=[DEMO_TENANT[2]],
            tenant_caps={DEMO_TENANT[0]: (DEMO_TENANT[1], DEMO_TENANT[3])},
            intro=intro,
        )
    finally:
        emulator.close()
    print_table(summary, console)
    console.say(status_api_line(DEMO_TASKS[0][0], *summary["statusApi"]))
    delivered = summary.get("delivered") or []
    for item in delivered:  # fetched from the local archive server, as an app would
        console.say(f"{item['what']}: {item['url']}")
        size = f", {item['size']}" if "size" in item else ""
        console.say(f"  GET {item['status']} {item['contentType']}, {item['bytes']} bytes{size}")
    served = [i["what"] for i in delivered if i["status"] == 200]
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
        if repaired["statuses"][-1:] != [DEMO_REPAIR[1]] or repaired["repaired"] != {"Requeue": 2}:
            mismatches.append((repaired["musicTaskId"], repaired["statuses"][-1], DEMO_REPAIR[1]))
    if "BudgetExceededAlarm" not in summary["alarms"]:
        mismatches.append(("BudgetExceededAlarm", "silent", "ALARM"))
    for task_id, got, expected in mismatches:
        console.say(f"UNEXPECTED: {task_id} ended {got}, expected {expected}")
    if served != ["image", "thumbnail"]:
        console.say(f"UNEXPECTED: the archive served {served or 'nothing'} of {DEMO_TASKS[0][0]}")
        mismatches.append((DEMO_TASKS[0][0], "not served", "served"))
    if args.json:
        json.dump(summary["tasks"], sys.stdout, indent=2)
        sys.stdout.write("\n")
    return 1 if mismatches else 0


def add_commands(sub: Any) -> None:
    demo = sub.add_parser(
        "demo",
        help="run sample music tasks through the local pipeline and the emulator",
        description="Run ten sample music tasks, one per emulator scenario (success, late music, vendor "
        "faults, failures, a lost answer, a timeout later resumed, a task repaired by the reconciler), "
        "through the local pipeline: the real handlers and state machine on moto. Exit code 1 if any task "
        "ends otherwise than expected. What `make demo` runs.",
        epilog=examples("covers demo", "covers demo --json > demo.json"),
    )
    demo.add_argument(
        "--max-wait",
        type=whole_number,
        default=8,
        help="deadline in seconds (POLL_MAX_WAIT_SECONDS: the slow- task times out at it)",
    )
    demo.add_argument("--json", action="store_true", help="also print the results as JSON on stdout")
    demo.set_defaults(func=cmd_demo)

    run = sub.add_parser(
        "run",
        help="run music tasks through the local pipeline",
        description="Send music tasks through the whole pipeline locally (the real handlers and state "
        "machine on moto) against the built-in vendor emulator or a vendor URL, and return once each one is "
        "done: a summary table on stderr, or --json on stdout. Exit code 0 when the run completed, whatever "
        "the tasks' outcomes. Function logs go to " + LOG_FILE + ".",
        epilog=examples(
            "covers run gen123 gen456",
            "covers run --json gen123 > result.json",
            "covers run --udio-url http://127.0.0.1:8787/api --api-key local-demo-key gen123",
            "COVERS_API_KEY=... covers run --udio-url https://udioapi.pro/api gen123",
        ),
    )
    run.add_argument(
        "music_task_ids", nargs="+", metavar="MUSIC_TASK_ID", type=music_task_id, help="music task ids"
    )
    run.add_argument("--udio-url", type=http_url, help="vendor base URL (default: the built-in emulator)")
    run.add_argument("--api-key", help="vendor API key (or COVERS_API_KEY); needed with --udio-url")
    run.add_argument("--initial-wait", type=whole_number, default=2, help="seconds before the first check")
    run.add_argument(
        "--poll-interval",
        type=whole_number,
        default=5,
        help="seconds between status calls: each check makes one call and the state machine waits between "
        "them, at the nearest of its waits ("
        + ", ".join(f"{e.cadence} s" for e in WAITS_IN_WORKFLOW)
        + "); with --template-schedule, the interval inside a check invocation",
    )
    run.add_argument("--max-wait", type=whole_number, default=120, help="deadline in seconds")
    run.add_argument("--archive", action="store_true", help="archive images to (moto) S3")
    run.add_argument(
        "--template-schedule",
        action="store_true",
        help="poll exactly as a default deployment does (template defaults, adaptive first wait, polling "
        "inside each check invocation), in real time; overrides --initial-wait/--poll-interval/--max-wait",
    )
    run.add_argument("--json", action="store_true", help="print one JSON array on stdout")
    run.set_defaults(func=cmd_run)
