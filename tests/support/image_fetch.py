"""Helpers for the image fetcher's tests (tests/unit/image_fetch, tests/integration/image_fetch): a
getaddrinfo stand-in, recorded sleeps, a fetcher with short limits, and image bytes."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

from covers_core.adapters.image_fetch import FetchSettings, ImageFetcher

from covers_local.emulator import png
from tests.support.hostile_server import http_response

PNG = png(8, 8, (10, 20, 30))
JPEG = b"\xff\xd8\xff\xe0" + b"\0" * 200
BIG_PNG = PNG + b"\0" * 5000


def addrinfo(address: str, port: int) -> tuple[Any, ...]:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sockaddr = (address, port, 0, 0) if family == socket.AF_INET6 else (address, port)
    return (family, socket.SOCK_STREAM, 6, "", sockaddr)


class Resolver:
    """A getaddrinfo stand-in: one list of addresses per call (the last one repeats)."""

    def __init__(self, *answers: list[str] | str) -> None:
        self.answers = [[a] if isinstance(a, str) else a for a in answers]
        self.calls: list[str] = []

    def __call__(self, host: str, port: int, *_: object, **__: object) -> list[tuple[Any, ...]]:
        self.calls.append(host)
        answer = self.answers[min(len(self.calls), len(self.answers)) - 1]
        return [addrinfo(a, port) for a in answer]


def never_called(*_: object, **__: object) -> list[Any]:
    raise AssertionError("the resolver must not be called")


class Sleeps(list[float]):
    """Records the waits instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def fetcher(
    resolve: Callable[..., Any] = never_called, sleep: Sleeps | None = None, **overrides: Any
) -> ImageFetcher:
    limits = {
        "allow_loopback": True,
        "connect_timeout": 1.0,
        "read_timeout": 1.0,
        "image_budget": 5.0,
        "retries": 2,
        "backoff_base": 0.01,
        "max_bytes": 2000,
        **overrides,
    }
    return ImageFetcher(
        FetchSettings(**limits),
        resolve=resolve,
        sleep=sleep if sleep is not None else Sleeps(),
        jitter=lambda: 0.5,
    )


def png_response(body: bytes = PNG, **kw: Any) -> bytes:
    return http_response(200, body, [("Content-Type", "image/png")], **kw)
