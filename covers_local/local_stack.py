"""``covers local-stack``: the stack served on local addresses, for ``sam local`` and apps in development.

What it serves, all from one process:

* **AWS**: ``template.yaml`` deployed into moto (:mod:`covers_local.stack`), exposed by moto's server on
  ``--aws-port``. Anything that can send AWS API requests to an endpoint URL reaches it: ``sam local
  invoke`` (through the env file below), the AWS CLI (``--endpoint-url``), ``covers status --stack
  covers-local`` with ``AWS_ENDPOINT_URL`` set.
* **the vendor emulator** on ``--vendor-port`` (:mod:`covers_local.emulator`).
* **the HTTP API** on ``--api-port``: ``POST /webhooks/music`` and ``GET /covers/{musicTaskId}``, each
  request turned into the HTTP API's (payload 2.0) event for the real handler, as API Gateway would.
  Locally the IAM route is not authenticated: keep the server on a loopback address. And ``GET
  /archive/<key>``: the archive (archiving is on locally), served as the delivery distribution serves it in
  AWS (:mod:`covers_local.archive_server`); events and the status API name images by these URLs
  (``DELIVERY_BASE_URL``, also in the env file: the address apps on this machine fetch them at).
* **the event source mapping and the workflow**: the requests queue is fed to the start function and
  moto's Step Functions engine runs the state machine with the check and finalize handlers, as in
  ``covers run`` (:class:`covers_local.runner.LocalPipeline`). So a cover queued by ``curl`` at the
  webhook, by ``sam local invoke StartCoverFunction`` or by ``aws sqs send-message`` is made and reported.

It writes an ``--env-vars`` file for ``sam local invoke`` / ``sam local start-api``: every variable of
every function as the stack sets it, with ``COVERS_AWS_ENDPOINT_URL`` (the endpoint override every AWS
client honours) and ``VENDOR_BASE_URL`` at ``--advertise-host``, the address a Lambda container reaches
this machine by. And it seeds what the sample events in ``events/`` refer to (:func:`seed_samples`).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import boto3
from covers_core.adapters.records import CoverStore
from covers_core.domain.claim import Settled
from covers_core.domain.requests import request_from_mapping
from covers_core.settings import AWS_ENDPOINT_VARIABLE, DELIVERY_BASE_URL_VARIABLE, VENDOR_BASE_URL_VARIABLE
from covers_core.wiring import reset as reset_wiring
from moto.server import ThreadedMotoServer

from covers_local import moto_patches
from covers_local.archive_server import ARCHIVE_PATH, archive_answer
from covers_local.emulator import EmulatorConfig, VendorEmulator
from covers_local.lambda_events import WEBHOOK_PATH, http_api_event, status_api_event
from covers_local.runner import LocalPipeline, LocalSettings, OnChange
from covers_local.stack import REGION, project_root

#: The API Gateway HTTP API's payload limit.
MAX_BODY_BYTES = 10 * 1024 * 1024
#: How long the local HTTP API waits on a client that stops sending.
REQUEST_TIMEOUT_SECONDS = 30
_STATUS_PREFIX = "/covers/"


@dataclass(frozen=True)
class LocalStackOptions:
    #: Where to write the ``--env-vars`` file.
    env_file: Path
    #: How a Lambda container reaches this machine (written into the env file).
    advertise_host: str
    #: Where the servers listen (``covers local-stack --help`` gives the defaults).
    host: str
    aws_port: int
    vendor_port: int
    api_port: int
    seed_samples: bool = True
    first_wait: int = 1
    poll_interval: int = 1
    max_wait: int = 300
    #: Archive images (ArchiveImages=true), served at ``<api>/archive/<key>``.
    archive: bool = True


@dataclass(frozen=True)
class Endpoints:
    aws: str
    vendor: str
    api: str

    def advertised(self, host: str) -> Endpoints:
        """The same endpoints as a container on this machine reaches them (``host``)."""
        return Endpoints(*(_with_host(url, host) for url in (self.aws, self.vendor, self.api)))


def _netloc(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"  # an IPv6 address goes in brackets


def _with_host(url: str, host: str) -> str:
    parts = urlsplit(url)
    assert parts.port is not None
    return parts._replace(netloc=_netloc(host, parts.port)).geturl()


def _local_url(host: str, port: int, path: str = "") -> str:
    """How this machine reaches a server listening on ``host`` (any address: a loopback one)."""
    reachable = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)  # noqa: S104
    return f"http://{_netloc(reachable, port)}{path}"


class LocalStack:
    """Context manager: everything :mod:`covers_local.local_stack` describes, served until exit."""

    def __init__(self, options: LocalStackOptions, *, root: Path | None = None) -> None:
        self.options = options
        self.root = root or project_root()
        self.emulator = VendorEmulator(EmulatorConfig(ready_after=(1.0, 3.0)))
        self.pipeline: LocalPipeline | None = None
        self._moto: ThreadedMotoServer | None = None
        self._api: ThreadingHTTPServer | None = None
        self.endpoints: Endpoints | None = None
        self.seeded: list[str] = []
        self._unsupported: moto_patches.Patch | None = None

    def __enter__(self) -> LocalStack:
        o = self.options
        try:
            ports = {"--aws-port": o.aws_port, "--vendor-port": o.vendor_port, "--api-port": o.api_port}
            for option, port in ports.items():  # before anything starts (moto's server would hang instead)
                _ensure_free(o.host, port, option)
            self.emulator.serve(o.host, o.vendor_port)
            vendor = _local_url(o.host, _port(self.emulator.base_url), "/api")
            settings = LocalSettings(
                vendor_url=vendor,
                api_key=self.emulator.config.api_key,
                first_wait=o.first_wait,
                poll_interval=o.poll_interval,
                max_wait=o.max_wait,
                archive=o.archive,  # served at <api>/archive/<key> (covers_local/archive_server.py)
                extra_env={"POLL_INVOCATION_BUDGET_SECONDS": "0"},
            )
            self.pipeline = LocalPipeline(settings, root=self.root).__enter__()
            logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
            self._unsupported = moto_patches.unsupported_services().__enter__()  # 501, not a traceback
            self._moto = ThreadedMotoServer(ip_address=o.host, port=o.aws_port, verbose=False)
            self._moto.start()
            _, moto_port = self._moto.get_host_and_port()
            self._api = _serve_api(self.pipeline, o.host, o.api_port)
            self.endpoints = Endpoints(
                aws=_local_url(o.host, moto_port),
                vendor=vendor,
                api=_local_url(o.host, self._api.server_address[1]),
            )
            # Events and the status API name archived images by their URL on this API (apps on this machine
            # fetch them there), set before any function builds its objects.
            os.environ[DELIVERY_BASE_URL_VARIABLE] = self.endpoints.api + ARCHIVE_PATH.rstrip("/")
            reset_wiring()
            if o.seed_samples:
                self.seeded = seed_samples(self.pipeline, self.emulator, self.root / "events")
            write_env_file(o.env_file, self.pipeline, self.endpoints.advertised(o.advertise_host))
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop taking requests, wait for those being handled, then take the mocked AWS down (last, so no
        request ever runs without it)."""
        api, moto, pipeline, unsupported = self._api, self._moto, self.pipeline, self._unsupported
        self._api = self._moto = self.pipeline = self._unsupported = None
        try:
            if api is not None:
                api.shutdown()
                api.server_close()  # joins the request threads
            if moto is not None:
                moto.stop()
            if unsupported is not None:
                unsupported.__exit__(None, None, None)
        finally:
            try:
                self.emulator.close()
            finally:
                if pipeline is not None:
                    pipeline.__exit__(None, None, None)

    def serve(
        self,
        on_change: OnChange,
        stop: threading.Event | None = None,
        on_error: Callable[[str], None] | None = None,
        on_problem: Callable[[str], None] | None = None,
    ) -> None:
        """Feed the queue to the start function and report each record's changes until ``stop`` is set
        (or Ctrl-C). A failure of one round (a handler, moto, a record it cannot read) is reported to
        ``on_error`` and the stack keeps serving: one bad request never takes it down. ``on_problem`` is
        told, as they happen, of messages arriving in the dead-letter queue and of workflow executions
        that failed, timed out or were aborted (:class:`Problems`)."""
        assert self.pipeline is not None, "enter the LocalStack first"
        stop = stop or threading.Event()
        seen: dict[str, str] = {}
        problems: Problems | None = None  # made in the first round, so a failure there is that round's alone
        next_scan = 0.0
        while not stop.is_set():
            handled = 0
            try:
                handled = self.pipeline.pump()
                if time.monotonic() >= next_scan:
                    for task_id, record in self.pipeline.records().items():
                        if seen.get(task_id) != record.status:
                            on_change(task_id, seen.get(task_id), record.status, record)
                            seen[task_id] = record.status
                    if on_problem is not None:
                        aws = self.endpoints.aws if self.endpoints else ""
                        problems = problems or Problems(self.pipeline, aws)
                        for problem in problems.new():
                            on_problem(problem)
                    next_scan = time.monotonic() + 0.5
            except Exception as exc:  # noqa: BLE001 - report it and keep serving: the next round may succeed
                if on_error is not None:
                    on_error(f"{type(exc).__name__}: {str(exc)[:300]}")
                stop.wait(1.0)
                continue
            if not handled:
                stop.wait(0.2)


