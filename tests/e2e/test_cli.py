"""The covers CLI: local runs (`covers run --json`, `covers demo`), a separately started emulator,
and the deployed-stack commands against moto."""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from covers_local import cli, cli_console, cli_runs, cli_serve, moto_patches
from covers_local.stack import Stack, deploy
from tests.support.paths import ROOT

pytestmark = pytest.mark.slow
RUN_ARGS = ["--initial-wait", "1", "--poll-interval", "1", "--max-wait", "8"]


def run_cli(
    argv: list[str], capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str, str]:
    monkeypatch.chdir(tmp_path)  # the function log file lands here
    monkeypatch.setenv("COVERS_PROJECT_ROOT", str(ROOT))
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def check_run_output(tasks: list[dict]) -> dict[str, dict]:
    by_id = {t["musicTaskId"]: t for t in tasks}
    for task in tasks:
        assert set(task) >= {"musicTaskId", "status", "coverTaskId", "images", "error", "pollCount", "events"}
    ok = by_id["track-ok"]
    assert ok["status"] == "SUCCEEDED" and len(ok["images"]) == 2 and ok["coverTaskId"]
    assert [e["detail-type"] for e in ok["events"]] == ["Cover Generated"]
    rejected = by_id["hascover-x"]
    assert (rejected["status"], rejected["error"]["code"]) == ("REJECTED", "COVER_ALREADY_EXISTS")
    assert [e["detail"]["status"] for e in rejected["events"]] == ["REJECTED"]
    return by_id


