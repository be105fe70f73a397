"""`covers local-stack` as a user drives it: the stack served by moto's server (in its own process), each
handler run in a process of its own with exactly the variables `sam local invoke --env-vars` would give it
(SAM CLI's own resolution, `covers invoke`), every sample in events/, and a signed `curl` at the local
HTTP API. Only loopback addresses are used."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from covers_core.adapters.records import CoverStore
from covers_core.domain.model import CoverRecord
from covers_core.domain.signature import SIGNATURE_HEADER, sign
from covers_core.settings import AWS_ENDPOINT_VARIABLE

from covers_local import cli, cli_serve
from covers_local.sam_env import function_environment
from covers_local.stack import functions, load_template
from tests.infra.test_contracts import FUNCTION_SETTINGS
from tests.support.paths import EVENTS, ROOT

# One local stack per module: its tests run on one xdist worker (make test: --dist loadgroup).
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("local_stack")]
TEMPLATE = ROOT / "template.yaml"
WEBHOOK_KEY = "local-webhook-signing-key"  # what `covers local-stack` stores (and prints)
#: Sample -> the function it is an event of. Every other file in events/ must be labelled (see the test).
SAMPLES = {
    "check_cover_status.json": "CheckCoverStatusFunction",
    "finalize_cover.json": "FinalizeCoverFunction",
    "finalize_cover_failure.json": "FinalizeCoverFunction",
    "start_cover.json": "StartCoverFunction",
    "music_webhook.json": "MusicWebhookFunction",
    "cover_status_api.json": "CoverStatusApiFunction",
    "reconcile.json": "ReconcileFunction",
}
NOT_LAMBDA_EVENTS = {"upstream_music_completed.json"}
SEEDED = "gen123213213213123bksv"  # the music task check_cover_status.json names


@dataclass
class Served:
    process: subprocess.Popen[str]
    aws: str
    vendor: str
    api: str
    env_file: Path
    work: Path
    lines: list[str] = field(default_factory=list)

    @property
    def table(self) -> Any:
        name = json.loads(self.env_file.read_text())["StartCoverFunction"]["COVERS_TABLE_NAME"]
        return boto3.resource("dynamodb", region_name="us-east-1", endpoint_url=self.aws).Table(name)

    def record(self, music_task_id: str) -> CoverRecord | None:
        return CoverStore(self.table).get(music_task_id)

    def wait_for(self, music_task_id: str, status: str, timeout: float = 60) -> CoverRecord:
        deadline = time.monotonic() + timeout
        while (record := self.record(music_task_id)) is None or record.status != status:
            now = record.status if record else "without a record"
            assert time.monotonic() < deadline, f"{music_task_id} is {now}, not {status}"
            time.sleep(0.3)
        return record

    def wait_for_line(self, text: str, timeout: float = 10) -> None:
        """Until the local stack has printed a line containing ``text`` (its progress report)."""
        deadline = time.monotonic() + timeout
        while not any(text in line for line in list(self.lines)):
            assert time.monotonic() < deadline, f"local-stack never printed {text!r}"
            time.sleep(0.1)


def _read_lines(stream: Any, into: queue.Queue[str | None]) -> None:
    for line in stream:
        into.put(line.rstrip("\n"))
    into.put(None)  # the process closed its stderr: the reader threads end


def _keep_lines(source: queue.Queue[str | None], into: list[str]) -> None:
    while (line := source.get()) is not None:
        into.append(line)


def _start_local_stack(work: Path, *extra: str) -> tuple[subprocess.Popen[str], queue.Queue[str | None]]:
    """`covers local-stack` in a subprocess on free ports, its env file and function log in ``work``, and the
    queue its stderr lines arrive on (None once it closed)."""
    command = [
        sys.executable,
        "-m",
        "covers_local.cli",
        "local-stack",
        *("--aws-port", "0", "--vendor-port", "0", "--api-port", "0", *extra),
        *("--advertise-host", "127.0.0.1", "--env-file", str(work / "env.json")),
        *("--log-file", str(work / "functions.log")),
    ]
    process = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True, env=_shell(work))
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_read_lines, args=(process.stderr, lines), daemon=True).start()
    return process, lines


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    work = tmp_path_factory.mktemp("local-stack")
    env_file = work / "env.json"
    process, lines = _start_local_stack(work)
    try:
        seen: list[str] = []
        deadline = time.monotonic() + 120
        while not (ready := [s for s in seen if s.startswith("covers local-stack ready:")]):
            assert process.poll() is None, "local-stack exited:\n" + "\n".join(seen)
            assert time.monotonic() < deadline, "local-stack not ready:\n" + "\n".join(seen)
            with contextlib.suppress(queue.Empty):
                line = lines.get(timeout=1)
                if line is not None:
                    seen.append(line)
        urls = dict(re.findall(r"(\w+)=(\S+)", ready[0]))
        result = Served(process, urls["aws"], urls["vendor"], urls["api"], env_file, work, seen)
        threading.Thread(target=_keep_lines, args=(lines, seen), daemon=True).start()
        yield result
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        time.sleep(0.2)
        assert "covers local-stack: stopped" in seen
    finally:
        if process.poll() is None:  # a failed start or stop: never leave it holding its ports
            process.kill()
            process.wait(timeout=10)


def _shell(work: Path) -> dict[str, str]:
    """A shell with nothing of ours in it (sam local lets shell variables override declared ones)."""
    return {"PATH": os.environ["PATH"], "HOME": str(work), "SAM_CLI_TELEMETRY": "0"}


def covers_invoke(served: Served, function: str, event: Path) -> tuple[int, Any, str]:
    """`covers invoke FUNCTION -e EVENT --env-vars <the local stack's file>`: (exit code, result, logs)."""
    command = [sys.executable, "-m", "covers_local.cli", "invoke", function, "-e", str(event)]
    completed = subprocess.run(
        [*command, "--env-vars", str(served.env_file)],
        cwd=ROOT,
        env=_shell(served.work),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = completed.stdout.strip().splitlines()
    assert output, f"no result from {function}:\n{completed.stderr}"
    return completed.returncode, json.loads(output[-1]), completed.stderr


# --- the env file, as SAM CLI reads it ------------------------------------------------------------


def test_the_env_file_gives_every_function_all_its_variables_through_sam(served: Served) -> None:
    template = load_template(TEMPLATE)
    document = json.loads(served.env_file.read_text())
    assert set(document) == set(functions(template))
    declared_globally = set(template["Globals"]["Function"]["Environment"]["Variables"])
    for logical_id, spec in functions(template).items():
        declared = declared_globally | set(spec["Properties"]["Environment"]["Variables"])
        assert set(document[logical_id]) == declared  # none ignored by sam local, none missed
        env, _ = function_environment(TEMPLATE, logical_id, served.env_file, shell={})
        assert {name: env[name] for name in declared} == document[logical_id]
        assert env[AWS_ENDPOINT_VARIABLE] == served.aws
        FUNCTION_SETTINGS[logical_id](env)  # every value is a valid setting
        if "VENDOR_BASE_URL" in env:
            assert env["VENDOR_BASE_URL"] == served.vendor


def test_without_the_env_file_sam_local_names_no_real_resource() -> None:
    """Why the env file exists: sam local resolves a resource's name to its logical id (no such table)."""
    env, _ = function_environment(TEMPLATE, "StartCoverFunction", None, shell={})
    assert env["COVERS_TABLE_NAME"] == "CoversTable"
    assert env[AWS_ENDPOINT_VARIABLE] == ""  # and AWS itself, not a local endpoint


