"""URL grammar: ``validate_url`` refuses any URL that two parsers could read differently (backslashes,
control characters, whitespace, user-info, odd numeric hosts...). Our own strict grammar decides, and
urllib3's parser (the one requests uses) and ``urlsplit`` must agree with it on scheme, host and port."""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import urlsplit

import idna
import urllib3

from covers_core.adapters.image_fetch.results import FetchError, refused_url

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_LENGTH = 4096


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


_URL_RE = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<authority>[^/?#]*)(?P<rest>[/?#].*)?", re.S)
_IPV6_AUTHORITY_RE = re.compile(r"\[(?P<host>[0-9A-Fa-f:.]+)\](?::(?P<port>[^:]*))?")
_HOST_RE = re.compile(
    r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*"
)
_NUMERIC_LABEL_RE = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)")
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zs", "Zl", "Zp"})


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
        return refused_url("no URL")
    if len(url) > MAX_URL_LENGTH:
        return refused_url(f"URL longer than {MAX_URL_LENGTH} characters")
    bad = unsafe_character(url)
    if bad:
        return refused_url(f"URL contains a backslash, control or whitespace character ({bad})")
    match = _URL_RE.fullmatch(url)
    if not match:
        return refused_url("not an absolute URL with a host")
    scheme = match["scheme"].lower()
    if scheme != "https" and not (allow_http and scheme == "http"):
        return refused_url(f"only https URLs are fetched, got {scheme}")
    authority = match["authority"]
    if "@" in authority:
        return refused_url("user-info ('@') in the URL's authority")
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
            return refused_url("malformed IPv6 literal (zone ids are not accepted)")
        try:
            ipaddress.IPv6Address(match["host"])
        except ValueError:
            return refused_url("malformed IPv6 literal")
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
        return refused_url("empty host")
    if not name.isascii():
        try:  # label by label, exactly as urllib3 does, so both read the same name
            labels = [idna.encode(label.lower(), strict=True, std3_rules=True) for label in name.split(".")]
        except (idna.IDNAError, UnicodeError, ValueError):
            return refused_url("host name is not IDNA-encodable")
        name = b".".join(labels).decode("ascii")
    host = name.lower()
    if len(host) > 253 or not _HOST_RE.fullmatch(host):
        return refused_url("host name must be dot-separated labels of letters, digits, '-' or '_'")
    if _NUMERIC_LABEL_RE.fullmatch(host.rsplit(".", 1)[-1]):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return refused_url("numeric host that is not a plain dotted-quad IPv4 address")
    return host


def _port(text: str | None, scheme: str) -> int | FetchError:
    if text is None:
        return 443 if scheme == "https" else 80
    if not (text.isascii() and text.isdigit()) or len(text) > 5:
        return refused_url("port must be 1 to 5 digits")
    port = int(text)
    if not 1 <= port <= 65535:
        return refused_url(f"port {port} outside 1-65535")
    return port


def _path(rest: str) -> str | FetchError:
    path = rest.split("#", 1)[0]
    if not path.isascii():
        return refused_url("non-ASCII characters in the path or query must be percent-encoded")
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
        return refused_url("URL parsers disagree (one cannot parse it)")
    if theirs != (target.scheme, target.host, target.port) or split_port != target.port:
        return refused_url("URL parsers disagree on scheme, host or port")
    if url.isascii() and (split.hostname or "") != target.host:
        return refused_url("URL parsers disagree on the host")
    return None
