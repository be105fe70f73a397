"""Decoding and thumbnails (covers_core.adapters.thumbnails) on real images made with Pillow, and the
archiver's rules on fakes: what is not an image is never stored; a thumbnail is stored beside each image."""

from __future__ import annotations

import hashlib
import io
import json
import re
from dataclasses import dataclass, field
from typing import Any

import pytest
from covers_core.adapters.archive import CACHE_CONTROL, ImageArchiver
from covers_core.adapters.image_fetch.results import FetchResult
from covers_core.adapters.thumbnails import (
    MAX_PIXELS,
    Decoded,
    NotAnImageError,
    PillowImages,
    Rendered,
    ThumbnailError,
)
from covers_core.domain.model import Status
from covers_core.logic.check import CheckInput
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from tests.support.images import CONTENT_TYPES, bomb_png, encode, image_bytes, picture
from tests.support.world import World

IMAGES = PillowImages()

# (format, mode, width, height, options): what an image host may send
SAMPLES = [
    ("PNG", "RGB", 1024, 1024, {}),
    ("JPEG", "RGB", 800, 600, {"quality": 90}),
    ("WEBP", "RGB", 640, 480, {}),
    ("PNG", "RGBA", 300, 200, {}),
    ("WEBP", "RGBA", 300, 500, {}),
    ("PNG", "P", 120, 90, {}),
    ("PNG", "L", 90, 120, {}),
    ("PNG", "LA", 50, 50, {}),
    ("PNG", "1", 64, 32, {}),
    ("PNG", "I;16", 40, 30, {}),
    ("JPEG", "L", 100, 100, {}),
    ("JPEG", "CMYK", 100, 80, {}),
    ("PNG", "RGB", 1, 1, {}),
    ("PNG", "RGB", 4000, 3, {}),  # very wide
    ("JPEG", "RGB", 3, 2000, {}),  # very tall
]


def thumbnail_of(body: bytes) -> Image.Image:
    thumb = Image.open(io.BytesIO(body))
    assert thumb.format == "WEBP"
    thumb.load()
    return thumb


@pytest.mark.parametrize(("fmt", "mode", "width", "height", "options"), SAMPLES)
def test_real_images_decode_and_thumbnail_to_webp_within_the_size(
    fmt: str, mode: str, width: int, height: int, options: dict[str, Any]
) -> None:
    body = image_bytes(width, height, fmt, mode, **options)
    decoded = IMAGES.decode(body, CONTENT_TYPES[fmt])
    assert (decoded.width, decoded.height) == (width, height)
    rendered = IMAGES.thumbnail(decoded, 256)
    thumb = thumbnail_of(rendered.body)
    assert rendered.content_type == "image/webp"
    assert thumb.size == (rendered.width, rendered.height)
    assert max(thumb.size) == min(256, max(width, height))  # never enlarged
    assert thumb.width <= width and thumb.height <= height
    assert thumb.mode in ("RGB", "RGBA")


def test_transparency_is_kept_and_opaque_images_have_no_alpha() -> None:
    rgba = IMAGES.thumbnail(IMAGES.decode(image_bytes(300, 200, "PNG", "RGBA"), "image/png"), 64)
    assert thumbnail_of(rgba.body).mode == "RGBA"
    palette = Image.new("P", (40, 40), 0)  # index 0 (transparent) around a square of index 1 (red)
    palette.putpalette([0, 0, 0, 255, 0, 0])
    palette.paste(1, (10, 10, 30, 30))
    with_transparency = IMAGES.decode(encode(palette, "PNG", transparency=0), "image/png")
    assert thumbnail_of(IMAGES.thumbnail(with_transparency, 32).body).mode == "RGBA"
    rgb = IMAGES.thumbnail(IMAGES.decode(image_bytes(300, 200, "JPEG"), "image/jpeg"), 64)
    assert thumbnail_of(rgb.body).mode == "RGB"


def test_sixteen_bit_greys_are_scaled_not_clipped_to_white() -> None:
    grey = Image.new("I;16", (20, 20), 32768)  # mid grey on 16 bits
    rendered = IMAGES.thumbnail(IMAGES.decode(encode(grey, "PNG"), "image/png"), 8)
    red, _, _ = thumbnail_of(rendered.body).convert("RGB").getpixel((4, 4))  # type: ignore[misc]
    assert 100 < red < 160


