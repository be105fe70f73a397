"""Optional copy of the cover images to S3 (the vendor deletes them after 14 days).

Downloads go through :class:`~covers_core.adapters.image_fetch.ImageFetcher`, which never raises for
anything an image host does and only connects to addresses it vetted: an image that cannot be fetched is
listed with its error (``<CODE>: <message>``) and the cover still counts as made. Only an S3 failure
raises (:class:`AwsTransientError`, which the state machine retries).

Each downloaded image is decoded first (:mod:`covers_core.adapters.thumbnails`): bytes that are not an
image of their type are listed with ``NOT_AN_IMAGE`` and never stored. With a thumbnail size, a WebP
thumbnail is stored beside the image (``<index>-<sha16>.thumb-<size>.webp``); one that cannot be made is
listed with ``THUMBNAIL_FAILED`` and the image is archived all the same. Objects never change once written
(their key names their content), hence their year-long immutable ``Cache-Control`` for the delivery
distribution (docs/contracts.md, "Archived images")."""

from __future__ import annotations

import hashlib
from typing import Any

from covers_core.adapters.aws import aws_call
from covers_core.adapters.image_fetch import ImageFetcher
from covers_core.adapters.thumbnails import (
    THUMBNAIL_EXTENSION,
    Decoded,
    NotAnImageError,
    PillowImages,
    ThumbnailError,
)
from covers_core.domain.model import MAX_ERROR_MESSAGE, ImageCopy, Thumbnail
from covers_core.domain.names import archive_prefix
from covers_core.errors import ErrorCode
from covers_core.logic.ports import Archiver

_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}
#: Archived objects are immutable (a key names its content): caches may keep them for a year.
CACHE_CONTROL = "public, max-age=31536000, immutable"


class ImageArchiver(Archiver):
    """Downloads images and stores them under ``s3://bucket/prefix<music task>/`` (with a thumbnail each
    when ``thumbnail_size`` is over 0)."""

    def __init__(
        self,
        s3: Any,
        bucket: str,
        fetcher: ImageFetcher,
        *,
        prefix: str = "covers/",
        thumbnail_size: int = 0,
        images: PillowImages | None = None,
    ) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.fetcher = fetcher
        self.prefix = prefix
        self.thumbnail_size = thumbnail_size
        self.images = images or PillowImages()

    def archive_all(self, music_task_id: str, urls: tuple[str, ...]) -> tuple[ImageCopy, ...]:
        """Archive every image within the fetcher's per-call budget; each one that cannot be fetched or
        decoded is listed with its error instead."""
        copies = []
        for index, result in enumerate(self.fetcher.fetch_all(urls)):
            if result.error is not None or result.body is None or result.content_type is None:
                reason = f"{result.error.code}: {result.error.message}" if result.error else "no body"
                copies.append(ImageCopy(url=result.url, error=reason))
                continue
            copies.append(self._store(music_task_id, index, result.url, result.body, result.content_type))
        return tuple(copies)

    def _store(self, music_task_id: str, index: int, url: str, body: bytes, content_type: str) -> ImageCopy:
        try:
            decoded = self.images.decode(body, content_type)
        except NotAnImageError as exc:
            return ImageCopy(url=url, error=f"{ErrorCode.NOT_AN_IMAGE}: {exc.message}"[:MAX_ERROR_MESSAGE])
        digest = hashlib.sha256(body).hexdigest()
        # One key segment per music task, never shared by two ids (docs/design.md, invariant 5).
        stem = f"{self.prefix}{archive_prefix(music_task_id)}/{index}-{digest[:16]}"
        key = f"{stem}.{_EXTENSIONS.get(content_type, 'bin')}"
        self._put(key, body, content_type, url)
        thumbnail, thumbnail_error = self._thumbnail(stem, decoded, url)
        return ImageCopy(
            url=url,
            s3_uri=f"s3://{self.bucket}/{key}",
            size=len(body),
            sha256=digest,
            content_type=content_type,
            width=decoded.width,
            height=decoded.height,
            thumbnail=thumbnail,
            thumbnail_error=thumbnail_error,
        )

    def _thumbnail(self, stem: str, decoded: Decoded, url: str) -> tuple[Thumbnail | None, str | None]:
        if self.thumbnail_size <= 0:
            return None, None
        try:
            rendered = self.images.thumbnail(decoded, self.thumbnail_size)
        except ThumbnailError as exc:
            return None, f"{ErrorCode.THUMBNAIL_FAILED}: {exc.message}"[:MAX_ERROR_MESSAGE]
        key = f"{stem}.thumb-{self.thumbnail_size}.{THUMBNAIL_EXTENSION}"
        self._put(key, rendered.body, rendered.content_type, url)
        thumbnail = Thumbnail(
            s3_uri=f"s3://{self.bucket}/{key}",
            width=rendered.width,
            height=rendered.height,
            size=len(rendered.body),
            content_type=rendered.content_type,
        )
        return thumbnail, None

    def _put(self, key: str, body: bytes, content_type: str, url: str) -> None:
        aws_call(
            "S3 PutObject",
            self.s3.put_object,
            Bucket=self.bucket,
            Key=key,
            Body=body,
            ContentType=content_type,
            CacheControl=CACHE_CONTROL,
            Metadata={"source-url-sha256": hashlib.sha256(url.encode()).hexdigest()},
        )
