"""Header values the fetcher reads: Content-Length and Retry-After."""

from __future__ import annotations

import datetime as dt

import pytest
from covers_core.adapters.image_fetch.fetcher import declared_length, retry_after_seconds


@pytest.mark.parametrize(
    ("header", "expected"),
    [(None, None), ("12", 12), ("12, 12", 12), ("12, 13", None), ("-1", None), ("abc", None), ("", None)],
)
def test_declared_length_is_used_only_when_well_formed(header: str | None, expected: int | None) -> None:
    assert declared_length(header) == expected


def test_retry_after_reads_seconds_and_dates() -> None:
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds("Thu, 01 Jan 2026 00:00:30 GMT", now) == 30.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None
