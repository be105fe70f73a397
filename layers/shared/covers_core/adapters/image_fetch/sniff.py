"""Content sniffing: PNG, JPEG and WebP by their magic bytes, whatever the host declares."""

from __future__ import annotations

from collections.abc import Callable

from covers_core.adapters.image_fetch.results import FetchError, not_an_image

SNIFF_BYTES = 12  # enough for every signature below (WebP needs 12)
_SIGNATURES: dict[str, Callable[[bytes], bool]] = {
    "image/png": lambda b: b.startswith(b"\x89PNG\r\n\x1a\n"),
    "image/jpeg": lambda b: b.startswith(b"\xff\xd8\xff"),
    "image/webp": lambda b: b[:4] == b"RIFF" and b[8:12] == b"WEBP",
}
_GENERIC_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream"})  # S3 serves the latter


def sniff(body: bytes) -> str | None:
    return next((kind for kind, matches in _SIGNATURES.items() if matches(body)), None)


def sniff_content_type(declared: str, body: bytes) -> str | FetchError:
    """The image type the bytes are; a declared type must agree unless it is generic."""
    actual = sniff(body)
    if actual is None:
        return not_an_image(f"not a PNG, JPEG or WebP image (declared {declared or 'nothing'})")
    if declared not in _GENERIC_TYPES and declared != actual:
        return not_an_image(f"declared {declared} but the bytes are {actual}")
    return actual
