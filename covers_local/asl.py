"""What the state machine (``statemachine/cover_workflow.asl.json``) does with a Task state's error: retry it
after a delay, or catch it into another state, as the Amazon States Language specifies.

For tests and simulations that drive the real handlers without a Step Functions engine: they read the real
definition, so a change to a Retry or Catch block changes what they do."""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFINITION = Path(__file__).resolve().parent.parent / "statemachine" / "cover_workflow.asl.json"


def load_definition(path: Path = DEFINITION) -> dict[str, Any]:
    """The definition with its ``${...}`` substitutions replaced by a placeholder ARN."""
    return dict(json.loads(re.sub(r"\$\{\w+\}", "arn:placeholder", path.read_text())))


def _matches(names: list[str], error: str) -> bool:
    # States.ALL matches every error; States.TaskFailed every error but States.Timeout (ASL spec, "Errors").
    return (
        error in names
        or "States.ALL" in names
        or ("States.TaskFailed" in names and error != "States.Timeout")
    )


@dataclass(frozen=True)
class Retry:
    delay: float


@dataclass(frozen=True)
class Catch:
    next_state: str
    result_path: str | None


@dataclass(frozen=True)
class Fail:
    error: str


@dataclass
class TaskErrors:
    """One Task state's error handling across the attempts of one visit (each Retry block keeps its own
    count, as in Step Functions). ``jitter``: ``"full"`` draws full jitter from ``rng``; ``"max"`` and
    ``"min"`` take its bounds (deterministic worst and best cases)."""

    definition: dict[str, Any]
    state: str
    jitter: str = "full"
    rng: random.Random = field(default_factory=lambda: random.Random(0))  # noqa: S311 - jitter, not a secret
    attempts: dict[int, int] = field(default_factory=dict)

    def on_error(self, error: str) -> Retry | Catch | Fail:
        spec = self.definition["States"][self.state]
        for index, block in enumerate(spec.get("Retry", [])):
            if not _matches(block["ErrorEquals"], error):
                continue
            done = self.attempts.get(index, 0)
            if done >= block.get("MaxAttempts", 3):
                break  # this block is exhausted: the error goes to Catch (ASL: no other Retry is tried)
            self.attempts[index] = done + 1
            return Retry(self._delay(block, done))
        for catcher in spec.get("Catch", []):
            if _matches(catcher["ErrorEquals"], error):
                return Catch(catcher["Next"], catcher.get("ResultPath", "$"))
        return Fail(error)

    def _delay(self, block: dict[str, Any], done: int) -> float:
        base = block.get("IntervalSeconds", 1) * block.get("BackoffRate", 2.0) ** done
        if "MaxDelaySeconds" in block:
            base = min(base, block["MaxDelaySeconds"])
        if block.get("JitterStrategy", "NONE") != "FULL" or self.jitter == "max":
            return float(base)
        return 0.0 if self.jitter == "min" else self.rng.uniform(0, base)