# --- every sample in events/, each in its own process -----------------------------------------------


@pytest.fixture(scope="module")
def sample_runs(served: Served) -> dict[str, tuple[int, Any, str]]:
    """Each sample invoked through `covers invoke`, in an order a user might: the ones that do not depend
    on each other at once, then finalize, then the failure finalize and the start batch."""
    runs: dict[str, tuple[int, Any, str]] = {}
    rounds = [
        ["check_cover_status.json", "cover_status_api.json", "music_webhook.json"],
        ["finalize_cover.json"],
        ["finalize_cover_failure.json", "start_cover.json"],
        ["reconcile.json"],
    ]
    with ThreadPoolExecutor(max_workers=3) as pool:
        for names in rounds:
            futures = {n: pool.submit(covers_invoke, served, SAMPLES[n], EVENTS / n) for n in names}
            runs.update({n: f.result() for n, f in futures.items()})
    return runs


def test_every_file_in_events_is_a_sample_that_runs_or_is_labelled_for_what_it_is() -> None:
    files = {p.name for p in EVENTS.glob("*.json")}
    assert files == set(SAMPLES) | NOT_LAMBDA_EVENTS
    readme = (EVENTS / "README.md").read_text()
    for name in NOT_LAMBDA_EVENTS:
        row = next(line for line in readme.splitlines() if f"`{name}`" in line)
        assert "not a Lambda event" in row


