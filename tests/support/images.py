"""Real images made with Pillow for the archive's tests, and bytes that only look like images."""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

from PIL import Image

#: Pillow's format name -> the content type the fetcher gives it.
CONTENT_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}


def picture(width: int, height: int, mode: str = "RGB") -> Image.Image:
    """A ``width`` x ``height`` image with some structure (a gradient), in ``mode``."""
    base = Image.linear_gradient("L").resize((width, height))
    if mode == "RGB":
        return Image.merge("RGB", (base, base.transpose(Image.Transpose.FLIP_LEFT_RIGHT), base))
    if mode == "RGBA":
        return Image.merge("RGBA", (base, base, base, base.transpose(Image.Transpose.FLIP_TOP_BOTTOM)))
    return base.convert(mode)


def encode(image: Image.Image, fmt: str, **options: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def image_bytes(width: int, height: int, fmt: str = "PNG", mode: str = "RGB", **options: Any) -> bytes:
    return encode(picture(width, height, mode), fmt, **options)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels (10 gigapixels by default): a
    decompression bomb, refused from its header before any pixel is decoded."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grey
    pixels = zlib.compress(b"\0" * 1024)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", pixels)
        + png_chunk(b"IEND", b"")
    )
