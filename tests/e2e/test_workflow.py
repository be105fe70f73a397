"""End to end on moto: the real ASL executed by moto's Step Functions engine, each Lambda task dispatched
to the real handler, the queue fed like an event source mapping, against the vendor emulator."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from covers_local.emulator import SAFE_FAULTS, EmulatorConfig, VendorEmulator
from covers_local.runner import LocalPipeline, LocalSettings
from tests.integration.test_finalize import assert_valid_event

pytestmark = pytest.mark.slow


@pytest.fixture
def vendor() -> Iterator[VendorEmulator]:
    with VendorEmulator(EmulatorConfig(ready_after=(1.0, 2.0), seed=3)) as emu:
        yield emu


def run(
    vendor: VendorEmulator,
    tasks: list[str],
    *,
    extra: Sequence[Any] = (),
    max_wait: int = 6,
    archive: bool = False,
) -> tuple[dict[str, dict], list[dict], LocalPipeline]:
    settings = LocalSettings(
        vendor_url=vendor.base_url, api_key=vendor.config.api_key, max_wait=max_wait, archive=archive
    )
    with LocalPipeline(settings) as stack:
        stack.submit([{"musicTaskId": t, "correlationId": f"corr-{t}"} for t in tasks])
        stack.submit(extra)
        records = stack.run(tasks, timeout=120)
    for event in stack.events:
        assert_valid_event(event)
    return records, stack.events, stack


def events_for(events: list[dict], task: str) -> list[tuple[str, str]]:
    return [(e["detail-type"], e["detail"]["status"]) for e in events if e["detail"]["musicTaskId"] == task]


def test_each_outcome_ends_in_its_status_with_exactly_one_event(vendor: VendorEmulator) -> None:
    vendor.inject("http_503_html", endpoint="status", music_task_id="sick-status", times=2)
    tasks = ["ok-1", "fail-2", "noimg-3", "slow-4", "sick-status"]
    records, events, stack = run(vendor, tasks, archive=True)
    expected = {
        "ok-1": "SUCCEEDED",
        "fail-2": "FAILED",
        "noimg-3": "FAILED",
        "slow-4": "TIMED_OUT",
        "sick-status": "SUCCEEDED",
    }
    assert {t: records[t]["status"] for t in tasks} == expected
    for task, status in expected.items():
        kind = "Cover Generated" if status == "SUCCEEDED" else "Cover Generation Failed"
        assert events_for(events, task) == [(kind, status)]
    assert records["noimg-3"]["error"]["code"] == "NO_IMAGES"
    assert records["slow-4"]["error"]["code"] == "DEADLINE_EXCEEDED"
    assert records["slow-4"]["pollCount"] >= 3
    ok = records["ok-1"]
    assert len(ok["images"]) == 2 and ok["imagesExpireAt"]
    assert [a["contentType"] for a in ok["archivedImages"]] == ["image/png", "image/png"]
    detail = next(e["detail"] for e in events if e["detail"]["musicTaskId"] == "ok-1")
    assert all(
        i["s3Uri"].startswith(f"s3://{stack.stack.archive_bucket}/covers/ok-1/") for i in detail["images"]
    )
    assert detail["correlationId"] == "corr-ok-1"
    assert vendor.stats.faults["http_503_html"] == 2  # the status faults happened and were retried
    assert all(vendor.stats.credits_charged[t] == 1 for t in tasks)


def test_duplicates_and_bad_input_in_the_queue(vendor: VendorEmulator) -> None:
    records, events, stack = run(vendor, ["dup-1"], extra=[{"taskId": "dup-1"}, {"workId": "dup-1"}, "{oops"])
    assert records["dup-1"]["status"] == "SUCCEEDED"
    assert vendor.stats.generate_requests["dup-1"] == 1
    assert events_for(events, "dup-1") == [("Cover Generated", "SUCCEEDED")]
    assert [d["body"] for d in stack.dead_letters] == ["{oops"]


def test_a_cover_task_the_vendor_no_longer_knows_is_retried_briefly_then_failed(
    vendor: VendorEmulator,
) -> None:
    records, events, _ = run(vendor, ["vanish-1"], max_wait=60)
    assert (records["vanish-1"]["status"], records["vanish-1"]["error"]["code"]) == (
        "FAILED",
        "COVER_TASK_NOT_FOUND",
    )
    assert vendor.stats.status_requests["vanish-1"] == 4  # the first try and the ASL's 3 retries
    assert events_for(events, "vanish-1") == [("Cover Generation Failed", "FAILED")]


def test_a_lost_generate_answer_ends_needs_attention_with_one_credit(vendor: VendorEmulator) -> None:
    vendor.inject("drop_after", endpoint="generate", music_task_id="t-lost")
    records, events, _ = run(vendor, ["t-lost"])
    assert records["t-lost"]["status"] == "NEEDS_ATTENTION"
    assert records["t-lost"]["error"]["code"] == "COVER_TASK_ID_LOST"
    assert vendor.stats.credits_charged["t-lost"] == 1
    assert events_for(events, "t-lost") == [("Cover Generation Failed", "NEEDS_ATTENTION")]


#: Faults after which a generate request may have been processed (the pipeline must assume it was).
AMBIGUOUS_ON_GENERATE = {"http_500", "http_503_html", "code_in_body", "drop_before", "drop_after"}


def expected_status(task: str, vendor: VendorEmulator) -> str:
    if task.startswith("fail-"):
        return "FAILED"
    if task.startswith("lost-"):
        return "NEEDS_ATTENTION"
    if task.startswith("hascover-"):
        # A 400 after an answer we could not read means "maybe our credit": NEEDS_ATTENTION, not REJECTED.
        faults = {
            kind
            for (endpoint, t, kind) in vendor.stats.faults_by_task
            if endpoint == "generate" and t == task
        }
        return "NEEDS_ATTENTION" if faults & AMBIGUOUS_ON_GENERATE else "REJECTED"
    return "SUCCEEDED"


def test_soak_with_transient_faults_loses_nothing_and_never_double_charges(tmp_path: Path) -> None:
    """A few hundred tasks through `covers run`'s code path, against an emulator answering 7% of calls
    with a transient fault (5xx, HTML, 429, 200 with an error code, dropped connections, latency)."""
    from covers_local.cli_console import Console
    from covers_local.cli_runs import run_local

    config = EmulatorConfig(
        ready_after=(0.5, 1.5), fault_rate=0.07, fault_kinds=SAFE_FAULTS, latency_seconds=0.2, seed=11
    )
    tasks = (
        [f"soak-{i:03d}" for i in range(200)]
        + [f"fail-soak-{i}" for i in range(10)]
        + [f"late-soak-{i}" for i in range(10)]
        + [f"hascover-soak-{i}" for i in range(10)]
        + [f"lost-soak-{i}" for i in range(10)]
    )
    with VendorEmulator(config) as vendor:
        summary = run_local(
            tasks,
            vendor_url=None,
            api_key=None,
            first_wait=1,
            poll_interval=1,
            max_wait=60,
            archive=False,
            console=Console(quiet=True),
            emulator=vendor,
            log_path=tmp_path / "functions.log",
        )
    results = {t["musicTaskId"]: t for t in summary["tasks"]}
    wrong = {t: r["status"] for t, r in results.items() if r["status"] != expected_status(t, vendor)}
    assert wrong == {}
    assert max(vendor.stats.credits_charged.values()) == 1  # never double-charged
    assert set(vendor.stats.credits_charged) == {t for t in tasks if not t.startswith("hascover-")}
    assert summary["deadLetters"] == [] and summary["invocationErrors"] == []  # nothing lost
    assert {t: len(r["events"]) for t, r in results.items()} == dict.fromkeys(tasks, 1)
    for result in results.values():
        for event in result["events"]:
            assert_valid_event(event)
    assert sum(vendor.stats.faults.values()) > 30  # the faults really happened
    print(
        json.dumps(
            {
                "tasks": len(tasks),
                "faults": dict(vendor.stats.faults),
                "maxGenerateCallsPerTask": max(vendor.stats.generate_calls.values()),
                "maxCreditsPerTask": max(vendor.stats.credits_charged.values()),
                "creditsSpent": sum(vendor.stats.credits_charged.values()),
                "statuses": dict(Counter(r["status"] for r in results.values())),
                "deadLetters": len(summary["deadLetters"]),
            }
        )
    )


def test_credits_run_out_then_recharge_and_redrive_complete_every_task_with_one_credit() -> None:
    from covers_ops.deployed import Target, redrive

    tasks = [f"paid-{i}" for i in range(4)]
    with VendorEmulator(EmulatorConfig(credits=2, ready_after=(0.5, 1.0), seed=5)) as vendor:
        settings = LocalSettings(
            vendor_url=vendor.base_url, api_key=vendor.config.api_key, max_wait=20, max_receive_count=2
        )
        with LocalPipeline(settings) as stack:
            stack.submit([{"musicTaskId": t} for t in tasks])
            records = stack.run(tasks, timeout=120, stop_when_blocked=False)  # until the DLQ holds the rest
            blocked = sorted(t for t in tasks if records[t]["status"] == "BLOCKED")
            assert len(blocked) == 2
            assert all(records[t]["lastError"]["code"] == "CREDITS_EXHAUSTED" for t in blocked)
            assert sorted(json.loads(d["body"])["musicTaskId"] for d in stack.dead_letters) == blocked
            assert [
                e["detail"]["musicTaskId"] for e in stack.events if e["detail"]["status"] != "SUCCEEDED"
            ] == []

            vendor.recharge(10)  # the operator recharges, then redrives
            moved, kept = redrive(
                Target(region=None, queue_url=stack.queue_url, dlq_url=stack.dlq_url, table=None)
            )
            assert (moved, kept) == (2, 0)
            records = stack.run(tasks, timeout=120)
        assert {t: records[t]["status"] for t in tasks} == dict.fromkeys(tasks, "SUCCEEDED")
        assert vendor.stats.credits_charged == dict.fromkeys(tasks, 1)
        assert sorted(e["detail"]["musicTaskId"] for e in stack.events) == tasks  # one event each


def test_when_finalize_fails_for_good_the_safety_net_still_ends_the_cover_with_one_event(
    vendor: VendorEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from covers_core.adapters.archive import ImageArchiver

    def broken(self: ImageArchiver, music_task_id: str, urls: tuple[str, ...]) -> tuple:
        raise RuntimeError("a bug in the archiver")

    monkeypatch.setattr(ImageArchiver, "archive_all", broken)
    records, events, _ = run(vendor, ["net-1"], archive=True)
    record = records["net-1"]
    assert record["status"] == "SUCCEEDED" and len(record["images"]) == 2
    assert [a["error"] for a in record["archivedImages"]] == [
        "ARCHIVE_SKIPPED: FinalizeCover failed (RuntimeError: a bug in the archiver)"
    ] * 2
    assert events_for(events, "net-1") == [("Cover Generated", "SUCCEEDED")]


def test_each_handler_gets_its_own_functions_timeout_as_lambda_gives_it(vendor: VendorEmulator) -> None:
    # The check polls inside an invocation while its remaining time fits one more vendor call: a 30 s
    # context instead of its 90 s (template.yaml) cut a --template-schedule run's checks to 2 status calls.
    settings = LocalSettings(vendor_url=vendor.base_url, api_key=vendor.config.api_key)
    remaining: dict[str, int] = {}

    def recorder(logical_id: str) -> Any:
        return lambda event, context: remaining.update({logical_id: context.get_remaining_time_in_millis()})

    with LocalPipeline(settings) as stack:
        for logical_id in ("CheckCoverStatusFunction", "StartCoverFunction"):
            function = stack.stack.functions[logical_id]
            stack.handlers[function.name] = recorder(logical_id)
            stack.invoke(function.name, {})

    assert remaining["CheckCoverStatusFunction"] > 60_000  # Timeout: 90
    assert 10_000 < remaining["StartCoverFunction"] <= 30_000  # the Globals' 30
