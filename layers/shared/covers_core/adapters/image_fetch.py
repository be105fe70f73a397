"""Download cover images from hosts we do not control: never raise for what a host does, and only
ever connect to the address that was vetted.

Why each piece is here:

* ``validate_url`` refuses any URL that two parsers could read differently (backslashes, control
  characters, whitespace, user-info, odd numeric hosts...). Our own strict grammar decides, and
  urllib3's parser (the one requests uses) and ``urlsplit`` must agree with it on scheme, host and port.
* ``address_refusal`` judges an IP address: public only (``is_global`` plus explicit special-purpose
  ranges, because ``is_global`` differs between Python versions and calls multicast global), with the
  IPv4 inside IPv6 transition forms (mapped, IPv4-compatible, NAT64, 6to4, Teredo) unwrapped and judged.
  Loopback is allowed only in local mode, and then only loopback.
* Pinning: each attempt resolves the host once, vets *every* address, and connects to one vetted IP.
  The request URL names the IP itself, so nothing below us resolves the host again (no DNS rebinding
  window), while the ``Host`` header keeps the host name and the TLS connection is created with
  ``server_hostname=<host>``: SNI is sent for the host, and OpenSSL's certificate check runs against
  the host name, not the IP. This is done with a requests transport adapter (``PinnedAdapter``) whose
  ``get_connection_with_tls_context`` builds a fresh urllib3 pool for the pinned IP, instead of
  overriding name resolution inside urllib3: the pool key, TLS settings and Host header are all public
  knobs, and the adapter refuses to send a request that carries no pin. The adapter is called
  directly, not through ``Session.send``, because ``Session.send`` reads a redirect's whole body
  (unbounded) to pre-compute the next hop and keeps cookies; redirects are followed here, by hand,
  each hop validated, resolved, vetted and pinned again.
* Limits: connect/read timeouts per request, clamped to the remaining budget; a per-image budget and a
  per-call budget enforced by a watchdog timer that shuts the attempt's socket down when the budget
  runs out (a host that trickles one byte per second never trips a read timeout); a byte limit
  counted on the bytes actually received (Content-Length is only used to refuse early, never
  trusted; a body shorter than it declares is a dropped connection, bytes beyond it are never read,
  and requests say ``Connection: close`` so no left-over bytes reach a later request); magic-byte
  sniffing of PNG/JPEG/WebP, early (on the first 12 bytes) so an HTML page is not downloaded whole;
  retries with exponential backoff and jitter, or Retry-After, for transient failures only (5xx but
  501/505, 408, 425, 429, timeouts, dropped connections), never beyond the budget.

The clock, sleep, jitter source and resolver are injectable for tests.
"""

from __future__ import annotations

import email.utils
import http.client
import ipaddress
import random
import re
import socket
import ssl
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from urllib.parse import urljoin, urlsplit

import idna
import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[..., Iterable[Sequence[Any]]]  # socket.getaddrinfo-like

MAX_URL_LENGTH = 4096
_CHUNK = 16 * 1024
_SNIFF_BYTES = 12  # enough for every signature below (WebP needs 12)
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_TRANSIENT_STATUSES = frozenset({408, 425, 429})
_PERMANENT_5XX = frozenset({501, 505})
_SIGNATURES: dict[str, Callable[[bytes], bool]] = {
    "image/png": lambda b: b.startswith(b"\x89PNG\r\n\x1a\n"),
    "image/jpeg": lambda b: b.startswith(b"\xff\xd8\xff"),
    "image/webp": lambda b: b[:4] == b"RIFF" and b[8:12] == b"WEBP",
}
_GENERIC_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream"})  # S3 serves the latter


