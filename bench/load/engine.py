"""Virtual time: one event heap, and processes (greenlets) that sleep in simulated seconds.

A process is ordinary synchronous code, so the project's REAL code (``CoverChecker.check`` with its
``sleep``) runs unchanged inside one: ``Sim.sleep`` schedules the process's wake-up and hands control
back to the event loop, which runs whatever is due next. Nothing runs in parallel and the only source of
randomness is ``Sim.rng``: the same seed gives the same figures.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable
from typing import Any

from greenlet import getcurrent, greenlet


class Process:
    """A running piece of code in virtual time; ``Sim.wait`` joins it."""

    __slots__ = ("_sim", "done", "result", "waiters")

    def __init__(self, sim: Sim) -> None:
        self._sim = sim
        self.done = False
        self.result: Any = None
        self.waiters: list[greenlet] = []

    def _finish(self, result: Any) -> None:
        self.done, self.result = True, result
        for waiter in self.waiters:
            self._sim.after(0.0, waiter.switch)
        self.waiters.clear()


class Blocked:
    """Processes parked until someone calls :meth:`wake_all` (a queue's idle pollers)."""

    def __init__(self, sim: Sim) -> None:
        self._sim = sim
        self._parked: list[greenlet] = []

    def park(self) -> None:
        self._parked.append(getcurrent())
        self._sim.suspend()

    def wake_all(self) -> None:
        parked, self._parked = self._parked, []
        for g in parked:
            self._sim.after(0.0, g.switch)


class Sim:
    """The event loop. ``now`` is virtual seconds since the run began."""

    def __init__(self, seed: int) -> None:
        self.now = 0.0
        self.rng = random.Random(seed)  # noqa: S311 - a seeded simulation, not a secret
        self._heap: list[tuple[float, int, Callable[..., Any], tuple[Any, ...]]] = []
        self._seq = 0
        self._main = getcurrent()

    # --- scheduling ------------------------------------------------------------------------------

    def at(self, when: float, fn: Callable[..., Any], *args: Any) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (when, self._seq, fn, args))

    def after(self, delay: float, fn: Callable[..., Any], *args: Any) -> None:
        self.at(self.now + max(0.0, delay), fn, *args)

    def spawn(self, fn: Callable[..., Any], *args: Any, delay: float = 0.0) -> Process:
        """Run ``fn(*args)`` as a process, ``delay`` seconds from now."""
        proc = Process(self)

        def body() -> None:
            proc._finish(fn(*args))

        # Parent = the loop: a finished process hands control back to the loop, not to its spawner.
        self.after(delay, greenlet(body, parent=self._main).switch)
        return proc

    # --- inside a process ------------------------------------------------------------------------

    def sleep(self, seconds: float) -> None:
        """Advance this process's time by ``seconds`` (other processes run meanwhile)."""
        self.after(seconds, getcurrent().switch)
        self.suspend()

    def suspend(self) -> None:
        if getcurrent() is self._main:
            raise RuntimeError("only a process can wait (Sim.spawn it)")
        self._main.switch()

    def wait(self, proc: Process) -> Any:
        """Wait for ``proc`` to finish; its return value."""
        if not proc.done:
            proc.waiters.append(getcurrent())
            self.suspend()
        return proc.result

    # --- the loop --------------------------------------------------------------------------------

    def run(self, until: float = math.inf) -> None:
        """Run every event due up to ``until`` (all of them by default). A process's exception stops
        the run: it surfaces here."""
        heap = self._heap
        while heap and heap[0][0] <= until:
            when, _, fn, args = heapq.heappop(heap)
            self.now = when
            fn(*args)
        if math.isfinite(until):
            self.now = max(self.now, until)

    @property
    def idle(self) -> bool:
        return not self._heap