class Problems:
    """What went wrong on the served stack since the last look, one line each: messages that arrived in
    the dead-letter queue (counted, never received: a ``covers redrive`` or ``aws sqs receive-message``
    running meanwhile must find them all) and workflow executions that FAILED, TIMED_OUT or were ABORTED
    (with the execution's error and cause)."""

    FAILED = ("FAILED", "TIMED_OUT", "ABORTED")

    def __init__(self, pipeline: LocalPipeline, aws_endpoint: str) -> None:
        self.pipeline = pipeline
        self.aws_endpoint = aws_endpoint
        self.sfn = boto3.client("stepfunctions", region_name=REGION)
        self.dead_letters = self._dlq_depth()
        self.failed = {e["executionArn"] for status in self.FAILED for e in pipeline.stack.executions(status)}

    def _dlq_depth(self) -> int:
        attributes = self.pipeline.sqs.get_queue_attributes(
            QueueUrl=self.pipeline.dlq_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )

    def new(self) -> list[str]:
        lines = []
        depth = self._dlq_depth()
        if depth > self.dead_letters:
            endpoint = f" --endpoint-url {self.aws_endpoint}" if self.aws_endpoint else ""
            lines.append(
                f"dead-letter queue: {depth - self.dead_letters} new message(s), {depth} waiting (aws sqs "
                f"receive-message --queue-url {self.pipeline.dlq_url}{endpoint} "
                "--message-attribute-names All reads them)"
            )
        self.dead_letters = depth
        stack = self.pipeline.stack
        for status in self.FAILED:
            for execution in stack.executions(status):
                arn = execution["executionArn"]
                if arn in self.failed:
                    continue
                self.failed.add(arn)
                described = self.sfn.describe_execution(executionArn=arn)
                why = ": ".join(str(described[k]) for k in ("error", "cause") if described.get(k))
                lines.append(
                    f"workflow execution {execution['name']} {status}" + (f" ({why[:300]})" if why else "")
                )
        return lines


