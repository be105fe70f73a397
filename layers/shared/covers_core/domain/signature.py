"""The webhook signature (the same idea as Stripe's): the sender puts
``X-Covers-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`` on the request.

The header grammar is strict: ``t`` is 1-12 ASCII digits, each ``v1`` exactly 64 lowercase hex characters
(at most 4 of them, so a sender may sign with an old and a new key during a rotation); other ``key=value``
items are ignored, anything else is refused. The timestamp must be within ``tolerance`` seconds of now,
so a captured request cannot be replayed later. Several secrets may be accepted at once (the current and
the previous one during a rotation); one match is enough."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass

from covers_core.errors import CoverPipelineError, ErrorCode

SIGNATURE_HEADER = "x-covers-signature"
MAX_HEADER_LENGTH = 512
MAX_SIGNATURES = 4
_ITEM = re.compile(r"([a-z][a-z0-9]{0,7})=([!-~]*)")  # key=value, printable ASCII, no spaces
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"[0-9a-f]{64}")


class WebhookAuthError(CoverPipelineError):
    """Missing, malformed, stale or wrong signature."""

    code = ErrorCode.UNAUTHORIZED


@dataclass(frozen=True)
class SignatureHeader:
    timestamp: int
    signatures: tuple[str, ...]


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The header value a sender puts on ``body`` (used by tests and by `covers` for manual tries)."""
    return f"t={timestamp},v1={_digest(secret, body, timestamp)}"


def _digest(secret: str, body: bytes, timestamp: int) -> str:
    return hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def parse_header(header: str | None) -> SignatureHeader:
    """Read the header by its grammar; anything else is a :class:`WebhookAuthError`."""
    if not header:
        raise WebhookAuthError(f"missing {SIGNATURE_HEADER} header")
    if len(header) > MAX_HEADER_LENGTH:
        raise WebhookAuthError(f"signature header longer than {MAX_HEADER_LENGTH} characters")
    timestamps: list[str] = []
    signatures: list[str] = []
    for item in header.split(","):
        match = _ITEM.fullmatch(item.strip(" "))
        if match is None:
            raise WebhookAuthError("malformed signature header: expected t=<unix seconds>,v1=<hex>")
        key, value = match.groups()
        if key == "t":
            timestamps.append(value)
        elif key == "v1":
            signatures.append(value)
    if len(timestamps) != 1 or not _TIMESTAMP.fullmatch(timestamps[0]):
        raise WebhookAuthError("malformed signature header: need exactly one t=<unix seconds>")
    if not signatures or len(signatures) > MAX_SIGNATURES:
        raise WebhookAuthError(f"malformed signature header: need 1 to {MAX_SIGNATURES} v1=<hex> values")
    if not all(_SIGNATURE.fullmatch(s) for s in signatures):
        raise WebhookAuthError("malformed signature header: v1 must be 64 lowercase hex characters")
    return SignatureHeader(int(timestamps[0]), tuple(signatures))


def verify(secrets: Sequence[str], body: bytes, header: str | None, now: float, tolerance: int) -> None:
    """Accept ``body`` only if ``header`` carries a fresh signature made with one of ``secrets``."""
    parsed = parse_header(header)
    if abs(now - parsed.timestamp) > tolerance:
        raise WebhookAuthError(f"signature timestamp is more than {tolerance}s away from now")
    expected = [_digest(secret, body, parsed.timestamp) for secret in secrets if secret]
    # Compare every pair (no early exit): the time taken does not say which key or value was close.
    matched = False
    for mine in expected:
        for given in parsed.signatures:
            matched |= hmac.compare_digest(mine, given)
    if not matched:
        raise WebhookAuthError("signature does not match")
