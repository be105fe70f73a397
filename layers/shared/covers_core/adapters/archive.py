"""Optional copy of the cover images to S3 (the vendor deletes them after 14 days).

The archiver fetches only ``https`` URLs whose host resolves to public addresses (``http`` and
loopback are allowed only in local mode), follows at most a few redirects (each one checked again),
and keeps only image types it recognises, up to a size limit.
"""

from __future__ import annotations

import hashlib
import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from covers_core.adapters.aws import aws_call
from covers_core.domain.model import ImageCopy
from covers_core.errors import CoverPipelineError, ErrorCode

MAX_REDIRECTS = 3
_SIGNATURES = {  # content type -> (file extension, magic bytes test)
    "image/png": ("png", lambda b: b.startswith(b"\x89PNG\r\n\x1a\n")),
    "image/jpeg": ("jpg", lambda b: b.startswith(b"\xff\xd8\xff")),
    "image/webp": ("webp", lambda b: b[:4] == b"RIFF" and b[8:12] == b"WEBP"),
}


class ArchiveRefusedError(CoverPipelineError):
    """The image cannot be archived (address, scheme, size or type not allowed)."""

    code = ErrorCode.ARCHIVE_REFUSED


@dataclass(frozen=True)
class UrlGuard:
    """Decides whether a URL may be fetched. ``resolve`` is ``socket.getaddrinfo``-like (tests swap it)."""

    allow_loopback: bool = False
    resolve: Callable[..., Any] = socket.getaddrinfo

    def check(self, url: str) -> None:
        parts = urlsplit(url)
        host = parts.hostname
        if not host:
            raise ArchiveRefusedError(f"not an absolute URL: {url[:200]}")
        if parts.scheme != "https" and not (self.allow_loopback and parts.scheme == "http"):
            raise ArchiveRefusedError(f"only https URLs are archived, got {parts.scheme or 'no scheme'}")
        try:
            infos = self.resolve(
                host, parts.port or (443 if parts.scheme == "https" else 80), type=socket.SOCK_STREAM
            )
        except OSError as exc:
            raise ArchiveRefusedError(f"cannot resolve {host}: {exc}") from exc
        addresses = {info[4][0] for info in infos}
        if not addresses:
            raise ArchiveRefusedError(f"{host} has no address")
        for text in addresses:
            address = ipaddress.ip_address(text.split("%", 1)[0])
            if address.is_loopback and self.allow_loopback:
                continue
            if not address.is_global:
                raise ArchiveRefusedError(f"{host} resolves to a non-public address ({address})")


class ImageArchiver:
    """Downloads images and stores them under ``s3://bucket/prefix<music task>/``."""

    def __init__(
        self,
        s3: Any,
        bucket: str,
        *,
        max_bytes: int,
        session: requests.Session | None = None,
        guard: UrlGuard | None = None,
        prefix: str = "covers/",
        timeout: tuple[float, float] = (3.05, 20.0),
    ) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.session = session or requests.Session()
        self.guard = guard or UrlGuard()
        self.max_bytes = max_bytes
        self.prefix = prefix
        self.timeout = timeout

    def archive_all(self, music_task_id: str, urls: tuple[str, ...]) -> tuple[ImageCopy, ...]:
        """Archive every image; an image that cannot be archived is listed with its error instead.
        Raises only for S3 failures worth retrying."""
        results: list[ImageCopy] = []
        for index, url in enumerate(urls):
            try:
                results.append(self.archive(music_task_id, index, url))
            except ArchiveRefusedError as exc:
                results.append(ImageCopy(url=url, error=exc.message))
        return tuple(results)

    def archive(self, music_task_id: str, index: int, url: str) -> ImageCopy:
        body, content_type = self._download(url)
        extension = _SIGNATURES[content_type][0]
        digest = hashlib.sha256(body).hexdigest()
        safe_id = "".join(c if c.isalnum() or c in "-_." else "_" for c in music_task_id)
        key = f"{self.prefix}{safe_id}/{index}-{digest[:16]}.{extension}"
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

    def _download(self, url: str) -> tuple[bytes, str]:
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            self.guard.check(current)
            try:
                response = self.session.get(current, stream=True, timeout=self.timeout, allow_redirects=False)
            except requests.RequestException as exc:
                raise ArchiveRefusedError(f"download failed: {type(exc).__name__}") from exc
            with response:
                if response.is_redirect:
                    current = urljoin(current, response.headers.get("Location", ""))
                    continue
                if response.status_code != 200:
                    raise ArchiveRefusedError(f"download answered HTTP {response.status_code}")
                declared = int(response.headers.get("Content-Length") or 0)
                if declared > self.max_bytes:
                    raise ArchiveRefusedError(f"image is {declared} bytes; the limit is {self.max_bytes}")
                chunks, size = [], 0
                for chunk in response.iter_content(64 * 1024):
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise ArchiveRefusedError(f"image is over the {self.max_bytes}-byte limit")
                    chunks.append(chunk)
                body = b"".join(chunks)
                declared_type = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
                return body, _content_type(declared_type, body)
        raise ArchiveRefusedError(f"more than {MAX_REDIRECTS} redirects")


def _content_type(declared: str, body: bytes) -> str:
    for content_type, (_, matches) in _SIGNATURES.items():
        if matches(body):
            if declared and declared not in {content_type, "application/octet-stream"}:
                raise ArchiveRefusedError(f"declared {declared} but the bytes are {content_type}")
            return content_type
    raise ArchiveRefusedError(f"not a PNG, JPEG or WebP image (declared {declared or 'nothing'})")
