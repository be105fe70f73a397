"""The commands that serve the pipeline's parts for ``sam local`` and apps: ``covers local-stack`` (moto
server, vendor emulator, HTTP API), ``covers invoke`` (a handler without Docker), ``covers emulator`` and
``covers webhook-event``."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from covers_local.cli_console import LOG_FILE, Console, positive
from covers_local.emulator import FAULT_KINDS, SAFE_FAULTS, EmulatorConfig, VendorEmulator
from covers_local.lambda_events import signed_webhook_event
from covers_ops.deployed import CommandError

#: Where ``covers local-stack`` writes the ``--env-vars`` file for ``sam local`` (and ``covers invoke``).
LOCAL_ENV_FILE = ".aws-sam/local-env.json"
#: How a Lambda container reaches the machine it runs on (Docker Desktop; ``--add-host`` on Linux).
CONTAINER_HOST = "host.docker.internal"
CONTAINER_HOST_URL = f"://{CONTAINER_HOST}:"


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


def add_commands(sub: Any) -> None:
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
    served.add_argument("--aws-port", type=positive(0), default=5050, help="moto server port (0: any)")
    served.add_argument("--vendor-port", type=positive(0), default=8787, help="vendor emulator port")
    served.add_argument("--api-port", type=positive(0), default=3001, help="HTTP API port")
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


def _fault_kinds(text: str) -> tuple[str, ...]:
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    unknown = set(kinds) - set(FAULT_KINDS)
    if unknown or not kinds:
        raise CommandError(
            f"unknown fault kind(s) {', '.join(sorted(unknown)) or '(none given)'}; "
            f"choose from {', '.join(FAULT_KINDS)}"
        )
    return kinds
