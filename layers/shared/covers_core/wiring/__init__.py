"""Composition roots: one module per function builds that function's objects from its settings, once
per container (AWS clients, the vendor HTTP session and the secret cache included). A handler imports
only its own module, so its import closure holds only what its function uses.

:func:`reset` forgets every cached object (for tests and the local runner)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

from covers_core.adapters.aws import forget_clients

T = TypeVar("T")
_CACHES: list[Callable[[], None]] = []


def per_container(factory: Callable[[], T]) -> Callable[[], T]:
    """Cache ``factory``'s result for the life of the container (until :func:`reset`)."""
    cached = functools.cache(factory)
    _CACHES.append(cached.cache_clear)
    return cached


def reset() -> None:
    """Forget every cached client and object (for tests and the local runner)."""
    for clear in _CACHES:
        clear()
    forget_clients()
    try:  # only functions that read secrets load Powertools Parameters
        from covers_core.adapters.secrets import forget_secrets
    except ImportError:  # pragma: no cover - Powertools is always in the layer
        return
    forget_secrets()
