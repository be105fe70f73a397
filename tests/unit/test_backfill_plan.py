"""`covers backfill`'s pure parts (docs/operations.md, "Backfilling a catalogue"): reading a catalogue with
the pipeline's own request parser, the plan (new, skipped, credits, AWS cost), the state file, and the AWS
cost per cover taken from the performance page's figures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from covers_core.domain.model import CoverRequest, Status

from covers_ops import backfill
from covers_ops.backfill import State, make_plan, read_catalogue
from covers_ops.deployed import UsageError
from tests.support.paths import ROOT


def ids(requests: list[CoverRequest]) -> list[str]:
    return [r.music_task_id for r in requests]


def test_the_aws_cost_per_cover_is_the_performance_pages_standard_run_at_11_6_per_second() -> None:
    variant, mix, rate = backfill.COST_SOURCE
    bench = json.loads((ROOT / "docs" / "figures" / "bench.json").read_text(encoding="utf-8"))
    (run,) = [r for r in bench["load"]["variants"][variant][mix] if r["rate"] == rate]
    assert run["workflow_type"] == "STANDARD"
    measured = round(run["cost_per_million"]["total_standard"], 2)
    assert measured == backfill.AWS_USD_PER_MILLION_COVERS, (
        f"a new bench run measured ${measured} per 1M covers: set covers_ops/backfill.py's "
        "AWS_USD_PER_MILLION_COVERS to it"
    )
    runbook = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    assert f"${backfill.AWS_USD_PER_MILLION_COVERS} per 1M covers" in " ".join(runbook.split())


def test_one_id_per_line_blank_lines_skipped_and_bad_ids_reported_by_line_number() -> None:
    catalogue = read_catalogue("gen-1\r\n\ngen 2\ngen-3\n" + "x" * 300 + "\ngen-1\n")
    assert ids(catalogue.requests) == ["gen-1", "gen-3"] and catalogue.kind == "ids"
    assert [n for n, _ in catalogue.invalid] == [3, 5]
    assert "printable ASCII" in catalogue.invalid[0][1] and "longer than 256" in catalogue.invalid[1][1]
    assert catalogue.duplicates == 1


def test_csv_columns_other_than_the_id_become_metadata_and_correlation_id_is_kept() -> None:
    text = (
        "musicTaskId,tenant,title,correlationId\n"
        'g1,acme,"Hello, world",c-1\n'
        "g2,,Quiet,\n"
        "g3,acme,too,many,cells\n"
        ",acme,no id,\n"
    )
    catalogue = read_catalogue(text)
    assert catalogue.kind == "CSV"
    first, second = catalogue.requests
    assert (first.music_task_id, first.correlation_id) == ("g1", "c-1")
    assert dict(first.metadata) == {"tenant": "acme", "title": "Hello, world"}
    assert (second.correlation_id, dict(second.metadata)) == (
        None,
        {"title": "Quiet"},
    )  # empty cells left out
    assert [n for n, _ in catalogue.invalid] == [4, 5]
    assert "no music task id" in catalogue.invalid[1][1]


def test_json_lines_are_read_with_the_queues_parser() -> None:
    lines = [
        {"musicTaskId": "j1", "metadata": {"tenant": "acme"}, "correlationId": "c1"},
        {"taskId": "j2"},
    ]
    text = (
        "\n".join(json.dumps(line) for line in lines) + '\n{"musicTaskId": 7}\nnot json\n{"metadata": {}}\n'
    )
    catalogue = read_catalogue(text)
    assert catalogue.kind == "JSON Lines"
    assert [r.to_message() for r in catalogue.requests] == [lines[0], {"musicTaskId": "j2"}]
    assert [n for n, _ in catalogue.invalid] == [3, 4, 5]
    assert "must be a string" in catalogue.invalid[0][1] and "not valid JSON" in catalogue.invalid[1][1]


def test_the_plan_skips_recorded_and_already_sent_ids_and_counts_the_credits_and_cost() -> None:
    requests = [CoverRequest(music_task_id=f"p{i}") for i in range(10)]
    existing = {"p0": Status.SUCCEEDED, "p1": Status.REJECTED, "p2": Status.IN_PROGRESS}
    plan = make_plan(requests, existing, already_sent=["p3", "p4", "elsewhere"])
    assert ids(plan.to_send) == ["p5", "p6", "p7", "p8", "p9"]
    assert (len(plan.existing), plan.already_sent, plan.held_back, plan.credits) == (3, 2, 0, 5)
    assert plan.aws_usd == pytest.approx(5 * backfill.AWS_USD_PER_MILLION_COVERS / 1e6)

    capped = make_plan(requests, existing, ["p3", "p4"], max_credits=2)
    assert ids(capped.to_send) == ["p5", "p6"] and capped.held_back == 3 and capped.credits == 2
    lines = backfill.plan_lines(read_catalogue("p0\n"), capped, rate=1)
    assert any("held back by --max-credits: 3" in line for line in lines)
    assert any("REJECTED 1, SUCCEEDED 1" in line for line in lines)


def test_the_state_file_is_replaced_whole_and_belongs_to_one_stack(tmp_path: Path) -> None:
    path = tmp_path / "c.csv.backfill-state.json"
    state = State.load(path, "covers")
    assert list(state.sent) == []
    state.add(["a", "b"])
    state.save()
    state.add(["c", "a"])
    state.save()
    assert list(State.load(path, "covers").sent) == ["a", "b", "c"]
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left behind
    with pytest.raises(UsageError, match="of stack 'covers', not 'other'"):
        State.load(path, "other")
    path.write_text("{half")
    with pytest.raises(UsageError, match="cannot read the state file"):
        State.load(path, "covers")


def test_durations_read_as_an_operator_says_them() -> None:
    assert [backfill.duration(s) for s in (0, 59.2, 60, 3725)] == ["0s", "1m0s", "1m0s", "1h2m5s"]
