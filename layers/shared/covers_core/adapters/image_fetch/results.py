"""What a download comes to: a result, or an error with a short machine code. Shared by every part of
the fetcher; the codes are the ones an image that could not be archived carries (docs/contracts.md,
"Archived images")."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from covers_core.errors import ErrorCode


class FetchCode(StrEnum):
    """Short machine codes for why a download failed."""

    REFUSED_URL = "REFUSED_URL"
    REFUSED_ADDRESS = "REFUSED_ADDRESS"
    DNS = "DNS"
    HTTP_STATUS = "HTTP_STATUS"
    TOO_LARGE = "TOO_LARGE"
    NOT_AN_IMAGE = ErrorCode.NOT_AN_IMAGE.value  # the decoder's verdict too (adapters/thumbnails.py)
    TIMEOUT = "TIMEOUT"
    CONNECTION = "CONNECTION"
    TLS = "TLS"
    BAD_RESPONSE = "BAD_RESPONSE"
    BUDGET_EXHAUSTED = "BUDGET_EXHAUSTED"
    TOO_MANY_REDIRECTS = "TOO_MANY_REDIRECTS"


@dataclass(frozen=True)
class FetchError:
    """Why a download failed; ``transient`` says whether trying again later could help."""

    code: FetchCode
    message: str
    transient: bool = False
    status: int | None = None  # the HTTP status, when there was one


@dataclass(frozen=True)
class FetchResult:
    """The outcome of one image download. Exactly one of ``body`` and ``error`` is set."""

    url: str
    body: bytes | None = None
    content_type: str | None = None
    error: FetchError | None = None
    attempts: int = 0  # HTTP exchanges tried (0 when refused before connecting)

    @property
    def ok(self) -> bool:
        return self.error is None


def budget_exhausted(message: str, last: FetchError | None = None) -> FetchError:
    return FetchError(FetchCode.BUDGET_EXHAUSTED, message, status=last.status if last else None)


def connection_failed(message: str) -> FetchError:
    return FetchError(FetchCode.CONNECTION, message, transient=True)


def too_large(message: str) -> FetchError:
    return FetchError(FetchCode.TOO_LARGE, message)


def not_an_image(message: str) -> FetchError:
    return FetchError(FetchCode.NOT_AN_IMAGE, message)


def refused_url(reason: str) -> FetchError:
    return FetchError(FetchCode.REFUSED_URL, reason)
