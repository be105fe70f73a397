"""The vendor in virtual time, behind the REAL ``VendorClient``: a ``requests`` session stand-in answers
each cover's status from its ready time, and a stack-wide token bucket on status calls answers 429 with
Retry-After above its rate, so ``VendorTransientError`` comes out of the real client's own parsing."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

from bench.load.engine import Sim


@dataclass(frozen=True)
class RateLimit:
    """Status calls per second the vendor accepts from the whole stack, and its burst."""

    rate: float
    burst: float


class TokenBucket:
    def __init__(self, limit: RateLimit) -> None:
        self.limit = limit
        self.tokens = limit.burst
        self.at = 0.0

    def take(self, now: float) -> float | None:
        """None when the call may go ahead; otherwise the seconds until a token is free (Retry-After)."""
        self.tokens = min(self.limit.burst, self.tokens + (now - self.at) * self.limit.rate)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return None
        return (1.0 - self.tokens) / self.limit.rate


def _response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = json.dumps(body).encode()
    response.encoding = "utf-8"
    response.headers.update(headers or {})
    return response


IN_PROGRESS = _response(200, {"code": 200, "data": {"status": "IN_PROGRESS"}})
SUCCESS = _response(
    200, {"code": 200, "data": {"status": "SUCCESS", "images": ["https://img.sim/cover-1.png"]}}
)


@dataclass
class VendorStats:
    status_calls: int = 0
    rate_limited: int = 0
    generate_calls: int = 0


class Vendor:
    """The vendor's side: when each cover task is ready, and the rate limit.

    ``on_generate(music_task_id, now) -> (cover_task_id, ready_at)`` is the pipeline's hook (it draws the
    cover's latency); ``on_status(cover_task_id, now, ready)`` sees every status call (``ready`` None:
    answered 429)."""

    def __init__(
        self,
        sim: Sim,
        *,
        on_generate: Callable[[str, float], tuple[str, float]],
        on_status: Callable[[str, float, bool | None], None],
        status_seconds: Callable[[], float],
        generate_seconds: Callable[[], float],
        limit: RateLimit | None = None,
    ) -> None:
        self.sim = sim
        self.on_generate = on_generate
        self.on_status = on_status
        self.status_seconds = status_seconds
        self.generate_seconds = generate_seconds
        self.bucket = TokenBucket(limit) if limit else None
        self.ready_at: dict[str, float] = {}
        self.stats = VendorStats()

    def session(self) -> requests.Session:
        """A session for a container's ``VendorClient``."""
        return _Session(self)  # type: ignore[return-value]

    def status(self, cover_task_id: str) -> requests.Response:
        self.stats.status_calls += 1
        wait = self.bucket.take(self.sim.now) if self.bucket else None
        self.sim.sleep(self.status_seconds())
        if wait is not None:
            self.stats.rate_limited += 1
            self.on_status(cover_task_id, self.sim.now, None)
            retry_after = str(max(1, math.ceil(wait)))
            return _response(429, {"code": 429, "msg": "too many requests"}, {"Retry-After": retry_after})
        ready = self.sim.now >= self.ready_at[cover_task_id]
        self.on_status(cover_task_id, self.sim.now, ready)
        return SUCCESS if ready else IN_PROGRESS

    def generate(self, music_task_id: str) -> requests.Response:
        self.stats.generate_calls += 1
        self.sim.sleep(self.generate_seconds())
        cover_task_id, ready_at = self.on_generate(music_task_id, self.sim.now)
        self.ready_at[cover_task_id] = ready_at
        return _response(200, {"code": 200, "data": {"taskId": cover_task_id}})


class _Session:
    """Just what ``VendorClient._call`` uses of a ``requests.Session``."""

    def __init__(self, vendor: Vendor) -> None:
        self.vendor = vendor

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        if url.endswith("/v2/cover/status"):
            return self.vendor.status(kwargs["params"]["task_id"])
        if url.endswith("/v2/cover/generate"):
            return self.vendor.generate(kwargs["json"]["taskId"])
        raise NotImplementedError(f"sim vendor: {method} {url}")