def test_no_metadata_is_carried_into_the_thumbnail() -> None:
    exif = Image.Exif()
    exif[0x010E] = "private description"  # ImageDescription
    exif[0x013B] = "the artist's name"  # Artist
    icc = b"\0" * 128  # an (invalid but kept as bytes) ICC profile
    body = encode(picture(200, 100), "JPEG", exif=exif.tobytes(), icc_profile=icc)
    assert b"private description" in body
    rendered = IMAGES.thumbnail(IMAGES.decode(body, "image/jpeg"), 50)
    thumb = thumbnail_of(rendered.body)
    assert not thumb.getexif()
    assert "icc_profile" not in thumb.info and "exif" not in thumb.info
    assert b"private description" not in rendered.body and b"artist" not in rendered.body


def test_the_exif_orientation_is_applied_before_it_is_dropped() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90: a 200x100 photo shown upright is 100x200
    body = encode(picture(200, 100), "JPEG", exif=exif.tobytes())
    rendered = IMAGES.thumbnail(IMAGES.decode(body, "image/jpeg"), 50)
    assert (rendered.width, rendered.height) == (25, 50)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(width=st.integers(1, 700), height=st.integers(1, 700), size=st.integers(1, 300))
def test_a_thumbnail_keeps_the_aspect_and_never_enlarges(width: int, height: int, size: int) -> None:
    decoded = IMAGES.decode(image_bytes(width, height, "PNG"), "image/png")
    rendered = IMAGES.thumbnail(decoded, size)
    w, h = rendered.width, rendered.height
    assert max(w, h) == min(size, max(width, height))
    assert 1 <= w <= width and 1 <= h <= height
    assert abs(w * height - h * width) <= max(width, height)  # within one pixel of the aspect
    assert thumbnail_of(rendered.body).size == (w, h)


def truncated(body: bytes) -> bytes:
    return body[: len(body) // 2]


NOT_IMAGES = [
    ("text", b"hello, I am not an image", "image/png"),
    ("html with a PNG signature", b"\x89PNG\r\n\x1a\n<html><script>x</script></html>", "image/png"),
    ("empty", b"", "image/jpeg"),
    ("truncated PNG", truncated(image_bytes(200, 200, "PNG")), "image/png"),
    ("truncated JPEG", truncated(image_bytes(200, 200, "JPEG")), "image/jpeg"),
    ("truncated WebP", truncated(image_bytes(200, 200, "WEBP")), "image/webp"),
    ("a PNG claimed as JPEG", image_bytes(10, 10, "PNG"), "image/jpeg"),
    ("a GIF", image_bytes(10, 10, "GIF", "P"), "image/gif"),
    ("decompression bomb (10 gigapixels)", bomb_png(), "image/png"),
    ("a bomb just over the limit", bomb_png(4097, 4096), "image/png"),
]


@pytest.mark.parametrize(
    ("body", "content_type"), [c[1:] for c in NOT_IMAGES], ids=[c[0] for c in NOT_IMAGES]
)
def test_what_does_not_decode_as_its_type_is_not_an_image(body: bytes, content_type: str) -> None:
    with pytest.raises(NotAnImageError):
        IMAGES.decode(body, content_type)


def test_the_pixel_limit_is_the_configured_one_and_refused_before_decoding() -> None:
    assert MAX_PIXELS == 4096 * 4096
    small = PillowImages(max_pixels=100)
    assert small.decode(image_bytes(10, 10), "image/png").width == 10
    with pytest.raises(NotAnImageError, match="over 100 pixels"):
        small.decode(image_bytes(10, 11), "image/png")


# --- the archiver, on fakes ---------------------------------------------------------------------


@dataclass
class FakeS3:
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)

    def put_object(self, **kwargs: Any) -> dict[str, Any]:
        self.objects[kwargs["Key"]] = kwargs
        return {}


@dataclass
class FakeFetcher:
    answers: dict[str, tuple[bytes, str]]

    def fetch_all(self, urls: tuple[str, ...]) -> list[FetchResult]:
        return [FetchResult(u, self.answers[u][0], self.answers[u][1], attempts=1) for u in urls]


def archiver(
    answers: dict[str, tuple[bytes, str]], size: int = 256, **kwargs: Any
) -> tuple[ImageArchiver, FakeS3]:
    s3 = FakeS3()
    fetcher: Any = FakeFetcher(answers)
    return ImageArchiver(s3, "archive", fetcher, thumbnail_size=size, **kwargs), s3


