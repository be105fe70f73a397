"""Optional copy of the cover images to S3 (the vendor deletes them after 14 days).

Downloads go through :class:`~covers_core.adapters.image_fetch.ImageFetcher`, which never raises for
anything an image host does and only connects to addresses it vetted: an image that cannot be fetched is
listed with its error (``<CODE>: <message>``) and the cover still counts as made. Only an S3 failure
raises (:class:`AwsTransientError`, which the state machine retries)."""

from __future__ import annotations

import hashlib
from typing import Any

from covers_core.adapters.aws import aws_call
from covers_core.adapters.image_fetch import ImageFetcher
from covers_core.domain.model import ImageCopy
from covers_core.domain.names import archive_prefix
from covers_core.logic.ports import Archiver

_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}


class ImageArchiver(Archiver):
    """Downloads images and stores them under ``s3://bucket/prefix<music task>/``."""

    def __init__(self, s3: Any, bucket: str, fetcher: ImageFetcher, *, prefix: str = "covers/") -> None:
        self.s3 = s3
        self.bucket = bucket
        self.fetcher = fetcher
        self.prefix = prefix

    def archive_all(self, music_task_id: str, urls: tuple[str, ...]) -> tuple[ImageCopy, ...]:
        """Archive every image within the fetcher's per-call budget; each one that cannot be fetched is
        listed with its error instead."""
        copies = []
        for index, result in enumerate(self.fetcher.fetch_all(urls)):
            if result.error is not None or result.body is None or result.content_type is None:
                reason = f"{result.error.code}: {result.error.message}" if result.error else "no body"
                copies.append(ImageCopy(url=result.url, error=reason))
                continue
            copies.append(self._store(music_task_id, index, result.url, result.body, result.content_type))
        return tuple(copies)

    def _store(self, music_task_id: str, index: int, url: str, body: bytes, content_type: str) -> ImageCopy:
        digest = hashlib.sha256(body).hexdigest()
        # One key segment per music task, never shared by two ids (docs/design.md, invariant 5).
        folder = archive_prefix(music_task_id)
        key = f"{self.prefix}{folder}/{index}-{digest[:16]}.{_EXTENSIONS.get(content_type, 'bin')}"
        aws_call(
            "S3 PutObject",
            self.s3.put_object,
            Bucket=self.bucket,
            Key=key,
            Body=body,
            ContentType=content_type,
            Metadata={"source-url-sha256": hashlib.sha256(url.encode()).hexdigest()},
        )
        return ImageCopy(
            url=url,
            s3_uri=f"s3://{self.bucket}/{key}",
            size=len(body),
            sha256=digest,
            content_type=content_type,
        )
