"""One entry point per function (start, check, finalize, webhook intake): domain decisions applied
through adapters that are passed in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class HttpAnswer:
    """What an HTTP entry point (webhook, status API) answers: a status code and a JSON body."""

    status: int
    body: dict[str, Any]