def test_the_reconcile_sample_runs_a_reconciler_pass_over_the_served_stack(
    sample_runs: dict[str, tuple[int, Any, str]],
) -> None:
    code, report, logs = sample_runs["reconcile.json"]
    assert code == 0, logs
    assert report["failed"] == 0 and report["repaired"] == {}  # nothing is stranded on a fresh stack


def test_the_check_sample_polls_the_cover_task_the_emulator_knows(
    served: Served, sample_runs: dict[str, tuple[int, Any, str]]
) -> None:
    code, result, logs = sample_runs["check_cover_status.json"]
    assert code == 0, logs
    assert result["status"] == "SUCCESS"
    assert len(result["images"]) == 2 and all(u.startswith(served.vendor) for u in result["images"])


def test_the_status_api_sample_reads_the_seeded_record(sample_runs: dict[str, tuple[int, Any, str]]) -> None:
    code, answer, logs = sample_runs["cover_status_api.json"]
    assert code == 0, logs
    assert answer["statusCode"] == 200
    body = json.loads(answer["body"])
    assert body["musicTaskId"] == SEEDED and body["coverTaskId"] == "cover123123213213b880d2"
    assert "claimToken" not in body


def test_the_webhook_sample_is_refused_as_labelled(
    served: Served, sample_runs: dict[str, tuple[int, Any, str]]
) -> None:
    code, answer, logs = sample_runs["music_webhook.json"]
    assert code == 0, logs
    assert answer["statusCode"] == 401  # its signature is stale by design (events/README.md)
    assert served.record("gen1") is None


def test_the_finalize_samples_finish_the_seeded_cover_once(
    served: Served, sample_runs: dict[str, tuple[int, Any, str]]
) -> None:
    code, result, logs = sample_runs["finalize_cover.json"]
    assert code == 0, logs
    assert result["status"] == "SUCCEEDED"
    code, later, logs = sample_runs["finalize_cover_failure.json"]
    assert code == 0, logs
    assert later["status"] == "SUCCEEDED"  # a later, different outcome never overwrites a terminal one
    record = served.record(SEEDED)
    assert record is not None and record.status == "SUCCEEDED" and record.event_published_at


def test_the_start_sample_makes_its_covers_through_the_served_workflow(
    served: Served, sample_runs: dict[str, tuple[int, Any, str]]
) -> None:
    code, result, logs = sample_runs["start_cover.json"]
    assert code == 0, logs
    assert result == {"batchItemFailures": []}
    for task in ("gen998877665544332211", "gen555444333222111000"):
        record = served.wait_for(task, "SUCCEEDED")  # started by the process, finished by the stack
        assert (record.cover_task_id or "").startswith("cover") and len(record.images) == 2
        served.wait_for_line(f"{task}: IN_PROGRESS -> SUCCEEDED")


def test_a_freshly_signed_webhook_event_is_queued_and_made(served: Served) -> None:
    event_file = served.work / "hook.json"
    signed = subprocess.run(
        [
            sys.executable,
            "-m",
            "covers_local.cli",
            "webhook-event",
            "--secret",
            WEBHOOK_KEY,
            "--music-task-id",
            "hook-track-1",
        ],
        capture_output=True,
        text=True,
        check=True,
        env=_shell(served.work),
        cwd=ROOT,
    )
    event_file.write_text(signed.stdout)
    code, answer, logs = covers_invoke(served, "MusicWebhookFunction", event_file)
    assert code == 0, logs
    assert answer["statusCode"] == 202
    served.wait_for("hook-track-1", "SUCCEEDED")