class FetchCode(StrEnum):
    """Short machine codes for why a download failed."""

    REFUSED_URL = "REFUSED_URL"
    REFUSED_ADDRESS = "REFUSED_ADDRESS"
    DNS = "DNS"
    HTTP_STATUS = "HTTP_STATUS"
    TOO_LARGE = "TOO_LARGE"
    NOT_AN_IMAGE = "NOT_AN_IMAGE"
    TIMEOUT = "TIMEOUT"
    CONNECTION = "CONNECTION"
    TLS = "TLS"
    BAD_RESPONSE = "BAD_RESPONSE"
    BUDGET_EXHAUSTED = "BUDGET_EXHAUSTED"
    TOO_MANY_REDIRECTS = "TOO_MANY_REDIRECTS"


@dataclass(frozen=True)
class FetchError:
    """Why a download failed; ``transient`` says whether trying again later could help."""

    code: FetchCode
    message: str
    transient: bool = False
    status: int | None = None  # the HTTP status, when there was one


@dataclass(frozen=True)
class FetchResult:
    """The outcome of one image download. Exactly one of ``body`` and ``error`` is set."""

    url: str
    body: bytes | None = None
    content_type: str | None = None
    error: FetchError | None = None
    attempts: int = 0  # HTTP exchanges tried (0 when refused before connecting)

    @property
    def ok(self) -> bool:
        return self.error is None


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
class Target:
    """A URL as we will use it: lowercased scheme and host (IDNA-encoded), explicit port."""

    scheme: str
    host: str  # a DNS name, an IPv4 literal, or an IPv6 literal without brackets
    port: int
    path: str  # path and query, never empty, no fragment

    @property
    def default_port(self) -> bool:
        return self.port == (443 if self.scheme == "https" else 80)

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.default_port else f"{host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host_header}{self.path}"

    @property
    def literal(self) -> IPAddress | None:
        """The host as an IP address, when the URL names one."""
        try:
            return ipaddress.ip_address(self.host)
        except ValueError:
            return None


# --- URL validation ---------------------------------------------------------------------------

_URL_RE = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<authority>[^/?#]*)(?P<rest>[/?#].*)?", re.S)
_IPV6_AUTHORITY_RE = re.compile(r"\[(?P<host>[0-9A-Fa-f:.]+)\](?::(?P<port>[^:]*))?")
_HOST_RE = re.compile(
    r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*"
)
_NUMERIC_LABEL_RE = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)")
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zs", "Zl", "Zp"})


def _refuse_url(reason: str) -> FetchError:
    return FetchError(FetchCode.REFUSED_URL, reason)


def unsafe_character(text: str) -> str | None:
    """A character that parsers treat differently (backslash, control, format, whitespace), if any."""
    for char in text:
        if char == "\\" or char.isspace() or unicodedata.category(char) in _UNSAFE_CATEGORIES:
            return f"U+{ord(char):04X}"
    return None


def validate_url(url: str, *, allow_http: bool = False) -> Target | FetchError:
    """Parse ``url`` strictly; refuse (never raise) anything ambiguous or outside policy.

    ``http`` is accepted only when ``allow_http`` (local mode); the address check then also
    requires loopback for it."""
    if not isinstance(url, str) or not url:
        return _refuse_url("no URL")
    if len(url) > MAX_URL_LENGTH:
        return _refuse_url(f"URL longer than {MAX_URL_LENGTH} characters")
    bad = unsafe_character(url)
    if bad:
        return _refuse_url(f"URL contains a backslash, control or whitespace character ({bad})")
    match = _URL_RE.fullmatch(url)
    if not match:
        return _refuse_url("not an absolute URL with a host")
    scheme = match["scheme"].lower()
    if scheme != "https" and not (allow_http and scheme == "http"):
        return _refuse_url(f"only https URLs are fetched, got {scheme}")
    authority = match["authority"]
    if "@" in authority:
        return _refuse_url("user-info ('@') in the URL's authority")
    hostport = _host_and_port(authority, scheme)
    if isinstance(hostport, FetchError):
        return hostport
    path = _path(match["rest"] or "")
    if isinstance(path, FetchError):
        return path
    target = Target(scheme, hostport[0], hostport[1], path)
    return _cross_check(url, target) or target