class PortTakenError(Exception):
    """A port the local stack needs is in use."""


def _ensure_free(host: str, port: int, option: str) -> None:
    if port == 0:
        return
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        # As the servers bind: a port left in TIME_WAIT by a local stack that just stopped is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            taken = f"cannot listen on {host}:{port} ({exc.strerror})"
            raise PortTakenError(f"{taken}: pass another {option}") from exc


def _port(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None
    return port


def seed_samples(pipeline: LocalPipeline, emulator: VendorEmulator, events_dir: Path) -> list[str]:
    """Make the world the sample events in ``events/`` describe: the cover task that
    ``check_cover_status.json`` and ``finalize_cover.json`` name exists at the emulator (ready, two
    images), and its music task's record is IN_PROGRESS with it, as the start function leaves it (claimed
    and recorded through the record store, so the item is exactly what the code writes). Returns the
    seeded music task ids."""
    state = json.loads((events_dir / "check_cover_status.json").read_text(encoding="utf-8"))
    return [seed_cover(pipeline, emulator, state)]


def seed_cover(pipeline: LocalPipeline, emulator: VendorEmulator, state: dict[str, Any]) -> str:
    """The cover task ``state`` (a workflow state: ``musicTaskId``, ``coverTaskId``, ``correlationId``,
    ``metadata``) names, made at the emulator (ready, two images), and its music task's record
    IN_PROGRESS with it (as :func:`seed_samples` does for the samples; the bench seeds its own copies).
    Returns the music task id."""
    request = request_from_mapping(
        {k: state[k] for k in ("musicTaskId", "correlationId", "metadata") if k in state}
    )
    cover_task_id = str(state["coverTaskId"])
    emulator.add_cover(request.music_task_id, cover_task_id)
    store = CoverStore(pipeline.stack.table)
    now = datetime.now(UTC)
    claim = store.claim(request, now, 60)
    if not isinstance(claim, Settled):
        store.record_cover_task(request.music_task_id, claim.token, cover_task_id, now)
    return request.music_task_id


def env_vars(pipeline: LocalPipeline, endpoints: Endpoints) -> dict[str, dict[str, str]]:
    """The ``--env-vars`` document: each function's variables as the deployed stack sets them, with the
    AWS endpoint and the vendor at ``endpoints``."""
    document: dict[str, dict[str, str]] = {}
    for logical_id, function in sorted(pipeline.stack.functions.items()):
        variables = dict(function.environment)
        variables[AWS_ENDPOINT_VARIABLE] = endpoints.aws
        if VENDOR_BASE_URL_VARIABLE in variables:
            variables[VENDOR_BASE_URL_VARIABLE] = endpoints.vendor
        if (
            DELIVERY_BASE_URL_VARIABLE in variables
        ):  # the URL apps on this machine fetch, not the containers' one
            variables[DELIVERY_BASE_URL_VARIABLE] = os.environ.get(DELIVERY_BASE_URL_VARIABLE, "")
        document[logical_id] = dict(sorted(variables.items()))
    return document


def write_env_file(path: Path, pipeline: LocalPipeline, endpoints: Endpoints) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(env_vars(pipeline, endpoints), indent=2) + "\n"
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)  # readers never see half a file


