"""`covers backfill --manifest`'s pure parts (docs/operations.md, "Backfilling a catalogue"): the pace (rate
from concurrency and wait), the in-account cost from bench/prices.py's unit prices, the manifest's rules
(the same the state machine applies), the execution's name per manifest version."""

from __future__ import annotations

import re

import pytest

from bench.prices import usd
from covers_ops import backfill_map
from covers_ops.backfill_map import Pace, check_manifest, execution_name, pace_for
from covers_ops.deployed import UsageError
from tests.support.paths import ROOT


def test_the_unit_prices_are_bench_prices() -> None:
    for name, price in backfill_map.PRICES.items():
        assert price == pytest.approx(usd(name)), name


@pytest.mark.parametrize("rate", [0.1, 0.5, 5, 10, 50, 200, 1000, 5000, 50_000])
def test_the_pace_comes_within_five_percent_of_the_rate_asked_with_a_short_wait(rate: float) -> None:
    pace = pace_for(rate)
    assert 1 <= pace.max_concurrency <= backfill_map.MAX_CONCURRENCY
    assert pace.rate == pytest.approx(rate, rel=0.05)
    assert 1 <= pace.wait_seconds <= max(2, round(10 / rate * 1.05))  # no longer than one batch a child needs


def test_a_given_concurrency_gets_the_wait_that_fits_the_rate() -> None:
    assert pace_for(100, 20) == Pace(20, 2)  # 20 x 10 / (2 + 0.1 s) = 95/s
    assert pace_for(10_000, 10).wait_seconds == 0  # as fast as the sends go


def test_the_in_account_cost_per_million_rows_is_the_documented_figure() -> None:
    per_million = backfill_map.map_usd(1_000_000, pace_for(backfill_map.DOCUMENTED_RATE))
    # 100,000 children: a transition, an Express request, 2.1 s at 64 MB, one SQS request each
    assert pace_for(backfill_map.DOCUMENTED_RATE) == Pace(1, 2)  # 10 / 2.1 s = 4.8/s
    expected = 100_000 * (0.025e-3 + 1e-6 + 2.1 * 0.0625 * 0.00001667 + 0.4e-6)
    assert per_million == pytest.approx(expected)
    runbook = " ".join((ROOT / "docs" / "operations.md").read_text(encoding="utf-8").split())
    assert f"${per_million:.2f} per 1M rows" in runbook


def test_the_header_names_the_id_and_known_columns_only() -> None:
    for header, reason in [
        ("correlationId\n", "must name musicTaskId"),
        ("musicTaskId,title\n", "unknown column(s) title"),
        ("musicTaskId,musicTaskId\n", "named twice"),
        ("", "(got nothing)"),
    ]:
        with pytest.raises(UsageError, match=re.escape(reason)):
            check_manifest([header, "g1\n"])
    with pytest.raises(UsageError, match="empty"):
        check_manifest([])


def test_rows_are_checked_as_the_state_machine_builds_them_an_empty_line_too() -> None:
    check = check_manifest(
        [
            "musicTaskId,correlationId,metadata\n",
            'g1,c1,"{""a"": 1}"\n',
            "\n",
            "g2,,\n",
            ",,\n",
            "g 3,,\n",
            'g4,,"[1]"\n',
            'g5,,"{oops"\n',
            "g6,,,extra\n",
        ]
    )
    assert check.rows == 8
    assert [n for n, _ in check.invalid] == [3, 5, 6, 7, 8, 9]
    reasons = [why for _, why in check.invalid]
    assert "empty line" in reasons[0] and "musicTaskId" in reasons[1]
    assert "must be a JSON object" in reasons[3] and "not JSON" in reasons[4] and "4 cells" in reasons[5]


def test_the_execution_name_is_one_per_manifest_version() -> None:
    first = execution_name("manifests/big catalogue.csv", '"abc"')
    assert first == execution_name("manifests/big catalogue.csv", "abc")  # quotes or not: the same ETag
    assert first != execution_name("manifests/big catalogue.csv", '"abd"')
    assert first != execution_name("manifests/other.csv", '"abc"')
    assert re.fullmatch(r"big-catalogue-[0-9a-f]{20}", first) and len(first) <= 80


def test_a_local_catalogue_becomes_a_manifest_with_metadata_as_json() -> None:
    body = backfill_map.normalised_csv("musicTaskId,tenant,correlationId\ng1,acme,c1\ng2,,\n")
    assert body.decode().splitlines() == [
        "musicTaskId,correlationId,metadata",
        'g1,c1,"{""tenant"":""acme""}"',
        "g2,,",
    ]
    with pytest.raises(UsageError, match="valid CSV"):
        backfill_map.normalised_csv("musicTaskId\nbad id\n")
