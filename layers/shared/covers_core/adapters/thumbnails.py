"""Decoding and thumbnails of archived images, with Pillow (docs/contracts.md, "Archived images").

Pillow is imported on first use, never at module import: only finalize's archiver uses this module, and
only when archiving is on (docs/performance.md, "Thumbnails", gives what the import and the work cost).

An image is archived only when its bytes decode, as the format its content type names, within
:data:`MAX_PIXELS`: anything else (text, a truncated file, a decompression bomb whose header claims
billions of pixels, a PNG sent as ``image/jpeg``) raises :class:`NotAnImageError` and nothing of it is
stored. A thumbnail is the image scaled so its longest side is the configured size (never enlarged), in
RGB or RGBA, with no metadata (EXIF, ICC, text chunks) carried over, encoded as WebP: every current browser
shows it, it keeps transparency (JPEG cannot), and it is smaller than JPEG at the same quality.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from types import ModuleType
from typing import Any

#: The most pixels an image may have (4096 x 4096: 64 MiB decoded as RGBA, within finalize's memory). Larger
#: images, or headers claiming to be, are refused before their pixels are decoded.
MAX_PIXELS = 4096 * 4096
#: The formats archived (the fetcher's sniffed content types) and Pillow's name for each.
FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}
THUMBNAIL_CONTENT_TYPE = "image/webp"
THUMBNAIL_EXTENSION = "webp"
#: WebP quality of thumbnails (Pillow's scale, 0-100): no visible loss at thumbnail size.
WEBP_QUALITY = 80
#: Modes kept as they are; every other mode is converted to one of them (alpha kept when there is one).
_OUTPUT_MODES = ("RGB", "RGBA")
_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "La", "RGBa"})
#: 16-bit greys (a 16-bit grey PNG): scaled to 8 bits before converting (a plain convert would clip).
_WIDE_MODES = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N"})


class NotAnImageError(Exception):
    """The bytes are not a decodable image of the claimed format within the pixel limit."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ThumbnailError(Exception):
    """A decoded image could not be made into a thumbnail."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Decoded:
    """A decoded image: its pixel size as stored, and Pillow's image (for the thumbnail)."""

    width: int
    height: int
    image: Any


@dataclass(frozen=True)
class Rendered:
    """An encoded thumbnail."""

    body: bytes
    width: int
    height: int
    content_type: str = THUMBNAIL_CONTENT_TYPE


_pil: ModuleType | None = None


def pillow() -> ModuleType:
    """``PIL.Image``, imported once (with its decompression-bomb limit set to :data:`MAX_PIXELS`)."""
    global _pil  # noqa: PLW0603 - one import per process, on first use
    if _pil is None:
        from PIL import Image

        Image.MAX_IMAGE_PIXELS = MAX_PIXELS
        _pil = Image
    return _pil


class PillowImages:
    """Decodes images and makes thumbnails (stateless; Pillow loaded on first use)."""

    def __init__(self, *, max_pixels: int = MAX_PIXELS, quality: int = WEBP_QUALITY) -> None:
        self.max_pixels = max_pixels
        self.quality = quality

    def decode(self, body: bytes, content_type: str) -> Decoded:
        """Decode ``body`` as the format ``content_type`` names, or raise :class:`NotAnImageError`."""
        image_module = pillow()
        fmt = FORMATS.get(content_type)
        if fmt is None:
            raise NotAnImageError(f"{content_type} is not a type the archive keeps (PNG, JPEG, WebP)")
        try:
            with warnings.catch_warnings():
                # Pillow warns past MAX_IMAGE_PIXELS and raises past twice that: both are refusals here.
                warnings.simplefilter("error", image_module.DecompressionBombWarning)
                image = image_module.open(io.BytesIO(body), formats=[fmt])
                width, height = image.size
                if width * height > self.max_pixels:
                    raise NotAnImageError(f"{width}x{height} is over {self.max_pixels} pixels")
                image.load()
        except NotAnImageError:
            raise
        except (image_module.DecompressionBombError, image_module.DecompressionBombWarning) as exc:
            raise NotAnImageError(f"over {self.max_pixels} pixels ({exc})") from exc
        except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError) as exc:
            # Pillow's decoders report damaged or foreign bytes with any of these.
            raise NotAnImageError(f"does not decode as {fmt}: {exc}") from exc
        return Decoded(width, height, image)

    def thumbnail(self, decoded: Decoded, size: int) -> Rendered:
        """``decoded`` scaled to fit ``size`` x ``size`` (never enlarged), as WebP without metadata.
        ``decoded`` is changed in the making: one thumbnail per decode."""
        image_module = pillow()
        from PIL import ImageOps

        try:
            image = decoded.image  # used up here (no copy: a 4096 x 4096 RGBA image is 64 MiB)
            ImageOps.exif_transpose(image, in_place=True)  # show it the way up its EXIF says
            image = _display_mode(image)
            image.thumbnail((size, size), image_module.Resampling.LANCZOS)
            # A fresh image: nothing of the source's info (EXIF, ICC profile, text chunks) is written.
            clean = image_module.new(image.mode, image.size)
            clean.paste(image)
            out = io.BytesIO()
            clean.save(out, "WEBP", quality=self.quality, method=4)
        except (OSError, ValueError, TypeError, MemoryError) as exc:
            raise ThumbnailError(f"{type(exc).__name__}: {exc}") from exc
        return Rendered(out.getvalue(), clean.width, clean.height)


def _display_mode(image: Any) -> Any:
    """``image`` in RGB, or RGBA when it has transparency (palette transparency included)."""
    if image.mode in _OUTPUT_MODES:
        return image
    if image.mode in _WIDE_MODES:
        image = image.convert("I").point(lambda v: v / 256).convert("L")
    has_alpha = image.mode in _ALPHA_MODES or "transparency" in image.info
    return image.convert("RGBA" if has_alpha else "RGB")
