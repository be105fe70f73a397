"""`covers report` over a local run of the whole pipeline (covers_local.runner.LocalPipeline: the template
on moto, the vendor emulator): its credits are the ones the emulator charged, its estimated AWS cost is the
sum of the records' own estimates, and one record's estimate is what its counts cost at the unit prices."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from covers_core.adapters.records import record_from_item
from covers_core.domain.prices import usd

from covers_local.emulator import EmulatorConfig, VendorEmulator
from covers_local.runner import LocalPipeline, LocalSettings
from tests.support.cli import covers

TASKS = ["song-1", "song-2", "song-3", "fail-1", "hascover-1"]


@pytest.fixture
def vendor() -> Iterator[VendorEmulator]:
    with VendorEmulator(EmulatorConfig(ready_after=(0.5, 2.0), seed=7)) as emu:
        yield emu


def test_the_report_of_a_local_run_matches_the_emulators_credits_and_the_unit_prices(
    vendor: VendorEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = LocalSettings(vendor_url=vendor.base_url, api_key=vendor.config.api_key, max_wait=30)
    with LocalPipeline(settings) as local:
        local.submit(
            [{"musicTaskId": t, "metadata": {"tenant": "acme" if "1" in t else "zeta"}} for t in TASKS]
        )
        ended = local.run(TASKS, timeout=120)
        items = boto3.resource("dynamodb").Table(local.stack.table_name).scan()["Items"]
        capsys.readouterr()  # what the functions printed during the run (their logs): not the report's
        stack = ["--stack", LocalPipeline.STACK_NAME, "--region", "us-east-1"]
        code, out, _ = covers(["report", *stack, "--json"], capsys)
        assert code == 0
        by_tenant = json.loads(covers(["report", *stack, "--by", "tenant", "--json"], capsys)[1])
        code, text, _ = covers(["report", *stack, "--since", "1h"], capsys)
    assert {t: ended[t]["status"] for t in TASKS} == {
        "song-1": "SUCCEEDED",
        "song-2": "SUCCEEDED",
        "song-3": "SUCCEEDED",
        "fail-1": "FAILED",
        "hascover-1": "REJECTED",
    }
    (group,) = json.loads(out)["groups"]
    charged = sum(vendor.stats.credits_charged.values())
    assert charged == 4  # every generate the vendor accepted; not the one it refused (400)
    assert group["credits"] == charged and group["covers"] == len(TASKS) and group["coversWithoutCost"] == 0

    records = [record_from_item(item) for item in items]
    estimates = [r.cost.estimated_usd for r in records if r.cost is not None]
    assert len(estimates) == len(TASKS)
    assert group["estimatedUsd"] == pytest.approx(sum(estimates), abs=1e-9)
    assert group["topFailureCodes"] == {"VENDOR_FAILED": 1, "COVER_ALREADY_EXISTS": 1}
    assert {g["group"]: g["credits"] for g in by_tenant["groups"]} == {"acme": 2, "zeta": 2}

    # One SUCCEEDED cover's estimate, by hand from the price table (docs/operations.md, "Cost per cover"):
    # the template's STANDARD workflow; 9 table, index and budget writes plus the poll schedule's one.
    song = next(r for r in records if r.music_task_id == "song-1")
    cost = song.cost
    assert cost is not None
    by_hand = (
        cost.transitions * usd("sfn_standard_transition")
        + cost.lambda_requests * usd("lambda_request")
        + cost.lambda_gb_seconds * usd("lambda_arm_gb_second")
        + (9 + 1) * usd("dynamodb_write")
        + usd("eventbridge_event")
        + 1.7 * usd("sqs_request")
    )
    assert cost.estimated_usd == pytest.approx(by_hand, rel=1e-4)  # (stored rounded)
    assert cost.credits == 1 and cost.transitions >= 3
    assert cost.status_calls == song.poll_count >= 1

    assert code == 0 and "all: 5 cover(s)" in text and f"credits             {charged}" in text
