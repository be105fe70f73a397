"""What the local commands show while they work: `covers run`'s progress (done/total, outcomes, ETA; a
single updating line on a terminal, plain lines when piped), no library warnings on the console, a useful
log file; the emulator's advertised host; the local stack's console (dead letters, failed executions)
and its answer for an AWS service moto lacks."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import pytest
import requests
from botocore.exceptions import ClientError

from covers_local.cli_console import EVERY_CHANGE_UP_TO, Console, Progress
from covers_local.emulator import EmulatorConfig, VendorEmulator
from covers_local.local_stack import LocalStack, LocalStackOptions
from tests.support.paths import ROOT

ANSI = re.compile(r"\x1b\[")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_on_a_terminal_is_one_line_updated_in_place() -> None:
    stream = Terminal()
    progress = Progress(Console(stream), ["a", "b", "c"])
    for task in "abc":
        progress.change(task, None, "IN_PROGRESS", None)
    progress.change("a", "IN_PROGRESS", "SUCCEEDED", None)
    progress.change("b", "IN_PROGRESS", "FAILED", None)
    shown = stream.getvalue()
    assert "\n" not in shown.split("b: IN_PROGRESS -> FAILED")[0]  # nothing scrolled before the failure
    assert shown.count("\n") == 1  # the failure, printed above the status line
    last = shown.rsplit("\r\x1b[K", 1)[-1]
    assert re.fullmatch(
        r"\[ *\d+\.\ds\] 2/3 done \(FAILED 1, SUCCEEDED 1; in flight: IN_PROGRESS 1\), ETA \d+s", last
    )
    progress.finish()  # the status line cleared, where the run ended said on a line of its own
    end = stream.getvalue().rsplit("\r\x1b[K", 1)[-1]
    assert re.fullmatch(
        r"\[ *\d+\.\ds\] 2/3 done \(FAILED 1, SUCCEEDED 1; in flight: IN_PROGRESS 1\), ETA \d+s\n", end
    )


def test_piped_progress_prints_each_outcome_with_done_over_total_and_no_escapes() -> None:
    stream = io.StringIO()
    tasks = [f"t{i}" for i in range(EVERY_CHANGE_UP_TO + 1)]
    progress = Progress(Console(stream), tasks)
    for task in tasks:
        progress.change(task, None, "IN_PROGRESS", None)
    for task in tasks:
        progress.change(task, "IN_PROGRESS", "SUCCEEDED", None)
    progress.finish()
    lines = stream.getvalue().splitlines()
    assert not ANSI.search(stream.getvalue()) and "\r" not in stream.getvalue()
    total = len(tasks)
    assert [re.search(r"\[(\d+)/(\d+) done", line).groups() for line in lines[:-1]] == [  # type: ignore[union-attr]
        (str(n), str(total)) for n in range(1, total + 1)
    ]  # one line per outcome, none for the IN_PROGRESS changes of a run this size
    assert lines[-1].endswith(f"{total}/{total} done (SUCCEEDED {total})")


@pytest.mark.slow
def test_a_piped_run_shows_done_over_total_no_warnings_and_logs_what_the_functions_did(
    tmp_path: Path,
) -> None:
    tasks = [f"piped-{i}" for i in range(EVERY_CHANGE_UP_TO + 2)] + ["fail-piped"]
    completed = subprocess.run(
        [sys.executable, "-m", "covers_local.cli", "run", "--initial-wait", "1", "--poll-interval", "1",
         "--max-wait", "30", *tasks],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "COVERS_PROJECT_ROOT": str(ROOT)},
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    err = completed.stderr
    assert not ANSI.search(err) and "\r" not in err
    assert "Warning" not in err and "Traceback" not in err
    done = [int(n) for n in re.findall(rf"\[(\d+)/{len(tasks)} done", err)]
    assert done == list(range(1, len(tasks) + 1))
    assert re.search(rf"fail-piped: IN_PROGRESS -> FAILED  \(VENDOR_FAILED\)  \[\d+/{len(tasks)} done", err)
    assert f"{len(tasks)}/{len(tasks)} done (FAILED 1, SUCCEEDED {len(tasks) - 1})" in err
    assert " -> IN_PROGRESS" not in err  # past EVERY_CHANGE_UP_TO tasks: outcomes only
    logged = [json.loads(line) for line in (tmp_path / ".covers-local.log").read_text().splitlines()]
    generated = {line.get("musicTaskId") for line in logged if "generate returned" in line["message"]}
    assert generated == set(tasks)  # a clean run's log says what each function did


# --- the emulator's advertised host --------------------------------------------------------------------


def _image_urls(vendor: VendorEmulator, base: str) -> list[str]:
    headers = {"Authorization": f"Bearer {vendor.config.api_key}"}
    local = f"http://127.0.0.1:{urlsplit(base).port}/api"  # (the advertised host may not resolve here)
    made = requests.post(f"{local}/v2/cover/generate", json={"taskId": "adv-1"}, headers=headers, timeout=5)
    cover = made.json()["data"]["taskId"]
    status = requests.get(f"{local}/v2/cover/status", params={"task_id": cover}, headers=headers, timeout=5)
    return list(status.json()["data"]["images"])


@pytest.mark.parametrize(
    ("host", "advertise", "expected"),
    [
        ("0.0.0.0", None, "127.0.0.1"),
        ("0.0.0.0", "covers.example", "covers.example"),
        ("127.0.0.1", None, "127.0.0.1"),
    ],
)
def test_the_emulator_hands_out_urls_at_its_advertised_host(
    host: str, advertise: str | None, expected: str
) -> None:
    vendor = VendorEmulator(EmulatorConfig(ready_after=(0.0, 0.0)))
    base = vendor.serve(host, 0, advertise_host=advertise)
    try:
        assert base.startswith(f"http://{expected}:") and base.endswith("/api")
        images = _image_urls(vendor, base)
        assert len(images) == 2 and all(url.startswith(f"{base}/images/") for url in images)
    finally:
        vendor.close()


def test_the_emulator_command_prints_its_advertised_url(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "covers_local.cli", "emulator", "--host", "0.0.0.0", "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stderr.readline()  # type: ignore[union-attr]
        assert re.match(r"vendor emulator serving http://127\.0\.0\.1:\d+/api ", line), line
    finally:
        process.terminate()
        process.wait(10)


# --- the local stack's console ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalStack, list[str]]]:
    work = tmp_path_factory.mktemp("console")
    options = LocalStackOptions(
        env_file=work / "env.json", advertise_host="127.0.0.1", host="127.0.0.1",
        aws_port=0, vendor_port=0, api_port=0, seed_samples=False,
    )  # fmt: skip
    said: list[str] = []
    stop = threading.Event()
    with LocalStack(options, root=ROOT) as served:
        thread = threading.Thread(
            target=served.serve, args=(lambda *change: None, stop, said.append, said.append), daemon=True
        )
        thread.start()
        try:
            yield served, said
        finally:
            stop.set()
            thread.join(30)


@pytest.mark.slow
def test_the_local_stack_console_reports_a_dead_letter_as_it_happens(
    local_stack: tuple[LocalStack, list[str]],
) -> None:
    served, said = local_stack
    assert served.endpoints is not None and served.pipeline is not None
    endpoint = served.endpoints.aws
    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1")
    sqs.send_message(QueueUrl=served.pipeline.queue_url, MessageBody="not json")
    deadline = time.monotonic() + 30
    while not any(line.startswith("dead-letter queue: 1 new message(s), 1 waiting") for line in said):
        assert time.monotonic() < deadline, said
        time.sleep(0.2)
    (line,) = [line for line in said if line.startswith("dead-letter queue")]
    assert f"--endpoint-url {endpoint}" in line


@pytest.mark.slow
def test_the_local_stack_answers_501_for_a_service_moto_lacks(
    local_stack: tuple[LocalStack, list[str]],
) -> None:
    served, _ = local_stack
    assert served.endpoints is not None
    schemas = boto3.client("schemas", endpoint_url=served.endpoints.aws, region_name="us-east-1")
    with pytest.raises(ClientError) as caught:
        schemas.list_registries()
    error = caught.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 501
    assert error["ResponseMetadata"]["RetryAttempts"] == 0
    assert error["Error"]["Code"] == "NotImplementedException"
    assert "does not implement the schemas API" in error["Error"]["Message"]
    # the services the stack uses still answer
    sqs = boto3.client("sqs", endpoint_url=served.endpoints.aws, region_name="us-east-1")
    assert sqs.list_queues()["QueueUrls"]