def test_run_json_prints_one_array_on_stdout_and_progress_on_stderr(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = run_cli(
        ["run", "--json", *RUN_ARGS, "track-ok", "hascover-x"], capsys, tmp_path, monkeypatch
    )
    assert code == 0
    check_run_output(json.loads(out))
    assert "track-ok: new -> IN_PROGRESS" in err or "track-ok: new -> GENERATING" in err


@pytest.fixture
def emulator_process() -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "covers_local.cli",
            "emulator",
            "--port",
            str(port),
            "--api-key",
            "separate-key",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stderr.readline()  # type: ignore[union-attr]
        assert "serving" in line, line
        yield f"http://127.0.0.1:{port}/api"
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(10)


def test_run_against_a_separately_started_emulator_gives_the_same_results(
    emulator_process: str, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = [
        "run",
        "--json",
        *RUN_ARGS,
        "--udio-url",
        emulator_process,
        "--api-key",
        "separate-key",
        "track-ok",
        "hascover-x",
    ]
    code, out, _ = run_cli(argv, capsys, tmp_path, monkeypatch)
    assert code == 0
    check_run_output(json.loads(out))


def test_run_with_a_wrong_key_parks_tasks_blocked_and_still_completes(
    emulator_process: str, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = ["run", "--json", *RUN_ARGS, "--udio-url", emulator_process, "--api-key", "wrong", "track-ok"]
    code, out, _ = run_cli(argv, capsys, tmp_path, monkeypatch)
    assert code == 0
    (task,) = json.loads(out)
    assert (task["status"], task["error"]["code"], task["events"]) == ("BLOCKED", "VENDOR_AUTH_FAILED", [])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "--udio-url", "http://127.0.0.1:9/api", "--api-key", "k", "t"], "vendor server unreachable"),
    ],
)
def test_run_fails_with_a_one_line_reason(
    argv: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, out, err = run_cli(argv, capsys, tmp_path, monkeypatch)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and message in err


def test_bad_arguments_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """(tests/e2e/test_cli_bad_arguments.py has every case.) A value the functions' settings refuse is
    refused as argparse's own errors are: exit 2, one line naming the flag."""
    with pytest.raises(SystemExit) as caught:
        cli.main(["run", "--poll-interval", "often", "t"])
    assert caught.value.code == 2
    assert capsys.readouterr().err.startswith(
        "covers run: error: argument --poll-interval: not a whole number"
    )
    code, out, err = run_cli(["run", "--poll-interval", "0", "t"], capsys, tmp_path, monkeypatch)
    assert (code, out) == (2, "")
    assert err.startswith("covers run: error: argument --poll-interval: ") and err.count("\n") == 1


def test_demo_ends_every_sample_task_in_its_expected_status(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = run_cli(["demo", "--json"], capsys, tmp_path, monkeypatch)
    assert code == 0, err
    tasks = {t["musicTaskId"]: t for t in json.loads(out)}
    for task_id, expected, _ in cli_runs.DEMO_TASKS:
        assert tasks[task_id]["status"] == expected
        assert len(tasks[task_id]["events"]) == 1
    assert "credits spent: 10 for 10 music task(s); most generate calls charged for one task: 1" in err
    assert "dead-letter queue: 1 message(s)" in err
    # The BLOCKED request the queue gave up on, and the request over its tenant's credit budget, are
    # queued again by one reconciler run once credits are back and the cap is raised.
    assert 'reconciler: {"Requeue": 2}' in err
    assert "blocked-demo-track-010: IN_PROGRESS -> SUCCEEDED" in err
    assert "indie-demo-track-012: BUDGET_EXCEEDED -> IN_PROGRESS -> SUCCEEDED" in err
    # The budget alarm is set off once, as are the others the sample tasks call for (on a loaded machine a
    # slow run may set off more: what fires depends on timing, so only these are asserted).
    (alarms,) = [line for line in err.splitlines() if line.startswith("alarms set off")]
    fired = dict(item.split(" x") for item in alarms.split(": ", 1)[1].split(", "))
    wanted = {"BudgetExceededAlarm": "1", "CreditsExhaustedAlarm": "1", "NeedsAttentionAlarm": "1"}
    assert {name: fired.get(name) for name in wanted} == wanted, alarms
    # An app reads the finished cover through the status API handler.
    (line,) = [line for line in err.splitlines() if line.startswith("status API:")]
    assert line.startswith('status API: GET /covers/demo-track-001 -> 200 {"status": "SUCCEEDED", ')
    # It fetches that cover's first image and its thumbnail from their delivery URLs (the local archive).
    served = [line for line in err.splitlines() if line.startswith(("image: ", "thumbnail: ", "  GET "))]
    key = r"http://127\.0\.0\.1:\d+/archive/covers/demo-track-001/0-[0-9a-f]{16}"
    assert len(served) == 4, served
    assert re.fullmatch(f"image: {key}\\.png", served[0]), served
    assert re.fullmatch(r"  GET 200 image/png, \d+ bytes, 512x512", served[1]), served
    assert re.fullmatch(f"thumbnail: {key}\\.thumb-256\\.webp", served[2]), served
    assert re.fullmatch(r"  GET 200 image/webp, \d+ bytes, 256x256", served[3]), served
    # The TIMED_OUT task is resumed once its cover is ready: one new event, no new credit (above).
    assert (
        "resumed slow-demo-track-009: TIMED_OUT -> IN_PROGRESS -> SUCCEEDED  "
        "(new events: Cover Generated SUCCEEDED)"
    ) in err
    # The sample output on the front page is this run's: each task's status and images, the summary lines.
    shown = _readme_demo_output()
    rows = [line.split() for line in shown if line.split()[:1] and line.split()[0] in tasks]
    assert {row[0] for row in rows} == set(tasks)
    for row in rows:
        task = tasks[row[0]]
        images = f"{len(task['images'])} ({len(task['archivedImages'])} in S3)" if task["images"] else "0"
        assert (row[1], " ".join(row[3:-2])) == (task["status"], images), row
    for prefix in ("events on the covers bus:", "dead-letter queue:", "credits spent:", "reconciler:"):
        (line,) = [line for line in shown if line.startswith(prefix)]
        assert line in err.splitlines(), line


def _readme_demo_output() -> list[str]:
    """The lines of the sample `make demo` output on the front page (its first plain fenced block)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("\n```\n", text.index("make demo` runs")) + 5
    return text[start : text.index("\n```", start)].splitlines()


# --- deployed-stack commands -----------------------------------------------------------------------


@pytest.fixture
def stack() -> Iterator[Stack]:
    """template.yaml deployed into moto as stack "covers": the commands find it by its outputs."""
    with mock_aws(), moto_patches.cloudformation():
        yield deploy("covers", root=ROOT)


def test_submit_status_and_redrive_on_a_stack(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["submit", "--stack", "covers", "gen-1", "gen-2", "--correlation-id", "c1"]) == 0
    sqs = boto3.client("sqs")
    bodies = [
        json.loads(m["Body"])
        for m in sqs.receive_message(QueueUrl=stack.queue_url, MaxNumberOfMessages=10)["Messages"]
    ]
    assert sorted(b["musicTaskId"] for b in bodies) == ["gen-1", "gen-2"]
    assert {b["correlationId"] for b in bodies} == {"c1"}

    boto3.resource("dynamodb").Table(stack.table_name).put_item(
        Item={"musicTaskId": "gen-1", "status": "BLOCKED"}
    )
    capsys.readouterr()
    assert cli.main(["status", "--stack", "covers", "gen-1"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "BLOCKED"
    assert cli.main(["status", "--stack", "covers", "nope"]) == 1

    sqs.send_message(QueueUrl=stack.dlq_url, MessageBody='{"musicTaskId": "gen-3"}')
    sqs.send_message(
        QueueUrl=stack.dlq_url,
        MessageBody="junk",
        MessageAttributes={"rejectReason": {"DataType": "String", "StringValue": "not JSON"}},
    )
    assert cli.main(["redrive", "--stack", "covers"]) == 0
    assert "moved 1 message(s)" in capsys.readouterr().err
    moved = sqs.receive_message(QueueUrl=stack.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0)[
        "Messages"
    ]
    assert '{"musicTaskId": "gen-3"}' in [m["Body"] for m in moved]


def test_deployed_commands_explain_what_is_missing(capsys: pytest.CaptureFixture[str]) -> None:
    with mock_aws():
        with pytest.raises(SystemExit) as caught:  # bad input: exit 2 (test_cli_bad_arguments.py)
            cli.main(["submit", "--queue-url", "https://sqs.us-east-1.amazonaws.com/1/q", "a b"])
        assert caught.value.code == 2
        assert "'musicTaskId' must be printable ASCII" in capsys.readouterr().err
        assert cli.main(["submit", "t"]) == 2
        assert "need --queue-url or --stack" in capsys.readouterr().err
        assert cli.main(["status", "--stack", "missing", "t"]) == 2
        assert (
            "error: no stack missing in region us-east-1 (see covers status --help)"
            in capsys.readouterr().err
        )


def test_the_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "covers"
    assert script.exists()
    result = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, env=os.environ, check=False
    )
    assert result.returncode == 0 and "demo" in result.stdout


def test_run_refuses_an_invalid_music_task_id_before_starting_anything(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(SystemExit) as caught:
        run_cli(["run", "ok-id", "has space"], capsys, tmp_path, monkeypatch)
    out, err = capsys.readouterr()
    assert (caught.value.code, out) == (2, "")
    assert err == (
        "covers run: error: argument MUSIC_TASK_ID: invalid music task id 'has space': 'musicTaskId' must be "
        "printable ASCII without spaces (see covers run --help)\n"
    )


def test_an_internal_error_is_one_line_not_a_traceback(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise TimeoutError("local run did not settle within 130s (1 task(s) still open)")

    monkeypatch.setattr(cli_runs, "run_local", broken)
    code, out, err = run_cli(["run", "t"], capsys, tmp_path, monkeypatch)
    assert (code, out) == (1, "")
    assert (
        err.startswith("covers: internal error: TimeoutError: local run did not settle")
        and err.count("\n") == 1
    )


def test_a_second_run_in_one_process_logs_to_its_own_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Handler modules are imported once per process and their loggers keep the stream they found: each
    run's function logs must still land in that run's file (not in a file an earlier run closed)."""
    for run in ("first", "second"):
        (tmp_path / run).mkdir()
        code, _, err = run_cli(
            ["run", "--max-wait", "30", f"late-{run}-track"], capsys, tmp_path / run, monkeypatch
        )
        assert code == 0, err
        assert "closed file" not in err
        log = (tmp_path / run / cli_console.LOG_FILE).read_text()
        # (`late-`: the emulator answers 404 once, which the start function logs as a WARNING)
        warned = [json.loads(line) for line in log.splitlines() if "later delivery" in line]
        assert [line["musicTaskId"] for line in warned] == [f"late-{run}-track"]


def test_run_ignores_an_endpoint_exported_for_the_local_stack(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/getting-started.md, "A local stack": `AWS_ENDPOINT_URL=... covers status --stack covers-local`
    is how one reads the local stack; a shell that exports it must still run `covers run` on its own
    in-process moto."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("COVERS_AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    code, out, err = run_cli(
        ["run", "--json", "--max-wait", "30", "endpoint-track"], capsys, tmp_path, monkeypatch
    )
    assert code == 0, err
    assert [t["status"] for t in json.loads(out)] == ["SUCCEEDED"]


# --- rough edges a newcomer met on a fresh clone ---------------------------------------------------------


def test_the_top_level_help_is_plain_text(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(["--help"])
    assert caught.value.code == 0
    shown = capsys.readouterr().out
    assert "covers: run the pipeline locally" in shown
    assert "``" not in shown  # the module docstring's reST markup


def test_list_says_on_stderr_when_nothing_matched(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["list", "--stack", "covers"]) == 0
    out, err = capsys.readouterr()
    assert out == ""  # a pipe gets nothing
    assert err == "0 covers in NEEDS_ATTENTION, TIMED_OUT, BLOCKED, BUDGET_EXCEEDED\n"
    assert (
        cli.main(["list", "--stack", "covers", "--status", "FAILED", "--since", "2026-11-01T00:00:00Z"]) == 0
    )
    assert capsys.readouterr() == ("", "0 covers in FAILED updated since 2026-11-01T00:00:00+00:00\n")


class ClosedPipe(io.StringIO):
    """stdout whose reader has gone (``covers list | head -1`` once head has its line)."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


@pytest.mark.parametrize(
    "argv", [["list", "--status", "FAILED"], ["list", "--status", "FAILED", "--json"], ["status", "gen-1"]]
)
def test_a_reader_that_stops_reading_ends_the_command_quietly(
    argv: list[str], stack: Stack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    boto3.resource("dynamodb").Table(stack.table_name).put_item(
        Item={"musicTaskId": "gen-1", "status": "FAILED", "updatedAt": "2026-11-30T00:00:00Z"}
    )
    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    assert cli.main([argv[0], "--stack", "covers", *argv[1:]]) == 0
    assert capsys.readouterr().err == ""  # no "internal error: BrokenPipeError"


def test_a_closed_pipe_on_stdout_exits_0_with_nothing_on_stderr(tmp_path: Path) -> None:
    """A real pipe whose reader is gone before the command writes (as `| head -1` after its line)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        completed = subprocess.run(
            [sys.executable, "-m", "covers_local.cli", "webhook-event", "--secret", "s"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)
    assert (completed.returncode, completed.stderr) == (0, "")


@pytest.mark.parametrize(
    "given",
    [
        "http://127.0.0.1:3001",
        "http://127.0.0.1:3001/",
        "http://127.0.0.1:3001/webhooks/music",  # the stack's WebhookUrl output, pasted
        "http://127.0.0.1:3001/webhooks/music/",
    ],
)
def test_webhook_event_curl_takes_the_api_url_or_the_webhook_url(
    given: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["webhook-event", "--secret", "s", "--curl", given]) == 0
    command = shlex.split(capsys.readouterr().out)
    assert command[:6] == ["curl", "-sS", "-i", "-X", "POST", "http://127.0.0.1:3001/webhooks/music"]


def test_the_printed_covers_command_is_one_the_user_can_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    venv_bin = tmp_path / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    script = venv_bin / "covers"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [str(script), "local-stack"])
    monkeypatch.setenv("PATH", "/nonexistent")  # the venv is not activated
    assert cli_serve.covers_command() == ".venv/bin/covers"
    monkeypatch.setenv("PATH", str(venv_bin))  # activated
    assert cli_serve.covers_command() == "covers"


def test_resume_help_says_what_resume_accepts(capsys: pytest.CaptureFixture[str]) -> None:
    """What covers_core/domain/resume.py resumes: a stranded IN_PROGRESS cover too (docs/operations.md)."""
    with pytest.raises(SystemExit):
        cli.main(["resume", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    for accepted in ("TIMED_OUT", "NEEDS_ATTENTION", "IN_PROGRESS cover whose workflow execution has ended"):
        assert accepted in shown


def test_each_operator_command_offers_only_the_resources_it_reads(capsys: pytest.CaptureFixture[str]) -> None:
    """`covers status --help` lists --table, not the queue or workflow options it would ignore."""
    reads = {
        "submit": {"--queue-url"},
        "status": {"--table"},
        "list": {"--table"},
        "redrive": {"--queue-url", "--dlq-url"},
        "resume": {"--table", "--workflow-arn"},
    }
    every = {"--queue-url", "--dlq-url", "--table", "--workflow-arn"}
    for command, options in reads.items():
        with pytest.raises(SystemExit):
            cli.main([command, "--help"])
        shown = set(re.findall(r"--[a-z-]+", capsys.readouterr().out)) & every
        assert shown == options, command
