"""`covers backfill` on a stack (docs/operations.md, "Backfilling a catalogue"): a 1,000-id catalogue's dry
run (new against already recorded), a paced run on a virtual clock (no real sleeping) interrupted by Ctrl-C
and resumed, each music task queued exactly once overall; bad lines refused by line number; stdin; CSV
metadata as the start function reads it."""

from __future__ import annotations

import io
import json
import math
import signal
from collections import Counter
from pathlib import Path
from typing import Any

import boto3
import pytest
from covers_core.domain.requests import parse_request

from covers_local.stack import Stack
from covers_ops import backfill, deployed
from tests.support.cli import covers

IDS = [f"gen-{n:04d}" for n in range(1000)]
#: Already recorded in the stack (any status): skipped, no credit.
RECORDED = {f"gen-{n:04d}": ("SUCCEEDED", "REJECTED")[n // 20 % 2] for n in range(0, 1000, 20)}


class VirtualTime:
    """The run's clock and sleep: sleeping moves the clock; the ``interrupt_at``-th sleep is a Ctrl-C."""

    def __init__(self, interrupt_at: int | None = None) -> None:
        self.now = 0.0
        self.sleeps = 0
        self.interrupt_at = interrupt_at

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        if self.sleeps == self.interrupt_at:
            raise KeyboardInterrupt
        self.now += seconds


@pytest.fixture
def sends(monkeypatch: pytest.MonkeyPatch) -> list[tuple[float, int]]:
    """(virtual time, messages) of each SendMessageBatch the run makes (the real one, into moto)."""
    made: list[tuple[float, int]] = []
    real = deployed.send_batch

    def recording(target: deployed.Target, requests: list[Any]) -> list[tuple[str, str]]:
        made.append((backfill.clock(), len(requests)))
        return real(target, requests)

    monkeypatch.setattr(deployed, "send_batch", recording)
    return made


def virtual_time(monkeypatch: pytest.MonkeyPatch, interrupt_at: int | None = None) -> VirtualTime:
    time = VirtualTime(interrupt_at)
    monkeypatch.setattr(backfill, "clock", time.clock)
    monkeypatch.setattr(backfill, "sleep", time.sleep)
    return time


def queued(aws: Stack) -> list[dict[str, Any]]:
    """Every message body in the requests queue (read and deleted)."""
    sqs = boto3.client("sqs")
    bodies = []
    while batch := sqs.receive_message(QueueUrl=aws.queue_url, MaxNumberOfMessages=10).get("Messages", []):
        for message in batch:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=aws.queue_url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


def record(aws: Stack, music_task_ids: dict[str, str]) -> None:
    with boto3.resource("dynamodb").Table(aws.table_name).batch_writer() as table:
        for task, status in music_task_ids.items():
            table.put_item(
                Item={"musicTaskId": task, "status": status, "updatedAt": "2026-11-02T10:00:00.000Z"}
            )


def test_a_thousand_ids_dry_run_then_interrupted_and_resumed_each_sent_once_at_the_rate(
    aws: Stack,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    sends: list[tuple[float, int]],
) -> None:
    catalogue = tmp_path / "catalogue.txt"
    catalogue.write_text("\n".join(IDS) + "\n")
    record(aws, RECORDED)
    state_file = tmp_path / "catalogue.txt.backfill-state.json"
    run = ["backfill", "--stack", aws.name, "--rate", "50", str(catalogue)]

    code, out, err = covers([*run, "--dry-run"], capsys)
    assert (code, out) == (0, ""), err
    assert "catalogue (ids): 1000 music task(s), 0 invalid line(s), 0 duplicate(s)" in err
    assert "skipped: 50 already have a record (REJECTED 25, SUCCEEDED 25), 0 sent by an earlier run" in err
    cost = 950 * backfill.AWS_USD_PER_MILLION_COVERS / 1e6  # (the bench's price: it moves with each run)
    assert f"new: 950 to send -> at most 950 credit(s), about ${cost:.2f} of AWS" in err
    assert "19s at 50/s" in err
    assert "dry run: nothing sent" in err
    assert sends == [] and not state_file.exists() and aws.queue_depth() == 0

    virtual_time(monkeypatch, interrupt_at=40)  # Ctrl-C in the 40th wait: after 40 batches
    code, _, err = covers(run, capsys)
    assert code == 130, err
    assert "interrupted; 400 of 950 sent, recorded in" in err and "run the same command again" in err
    assert len(sends) == 40
    first_run = json.loads(state_file.read_text())
    assert first_run["stack"] == aws.name and len(first_run["sent"]) == 400

    sends.clear()
    virtual_time(monkeypatch)
    code, _, err = covers(run, capsys)
    assert code == 0, err
    assert "skipped: 50 already have a record (REJECTED 25, SUCCEEDED 25), 400 sent by an earlier run" in err
    assert "sent 550 music task(s)" in err
    assert sum(n for _, n in sends) == 550 and all(n == 10 for _, n in sends)
    # The pace: every whole virtual second carries --rate sends (within 10%), the last partial one aside.
    per_second = Counter(math.floor(at + 1e-9) for at, _ in sends for _ in range(10))
    full = [per_second[s] for s in range(max(per_second))]
    assert len(full) == 10 and all(45 <= n <= 55 for n in full), per_second

    bodies = queued(aws)
    sent = Counter(b["musicTaskId"] for b in bodies)
    assert set(sent.values()) == {1} and set(sent) == set(IDS) - set(RECORDED)  # each exactly once overall
    assert set(json.loads(state_file.read_text())["sent"]) == set(sent)

    code, _, err = covers(run, capsys)  # a third run: nothing left
    assert code == 0 and "nothing to send" in err and "450" not in err
    assert aws.queue_depth() == 0


def test_max_credits_stops_after_that_many_new_ids_and_a_later_run_sends_the_rest(
    aws: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    virtual_time(monkeypatch)
    catalogue = tmp_path / "c.txt"
    catalogue.write_text("\n".join(IDS[:30]) + "\n")
    run = ["backfill", "--stack", aws.name, "--rate", "1000", str(catalogue)]
    code, _, err = covers([*run, "--max-credits", "12"], capsys)
    assert code == 0 and "held back by --max-credits: 18 new" in err, err
    assert sorted(b["musicTaskId"] for b in queued(aws)) == IDS[:12]
    code, _, err = covers(run, capsys)
    assert code == 0 and "12 sent by an earlier run" in err, err
    assert sorted(b["musicTaskId"] for b in queued(aws)) == IDS[12:30]


def test_invalid_lines_are_listed_by_number_and_nothing_is_sent(
    aws: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    virtual_time(monkeypatch)
    catalogue = tmp_path / "c.jsonl"
    catalogue.write_text('{"musicTaskId": "ok-1"}\n{"musicTaskId": "has space"}\n\n{"metadata": 3}\n')
    run = ["backfill", "--stack", aws.name, str(catalogue)]
    code, out, err = covers(run, capsys)
    assert (code, out) == (2, "")
    assert f"{catalogue}:2: 'musicTaskId' must be printable ASCII without spaces" in err
    assert f"{catalogue}:4: no music task id" in err
    assert err.splitlines()[-1].startswith("covers backfill: error: 2 invalid line(s)")
    assert aws.queue_depth() == 0

    code, _, err = covers([*run, "--skip-invalid"], capsys)
    assert code == 0, err
    assert [b["musicTaskId"] for b in queued(aws)] == ["ok-1"]


def test_stdin_and_csv_metadata_reach_the_queue_as_the_start_function_reads_them(
    aws: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    virtual_time(monkeypatch)
    text = 'musicTaskId,tenant,title,correlationId\ncsv-1,acme,"Rain, again",batch-7\ncsv-2,,Quiet,\n'
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    code, _, err = covers(["backfill", "--stack", aws.name, "-"], capsys)
    assert code == 2 and "needs --state PATH" in err  # where the run records what it sent

    state = tmp_path / "stdin.json"
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    code, _, err = covers(["backfill", "--stack", aws.name, "--state", str(state), "-"], capsys)
    assert code == 0, err
    requests = sorted((parse_request(json.dumps(b)) for b in queued(aws)), key=lambda r: r.music_task_id)
    assert [(r.music_task_id, r.correlation_id, dict(r.metadata)) for r in requests] == [
        ("csv-1", "batch-7", {"tenant": "acme", "title": "Rain, again"}),
        ("csv-2", None, {"title": "Quiet"}),
    ]
    assert json.loads(state.read_text())["sent"] == ["csv-1", "csv-2"]


def test_ctrl_c_during_a_send_lets_that_batch_finish_and_be_recorded(
    aws: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    virtual_time(monkeypatch)
    real = deployed.send_batch
    calls: list[int] = []

    def interrupted_in_the_third(target: deployed.Target, requests: list[Any]) -> list[tuple[str, str]]:
        calls.append(len(requests))
        if len(calls) == 3:
            signal.raise_signal(signal.SIGINT)  # Ctrl-C while SendMessageBatch is under way
        return real(target, requests)

    monkeypatch.setattr(deployed, "send_batch", interrupted_in_the_third)
    catalogue = tmp_path / "c.txt"
    catalogue.write_text("\n".join(IDS[:100]) + "\n")
    code, _, err = covers(["backfill", "--stack", aws.name, "--rate", "1000", str(catalogue)], capsys)
    assert code == 130 and "interrupted; 30 of 100 sent" in err, err
    recorded = json.loads(Path(f"{catalogue}.backfill-state.json").read_text())["sent"]
    assert sorted(b["musicTaskId"] for b in queued(aws)) == recorded == IDS[:30]


def test_a_request_sqs_keeps_refusing_stops_the_run_with_the_rest_recorded_and_a_rerun_sends_it(
    aws: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    time = virtual_time(monkeypatch)
    real = deployed.send_batch

    def refusing_gen_0005(target: deployed.Target, requests: list[Any]) -> list[tuple[str, str]]:
        kept = [r for r in requests if r.music_task_id != IDS[5]]
        refused = [(IDS[5], "InternalError: try again")] if len(kept) < len(requests) else []
        return (real(target, kept) if kept else []) + refused

    monkeypatch.setattr(deployed, "send_batch", refusing_gen_0005)
    catalogue = tmp_path / "c.txt"
    catalogue.write_text("\n".join(IDS[:25]) + "\n")
    run = ["backfill", "--stack", aws.name, "--rate", "1000", str(catalogue)]
    code, _, err = covers(run, capsys)
    assert code == 1 and "SQS did not take 1 request(s) (gen-0005: InternalError: try again)" in err, err
    assert time.sleeps == 2  # two more attempts, a wait before each
    others = [t for t in IDS[:10] if t != IDS[5]]
    assert sorted(b["musicTaskId"] for b in queued(aws)) == others
    assert json.loads(Path(f"{catalogue}.backfill-state.json").read_text())["sent"] == others

    monkeypatch.setattr(deployed, "send_batch", real)
    code, _, err = covers(run, capsys)
    assert code == 0 and "9 sent by an earlier run" in err, err
    assert sorted(b["musicTaskId"] for b in queued(aws)) == [IDS[5], *IDS[10:25]]


def test_a_run_makes_one_sqs_client_however_many_batches_it_sends(
    aws: Stack,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    sends: list[tuple[float, int]],
) -> None:
    catalogue = tmp_path / "catalogue.txt"
    catalogue.write_text("".join(f"one-client-{n}\n" for n in range(45)))
    virtual_time(monkeypatch)
    made: list[str] = []
    real: Any = boto3.client

    def counting(service: str, *args: Any, **kwargs: Any) -> Any:
        made.append(service)
        return real(service, *args, **kwargs)

    monkeypatch.setattr(deployed.boto3, "client", counting)
    code, _, err = covers(["backfill", "--stack", aws.name, "--rate", "100", str(catalogue)], capsys)
    assert code == 0, err
    assert made.count("sqs") == 1 and len(sends) == 5
    assert len(queued(aws)) == 45
