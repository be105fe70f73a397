"""HTTP header values read one way everywhere: the vendor client and the image fetcher share these rules.

Standard library only, so the vendor client can use it without loading the image fetcher.
"""

from __future__ import annotations

import email.utils
import re
from datetime import UTC, datetime

_OWS = " \t"  # optional whitespace around a header value or a list element
_DELAY_SECONDS_RE = re.compile(r"[0-9]+(?:\.[0-9]+)?")


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
