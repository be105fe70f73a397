"""Content sniffing: the bytes decide the image type; a declared type must agree unless it is generic."""

from __future__ import annotations

import pytest
from covers_core.adapters.image_fetch import FetchCode, FetchError
from covers_core.adapters.image_fetch.sniff import sniff_content_type

from tests.support.image_fetch import JPEG, PNG

WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\0" * 24
WAVE = b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\0" * 24  # RIFF, but not an image


@pytest.mark.parametrize(("body", "kind"), [(PNG, "image/png"), (JPEG, "image/jpeg"), (WEBP, "image/webp")])
@pytest.mark.parametrize("declared", ["", "application/octet-stream", "binary/octet-stream", "same"])
def test_each_image_type_is_known_by_its_bytes(body: bytes, kind: str, declared: str) -> None:
    assert sniff_content_type(kind if declared == "same" else declared, body) == kind


@pytest.mark.parametrize(
    ("declared", "body", "reason"),
    [
        ("image/png", JPEG, "declared image/png but the bytes are image/jpeg"),
        ("image/webp", PNG, "declared image/webp but the bytes are image/png"),
        ("text/html", PNG, "declared text/html but the bytes are image/png"),
        ("image/png", b"<html>hi</html>", "not a PNG, JPEG or WebP image (declared image/png)"),
        ("", WAVE, "not a PNG, JPEG or WebP image (declared nothing)"),
        ("image/png", PNG[:7], "not a PNG"),  # a cut-off signature
        ("", b"", "not a PNG"),
    ],
)
def test_what_is_not_the_declared_image_is_refused(declared: str, body: bytes, reason: str) -> None:
    result = sniff_content_type(declared, body)
    assert isinstance(result, FetchError)
    assert result.code == FetchCode.NOT_AN_IMAGE and not result.transient
    assert reason in result.message
