"""Lambda in virtual time: functions as template.yaml declares them, one account concurrency limit shared
by every function (reserved concurrency optional), and containers created when concurrency grows and
reused after (each keeps its own objects: the learned first wait's cache, the secret's cache, clients).

An invocation that finds no free concurrency is throttled at once (``Lambda.TooManyRequestsException``,
as Step Functions and the SQS event source see it); an admitted one holds one unit of concurrency until
its handler returns, in virtual time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.load.engine import Sim
from covers_local.template import functions, load_template

#: AWS's default account limit of concurrent executions per Region.
ACCOUNT_LIMIT = 1000


class TooManyRequests(Exception):
    """No concurrency left for this function (what Step Functions matches in its Retry blocks)."""

    error_name = "Lambda.TooManyRequestsException"


class FunctionTimedOut(Exception):
    error_name = "Sandbox.Timedout"


@dataclass(frozen=True)
class FunctionSpec:
    name: str  # the logical id in template.yaml
    memory_mb: int
    timeout: float
    reserved: int | None = None


def template_functions(template: Path | None = None) -> dict[str, FunctionSpec]:
    """Every function of template.yaml with its memory size and timeout (Globals, then its own)."""
    doc = load_template(template)
    defaults = doc.get("Globals", {}).get("Function", {})
    specs = {}
    for name, resource in functions(doc).items():
        props = resource.get("Properties", {})
        memory = int(props.get("MemorySize", defaults.get("MemorySize", 128)))
        timeout = float(props.get("Timeout", defaults.get("Timeout", 3)))
        reserved = props.get("ReservedConcurrentExecutions")
        specs[name] = FunctionSpec(
            name, memory, timeout, int(reserved) if isinstance(reserved, int) else None
        )
    return specs


@dataclass
class Container:
    function: str
    index: int
    state: dict[str, Any] = field(default_factory=dict)  # per-container objects, built on first use
    invocations: int = 0


@dataclass
class Invocation:
    """What a handler gets besides its payload (the Lambda context, in short)."""

    container: Container
    started: float
    deadline: float
    sim: Sim

    def time_left(self) -> float:
        return self.deadline - self.sim.now


@dataclass
class FunctionStats:
    requests: int = 0
    throttles: int = 0
    errors: int = 0
    seconds: float = 0.0  # billed duration (1 ms steps), INIT included
    cold_starts: int = 0
    peak: int = 0
    containers: int = 0


class LambdaService:
    """``invoke`` from inside a process; handlers are ``handler(payload, invocation) -> result``."""

    def __init__(
        self,
        sim: Sim,
        specs: Mapping[str, FunctionSpec],
        *,
        account_limit: int = ACCOUNT_LIMIT,
        reserved: Mapping[str, int] | None = None,
        cold_start_seconds: float = 0.8,
    ) -> None:
        self.sim = sim
        self.specs = dict(specs)
        unknown = set(reserved or {}) - set(specs)
        if unknown:
            raise ValueError(f"reserved concurrency for unknown functions: {sorted(unknown)}")
        self.reserved = {n: r for n, s in specs.items() if (r := (reserved or {}).get(n, s.reserved))}
        self.unreserved = account_limit - sum(self.reserved.values())
        if self.unreserved < 0:
            raise ValueError("reserved concurrency exceeds the account limit")
        self.cold_start_seconds = cold_start_seconds
        self.stats = {name: FunctionStats() for name in specs}
        self.in_use = dict.fromkeys(specs, 0)
        self.unreserved_in_use = 0
        self.peak_total = 0
        #: Peaks since :meth:`open_window` (the measured window, after the warm-up).
        self.window_peak = dict.fromkeys(specs, 0)
        self.window_peak_total = 0
        self._idle: dict[str, list[Container]] = {name: [] for name in specs}
        self._areas = dict.fromkeys(specs, 0.0)  # integral of concurrency in use over time
        self._changed = 0.0

    def _account(self) -> None:
        elapsed = self.sim.now - self._changed
        if elapsed > 0:
            for name, used in self.in_use.items():
                self._areas[name] += used * elapsed
            self._changed = self.sim.now

    def open_window(self) -> None:
        """From now on, ``window_peak`` counts (from what is in use now)."""
        self.window_peak = dict(self.in_use)
        self.window_peak_total = sum(self.in_use.values())

    def area(self, name: str) -> float:
        """The integral of ``name``'s concurrency in use over time so far (unit-seconds)."""
        self._account()
        return self._areas[name]

    def _admit(self, name: str) -> bool:
        if name in self.reserved:
            return self.in_use[name] < self.reserved[name]
        if self.unreserved_in_use >= self.unreserved:
            return False
        self.unreserved_in_use += 1
        return True

    def invoke(self, name: str, handler: Callable[[Any, Invocation], Any], payload: Any) -> Any:
        stats = self.stats[name]
        if not self._admit(name):
            stats.throttles += 1
            raise TooManyRequests(f"{name}: no concurrency left")
        self._account()
        self.in_use[name] += 1
        stats.requests += 1
        stats.peak = max(stats.peak, self.in_use[name])
        self.peak_total = max(self.peak_total, sum(self.in_use.values()))
        self.window_peak[name] = max(self.window_peak[name], self.in_use[name])
        self.window_peak_total = max(self.window_peak_total, sum(self.in_use.values()))
        spec = self.specs[name]
        started = self.sim.now
        idle = self._idle[name]
        if idle:
            container = idle.pop()
        else:
            stats.cold_starts += 1
            stats.containers += 1
            container = Container(name, stats.containers)
            self.sim.sleep(self.cold_start_seconds)
        container.invocations += 1
        try:
            result = handler(payload, Invocation(container, self.sim.now, started + spec.timeout, self.sim))
            if self.sim.now - started > spec.timeout:
                raise FunctionTimedOut(f"{name} ran past its {spec.timeout:.0f} s timeout")
            return result
        except Exception:
            stats.errors += 1
            raise
        finally:
            stats.seconds += math.ceil((min(self.sim.now - started, spec.timeout)) * 1000) / 1000
            self._account()
            self.in_use[name] -= 1
            if name not in self.reserved:
                self.unreserved_in_use -= 1
            idle.append(container)  # most recently used first: warm containers are reused
