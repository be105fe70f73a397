"""The retrying fetcher: one image at a time, within byte and time limits, never raising for what a host
does (the package's docstring says how the parts fit).

Limits: connect/read timeouts per request, clamped to the remaining budget; a per-image budget and a
per-call budget enforced by the transport's watchdog (a host that trickles one byte per second never trips
a read timeout); a byte limit counted on the bytes actually received (Content-Length is only used to
refuse early, never trusted; a body shorter than it declares is a dropped connection, bytes beyond it are
never read, and requests say ``Connection: close`` so no left-over bytes reach a later request); an
invalid Content-Length leaves the body's end unknown: the response is discarded unread, for good
(docs/security.md, "The archiver");
magic-byte sniffing, early (on the first bytes) so an HTML page is not downloaded whole; retries with
exponential backoff and jitter, or Retry-After, for transient failures only (5xx but 501/505, 408, 425,
429, timeouts, dropped connections), never beyond the budget.

The adapter is called directly, not through ``Session.send``, because ``Session.send`` reads a redirect's
whole body (unbounded) to pre-compute the next hop and keeps cookies; redirects are followed here, by hand,
each hop validated, resolved, vetted and pinned again.

The clock, sleep, jitter source and resolver are injectable for tests.
"""

from __future__ import annotations

import http.client
import random
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urljoin

import requests
import urllib3

from covers_core.adapters.http_headers import content_length, retry_after_seconds
from covers_core.adapters.image_fetch.addresses import Resolver, vet
from covers_core.adapters.image_fetch.results import (
    FetchCode,
    FetchError,
    FetchResult,
    budget_exhausted,
    connection_failed,
    not_an_image,
    refused_url,
    too_large,
)
from covers_core.adapters.image_fetch.sniff import SNIFF_BYTES, sniff, sniff_content_type
from covers_core.adapters.image_fetch.transport import Pin, PinnedAdapter, PinnedRequest, Watchdog
from covers_core.adapters.image_fetch.urls import IPAddress, Target, unsafe_character, validate_url

_CHUNK = 16 * 1024
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_TRANSIENT_STATUSES = frozenset({408, 425, 429})
_PERMANENT_5XX = frozenset({501, 505})


@dataclass(frozen=True)
class FetchSettings:
    """Limits of one fetcher. Budgets bound the wall time of one image and of one ``fetch_all`` call.
    ``max_bytes`` comes from the template (``ArchiveMaxBytes``); the call budget must stay well inside
    FinalizeCoverFunction's timeout (a contract test checks)."""

    max_bytes: int
    connect_timeout: float = 3.05
    read_timeout: float = 10.0
    image_budget: float = 30.0
    call_budget: float = 60.0
    retries: int = 3  # after the first attempt, for transient failures only
    backoff_base: float = 0.25
    backoff_cap: float = 4.0
    max_redirects: int = 3
    allow_loopback: bool = False  # local mode: loopback (and http to it) is allowed, nothing else extra


@dataclass(frozen=True)
class _Image:
    body: bytes
    content_type: str


@dataclass(frozen=True)
class _Redirect:
    location: str


@dataclass(frozen=True)
class _Failure:
    error: FetchError
    retry_after: float | None = None


_Outcome = _Image | _Redirect | _Failure
_TRANSPORT_ERRORS = (
    requests.RequestException,
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,
    OSError,
    ValueError,
)


