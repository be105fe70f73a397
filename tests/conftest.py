"""Shared by every test: fake AWS credentials and a region, and no cached clients between tests.

Sockets: pytest-socket (``--allow-hosts`` in pyproject.toml) lets tests connect to loopback only; unit
tests get no sockets at all (tests/unit/conftest.py). The moto stack and the vendor emulator are fixtures
in tests/support/fixtures.py, imported by the conftest of each folder that uses them."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from covers_core import wiring
from hypothesis import HealthCheck, settings

from tests.support.paths import TEST_ENV

# Property tests: the same examples on every run ("ci", the default, what make test uses: a property test
# that fails only on some seeds would fail CI at random), or many new ones ("explore":
# `HYPOTHESIS_PROFILE=explore make unit`).
settings.register_profile(
    "ci", derandomize=True, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "explore", max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key, value in TEST_ENV.items():
        monkeypatch.setenv(key, value)
    wiring.reset()
    yield
    wiring.reset()