def _host_and_port(authority: str, scheme: str) -> tuple[str, int] | FetchError:
    if authority.startswith("["):
        match = _IPV6_AUTHORITY_RE.fullmatch(authority)
        if not match:
            return _refuse_url("malformed IPv6 literal (zone ids are not accepted)")
        try:
            ipaddress.IPv6Address(match["host"])
        except ValueError:
            return _refuse_url("malformed IPv6 literal")
        host, port_text = match["host"].lower(), match["port"]
    else:
        name, colon, port_text_or_empty = authority.partition(":")
        port_text = port_text_or_empty if colon else None
        host_or_error = _host_name(name)
        if isinstance(host_or_error, FetchError):
            return host_or_error
        host = host_or_error
    port = _port(port_text, scheme)
    return port if isinstance(port, FetchError) else (host, port)


def _host_name(name: str) -> str | FetchError:
    if not name:
        return _refuse_url("empty host")
    if not name.isascii():
        try:  # label by label, exactly as urllib3 does, so both read the same name
            labels = [idna.encode(label.lower(), strict=True, std3_rules=True) for label in name.split(".")]
        except (idna.IDNAError, UnicodeError, ValueError):
            return _refuse_url("host name is not IDNA-encodable")
        name = b".".join(labels).decode("ascii")
    host = name.lower()
    if len(host) > 253 or not _HOST_RE.fullmatch(host):
        return _refuse_url("host name must be dot-separated labels of letters, digits, '-' or '_'")
    if _NUMERIC_LABEL_RE.fullmatch(host.rsplit(".", 1)[-1]):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return _refuse_url("numeric host that is not a plain dotted-quad IPv4 address")
    return host


def _port(text: str | None, scheme: str) -> int | FetchError:
    if text is None:
        return 443 if scheme == "https" else 80
    if not (text.isascii() and text.isdigit()) or len(text) > 5:
        return _refuse_url("port must be 1 to 5 digits")
    port = int(text)
    if not 1 <= port <= 65535:
        return _refuse_url(f"port {port} outside 1-65535")
    return port


def _path(rest: str) -> str | FetchError:
    path = rest.split("#", 1)[0]
    if not path.isascii():
        return _refuse_url("non-ASCII characters in the path or query must be percent-encoded")
    if path.startswith("?") or not path:
        path = "/" + path
    return path


def _cross_check(url: str, target: Target) -> FetchError | None:
    """Refuse when urllib3's or urllib's parser reads a different scheme, host or port."""
    try:
        parsed = urllib3.util.parse_url(url)
        theirs = (parsed.scheme, (parsed.host or "").strip("[]"), parsed.port or target.port)
        split = urlsplit(url)
        split_port = split.port or target.port
    except (ValueError, urllib3.exceptions.LocationParseError):
        return _refuse_url("URL parsers disagree (one cannot parse it)")
    if theirs != (target.scheme, target.host, target.port) or split_port != target.port:
        return _refuse_url("URL parsers disagree on scheme, host or port")
    if url.isascii() and (split.hostname or "") != target.host:
        return _refuse_url("URL parsers disagree on the host")
    return None


# --- address classification -------------------------------------------------------------------

