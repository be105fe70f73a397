"""`covers report`'s arithmetic (covers_ops/report.py): --since spans and dates, the groups it adds up
(outcomes, credits, estimated cost, p50/p95, failure codes), and its CSV; records without a cost counted
apart. No AWS: records in, figures out."""

from __future__ import annotations

import argparse
import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from covers_core.domain.cost import CoverCost
from covers_core.domain.model import CoverError, CoverRecord, Status

from covers_ops import report

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def cost(usd: float, credits: int = 1, delay: float | None = 1.0) -> CoverCost:
    return CoverCost(credits, 3, 4, 2.25, 2000, 0.25, 0, usd, detection_delay_seconds=delay)


def record(task: str, status: Status, seconds: float, **fields: object) -> CoverRecord:
    created = NOW - timedelta(hours=1)
    return CoverRecord(
        task,
        status,
        created_at=created.isoformat().replace("+00:00", "Z"),
        completed_at=(created + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")
        if status.terminal
        else None,
        **fields,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7d", NOW - timedelta(days=7)),
        ("24h", NOW - timedelta(hours=24)),
        ("30m", NOW - timedelta(minutes=30)),
        ("2026-11-01", datetime(2026, 11, 1, tzinfo=UTC)),
        ("2026-11-01T06:00:00Z", datetime(2026, 11, 1, 6, tzinfo=UTC)),
    ],
)
def test_since_takes_a_span_back_from_now_or_an_iso_date(text: str, expected: datetime) -> None:
    assert report.since(text, NOW) == expected


@pytest.mark.parametrize(("text", "says"), [("7w", "not a span"), ("0d", "empty"), ("2027-01-01", "future")])
def test_since_refuses_what_it_cannot_read_saying_what_it_takes(text: str, says: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=says):
        report.since(text, NOW)


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 21)]
    assert (report.percentile(values, 50), report.percentile(values, 95)) == (10.0, 19.0)
    assert report.percentile([], 50) is None


def test_a_group_adds_up_outcomes_credits_cost_times_and_failure_codes() -> None:
    records = [
        record("a", Status.SUCCEEDED, 30, cost=cost(0.0001, delay=2.0), cover_task_id="c-a"),
        record("b", Status.SUCCEEDED, 50, cost=cost(0.0003, delay=0.0), cover_task_id="c-b"),
        record(
            "c",
            Status.TIMED_OUT,
            900,
            cost=cost(0.0005, delay=None),
            cover_task_id="c-c",
            error=CoverError("DEADLINE_EXCEEDED", "late"),
        ),
        record(
            "d",
            Status.REJECTED,
            1,
            cost=cost(0.00001, credits=0, delay=None),
            error=CoverError("COVER_ALREADY_EXISTS", "exists"),
        ),
        # written before costs were kept: it paid one credit (it has a cover task), its cost is unknown
        record("e", Status.SUCCEEDED, 40, cover_task_id="c-e"),
        record("f", Status.IN_PROGRESS, 0, cover_task_id="c-f"),  # running: paid, not finished
    ]
    (group,) = report.summarize(records)
    data = group.as_dict()
    assert data["byStatus"] == {"IN_PROGRESS": 1, "REJECTED": 1, "SUCCEEDED": 3, "TIMED_OUT": 1}
    assert data["credits"] == 5
    assert data["estimatedUsd"] == pytest.approx(0.00091)
    assert data["usdPerCover"] == pytest.approx(0.00091 / 4) and data["coversWithoutCost"] == 2
    assert data["timeToCoverSeconds"] == {"p50": 40.0, "p95": 900.0}  # of the five that ended
    assert data["detectionDelaySeconds"] == {"p50": 0.0, "p95": 2.0}
    assert data["topFailureCodes"] == {"DEADLINE_EXCEEDED": 1, "COVER_ALREADY_EXISTS": 1}


def test_by_tenant_groups_by_the_tenant_field_largest_first() -> None:
    records = [
        record("a", Status.SUCCEEDED, 30, cost=cost(0.0001), metadata={"team": "acme"}),
        record("b", Status.SUCCEEDED, 30, cost=cost(0.0001), metadata={"team": "acme"}),
        record("c", Status.SUCCEEDED, 30, cost=cost(0.0001), metadata={"team": "zeta"}),
        record("d", Status.SUCCEEDED, 30, cost=cost(0.0001)),
    ]
    groups = report.summarize(records, by_tenant=True, tenant_field="team")
    assert [(g.name, g.covers) for g in groups] == [("acme", 2), (report.NO_TENANT, 1), ("zeta", 1)]
    assert [g.name for g in report.summarize(records)] == [report.ALL]


def test_the_csv_has_one_row_per_group_with_every_terminal_status_as_a_column() -> None:
    records = [
        record("a", Status.SUCCEEDED, 30, cost=cost(0.0001), metadata={"tenant": "acme"}),
        record(
            "b",
            Status.FAILED,
            30,
            cost=cost(0.0002),
            metadata={"tenant": "zeta"},
            error=CoverError("VENDOR_FAILED", "no"),
        ),
    ]
    out = io.StringIO()
    report.write_csv(report.summarize(records, by_tenant=True, tenant_field="tenant"), out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [r["group"] for r in rows] == ["acme", "zeta"]
    assert (rows[1]["FAILED"], rows[1]["SUCCEEDED"], rows[1]["top_failure_codes"]) == (
        "1",
        "0",
        "VENDOR_FAILED:1",
    )
    assert rows[0]["estimated_usd"] == "0.0001" and rows[0]["credits"] == "1"
