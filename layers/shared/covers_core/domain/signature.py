"""The webhook signature (the same idea as Stripe's): the sender puts
``X-Covers-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`` on the request.
The timestamp must be within ``tolerance`` seconds of now, so a captured request cannot be replayed later.
Several ``v1=`` values may be given (for secret rotation); one matching is enough."""

from __future__ import annotations

import hashlib
import hmac

from covers_core.errors import CoverPipelineError, ErrorCode

SIGNATURE_HEADER = "x-covers-signature"


class WebhookAuthError(CoverPipelineError):
    """Missing, malformed, stale or wrong signature."""

    code = ErrorCode.UNAUTHORIZED


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