def test_an_image_is_stored_with_its_thumbnail_both_immutable() -> None:
    body = image_bytes(1024, 768, "PNG")
    archive, s3 = archiver({"https://v/1.png": (body, "image/png")})
    (copy,) = archive.archive_all("gen1", ("https://v/1.png",))
    digest = hashlib.sha256(body).hexdigest()
    assert copy.s3_uri == f"s3://archive/covers/gen1/0-{digest[:16]}.png"
    assert (copy.width, copy.height, copy.size, copy.sha256) == (1024, 768, len(body), digest)
    assert copy.thumbnail is not None and copy.thumbnail_error is None
    assert copy.thumbnail.s3_uri == f"s3://archive/covers/gen1/0-{digest[:16]}.thumb-256.webp"
    assert (copy.thumbnail.width, copy.thumbnail.height) == (256, 192)
    assert copy.thumbnail.content_type == "image/webp"
    original, thumb = (
        s3.objects[f"covers/gen1/0-{digest[:16]}.png"],
        s3.objects[f"covers/gen1/0-{digest[:16]}.thumb-256.webp"],
    )
    assert original["Body"] == body and original["ContentType"] == "image/png"
    assert thumb["ContentType"] == "image/webp" and len(thumb["Body"]) == copy.thumbnail.size
    assert original["CacheControl"] == thumb["CacheControl"] == CACHE_CONTROL
    assert CACHE_CONTROL == "public, max-age=31536000, immutable"


def test_bytes_that_are_not_an_image_are_listed_and_nothing_of_them_is_stored() -> None:
    answers = {
        "https://v/ok.png": (image_bytes(10, 10), "image/png"),
        "https://v/fake.png": (b"\x89PNG\r\n\x1a\n<svg onload=alert(1)>", "image/png"),
        "https://v/bomb.png": (bomb_png(), "image/png"),
    }
    archive, s3 = archiver(answers)
    ok, fake, bomb = archive.archive_all("gen1", tuple(answers))
    assert ok.archived and ok.thumbnail is not None
    for refused in (fake, bomb):
        assert refused.s3_uri is None and refused.thumbnail is None
        assert re.fullmatch(r"NOT_AN_IMAGE: .+", str(refused.error))
    assert len(s3.objects) == 2  # the good image and its thumbnail only
    assert all(key.startswith("covers/gen1/0-") for key in s3.objects)


def test_without_a_thumbnail_size_only_the_image_is_stored_and_still_checked() -> None:
    archive, s3 = archiver(
        {
            "https://v/1.jpg": (image_bytes(50, 40, "JPEG"), "image/jpeg"),
            "https://v/2.png": (b"nope", "image/png"),
        },
        size=0,
    )
    good, bad = archive.archive_all("gen1", ("https://v/1.jpg", "https://v/2.png"))
    assert good.archived and good.thumbnail is None and good.thumbnail_error is None
    assert (good.width, good.height) == (50, 40)
    assert str(bad.error).startswith("NOT_AN_IMAGE")
    assert [key.rsplit(".", 1)[1] for key in s3.objects] == ["jpg"]


class BrokenThumbnails(PillowImages):
    def thumbnail(self, decoded: Decoded, size: int) -> Rendered:
        raise ThumbnailError("encoder broke")


def test_a_thumbnail_that_cannot_be_made_is_listed_and_the_image_archived_all_the_same() -> None:
    archive, s3 = archiver({"https://v/1.png": (image_bytes(30, 30), "image/png")}, images=BrokenThumbnails())
    (copy,) = archive.archive_all("gen1", ("https://v/1.png",))
    assert copy.archived and copy.thumbnail is None
    assert copy.thumbnail_error == "THUMBNAIL_FAILED: encoder broke"
    assert len(s3.objects) == 1


def test_finalize_on_the_fakes_records_and_announces_the_thumbnail_and_the_refusal() -> None:
    """Through the finalize logic: the record keeps both copies' outcomes and the one event lists them."""
    world = World()
    world.deliver(json.dumps({"musicTaskId": "t1"}))
    state = world.check_state("t1")
    state["check"] = world.checker().check(CheckInput.from_state(state)).to_state()
    good, bad = state["check"]["images"]
    archive, s3 = archiver(
        {good: (image_bytes(600, 300, "JPEG"), "image/jpeg"), bad: (b"<html>", "image/png")}
    )
    record = world.finalizer(archive).finish_workflow(state)
    assert record.status == Status.SUCCEEDED
    kept, refused = record.archived_images
    assert kept.thumbnail is not None and (kept.thumbnail.width, kept.thumbnail.height) == (256, 128)
    assert str(refused.error).startswith("NOT_AN_IMAGE") and refused.s3_uri is None
    assert len(s3.objects) == 2
    (event,) = world.events.of("t1")
    first, second = event["images"]
    assert (first["url"], first["sourceUrl"]) == (good, good)  # no delivery base on the fakes
    assert first["thumbnail"]["s3Uri"] == kept.thumbnail.s3_uri and (first["width"], first["height"]) == (
        600,
        300,
    )
    assert second == {
        "url": bad,
        "sourceUrl": bad,
        "expiresAt": record.images_expire_at,
        "archiveError": refused.error,
    }
