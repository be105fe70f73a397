"""`covers local-stack` keeps serving whatever one round of its loop meets (a handler or moto error, a record
it cannot read): it says so on its console and goes on."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from covers_core.domain.model import CoverRecord, Status

from covers_local.local_stack import LocalStack, LocalStackOptions


class Flaky:
    """A pipeline whose pump and record scan fail now and then."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop, self.rounds = stop, 0

    def pump(self) -> int:
        self.rounds += 1
        if self.rounds == 1:
            raise RuntimeError("moto: internal error")
        if self.rounds == 4:
            self.stop.set()
        return 1

    def records(self) -> dict[str, CoverRecord]:
        if self.rounds == 2:
            raise AttributeError("'str' object has no attribute 'get'")
        return {"t1": CoverRecord("t1", Status.IN_PROGRESS if self.rounds < 3 else Status.SUCCEEDED)}


def test_a_failing_round_is_reported_and_the_stack_keeps_serving(monkeypatch: Any) -> None:
    stop = threading.Event()
    options = LocalStackOptions(Path("env.json"), "127.0.0.1", "127.0.0.1", 0, 0, 0)
    stack = LocalStack(options)
    stack.pipeline = Flaky(stop)  # type: ignore[assignment]
    monkeypatch.setattr(stop, "wait", lambda seconds: None)  # no real pauses
    changes: list[tuple[str | None, str]] = []
    errors: list[str] = []
    stack.serve(lambda task, old, new, record: changes.append((old, new)), stop, on_error=errors.append)
    assert errors == [
        "RuntimeError: moto: internal error",
        "AttributeError: 'str' object has no attribute 'get'",
    ]
    assert changes == [(None, "SUCCEEDED")]  # round 3 read the record (rounds 1 and 2 failed)