class ImageFetcher:
    """Downloads images within limits. One per container: it holds the requests Session."""

    def __init__(
        self,
        settings: FetchSettings,
        *,
        resolve: Resolver = socket.getaddrinfo,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
        ca_bundle: str | None = None,
    ) -> None:
        self.settings = settings
        self._resolve = resolve
        self._clock = clock
        self._sleep = sleep
        self._jitter = jitter
        self._verify: bool | str = ca_bundle or True
        self.session = requests.Session()
        self.session.trust_env = False  # no proxy from the environment: we dial the vetted IP
        adapter = PinnedAdapter(max_retries=0)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)

    def fetch_all(self, urls: Sequence[str]) -> list[FetchResult]:
        """Fetch each URL within the per-call budget (and each within its own per-image budget)."""
        deadline = self._clock() + self.settings.call_budget
        return [self.fetch(url, deadline=deadline) for url in urls]

    def fetch(self, url: str, *, deadline: float | None = None) -> FetchResult:
        """Download one image. Never raises for anything the URL or its host does."""
        own = self._clock() + self.settings.image_budget
        deadline = own if deadline is None else min(own, deadline)
        target = validate_url(url, allow_http=self.settings.allow_loopback)
        if isinstance(target, FetchError):
            return FetchResult(url, error=target)
        attempts = redirects = failures = 0
        while True:
            if self._clock() >= deadline:
                return FetchResult(url, error=budget_exhausted("no time left to try"), attempts=attempts)
            addresses = vet(target, self._resolve, allow_loopback=self.settings.allow_loopback)
            if isinstance(addresses, FetchError):
                outcome: _Outcome = _Failure(addresses)
            else:
                attempts += 1
                outcome = self._exchange(target, addresses[failures % len(addresses)], deadline)
            if isinstance(outcome, _Image):
                return FetchResult(url, outcome.body, outcome.content_type, attempts=attempts)
            if isinstance(outcome, _Redirect):
                redirects += 1
                if redirects > self.settings.max_redirects:
                    error = FetchError(
                        FetchCode.TOO_MANY_REDIRECTS, f"more than {self.settings.max_redirects} redirects"
                    )
                    return FetchResult(url, error=error, attempts=attempts)
                target_or_error = self._follow(target, outcome.location)
                if isinstance(target_or_error, FetchError):
                    return FetchResult(url, error=target_or_error, attempts=attempts)
                target = target_or_error
                continue
            failures += 1
            delay = self._retry_delay(outcome, failures, deadline)
            if isinstance(delay, FetchError):
                return FetchResult(url, error=delay, attempts=attempts)
            self._sleep(delay)

    def _follow(self, current: Target, location: str) -> Target | FetchError:
        bad = unsafe_character(location)
        if bad:
            return refused_url(f"redirect Location contains a backslash, control or whitespace ({bad})")
        target = validate_url(urljoin(current.url, location), allow_http=self.settings.allow_loopback)
        if isinstance(target, FetchError):
            return refused_url(f"redirect refused: {target.message}")
        return target

    def _retry_delay(self, failure: _Failure, failures: int, deadline: float) -> float | FetchError:
        """Seconds to wait before the next attempt, or the error to stop with."""
        error = failure.error
        if not error.transient or failures > self.settings.retries:
            return error
        if failure.retry_after is not None:
            delay = failure.retry_after
        else:
            ceiling = min(self.settings.backoff_cap, self.settings.backoff_base * 2 ** (failures - 1))
            delay = ceiling / 2 + self._jitter() * ceiling / 2  # "equal jitter"
        left = deadline - self._clock()
        if delay >= left:
            return budget_exhausted(
                f"{error.message}; retrying needs {delay:.1f}s, {max(left, 0):.1f}s left", error
            )
        return delay

    def _exchange(self, target: Target, address: IPAddress, deadline: float) -> _Outcome:
        """One HTTP request to the pinned address, read within the limits."""
        left = deadline - self._clock()
        watchdog = Watchdog(left)
        pin = Pin(target, address, watchdog)
        request = self._prepare(pin)
        timeout = (min(self.settings.connect_timeout, left), min(self.settings.read_timeout, left))
        response: requests.Response | None = None
        watchdog.start()
        try:
            adapter = self.session.get_adapter(pin.url)
            response = adapter.send(request, stream=True, timeout=timeout, verify=self._verify, proxies={})
            outcome = self._read(response, deadline)
            if watchdog.fired:  # whatever was read after the cut (headers included) may be truncated
                return _Failure(budget_exhausted("cut off at the time budget"))
            return outcome
        except _TRANSPORT_ERRORS as exc:
            if watchdog.fired or self._clock() >= deadline:
                return _Failure(budget_exhausted(f"cut off at the time budget ({type(exc).__name__})"))
            return _Failure(_transport_error(exc))
        finally:
            watchdog.cancel()
            if response is not None:
                response.close()
            pin.close()

    def _prepare(self, pin: Pin) -> PinnedRequest:
        request = PinnedRequest()
        request.prepare(
            method="GET",
            url=pin.url,
            headers={
                "Host": pin.target.host_header,
                "User-Agent": "covers-pipeline-archiver/1",
                "Accept": "image/png,image/jpeg,image/webp;q=0.9,*/*;q=0.1",
                "Accept-Encoding": "identity",  # no decompression bombs; sniff the bytes as sent
                "Connection": "close",  # never reuse a socket a host may have left bytes in
            },
        )
        request.pin = pin
        return request

    def _read(self, response: requests.Response, deadline: float) -> _Outcome:
        try:  # before anything else: a response whose framing is invalid is discarded whatever its status
            declared = content_length(response.headers.get("Content-Length"))
        except ValueError as exc:
            return _Failure(FetchError(FetchCode.BAD_RESPONSE, f"{exc}: the response is discarded"))
        status = response.status_code
        if status in _REDIRECT_STATUSES:
            location = response.headers.get("Location")
            if location:
                return _Redirect(location)
            return _Failure(
                FetchError(FetchCode.HTTP_STATUS, f"HTTP {status} without Location", status=status)
            )
        if status != 200:
            return _status_failure(status, response.headers.get("Retry-After"))
        if declared is not None and declared > self.settings.max_bytes:
            return _Failure(too_large(f"declared {declared} bytes; the limit is {self.settings.max_bytes}"))
        body = self._body(response, deadline, None if response.raw.chunked else declared)
        if isinstance(body, FetchError):
            return _Failure(body)
        if not body and declared is None:
            # http.client takes end-of-file inside the headers as their end: a close-delimited empty
            # body is most likely a response cut short, so it is worth another try.
            return _Failure(connection_failed("the connection closed before any body byte"))
        declared_type = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        content_type = sniff_content_type(declared_type, body)
        return _Failure(content_type) if isinstance(content_type, FetchError) else _Image(body, content_type)

    def _body(self, response: requests.Response, deadline: float, length: int | None) -> bytes | FetchError:
        """The body as received, counted byte by byte (Content-Length is never trusted to bound it), and
        never past ``length``, the declared length of a body that is not chunked: bytes beyond it are not
        this response's (http.client stops there by itself, except for a repeated value: ``12, 12``)."""
        body = bytearray()
        for chunk in response.raw.stream(_CHUNK, decode_content=False):
            sniffed = len(body) >= SNIFF_BYTES
            body += chunk
            if length is not None:
                del body[length:]
            if len(body) > self.settings.max_bytes:
                return too_large(f"body is over the {self.settings.max_bytes}-byte limit")
            if not sniffed and len(body) >= SNIFF_BYTES and sniff(bytes(body)) is None:
                return not_an_image("the first bytes are not a PNG, JPEG or WebP signature")
            if length is not None and len(body) == length:
                break
            if self._clock() >= deadline:
                return budget_exhausted("the body did not arrive within the time budget")
        return bytes(body)


def _status_failure(status: int, retry_after: str | None) -> _Failure:
    transient = status in _TRANSIENT_STATUSES or (status >= 500 and status not in _PERMANENT_5XX)
    error = FetchError(FetchCode.HTTP_STATUS, f"HTTP {status}", transient=transient, status=status)
    return _Failure(error, retry_after_seconds(retry_after) if transient else None)


def _transport_error(exc: BaseException) -> FetchError:
    name = type(exc).__name__
    if isinstance(exc, requests.exceptions.SSLError | ssl.SSLCertVerificationError):
        return FetchError(FetchCode.TLS, f"TLS failed: {_short(exc)}")
    if isinstance(exc, requests.Timeout | urllib3.exceptions.TimeoutError | TimeoutError):
        return FetchError(FetchCode.TIMEOUT, f"timed out ({name})", transient=True)
    if isinstance(exc, requests.exceptions.InvalidHeader | urllib3.exceptions.InvalidHeader | ValueError):
        return FetchError(FetchCode.BAD_RESPONSE, f"malformed response: {_short(exc)}")
    return connection_failed(f"connection failed ({name}): {_short(exc)}")


def _short(exc: BaseException) -> str:
    return str(exc)[:200]