# --- the local HTTP API, as curl or an app calls it ------------------------------------------------


def _http(method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> Any:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def test_a_signed_post_to_the_local_api_makes_a_cover_the_status_route_then_shows(served: Served) -> None:
    body = json.dumps({"musicTaskId": "curl-track-1", "correlationId": "c-1"}).encode()
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(WEBHOOK_KEY, body, int(time.time())),
    }
    status, answer = _http("POST", f"{served.api}/webhooks/music", body, headers)
    assert (status, answer["musicTaskId"]) == (202, "curl-track-1")
    served.wait_for("curl-track-1", "SUCCEEDED")
    status, cover = _http("GET", f"{served.api}/covers/curl-track-1")
    assert status == 200
    assert cover["status"] == "SUCCEEDED" and cover["correlationId"] == "c-1"
    # archived locally: url is the image's on the local API's archive route; sourceUrl the vendor's
    assert [i["sourceUrl"].startswith(served.vendor) for i in cover["images"]] == [True, True]
    archive = f"{served.api}/archive/covers/curl-track-1/"
    assert [i["url"].startswith(archive) for i in cover["images"]] == [True, True]
    image = cover["images"][0]
    for url, content_type, size in (
        (image["url"], "image/png", image["size"]),
        (image["thumbnail"]["url"], "image/webp", image["thumbnail"]["size"]),
    ):
        with urllib.request.urlopen(url, timeout=30) as response:
            assert (response.status, response.headers["Content-Type"]) == (200, content_type)
            assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
            assert len(response.read()) == size
    assert _raw_status(f"{archive}0-0000000000000000.png") == 404  # no such key
    assert _raw_status(f"{served.api}/archive/other/x.png") == 404  # outside covers/: never served


def _raw_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_the_local_api_answers_like_the_deployed_one_for_bad_requests(served: Served) -> None:
    body = b'{"musicTaskId": "unsigned-1"}'
    assert _http("POST", f"{served.api}/webhooks/music", body, {"Content-Type": "application/json"})[0] == 401
    wrong = sign("not-the-key", body, int(time.time()))
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: wrong}
    assert _http("POST", f"{served.api}/webhooks/music", body, headers)[0] == 401
    assert _http("GET", f"{served.api}/covers/never-submitted-1")[0] == 404
    assert _http("GET", f"{served.api}/covers/bad%20id")[0] == 400
    assert _http("GET", f"{served.api}/nowhere")[0] == 404
    assert served.record("unsigned-1") is None


