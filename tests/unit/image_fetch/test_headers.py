"""Header values the fetcher reads: Content-Length."""

from __future__ import annotations

import pytest
from covers_core.adapters.image_fetch.fetcher import declared_length


@pytest.mark.parametrize(
    ("header", "expected"),
    [(None, None), ("12", 12), ("12, 12", 12), ("12, 13", None), ("-1", None), ("abc", None), ("", None)],
)
def test_declared_length_is_used_only_when_well_formed(header: str | None, expected: int | None) -> None:
    assert declared_length(header) == expected
