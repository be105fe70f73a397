"""HTTP header values read one way everywhere: the vendor client and the image fetcher share these rules.

Standard library only, so the vendor client can use it without loading the image fetcher.
"""

from __future__ import annotations

import email.utils
import re
from datetime import UTC, datetime

_OWS = " \t"  # optional whitespace around a header value or a list element
_DELAY_SECONDS_RE = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_MAX_LENGTH_DIGITS = 18  # past this a Content-Length is read as 10**18: no body comes close
_HUGE_LENGTH = 10**_MAX_LENGTH_DIGITS


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """How long ``Retry-After`` asks to wait, in seconds from ``now``; None when absent or unreadable.

    The one rule, for every caller:

    * delay-seconds: ASCII digits with an optional decimal fraction (``7``, ``1.5``). The standard allows
      digits only; fractions are accepted because some servers send them and they mean what they say.
      No sign, exponent, ``inf``/``nan``, underscores or spaces inside. Never negative (a ``-5`` is not
      delay-seconds: None). An absurdly long numeral reads as ``inf``: callers bound the wait anyway.
    * an HTTP-date (``Thu, 01 Jan 2026 00:00:30 GMT``, and the older forms): seconds from ``now`` until
      then, 0 when it is past. A date without a zone is UTC, as every HTTP-date is.
    * anything else (garbage, an empty value): None, and the caller's own backoff applies.

    Whitespace around the value is ignored."""
    if value is None:
        return None
    text = value.strip(_OWS)
    if _DELAY_SECONDS_RE.fullmatch(text):
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)


def content_length(value: str | None) -> int | None:
    """The body length a ``Content-Length`` value declares; None when the header is absent.

    A valid value is ASCII digits (optional whitespace around). The same number repeated as a list
    (``12, 12``, which is also what two identical header lines are joined into) is that number, as the
    standard allows. Anything else raises ValueError: a sign (``+5``, ``-1``), letters, an exponent,
    spaces inside a number, an empty value, or differing values (``12, 13``). Such a response's framing
    is invalid, and a client must treat it as an unrecoverable error and discard the response (RFC 9112
    section 6.3) rather than guess where the body ends. Numbers longer than 18 digits read as 10**18."""
    if value is None:
        return None
    numbers = set()
    for part in value.split(","):
        digits = part.strip(_OWS)
        if not (digits.isascii() and digits.isdigit()):
            raise ValueError(f"invalid Content-Length {value!r:.60}")
        significant = digits.lstrip("0") or "0"
        numbers.add(int(significant) if len(significant) <= _MAX_LENGTH_DIGITS else _HUGE_LENGTH)
    if len(numbers) != 1:
        raise ValueError(f"Content-Length with differing values {value!r:.60}")
    return numbers.pop()
