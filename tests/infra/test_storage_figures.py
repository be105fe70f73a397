"""docs/performance.md's "Storage" table and docs/figures/storage.json are what ``bench.storage`` computes
from the list prices of bench/prices.py: a price changed there makes both stale until
``python -m bench.storage`` runs again."""

from __future__ import annotations

import json

import pytest

from bench import prices, storage
from bench.prices import Price


def test_the_storage_figures_and_the_page_are_computed_from_the_prices() -> None:
    assert storage.main(["--check"]) == 0, "run `python -m bench.storage`"
    assert json.loads(storage.SOURCE.read_text()) == storage.compute()
    assert storage.render(storage.compute()) in storage.PAGE.read_text()


def test_a_changed_price_makes_the_figures_stale(monkeypatch: pytest.MonkeyPatch) -> None:
    old = prices.PRICES["s3_it_infrequent_gb_month"]
    monkeypatch.setitem(
        prices.PRICES, "s3_it_infrequent_gb_month", Price(0.01, old.unit, old.source, old.read)
    )
    assert storage.main(["--check"]) == 1


def test_the_figures_follow_the_pricing_rules() -> None:
    """Standard vs Intelligent-Tiering: the same rate while read, plus monitoring for images over 128 KiB
    only; cheaper the longer an image goes unread; thumbnails stay in Standard."""
    data = storage.compute()
    month = data["storage_per_month"]
    images = data["covers"] * data["assumptions"]["images_per_cover"]
    monitoring = images * prices.usd("s3_it_monitoring")
    assert month["it_frequent"] == pytest.approx(month["standard"] + monitoring, abs=0.011)
    assert month["standard"] > month["it_infrequent"] > month["it_archive_instant"]
    small = storage.compute(storage.Assumptions(image_bytes=100 * 1024))  # under the floor: not monitored
    assert small["storage_per_month"]["it_frequent"] == small["storage_per_month"]["standard"]
    assert small["one_off"]["it_transitions"] == 0
    views = data["delivery_per_million_views"]
    assert views["image"]["cloudfront"] > 40 * views["thumbnail"]["cloudfront"]  # it is mostly bytes
