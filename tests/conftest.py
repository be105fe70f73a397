"""Shared by every test: fake AWS credentials and a region, and no cached clients between tests.

Sockets: pytest-socket (``--allow-hosts`` in pyproject.toml) lets tests connect to loopback only; unit
tests get no sockets at all (tests/unit/conftest.py). The moto stack and the vendor emulator are fixtures
in tests/support/fixtures.py, imported by the conftest of each folder that uses them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from covers_core import wiring

from tests.support.paths import TEST_ENV


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key, value in TEST_ENV.items():
        monkeypatch.setenv(key, value)
    wiring.reset()
    yield
    wiring.reset()