def test_a_taken_port_is_one_line_naming_the_option_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        command = ["local-stack", "--aws-port", port, "--env-file", str(tmp_path / "env.json")]
        completed = subprocess.run(
            [sys.executable, "-m", "covers_local.cli", *command, "--log-file", str(tmp_path / "log")],
            cwd=ROOT,
            env=_shell(tmp_path),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert completed.returncode == 1
    assert completed.stderr.splitlines()[-1].endswith("pass another --aws-port")
    assert not (tmp_path / "env.json").exists()


def _raw(served: Served, request: bytes) -> bytes:
    """Send raw bytes to the local HTTP API and read until it closes or goes quiet."""
    host, port = re.findall(r"http://(.+):(\d+)", served.api)[0]
    with socket.create_connection((host, int(port)), timeout=5) as connection:
        connection.sendall(request)
        received = b""
        with contextlib.suppress(TimeoutError):
            while chunk := connection.recv(65536):
                received += chunk
        return received


def test_a_body_sent_to_an_unknown_route_is_never_read_as_a_second_request(served: Served) -> None:
    smuggled = f"GET /covers/{SEEDED} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    request = b"POST /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (
        len(smuggled),
        smuggled,
    )
    answer = _raw(served, request + b"GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert answer.count(b"HTTP/1.1 ") == 2  # one answer per request, both 404
    assert answer.count(b"HTTP/1.1 404 ") == 2 and SEEDED.encode() not in answer


def test_chunked_and_truncated_bodies_are_refused_or_dropped_never_invoked(served: Served) -> None:
    chunked = b"POST /webhooks/music HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    answer = _raw(served, chunked + b"5\r\nhello\r\n0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 411 ") and answer.count(b"HTTP/1.1 ") == 1
    body = b'{"musicTaskId": "truncated-1"}'
    headers = (
        f"Content-Type: application/json\r\n{SIGNATURE_HEADER}: {sign(WEBHOOK_KEY, body, int(time.time()))}"
    )
    short = f"POST /webhooks/music HTTP/1.1\r\nHost: x\r\n{headers}\r\nContent-Length: 500\r\n\r\n"
    host, port = re.findall(r"http://(.+):(\d+)", served.api)[0]
    with socket.create_connection((host, int(port)), timeout=5) as connection:
        connection.sendall(short.encode() + body)
        connection.shutdown(socket.SHUT_WR)  # the client gives up before the 500 bytes it promised
        assert connection.recv(65536) == b""  # no answer: nothing was invoked
    assert served.record("truncated-1") is None


# --- what it prints and how it stops --------------------------------------------------------------


def test_the_printed_status_command_runs_as_printed_without_any_aws_configuration(served: Served) -> None:
    """The "try:" line, pasted into a shell with no AWS credentials and `covers` not on PATH."""
    (line,) = [s.strip() for s in served.lines if "status --stack covers-local my-track-1" in s]
    completed = subprocess.run(
        line.replace("my-track-1", SEEDED),
        shell=True,  # the line the user pastes, as a shell runs it
        cwd=ROOT,
        env=_shell(served.work),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["musicTaskId"] == SEEDED


def test_one_sigint_stops_it_after_use(tmp_path: Path) -> None:
    """One Ctrl-C (SIGINT) stops a local stack that has served requests, with its stop line."""
    process, lines = _start_local_stack(tmp_path, "--no-samples")
    try:
        seen: list[str] = []
        while not (ready := [s for s in seen if s.startswith("covers local-stack ready:")]):
            line = lines.get(timeout=120)
            assert line is not None, "local-stack exited:\n" + "\n".join(seen)
            seen.append(line)
        api = dict(re.findall(r"(\w+)=(\S+)", ready[0]))["api"]
        assert _http("GET", f"{api}/covers/nobody")[0] == 404  # used: a request through its AWS clients
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
        while (line := lines.get(timeout=10)) is not None:
            seen.append(line)
        assert seen[-1] == "covers local-stack: stopped"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def test_a_ctrl_c_lost_in_a_callback_still_stops_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The SIGINT arrives while the serving loop is inside code that drops exceptions (awscrt's callbacks
    did: "Exception ignored in: <class 'KeyboardInterrupt'>"): it must stop the stack all the same."""
    stopped: list[bool] = []

    class Swallowing:
        def __init__(self, options: object) -> None:
            pass

        def __enter__(self) -> Swallowing:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

        def serve(self, on_change: object, stop: threading.Event | None = None, **_: object) -> None:
            try:  # a callback whose exceptions nobody sees
                signal.raise_signal(signal.SIGINT)
                time.sleep(0.05)
            except KeyboardInterrupt:
                pass
            stopped.append(stop is not None and stop.wait(10))

    monkeypatch.setattr("covers_local.local_stack.LocalStack", Swallowing)
    monkeypatch.setattr(cli_serve, "_say_local_stack", lambda *args: None)
    before = signal.getsignal(signal.SIGINT)
    argv = ["local-stack", "--env-file", str(tmp_path / "env.json"), "--log-file", str(tmp_path / "log")]
    assert cli.main(argv) == 0
    assert stopped == [True]
    assert capsys.readouterr().err.splitlines()[-1] == "covers local-stack: stopped"
    assert signal.getsignal(signal.SIGINT) is before  # handlers given back
