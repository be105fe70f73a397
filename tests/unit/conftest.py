"""Unit tests: rules on in-memory fakes, no moto and no sockets (the whole folder runs in seconds)."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """No socket at all in a unit test (pytest-socket's ``disable_socket`` marker, item by item)."""
    for item in items:
        if Path(str(item.fspath)).resolve().is_relative_to(HERE):
            item.add_marker(pytest.mark.disable_socket)
