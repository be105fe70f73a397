"""The signed webhook: upstream music-generation events over HTTPS, verified, then queued.

Signature scheme (the same idea as Stripe's): the sender puts
``X-Covers-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`` on the request.
The timestamp must be within ``tolerance`` seconds of now, so a captured request cannot be replayed later.
Several ``v1=`` values may be given (for secret rotation); one matching is enough."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from covers_core.batch import DeadLetters, RequestQueue
from covers_core.errors import BadRequestError, CoverPipelineError
from covers_core.model import MAX_BODY_BYTES, parse_request

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "x-covers-signature"
DEFAULT_TOLERANCE_SECONDS = 300


class WebhookAuthError(CoverPipelineError):
    """Missing, malformed, stale or wrong signature."""

    code = "UNAUTHORIZED"


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The header value a sender puts on ``body`` (used by tests and by `covers` for manual tries)."""
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: str, body: bytes, header: str | None, now: float, tolerance: int) -> None:
    if not header:
        raise WebhookAuthError(f"missing {SIGNATURE_HEADER} header")
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError) as exc:
        raise WebhookAuthError("malformed signature header: no t=<unix seconds>") from exc
    if abs(now - timestamp) > tolerance:
        raise WebhookAuthError(f"signature timestamp is more than {tolerance}s away from now")
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    if not any(hmac.compare_digest(expected, given) for given in parts.get("v1", [])):
        raise WebhookAuthError("signature does not match")


@dataclass(frozen=True)
class WebhookResponse:
    status: int
    body: dict[str, Any]


class WebhookIntake:
    """Verifies a webhook request and queues the cover request it carries."""

    def __init__(
        self,
        requests: RequestQueue,
        dead_letters: DeadLetters,
        secret: Callable[[], str],
        *,
        tolerance: int = DEFAULT_TOLERANCE_SECONDS,
        clock: Callable[[], float],
    ) -> None:
        self.requests = requests
        self.dead_letters = dead_letters
        self.secret = secret
        self.tolerance = tolerance
        self.clock = clock

    def handle(self, body: bytes, signature: str | None, request_id: str) -> WebhookResponse:
        if len(body) > MAX_BODY_BYTES:
            log.error("webhook %s: body of %d bytes refused", request_id, len(body))
            return WebhookResponse(413, {"error": f"body is over {MAX_BODY_BYTES} bytes"})
        try:
            verify(self.secret(), body, signature, self.clock(), self.tolerance)
        except WebhookAuthError as exc:
            log.warning("webhook %s refused: %s", request_id, exc.message)
            return WebhookResponse(401, {"error": "invalid or missing signature"})
        try:
            request = parse_request(body)
        except BadRequestError as exc:
            # Authentic but unusable: keep it where an operator will see it, and tell the sender why.
            log.error("webhook %s: rejected body: %s", request_id, exc.message)
            self.dead_letters.send(body.decode("utf-8", "replace"), exc.message, request_id)
            return WebhookResponse(400, {"error": exc.message})
        message_id = self.requests.send(request)
        return WebhookResponse(202, {"musicTaskId": request.music_task_id, "messageId": message_id})
