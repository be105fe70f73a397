"""The commands that serve the pipeline's parts for ``sam local`` and apps: ``covers local-stack`` (moto
server, vendor emulator, HTTP API), ``covers invoke`` (a handler without Docker), ``covers emulator`` and
``covers webhook-event``."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from covers_local.cli_console import (
    LOG_FILE,
    NO_METRICS_WARNING,
    Console,
    choices_of,
    examples,
    fraction,
    http_url,
    port,
    positive,
    readable_file,
    seconds,
)
from covers_local.emulator import FAULT_KINDS, SAFE_FAULTS, EmulatorConfig, VendorEmulator
from covers_local.lambda_events import WEBHOOK_PATH, signed_webhook_event
from covers_ops.cli import music_task_id
from covers_ops.deployed import CommandError, UsageError

#: Where ``covers local-stack`` writes the ``--env-vars`` file for ``sam local`` (and ``covers invoke``).
LOCAL_ENV_FILE = ".aws-sam/local-env.json"
#: Credentials for the local stack's moto server, which takes any (docs/getting-started.md, "A local stack").
LOCAL_CREDENTIALS = "AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x"
#: How a Lambda container reaches the machine it runs on (Docker Desktop; ``--add-host`` on Linux).
CONTAINER_HOST = "host.docker.internal"
CONTAINER_HOST_URL = f"://{CONTAINER_HOST}:"
#: ``covers invoke``'s handler process ignores Powertools' warning that a handler emitted no metric, and
#: that warning only (as a local run does: ``covers_local.cli_console.NO_METRICS_WARNING``).
QUIET_METRICS_WARNING = f"ignore:{NO_METRICS_WARNING}:UserWarning"


def cmd_emulator(args: argparse.Namespace) -> int:
    if args.ready_min > args.ready_max:
        raise UsageError(f"argument --ready-min: {args.ready_min} is more than --ready-max {args.ready_max}")
    config = EmulatorConfig(
        api_key=args.api_key,
        credits=args.credits,
        ready_after=(args.ready_min, args.ready_max),
        failure_rate=args.failure_rate,
        fault_rate=args.fault_rate,
        fault_kinds=args.fault_kinds,
        seed=args.seed,
    )
    # Stop cleanly on Ctrl-C or SIGTERM, even when started from a shell that ignores SIGINT (a
    # background job inherits that).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    emulator = VendorEmulator(config)
    try:
        url = emulator.serve(args.host, args.port, advertise_host=args.advertise_host)
    except OSError as exc:
        taken = f"cannot listen on {args.host}:{args.port} ({exc.strerror})"
        raise CommandError(f"{taken}: pass another --port") from exc
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
        args.body_file.read_bytes()
        if args.body_file
        else json.dumps({"musicTaskId": args.music_task_id or "gen123213213213123bksv"}).encode()
    )
    event = signed_webhook_event(args.secret, body)
    if args.curl:
        url = args.curl + event["rawPath"]
        headers = [f"{name}: {value}" for name, value in event["headers"].items()]
        command = ["curl", "-sS", "-i", "-X", "POST", url]
        for header in headers:
            command += ["-H", header]
        print(shlex.join([*command, "--data-binary", event["body"]]))
        return 0
    json.dump(event, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


def api_base_url(text: str) -> str:
    """An argparse ``type``: the HTTP API's base URL, given as such or as the webhook's own URL (what the
    stack's WebhookUrl output says: docs/deploy.md), without a trailing slash."""
    base = http_url(text).rstrip("/")
    return base.removesuffix(WEBHOOK_PATH).rstrip("/")


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
    console = Console()
    console.say("covers local-stack: deploying template.yaml into moto ...")
    log_path = Path(args.log_file)
    stop = threading.Event()
    try:
        # While it starts: Ctrl-C or SIGTERM interrupts (even from a shell that ignores SIGINT, as a
        # background job inherits it).
        with _signals_raise(), function_log(log_path), LocalStack(options) as served:
            _say_local_stack(console, served, args, log_path)
            # While it serves: Ctrl-C or SIGTERM only sets `stop`, which the serving loop checks between
            # rounds. An interrupt raised instead could land in a callback whose exceptions are ignored
            # (awscrt's) and be lost: one Ctrl-C always stops it.
            with _signals_set(stop):
                served.serve(
                    console.change,
                    stop=stop,
                    on_error=lambda text: console.say(
                        f"covers local-stack: a round failed ({text}); still serving"
                    ),
                    on_problem=lambda text: console.say(f"{console.elapsed()} {text}"),
                )
    except PortTakenError as exc:
        raise CommandError(str(exc)) from exc
    except KeyboardInterrupt:
        pass
    console.say("covers local-stack: stopped")
    return 0


#: The signals that stop a server command: Ctrl-C and SIGTERM.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def _signals_raise() -> Iterator[None]:
    """Ctrl-C or SIGTERM raises KeyboardInterrupt; the previous handlers are back on exit."""
    previous = {s: signal.signal(s, signal.default_int_handler) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


@contextlib.contextmanager
def _signals_set(stop: threading.Event) -> Iterator[None]:
    """Ctrl-C or SIGTERM sets ``stop`` (and raises nothing); the previous handlers are back on exit."""

    # set from a thread of its own: the handler may run while this thread holds the event's lock
    def set_stop(_number: int, _frame: object) -> None:
        threading.Thread(target=stop.set, daemon=True).start()

    previous = {s: signal.signal(s, set_stop) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


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
    covers = covers_command()
    sample = f"StartCoverFunction -e events/start_cover.json --env-vars {args.env_file}"
    console.say(f"  sam local invoke {sample}")
    console.say(f"  {covers} invoke {sample}")
    console.say(
        f"  {covers} webhook-event --secret {webhook_key} --music-task-id my-track-1 --curl {endpoints.api}"
    )
    aws = f"AWS_ENDPOINT_URL={endpoints.aws} AWS_DEFAULT_REGION={REGION} {LOCAL_CREDENTIALS}"
    console.say(f"  {aws} {covers} status --stack {stack} my-track-1")
    console.say(
        f"covers local-stack ready: aws={endpoints.aws} vendor={endpoints.vendor} api={endpoints.api}"
    )


def covers_command() -> str:
    """``covers`` as the user can type it: ``covers`` when that is the command running (on PATH, an
    activated venv), else its path, relative to the working directory when under it (``.venv/bin/covers``)."""
    argv0 = Path(sys.argv[0])
    beside = Path(sys.executable).parent / "covers"  # (run as `python -m covers_local.cli`)
    command = argv0 if argv0.name == "covers" else beside
    on_path = shutil.which("covers")
    if on_path and os.path.realpath(on_path) == os.path.realpath(command):
        return "covers"
    if not command.exists():
        return "covers"
    absolute = command.absolute()
    try:
        return shlex.quote(str(absolute.relative_to(Path.cwd())))
    except ValueError:
        return shlex.quote(str(absolute))


def cmd_invoke(args: argparse.Namespace) -> int:
    from covers_local.sam_env import SamEnvError, function_environment
    from covers_local.stack import project_root

    event_file = args.event
    _check_event(event_file)  # (before SAM's code reads the template: seconds)
    template = Path(args.template) if args.template else project_root() / "template.yaml"
    try:
        environment, code_dir = function_environment(
            template, args.function, Path(args.env_vars), shell=os.environ
        )
    except SamEnvError as exc:
        if isinstance(exc.__cause__, ImportError):
            raise CommandError(str(exc)) from exc
        raise UsageError(str(exc)) from exc  # the function name or the env file
    # The function runs on this machine, not in a container: the address containers reach the local stack
    # by (the env file's default) is loopback here.
    environment = {k: v.replace(CONTAINER_HOST_URL, "://127.0.0.1:") for k, v in environment.items()}
    # Like a Lambda container: the function's variables and nothing else of ours (PATH to find Python).
    environment["PATH"] = os.environ.get("PATH", "")
    environment["PYTHONWARNINGS"] = QUIET_METRICS_WARNING
    completed = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-m", "covers_local.lambda_process", str(code_dir), str(event_file.resolve())],
        env=environment,
        check=False,
    )
    return completed.returncode


def add_commands(sub: Any) -> None:
    emu = sub.add_parser(
        "emulator",
        help="serve the vendor emulator on its own",
        description="Serve the vendor emulator (the vendor's API: same paths, Bearer auth, bodies, one "
        "credit per generate) until Ctrl-C. Each music task id's prefix picks a scenario "
        '(docs/getting-started.md, "The vendor emulator"); random faults on request.',
        epilog=examples(
            "covers emulator --port 8787",
            "covers emulator --host 0.0.0.0 --advertise-host 192.168.1.20   # reachable from other machines",
            "covers emulator --fault-rate 0.1 --seed 7",
        ),
    )
    emu.add_argument("--host", default="127.0.0.1", help="listen address (0.0.0.0: every interface)")
    emu.add_argument("--port", type=port, default=8787, help="listen port (0: any free one)")
    emu.add_argument(
        "--advertise-host",
        help="host name in the URLs the emulator hands out (image URLs, the printed URL) "
        "(default: --host, or 127.0.0.1 when --host is 0.0.0.0 or ::)",
    )
    emu.add_argument("--api-key", default="local-demo-key", help="the API key callers must send")
    emu.add_argument("--credits", type=positive(0), default=1000, help="credits (one per generate)")
    emu.add_argument("--ready-min", type=seconds, default=1.0, help="shortest time to ready, seconds")
    emu.add_argument("--ready-max", type=seconds, default=3.0, help="longest time to ready, seconds")
    emu.add_argument("--failure-rate", type=fraction, default=0.0, help="share of covers that end FAILED")
    emu.add_argument("--fault-rate", type=fraction, default=0.0, help="share of calls answered with a fault")
    emu.add_argument(
        "--fault-kinds",
        type=choices_of(FAULT_KINDS),
        default=SAFE_FAULTS,
        help=f"comma-separated faults to draw from (default: {','.join(SAFE_FAULTS)}; also drop_after)",
    )
    emu.add_argument("--seed", type=int, help="random seed, for repeatable runs (default: a fresh one)")
    emu.set_defaults(func=cmd_emulator)

    hook = sub.add_parser(
        "webhook-event",
        help="print a freshly signed webhook event (for sam local invoke -e)",
        description="Print the HTTP API event of a webhook request signed with --secret (valid for 5 "
        "minutes), for `sam local invoke MusicWebhookFunction -e` or `covers invoke`; or, with --curl, "
        "the curl command that posts it to a running local stack.",
        epilog=examples(
            "covers webhook-event --secret local-webhook-signing-key --music-task-id my-track-1 > event.json",
            'eval "$(covers webhook-event --secret local-webhook-signing-key --music-task-id my-track-1 '
            '--curl http://127.0.0.1:3001)"',
        ),
    )
    hook.add_argument("--secret", required=True, help="the webhook signing key")
    hook.add_argument(
        "--body-file", type=readable_file, help="JSON body to sign (default: a request for --music-task-id)"
    )
    hook.add_argument(
        "--music-task-id",
        type=music_task_id,
        help="the music task the body asks a cover for (default: the samples' gen123213213213123bksv)",
    )
    hook.add_argument(
        "--curl",
        metavar="API_URL",
        type=api_base_url,
        help="print a curl command posting the signed request to API_URL instead: the API's base URL or "
        "the full webhook URL (the stack's WebhookUrl output)",
    )
    hook.set_defaults(func=cmd_webhook_event)

    served = sub.add_parser(
        "local-stack",
        help="serve the stack locally (moto server, vendor emulator, HTTP API) for sam local and apps",
        description="Serve the whole stack on local addresses until Ctrl-C: template.yaml deployed into a "
        "moto server, the vendor emulator, the HTTP API, the queue fed to the start function and the "
        "workflow run; writes an --env-vars file for sam local. Status changes, dead-lettered messages and "
        "failed workflow executions are printed as they happen.",
        epilog=examples(
            "covers local-stack",
            "covers local-stack --host 0.0.0.0   # Linux: sam local containers reach it over the bridge",
        ),
    )
    served.add_argument("--host", default="127.0.0.1", help="listen address (0.0.0.0 lets containers in)")
    served.add_argument(
        "--advertise-host",
        default=CONTAINER_HOST,
        help="how a Lambda container reaches this machine (written to the env file)",
    )
    # 5050, not moto's usual 5000 (macOS's AirPlay receiver); 3001, not 3000 (sam local start-api's)
    served.add_argument("--aws-port", type=port, default=5050, help="moto server port (0: any)")
    served.add_argument("--vendor-port", type=port, default=8787, help="vendor emulator port (0: any)")
    served.add_argument("--api-port", type=port, default=3001, help="HTTP API port (0: any)")
    served.add_argument("--env-file", default=LOCAL_ENV_FILE, help="--env-vars file to write")
    served.add_argument("--log-file", default=LOG_FILE, help="where the functions' logs go")
    served.add_argument(
        "--no-samples", action="store_true", help="do not seed the records the events/ samples refer to"
    )
    served.set_defaults(func=cmd_local_stack)

    invoke = sub.add_parser(
        "invoke",
        help="sam local invoke without Docker: one handler, in a process of its own",
        description="Run one function's handler on an event, as `sam local invoke` would (the same "
        "environment, computed by SAM CLI's code from --env-vars) but without Docker: the result on "
        "stdout, the function's logs on stderr, exit code 1 if the handler raised.",
        epilog=examples(
            "covers invoke StartCoverFunction -e events/start_cover.json --env-vars .aws-sam/local-env.json",
            "covers invoke CoverStatusApiFunction -e events/cover_status_api.json "
            "--env-vars .aws-sam/local-env.json",
        ),
    )
    invoke.add_argument("function", metavar="FUNCTION", help="logical id, e.g. StartCoverFunction")
    invoke.add_argument(
        "-e",
        "--event",
        required=True,
        type=readable_file,
        help="event file, a JSON object (e.g. events/start_cover.json)",
    )
    invoke.add_argument(
        "--env-vars",
        required=True,
        type=readable_file,
        help="env file (covers local-stack writes one; without it the function would use real AWS and the "
        "paid vendor)",
    )
    invoke.add_argument("-t", "--template", help="template (default: the project's template.yaml)")
    invoke.set_defaults(func=cmd_invoke)


def _check_event(path: Path) -> None:
    """The handlers take a JSON object (as every event in events/ is): anything else is refused here, not
    with the handler's traceback."""
    text = path.read_text(encoding="utf-8", errors="replace")
    if not text.strip():
        raise UsageError(f"argument -e/--event: {path} is empty; an event is a JSON object")
    try:
        event = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"argument -e/--event: {path} is not JSON ({exc})") from exc
    if not isinstance(event, dict):
        kind = {list: "an array", str: "a string", bool: "a boolean"}.get(type(event), "a number or null")
        raise UsageError(f"argument -e/--event: {path} holds {kind}; an event is a JSON object {{...}}")
