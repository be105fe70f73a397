"""The archive served over HTTP on loopback, as the stack's delivery distribution serves it in AWS
(docs/contracts.md, "Archived images"): ``GET /archive/<S3 key>`` answers the object of the local stack's
archive bucket (moto) with its Content-Type and Cache-Control. Only ``covers/`` keys are served (the
archive's own prefix); anything else, and a key that is not there, is a 404.

``covers local-stack`` routes ``/archive/`` on its HTTP API; ``covers demo`` and ``covers run`` (which have no
HTTP API) start an :class:`ArchiveServer`. Either way the local finalize and status API get
``DELIVERY_BASE_URL=<that server>/archive``, so the events and the status API carry URLs an app can fetch."""

from __future__ import annotations

import functools
import io
import threading
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from botocore.exceptions import ClientError

ARCHIVE_PATH = "/archive/"
SERVED_PREFIX = "covers/"
_MISSING = frozenset({"NoSuchKey", "NoSuchBucket", "404"})


def archive_answer(s3: Any, bucket: str | None, path: str) -> tuple[int, bytes, dict[str, str]]:
    """The answer to ``GET <path>``: (status, body, headers)."""
    key = unquote(urlsplit(path).path.removeprefix(ARCHIVE_PATH))
    not_found = (404, b"Not Found", {"Content-Type": "text/plain"})
    if not bucket or not key.startswith(SERVED_PREFIX) or "\\" in key:
        return not_found
    try:
        found = s3.get_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in _MISSING:
            return not_found
        raise
    headers = {"Content-Type": found.get("ContentType") or "application/octet-stream"}
    if found.get("CacheControl"):
        headers["Cache-Control"] = found["CacheControl"]
    return 200, found["Body"].read(), headers


class ArchiveServer:
    """``GET /archive/<key>`` on ``host`` (loopback), from ``bucket()`` (asked at each request: the bucket
    is known once the local stack is deployed, after the server's URL was handed to its functions)."""

    def __init__(
        self, s3: Callable[[], Any], bucket: Callable[[], str | None], host: str = "127.0.0.1"
    ) -> None:
        self._s3 = functools.cache(s3)  # made at the first request (moto is up by then), then kept
        self._bucket = bucket
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                status, body, headers = (
                    archive_answer(server._s3(), server._bucket(), self.path)
                    if self.path.startswith(ARCHIVE_PATH)
                    else (404, b"Not Found", {"Content-Type": "text/plain"})
                )
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_HEAD = do_GET

        self._http = ThreadingHTTPServer((host, 0), Handler)
        self._http.daemon_threads = True
        netloc = f"[{host}]" if ":" in host else host
        #: What ``DELIVERY_BASE_URL`` is set to.
        self.base_url = f"http://{netloc}:{self._http.server_address[1]}/archive"
        threading.Thread(target=self._http.serve_forever, name="local-archive", daemon=True).start()

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()

    def __enter__(self) -> ArchiveServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def fetch(url: str) -> dict[str, Any]:
    """``GET url`` as an app would (loopback only, in the local tools): status, content type, cache
    control, bytes and, for an image, its pixel size."""
    from PIL import Image  # the local tools' own dependency (pyproject.toml), as the layer's

    if urlsplit(url).hostname not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError(f"not a local archive URL: {url}")
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 - loopback http, checked above
            status, headers, body = answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as exc:
        status, headers, body = exc.code, exc.headers, exc.read()
    fetched: dict[str, Any] = {
        "url": url,
        "status": status,
        "contentType": headers.get("Content-Type"),
        "cacheControl": headers.get("Cache-Control"),
        "bytes": len(body),
    }
    if status == 200:
        with Image.open(io.BytesIO(body)) as image:
            fetched["size"] = f"{image.width}x{image.height}"
    return fetched


def delivered_images(view: dict[str, Any]) -> list[dict[str, Any]]:
    """The first image of a status view and its thumbnail, fetched from their delivery URLs."""
    images = view.get("images") or []
    if not images or images[0]["url"] == images[0].get("sourceUrl"):
        return []  # not archived, or no delivery base: nothing served locally
    first = images[0]
    fetched = [{"what": "image", **fetch(first["url"])}]
    if first.get("thumbnail", {}).get("url"):
        fetched.append({"what": "thumbnail", **fetch(first["thumbnail"]["url"])})
    return fetched