def _serve_api(pipeline: LocalPipeline, host: str, port: int) -> ThreadingHTTPServer:
    """The HTTP API's two routes, each request handed to its real handler as API Gateway would. Every
    request's body is read in full (or the connection closed) before it is answered, so a keep-alive
    connection never reads one request's body as the next request."""
    webhook = pipeline.stack.functions["MusicWebhookFunction"].name
    status_api = pipeline.stack.functions["CoverStatusApiFunction"].name
    archive_s3 = functools.cache(lambda: boto3.client("s3", region_name=REGION))  # one, at the first GET

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = REQUEST_TIMEOUT_SECONDS  # a client that stops sending mid-request is dropped

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the local stack reports what each request changed instead

        def do_GET(self) -> None:
            self._route()

        do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = do_GET

        def _route(self) -> None:
            body = self._read_body()
            if body is None:
                return  # answered (or the client went away), connection closed
            url = urlsplit(self.path)
            headers = {name.lower(): value for name, value in self.headers.items()}
            request_id = str(uuid.uuid4())
            if self.command == "POST" and url.path == WEBHOOK_PATH:
                content_type = self.headers.get("Content-Type")
                event = http_api_event(
                    body,
                    signature=self.headers.get("X-Covers-Signature"),
                    b64=not _is_text(content_type),
                    content_type=content_type,
                    headers=headers,
                    query=url.query,
                    request_id=request_id,
                )
                self._lambda(webhook, event)
                return
            if self.command in ("GET", "HEAD") and url.path.startswith(ARCHIVE_PATH):
                bucket = pipeline.stack.archive_bucket
                self._send(*archive_answer(archive_s3(), bucket, url.path))
                return
            task = unquote(url.path[len(_STATUS_PREFIX) :]) if url.path.startswith(_STATUS_PREFIX) else ""
            if self.command == "GET" and task and "/" not in task:
                event = status_api_event(task, headers=headers, query=url.query, request_id=request_id)
                self._lambda(status_api, event)
                return
            self._answer(404, {"message": "Not Found"})

        def _read_body(self) -> bytes | None:
            """The request body, or None once an error is answered or the client is gone."""
            if "Transfer-Encoding" in self.headers:  # (curl and the SDKs send a length)
                return self._refuse(411, "Length Required")
            try:
                length = int(self.headers.get("Content-Length", "0"))
            except ValueError:
                return self._refuse(400, "Bad Content-Length")
            if length < 0:
                return self._refuse(400, "Bad Content-Length")
            if length > MAX_BODY_BYTES:
                return self._refuse(413, "Request Entity Too Large")
            try:
                body = self.rfile.read(length)
            except OSError:  # includes the timeout
                body = b""
            if len(body) < length:  # the client stopped sending: nothing to answer
                self.close_connection = True
                return None
            return body

        def _refuse(self, status: int, message: str) -> bytes | None:
            """Answer an error and close: the unread body must not be taken for the next request."""
            self.close_connection = True
            self._answer(status, {"message": message})
            return None

        def _lambda(self, function_name: str, event: dict[str, Any]) -> None:
            answer = json.loads(pipeline.invoke(function_name, event))
            if "statusCode" not in answer:  # the handler raised: API Gateway answers 500
                self._answer(500, {"message": "Internal Server Error"})
                return
            body = str(answer.get("body") or "").encode()
            self._send(int(answer["statusCode"]), body, answer.get("headers") or {})

        def _answer(self, status: int, payload: dict[str, Any]) -> None:
            self._send(status, json.dumps(payload).encode(), {"content-type": "application/json"})

        def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, str(value))
                self.send_header("Content-Length", str(len(body)))
                if self.close_connection:
                    self.send_header("Connection", "close")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)
            except OSError:  # the client went away before the answer
                self.close_connection = True

    server = ThreadingHTTPServer((host, port), Handler)
    # server_close() waits for requests being handled: none may outlive the mocked AWS they use.
    server.daemon_threads = False
    server.block_on_close = True
    threading.Thread(target=server.serve_forever, name="local-http-api", daemon=True).start()
    return server


def _is_text(content_type: str | None) -> bool:
    """Whether API Gateway passes a body of this type as text (else base64, ``isBase64Encoded``)."""
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    return kind.startswith("text/") or kind in ("application/json", "application/x-www-form-urlencoded")
