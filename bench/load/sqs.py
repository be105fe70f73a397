"""The requests queue and the SQS event source that drives the start function in virtual time.

Up to ``pollers`` batches are in flight at once (the event source's MaximumConcurrency: the template's
QueueMaxConcurrency); a poller waits up to the batching window to fill a batch, invokes the function, and
deletes what it handled. A throttled invocation (or a message the function reports failed) leaves its
messages invisible for the visibility timeout; after ``max_receives`` deliveries a message goes to the
dead-letter queue, as the queue's redrive policy says.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.load.engine import Blocked, Sim
from bench.load.lambdas import Invocation, LambdaService, TooManyRequests

#: An idle poller's ReceiveMessage long-polls this long before it asks again (each one is billed).
LONG_POLL_SECONDS = 20.0


@dataclass
class Message:
    id: str
    body: str
    sent_at: float
    receives: int = 0


@dataclass
class QueueStats:
    sends: int = 0
    receives: int = 0
    empty_receives: int = 0
    deletes: int = 0
    redeliveries: int = 0
    dead_lettered: int = 0


class RequestQueue:
    def __init__(self, sim: Sim, *, visibility_timeout: float, max_receives: int) -> None:
        self.sim = sim
        self.visibility_timeout = visibility_timeout
        self.max_receives = max_receives
        self.visible: deque[Message] = deque()
        self.waiting = Blocked(sim)
        self.stats = QueueStats()
        self.dead: list[Message] = []

    def send(self, message: Message) -> None:
        self.stats.sends += 1
        self._show(message)

    def _show(self, message: Message) -> None:
        self.visible.append(message)
        self.waiting.wake_all()

    def take(self, count: int) -> list[Message]:
        batch = [self.visible.popleft() for _ in range(min(count, len(self.visible)))]
        for message in batch:
            message.receives += 1
        return batch

    def retry_later(self, messages: list[Message]) -> None:
        """Not deleted: visible again after the visibility timeout, or dead-lettered."""
        for message in messages:
            if message.receives >= self.max_receives:
                self.stats.dead_lettered += 1
                self.dead.append(message)
            else:
                self.stats.redeliveries += 1
                self.sim.after(self.visibility_timeout, self._show, message)


Handler = Callable[[list[Message], Invocation], list[str]]


class EventSource:
    """``handler(batch, invocation) -> ids of the messages that failed`` (ReportBatchItemFailures)."""

    def __init__(
        self,
        sim: Sim,
        queue: RequestQueue,
        lambdas: LambdaService,
        function: str,
        handler: Handler,
        *,
        pollers: int,
        batch_size: int,
        window: float,
        throttle_backoff: float = 1.0,
    ) -> None:
        self.sim, self.queue, self.lambdas = sim, queue, lambdas
        self.function, self.handler = function, handler
        self.batch_size, self.window, self.throttle_backoff = batch_size, window, throttle_backoff
        for _ in range(pollers):
            sim.spawn(self._poll)

    def _poll(self) -> Any:
        queue, stats = self.queue, self.queue.stats
        while True:
            if not queue.visible:
                idle_since = self.sim.now
                queue.waiting.park()
                stats.empty_receives += 1 + int((self.sim.now - idle_since) // LONG_POLL_SECONDS)
                continue
            if len(queue.visible) < self.batch_size and self.window > 0:
                self.sim.sleep(self.window)  # MaximumBatchingWindowInSeconds
            batch = queue.take(self.batch_size)
            stats.receives += 1
            if not batch:
                continue
            try:
                failed = set(self.lambdas.invoke(self.function, self.handler, batch))
            except TooManyRequests:
                queue.retry_later(batch)
                self.sim.sleep(self.throttle_backoff)
                continue
            if len(failed) < len(batch):
                stats.deletes += 1  # one DeleteMessageBatch
            queue.retry_later([m for m in batch if m.id in failed])
