"""How an app gets an archived image (docs/contracts.md, "Status API"): the status API's ``urls`` query
parameter, and which objects a presigned URL may name (the archive bucket's only)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

#: ``?urls=presigned``: each archived image's ``url`` becomes a presigned S3 GET URL (no distribution).
PRESIGNED = "presigned"
#: The query parameters the status API knows, and the values each takes.
QUERY_VALUES = {"urls": (PRESIGNED,)}


@dataclass(frozen=True)
class SignedUrl:
    """A URL that reads one object until ``expires_at`` (UTC), with the signer's credentials."""

    url: str
    expires_at: datetime


def query_problem(query: Mapping[str, str]) -> str | None:
    """Why the status API's query parameters are refused, or None. A parameter the API does not know is
    ignored, as it always was (apps add cache-busting parameters); a known one with a bad value is refused."""
    for name, allowed in QUERY_VALUES.items():
        value = query.get(name)
        if value is not None and value not in allowed:
            shown = " or ".join(repr(v) for v in allowed)
            return f"query parameter {name!r} must be {shown}, got {value[:64]!r}"
    return None


def archive_key(s3_uri: object, bucket: str) -> str | None:
    """The key of ``s3_uri`` (``s3://bucket/key``) when it names an object of ``bucket``, else None."""
    prefix = f"s3://{bucket}/"
    if isinstance(s3_uri, str) and s3_uri.startswith(prefix) and len(s3_uri) > len(prefix):
        return s3_uri[len(prefix) :]
    return None
