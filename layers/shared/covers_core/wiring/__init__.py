"""Composition roots: one module per function builds that function's objects from its settings, once
per container (AWS clients, the vendor HTTP session and the secret cache included). A handler imports
only its own module, so its import closure holds only what its function uses.

Clients every invocation uses are created with the function's objects; a client only some invocations
need (the reconciler's repairs, the start function's dead letters and early finishes) is created on its
first use (:class:`OnFirstUse`), still once per container, so a cold start does not pay for it
(docs/performance.md, "Cold start").

:func:`reset` forgets every cached object (for tests and the local runner)."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from covers_core.adapters import aws

if TYPE_CHECKING:
    from covers_core.logic.budget import BudgetGate
    from covers_core.settings import BudgetSettings

T = TypeVar("T")
_CACHES: list[Callable[[], None]] = []
#: Held by whatever may create a boto3 client in a worker thread of the start function (a first-use
#: client, the first read of a secret): boto3's default session must not create two clients at once, and
#: a cold start reads each secret once rather than once per worker.
_FIRST_USE = threading.RLock()


def per_container(factory: Callable[[], T]) -> Callable[[], T]:
    """Cache ``factory``'s result for the life of the container (until :func:`reset`)."""
    cached = functools.cache(factory)
    _CACHES.append(cached.cache_clear)
    return cached


class OnFirstUse:
    """Stands for the container's boto3 client of ``service`` (:func:`covers_core.adapters.aws.client`, or
    what ``make`` returns), created when an attribute of it is first needed."""

    def __init__(self, service: str, make: Callable[[], Any] | None = None) -> None:
        self.service = service
        self.make = make

    def __getattr__(self, name: str) -> Any:
        client = self.__dict__.get("_client")
        if client is None:  # the first use: create it under the lock, then keep it (no lock after)
            with _FIRST_USE:
                make = self.__dict__["make"] or (lambda: aws.client(self.service))
                client = self.__dict__["_client"] = make()
        return getattr(client, name)


def one_at_a_time(read: Callable[[], T]) -> Callable[[], T]:
    """``read`` (a cached secret read), never run by two threads at once: the first caller reads and fills
    the cache, the others then find the value there."""

    def locked() -> T:
        with _FIRST_USE:
            return read()

    return locked


def budget_gate(s: BudgetSettings) -> BudgetGate:
    """The credit budget gate of a function that starts or requeues covers (its caps cached per container)."""
    from covers_core.adapters.budgets import BudgetStore
    from covers_core.domain.budget import Caps
    from covers_core.logic.budget import BudgetGate

    return BudgetGate(BudgetStore(aws.table(s.table_name)), Caps(s.per_day, s.per_month), s.tenant_field)


def reset() -> None:
    """Forget every cached client and object (for tests and the local runner)."""
    for clear in _CACHES:
        clear()
    aws.forget_clients()
    try:  # only functions that read secrets load Powertools Parameters
        from covers_core.adapters.secrets import forget_secrets
    except ImportError:  # pragma: no cover - Powertools is always in the layer
        return
    forget_secrets()