_V4_SPECIAL = tuple(
    ipaddress.IPv4Network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
    )
)
_V6_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_V6_SPECIAL = tuple(
    ipaddress.IPv6Network(n) for n in ("2001::/23", "2001:db8::/32", "2002::/16", "3fff::/20")
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_ROUTABLE_TRANSLATIONS = frozenset({"IPv4-mapped", "NAT64"})  # the others are deprecated or local-use


def embedded_ipv4(address: ipaddress.IPv6Address) -> tuple[str, tuple[ipaddress.IPv4Address, ...]] | None:
    """The IPv4 address(es) an IPv6 transition form carries, with the form's name."""
    low32 = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.ipv4_mapped is not None:
        return "IPv4-mapped", (address.ipv4_mapped,)
    if address in _NAT64:
        return "NAT64", (low32,)
    if address in _NAT64_LOCAL:
        return "local-use NAT64", (low32,)
    if address.sixtofour is not None:
        return "6to4", (address.sixtofour,)
    if address.teredo is not None:
        return "Teredo", address.teredo  # (server, client); the client is un-obfuscated by ipaddress
    if address in _IPV4_COMPATIBLE and int(address) > 1:
        return "IPv4-compatible", (low32,)
    return None


def address_refusal(address: IPAddress, *, allow_loopback: bool = False) -> str | None:
    """Why ``address`` must not be connected to, or None when it may."""
    if isinstance(address, ipaddress.IPv4Address):
        return _ipv4_refusal(address, allow_loopback)
    if address.scope_id:
        return f"{address} is a scoped (link-local) address"
    embedded = embedded_ipv4(address)
    if embedded is None:
        return _ipv6_refusal(address, allow_loopback)
    kind, inner = embedded
    for v4 in inner:
        reason = _ipv4_refusal(v4, allow_loopback)
        if reason:
            return f"{address} is {kind} for {reason}"
    if kind not in _ROUTABLE_TRANSLATIONS:
        return f"{address} is a {kind} address (deprecated or not globally routed)"
    return None


def _ipv4_refusal(address: ipaddress.IPv4Address, allow_loopback: bool) -> str | None:
    if address.is_loopback:
        return None if allow_loopback else f"{address}, a loopback address"
    for network in _V4_SPECIAL:
        if address in network:
            return f"{address}, in special-purpose range {network}"
    return None if address.is_global else f"{address}, not a global address"


def _ipv6_refusal(address: ipaddress.IPv6Address, allow_loopback: bool) -> str | None:
    if address.is_loopback:
        return None if allow_loopback else f"{address} is a loopback address"
    if address not in _V6_GLOBAL_UNICAST:
        return f"{address} is outside global unicast space (2000::/3)"
    for network in _V6_SPECIAL:
        if address in network:
            return f"{address} is in special-purpose range {network}"
    return None if address.is_global else f"{address} is not a global address"


def connect_address(address: IPAddress) -> IPAddress:
    """The address to dial: an IPv4-mapped IPv6 address is dialled as the IPv4 it maps."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def vet(target: Target, resolve: Resolver, *, allow_loopback: bool) -> list[IPAddress] | FetchError:
    """Resolve ``target`` once and return its addresses if *every* one is acceptable."""
    addresses = _resolve(target, resolve)
    if isinstance(addresses, FetchError):
        return addresses
    for address in addresses:
        reason = address_refusal(address, allow_loopback=allow_loopback)
        if reason:
            return FetchError(FetchCode.REFUSED_ADDRESS, f"{target.host}: {reason}")
        if target.scheme == "http" and not address.is_loopback:
            return FetchError(FetchCode.REFUSED_ADDRESS, f"{target.host}: plain http only to loopback")
    return [connect_address(a) for a in addresses]


def _resolve(target: Target, resolve: Resolver) -> list[IPAddress] | FetchError:
    literal = target.literal
    if literal is not None:
        return [literal]
    try:
        infos = list(resolve(target.host, target.port, type=socket.SOCK_STREAM))
    except socket.gaierror as exc:
        transient = exc.errno in {socket.EAI_AGAIN, getattr(socket, "EAI_SYSTEM", None)}
        return FetchError(FetchCode.DNS, f"cannot resolve {target.host}: {exc}", transient=transient)
    except (OSError, UnicodeError) as exc:
        return FetchError(FetchCode.DNS, f"cannot resolve {target.host}: {exc}")
    addresses: list[IPAddress] = []
    for info in infos:
        try:
            address = ipaddress.ip_address(str(info[4][0]))
        except (ValueError, IndexError, TypeError):
            return FetchError(FetchCode.REFUSED_ADDRESS, f"{target.host}: unreadable address {info!r:.80}")
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        return FetchError(FetchCode.DNS, f"{target.host} has no address")
    return addresses


# --- pinned transport ---------------------------------------------------------------------------


class _Watchdog:
    """Shuts the attempt's socket down when its budget runs out, which wakes any blocked read.

    A read timeout bounds one ``recv``; a host that trickles a byte just inside it would otherwise
    hold the download for as long as it likes."""

    def __init__(self, seconds: float) -> None:
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self.fired = False
        self._timer = threading.Timer(max(seconds, 0.0), self._fire)
        self._timer.daemon = True

    def start(self) -> None:
        self._timer.start()

    def cancel(self) -> None:
        self._timer.cancel()

    def watch(self, sock: socket.socket | None) -> None:
        with self._lock:
            self._sock = sock
            if self.fired:
                _shutdown(sock)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            _shutdown(self._sock)


def _shutdown(sock: socket.socket | None) -> None:
    # socket.socket.shutdown on the file descriptor, not SSLSocket.shutdown (which would drop the
    # TLS object under the reading thread's feet); a blocked recv then returns end-of-file.
    if sock is None:
        return
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        return


class _PinnedHTTPConnection(HTTPConnection):
    def __init__(self, *args: Any, watchdog: _Watchdog, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._watchdog = watchdog

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        self._watchdog.watch(sock)
        return sock


class _PinnedHTTPSConnection(HTTPSConnection):
    def __init__(self, *args: Any, watchdog: _Watchdog, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._watchdog = watchdog

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        self._watchdog.watch(sock)  # covers the TLS handshake
        return sock

    def connect(self) -> None:
        super().connect()
        self._watchdog.watch(self.sock)  # the TLS socket replaces the plain one


class _PinnedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _PinnedHTTPConnection


class _PinnedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _PinnedHTTPSConnection


@dataclass
class Pin:
    """Where one request goes: the vetted IP, and the host name it stands for."""

    target: Target
    address: IPAddress
    watchdog: _Watchdog
    pool: HTTPConnectionPool | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        host = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        return f"{self.target.scheme}://{host}:{self.target.port}{self.target.path}"

    def new_pool(self) -> HTTPConnectionPool:
        """A one-connection pool for the pinned IP; for https, SNI and the certificate check use the
        host name (``server_hostname``) while the socket goes to the IP."""
        host = str(self.address)
        if self.target.scheme == "https":
            self.pool = _PinnedHTTPSPool(
                host, self.target.port, maxsize=1, server_hostname=self.target.host, watchdog=self.watchdog
            )
        else:
            self.pool = _PinnedHTTPPool(host, self.target.port, maxsize=1, watchdog=self.watchdog)
        return self.pool

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()


class PinnedRequest(requests.PreparedRequest):
    """A prepared request that carries its ``Pin``; ``PinnedAdapter`` sends nothing else."""

    pin: Pin | None = None


class PinnedAdapter(HTTPAdapter):
    """A transport adapter that connects only to the request's pinned, vetted IP address."""

    def get_connection_with_tls_context(
        self,
        request: requests.PreparedRequest,
        verify: Any,
        proxies: dict[str, str] | None = None,
        cert: Any = None,
    ) -> HTTPConnectionPool:
        pin = getattr(request, "pin", None)
        if not isinstance(pin, Pin):
            raise requests.exceptions.InvalidURL("refusing to send a request without a vetted address")
        return pin.new_pool()


# --- the fetcher -------------------------------------------------------------------------------


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
                return FetchResult(url, error=_budget("no time left to try"), attempts=attempts)
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
            return _refuse_url(f"redirect Location contains a backslash, control or whitespace ({bad})")
        target = validate_url(urljoin(current.url, location), allow_http=self.settings.allow_loopback)
        if isinstance(target, FetchError):
            return _refuse_url(f"redirect refused: {target.message}")
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
            return _budget(f"{error.message}; retrying needs {delay:.1f}s, {max(left, 0):.1f}s left", error)
        return delay

    def _exchange(self, target: Target, address: IPAddress, deadline: float) -> _Outcome:
        """One HTTP request to the pinned address, read within the limits."""
        left = deadline - self._clock()
        watchdog = _Watchdog(left)
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
                return _Failure(_budget("cut off at the time budget"))
            return outcome
        except _TRANSPORT_ERRORS as exc:
            if watchdog.fired or self._clock() >= deadline:
                return _Failure(_budget(f"cut off at the time budget ({type(exc).__name__})"))
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
        declared = declared_length(response.headers.get("Content-Length"))
        if declared is not None and declared > self.settings.max_bytes:
            return _Failure(_too_large(f"declared {declared} bytes; the limit is {self.settings.max_bytes}"))
        body = self._body(response, deadline)
        if isinstance(body, FetchError):
            return _Failure(body)
        if not body and declared is None:
            # http.client takes end-of-file inside the headers as their end: a close-delimited empty
            # body is most likely a response cut short, so it is worth another try.
            return _Failure(_connection("the connection closed before any body byte"))
        declared_type = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        content_type = sniff_content_type(declared_type, body)
        return _Failure(content_type) if isinstance(content_type, FetchError) else _Image(body, content_type)

    def _body(self, response: requests.Response, deadline: float) -> bytes | FetchError:
        """The body as received, counted byte by byte (Content-Length is never trusted)."""
        body = bytearray()
        for chunk in response.raw.stream(_CHUNK, decode_content=False):
            sniffed = len(body) >= _SNIFF_BYTES
            body += chunk
            if len(body) > self.settings.max_bytes:
                return _too_large(f"body is over the {self.settings.max_bytes}-byte limit")
            if not sniffed and len(body) >= _SNIFF_BYTES and _sniff(bytes(body)) is None:
                return _not_an_image("the first bytes are not a PNG, JPEG or WebP signature")
            if self._clock() >= deadline:
                return _budget("the body did not arrive within the time budget")
        return bytes(body)


# --- small helpers ------------------------------------------------------------------------------


def declared_length(header: str | None) -> int | None:
    """Content-Length if it is one well-formed number (repeats allowed), else None (count bytes)."""
    if header is None:
        return None
    values = {value.strip() for value in header.split(",")}
    if len(values) != 1:
        return None
    (value,) = values
    return int(value) if value.isascii() and value.isdigit() else None


def _sniff(body: bytes) -> str | None:
    return next((kind for kind, matches in _SIGNATURES.items() if matches(body)), None)


def sniff_content_type(declared: str, body: bytes) -> str | FetchError:
    """The image type the bytes are; a declared type must agree unless it is generic."""
    actual = _sniff(body)
    if actual is None:
        return _not_an_image(f"not a PNG, JPEG or WebP image (declared {declared or 'nothing'})")
    if declared not in _GENERIC_TYPES and declared != actual:
        return _not_an_image(f"declared {declared} but the bytes are {actual}")
    return actual


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds from now (delta-seconds or HTTP-date), None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)


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
    return _connection(f"connection failed ({name}): {_short(exc)}")


def _short(exc: BaseException) -> str:
    return str(exc)[:200]


def _budget(message: str, last: FetchError | None = None) -> FetchError:
    return FetchError(FetchCode.BUDGET_EXHAUSTED, message, status=last.status if last else None)


def _connection(message: str) -> FetchError:
    return FetchError(FetchCode.CONNECTION, message, transient=True)


def _too_large(message: str) -> FetchError:
    return FetchError(FetchCode.TOO_LARGE, message)


def _not_an_image(message: str) -> FetchError:
    return FetchError(FetchCode.NOT_AN_IMAGE, message)
