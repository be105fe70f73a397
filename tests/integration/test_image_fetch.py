"""The image fetcher: what it refuses (URL tricks, addresses; DNS mocked), that it connects only to the
address it vetted, and how it survives hosts that misbehave (real loopback servers, raw bytes)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import urllib3
from covers_core.adapters.image_fetch import FetchCode, FetchError, FetchResult, FetchSettings, ImageFetcher
from covers_core.adapters.image_fetch.addresses import address_refusal
from covers_core.adapters.image_fetch.fetcher import declared_length, retry_after_seconds
from covers_core.adapters.image_fetch.transport import Pin, PinnedAdapter, Watchdog
from covers_core.adapters.image_fetch.urls import Target, validate_url
from hypothesis import given, settings
from hypothesis import strategies as st

from covers_local.emulator import png
from tests.support.hostile_server import HostileServer, http_response, trickle

PNG = png(8, 8, (10, 20, 30))
JPEG = b"\xff\xd8\xff\xe0" + b"\0" * 200
BIG_PNG = PNG + b"\0" * 5000


# --- helpers ------------------------------------------------------------------------------------


def addrinfo(address: str, port: int) -> tuple[Any, ...]:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sockaddr = (address, port, 0, 0) if family == socket.AF_INET6 else (address, port)
    return (family, socket.SOCK_STREAM, 6, "", sockaddr)


class Resolver:
    """A getaddrinfo stand-in: one list of addresses per call (the last one repeats)."""

    def __init__(self, *answers: list[str] | str) -> None:
        self.answers = [[a] if isinstance(a, str) else a for a in answers]
        self.calls: list[str] = []

    def __call__(self, host: str, port: int, *_: object, **__: object) -> list[tuple[Any, ...]]:
        self.calls.append(host)
        answer = self.answers[min(len(self.calls), len(self.answers)) - 1]
        return [addrinfo(a, port) for a in answer]


def never_called(*_: object, **__: object) -> list[Any]:
    raise AssertionError("the resolver must not be called")


class Sleeps(list[float]):
    """Records the waits instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def fetcher(
    resolve: Callable[..., Any] = never_called, sleep: Sleeps | None = None, **overrides: Any
) -> ImageFetcher:
    limits = {
        "allow_loopback": True,
        "connect_timeout": 1.0,
        "read_timeout": 1.0,
        "image_budget": 5.0,
        "retries": 2,
        "backoff_base": 0.01,
        "max_bytes": 2000,
        **overrides,
    }
    return ImageFetcher(
        FetchSettings(**limits),
        resolve=resolve,
        sleep=sleep if sleep is not None else Sleeps(),
        jitter=lambda: 0.5,
    )


@pytest.fixture
def server() -> Iterator[HostileServer]:
    with HostileServer() as hostile:
        yield hostile


def png_response(body: bytes = PNG, **kw: Any) -> bytes:
    return http_response(200, body, [("Content-Type", "image/png")], **kw)


# --- URL validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://127.0.0.1:8443\\@cdn.example/a.png", "backslash"),
        ("https://cdn.example\\a.png", "backslash"),
        ("https://user@cdn.example/a.png", "user-info"),
        ("https://cdn.example@127.0.0.1/a.png", "user-info"),
        ("https://cdn.example/a b.png", "whitespace"),
        ("https://cdn.example/a.png\n", "whitespace"),
        ("https://cdn.exa\tmple/a.png", "whitespace"),
        (" https://cdn.example/a.png", "whitespace"),
        ("https://cdn.example/a\x00.png", "control"),
        ("https://cdn.example\u200b/a.png", "control"),  # zero-width space (format character)
        ("https://cdn.example\u3000/a.png", "whitespace"),  # ideographic space
        ("http://cdn.example/a.png", "only https"),
        ("ftp://cdn.example/a.png", "only https"),
        ("file:///etc/passwd", "only https"),
        ("//cdn.example/a.png", "absolute"),
        ("https:/cdn.example/a.png", "absolute"),
        ("https:///a.png", "empty host"),
        ("https://:443/a.png", "empty host"),
        ("https://cdn.example:0/a.png", "outside 1-65535"),
        ("https://cdn.example:65536/a.png", "outside 1-65535"),
        ("https://cdn.example:999999/a.png", "port"),
        ("https://cdn.example:-1/a.png", "port"),
        ("https://cdn.example:+443/a.png", "port"),
        ("https://cdn.example:/a.png", "port"),
        ("https://cdn.example:443:80/a.png", "port"),
        ("https://2130706433/a.png", "numeric host"),
        ("https://0x7f000001/a.png", "numeric host"),
        ("https://0177.0.0.1/a.png", "numeric host"),
        ("https://127.1/a.png", "numeric host"),
        ("https://%31%32%37.0.0.1/a.png", "labels"),
        ("https://cdn.example./a.png", "labels"),
        ("https://cdn..example/a.png", "labels"),
        ("https://\u2603.example/a.png", "IDNA"),
        ("https://[fe80::1%25eth0]/a.png", "IPv6"),
        ("https://[::1/a.png", "IPv6"),
        ("https://[v1.x]/a.png", "IPv6"),
        ("https://cdn.example/\u00e4.png", "non-ASCII"),
        ("", "no URL"),
        ("https://" + "a" * 5000 + ".example/", "longer"),
    ],
)
def test_urls_two_parsers_could_read_differently_are_refused(url: str, reason: str) -> None:
    result = validate_url(url)
    assert isinstance(result, FetchError), result
    assert result.code == FetchCode.REFUSED_URL
    assert reason.lower() in result.message.lower()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://cdn.example/a.png", Target("https", "cdn.example", 443, "/a.png")),
        ("HTTPS://CDN.Example:8443/a.png?x=1#frag", Target("https", "cdn.example", 8443, "/a.png?x=1")),
        ("https://cdn.example", Target("https", "cdn.example", 443, "/")),
        ("https://cdn.example?x", Target("https", "cdn.example", 443, "/?x")),
        ("https://b\u00fccher.example/a.png", Target("https", "xn--bcher-kva.example", 443, "/a.png")),
        ("https://[2606:2800:220:1::1]/a", Target("https", "2606:2800:220:1::1", 443, "/a")),
        ("https://93.184.216.34:443/a", Target("https", "93.184.216.34", 443, "/a")),
        ("https://cdn.example/a@b.png", Target("https", "cdn.example", 443, "/a@b.png")),
    ],
)
def test_plain_urls_are_parsed(url: str, expected: Target) -> None:
    assert validate_url(url) == expected


def test_http_only_in_local_mode() -> None:
    assert validate_url("http://127.0.0.1:8787/a.png", allow_http=True) == Target(
        "http", "127.0.0.1", 8787, "/a.png"
    )


_URL_ALPHABET = st.sampled_from([*"aZ09.-_:@[]/\\?#%+ \t\n\x00", "\u00fc", "\u3002", "\uff0e", "\u200b"])


_PATH_ALPHABET = st.sampled_from([*"aZ09.-_:@[]/?#%+=&"])
_LABEL = st.one_of(
    st.from_regex(r"[a-zA-Z0-9]([a-zA-Z0-9-]{0,6}[a-zA-Z0-9])?", fullmatch=True),
    st.text(alphabet="abcXYZ019-_", min_size=1, max_size=8),
)
_HOSTS = st.one_of(
    st.lists(_LABEL, min_size=1, max_size=3).map(".".join),
    st.ip_addresses().map(lambda a: f"[{a}]" if a.version == 6 else str(a)),
    st.sampled_from(["b\u00fccher.example", "\u2603.com", "xn--bcher-kva.example", "127.1", "0x7f.0.0.1"]),
    st.text(_URL_ALPHABET, max_size=12),
)


@st.composite
def urlish(draw: st.DrawFn) -> str:
    """Mostly well-formed URLs with tricks mixed in (user-info, odd ports, junk characters)."""
    scheme = draw(st.sampled_from(["https", "https", "https", "HTTPS", "http", "ftp", ""]))
    sep = draw(st.sampled_from(["://"] * 6 + [":/", ":\\\\", "//", ""]))
    userinfo = draw(
        st.one_of(st.just(""), st.just(""), st.text(_URL_ALPHABET, max_size=6).map(lambda s: s + "@"))
    )
    port = draw(
        st.one_of(
            st.just(""),
            st.just(""),
            st.integers(-5, 70000).map(lambda p: f":{p}"),
            st.text(_URL_ALPHABET, max_size=4).map(lambda s: ":" + s),
        )
    )
    rest = draw(st.one_of(st.just(""), st.text(_PATH_ALPHABET, max_size=15).map(lambda s: "/" + s)))
    url = scheme + sep + userinfo + draw(_HOSTS) + port + rest
    if draw(st.integers(0, 3)) == 0:  # one junk character anywhere
        at = draw(st.integers(0, len(url)))
        url = url[:at] + draw(_URL_ALPHABET) + url[at:]
    return url


@settings(max_examples=500, deadline=None)
@given(st.one_of(urlish(), urlish(), urlish(), st.text(max_size=60)), st.booleans())
def test_validate_agrees_with_urllib3_or_refuses(url: str, allow_http: bool) -> None:
    result = validate_url(url, allow_http=allow_http)  # anything but a Target/FetchError is a failure
    if isinstance(result, FetchError):
        assert result.code == FetchCode.REFUSED_URL
        return
    assert isinstance(result, Target)
    parsed = urllib3.util.parse_url(url)
    default = 443 if result.scheme == "https" else 80
    assert (parsed.scheme, (parsed.host or "").strip("[]"), parsed.port or default) == (
        result.scheme,
        result.host,
        result.port,
    )


# --- address classification -----------------------------------------------------------------------

REFUSED = [
    "10.0.0.5",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "127.0.0.1",
    "127.8.9.10",
    "0.0.0.0",
    "255.255.255.255",
    "224.0.0.1",
    "239.255.255.250",
    "198.18.0.1",
    "192.0.2.1",
    "192.0.0.1",
    "192.88.99.1",
    "240.0.0.1",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd12:3456::1",
    "ff02::1",
    "fec0::1",
    "100::1",
    "2001:db8::1",
    "3fff::1",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "::127.0.0.1",  # IPv4-compatible
    "::93.184.216.34",  # IPv4-compatible, deprecated even when public
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of the metadata service
    "64:ff9b:1::7f00:1",  # local-use NAT64
    "64:ff9b:1::5db8:d822",  # local-use NAT64, public inside: still not globally routed
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "2002:a9fe:a9fe::1",
    "2002:5db8:d822::1",  # 6to4, deprecated
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo, public client: still refused
]
ALLOWED = [
    "93.184.216.34",
    "8.8.8.8",
    "2606:2800:220:1:248:1893:25c8:1946",
    "2a00:1450:4001:82a::200e",
    "::ffff:93.184.216.34",
    "64:ff9b::5db8:d822",  # NAT64 of a public IPv4 (IPv6-only networks)
]


@pytest.mark.parametrize("address", REFUSED)
def test_special_purpose_addresses_are_refused(address: str) -> None:
    assert address_refusal(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_are_allowed(address: str) -> None:
    assert address_refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("93.184.216.34", True),
        ("10.0.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("fd00::1", False),
        ("64:ff9b::a00:1", False),
    ],
)
def test_local_mode_adds_loopback_and_nothing_else(address: str, allowed: bool) -> None:
    assert (address_refusal(ipaddress.ip_address(address), allow_loopback=True) is None) is allowed


@pytest.mark.parametrize(
    ("url", "answer", "reason"),
    [
        ("https://nat64.example/a.png", "64:ff9b::7f00:1", "127.0.0.1"),
        ("https://sixtofour.example/a.png", "2002:7f00:1::", "127.0.0.1"),
        ("https://compat.example/a.png", "::127.0.0.1", "127.0.0.1"),
        ("https://mapped.example/a.png", "::ffff:127.0.0.1", "127.0.0.1"),
        ("https://teredo.example/a.png", "2001:0:4136:e378:8000:63bf:80ff:fffe", "127.0.0.1"),
        ("https://metadata.example/a.png", "169.254.169.254", "169.254"),
        ("https://mixed.example/a.png", ["93.184.216.34", "10.0.0.7"], "10.0.0.7"),
        ("https://v6.example/a.png", "::1", "loopback"),
        ("https://scoped.example/a.png", "fe80::1%1", "scoped"),
    ],
)
def test_hosts_resolving_to_refused_addresses_are_not_contacted(
    url: str, answer: str | list[str], reason: str
) -> None:
    result = fetcher(Resolver(answer), allow_loopback=False).fetch(url)
    assert result.error is not None
    assert result.error.code == FetchCode.REFUSED_ADDRESS
    assert reason in result.error.message
    assert result.attempts == 0


@pytest.mark.parametrize(
    "url",
    [
        "https://[::ffff:127.0.0.1]/a.png",
        "https://[64:ff9b::7f00:1]/a.png",
        "https://[2002:7f00:1::]/a.png",
        "https://[::127.0.0.1]/a.png",
        "https://169.254.169.254/latest/meta-data/",
        "https://127.0.0.1/a.png",
    ],
)
def test_address_literals_are_judged_without_dns(url: str) -> None:
    result = fetcher(never_called, allow_loopback=False).fetch(url)
    assert result.error is not None and result.error.code == FetchCode.REFUSED_ADDRESS


def test_http_is_refused_to_a_public_address_even_in_local_mode() -> None:
    result = fetcher(Resolver("93.184.216.34")).fetch("http://cdn.example/a.png")
    assert result.error is not None and result.error.code == FetchCode.REFUSED_ADDRESS
    assert "http only to loopback" in result.error.message


def test_unresolvable_host_is_a_dns_error() -> None:
    def fail(*_: object, **__: object) -> list[Any]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    result = fetcher(fail).fetch("https://nowhere.example/a.png")
    assert result.error is not None and result.error.code == FetchCode.DNS
    assert not result.error.transient


# --- pinning ------------------------------------------------------------------------------------


def test_dns_rebinding_cannot_move_the_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    """First answer public, every later one 127.0.0.1: the socket still dials the vetted address."""
    rebinding = Resolver("93.184.216.34", "127.0.0.1")
    real_getaddrinfo = socket.getaddrinfo

    def system_resolver(host: str, *args: Any, **kwargs: Any) -> Any:
        if host == "cdn.example":
            return rebinding(host, *args)
        return real_getaddrinfo(host, *args, **kwargs)

    dialled: list[Any] = []

    def connect(sock: socket.socket, address: Any) -> None:
        dialled.append(address[:2])
        raise ConnectionRefusedError("captured, not connected")

    monkeypatch.setattr(socket, "getaddrinfo", system_resolver)
    monkeypatch.setattr(socket.socket, "connect", connect)

    result = fetcher(rebinding, allow_loopback=False, retries=0).fetch("https://cdn.example/a.png")
    assert dialled == [("93.184.216.34", 443)]
    assert rebinding.calls == ["cdn.example"]  # resolved once, by the guard
    assert result.error is not None and result.error.code == FetchCode.CONNECTION

    # A retry resolves and vets again: the rebound answer is refused, never dialled.
    dialled.clear()
    retried = fetcher(Resolver("93.184.216.34", "127.0.0.1"), allow_loopback=False).fetch(
        "https://cdn.example/a.png"
    )
    assert dialled == [("93.184.216.34", 443)]
    assert retried.error is not None and retried.error.code == FetchCode.REFUSED_ADDRESS


def test_the_request_goes_to_the_vetted_loopback_address_with_the_host_name_kept(
    server: HostileServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Local mode: the guard's answer is 127.0.0.1; any later lookup would say 10.0.0.1 (and
    pytest-socket would block it)."""
    real_getaddrinfo = socket.getaddrinfo

    def system_resolver(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "img.test":
            return [addrinfo("10.0.0.1", port)]
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", system_resolver)
    server.script([png_response()])
    resolver = Resolver("127.0.0.1", "10.0.0.1")
    result = fetcher(resolver).fetch(server.url(host="img.test"))
    assert result.ok, result.error
    assert resolver.calls == ["img.test"]
    assert f"Host: img.test:{server.port}\r\n".encode() in server.requests[0]


def test_pinning_works_over_ipv6() -> None:
    try:
        server = HostileServer(bind="::1")
    except OSError:
        pytest.skip("no IPv6 loopback here")
    with server:
        server.script([png_response()])
        result = fetcher(Resolver("::1")).fetch(server.url(host="v6.test"))
        assert result.ok, result.error
        assert f"Host: v6.test:{server.port}\r\n".encode() in server.requests[0]


def test_the_pinned_pool_dials_the_ip_and_names_the_host_for_tls() -> None:
    pin = Pin(
        Target("https", "cdn.example", 443, "/a.png"), ipaddress.ip_address("93.184.216.34"), Watchdog(1)
    )
    pool = pin.new_pool()
    assert pin.url == "https://93.184.216.34:443/a.png"
    assert pool.host == "93.184.216.34"
    assert pool.conn_kw["server_hostname"] == "cdn.example"
    pin.close()


def test_the_adapter_refuses_a_request_without_a_pin() -> None:
    request = requests.Request("GET", "https://cdn.example/a.png").prepare()
    with pytest.raises(requests.exceptions.InvalidURL, match="vetted"):
        PinnedAdapter().send(request)


def _certificate(tmp_path: Path, name: str) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def _tls_server(cert: Path, key: Path) -> HostileServer:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return HostileServer(tls=context)


def _fetch_over_tls(tls: HostileServer, cert: Path) -> FetchResult:
    """Fetch ``https://cdn.test:<port>/img.png`` from ``tls`` (cdn.test resolves to loopback)."""
    fetch = ImageFetcher(
        FetchSettings(max_bytes=20 * 1024 * 1024, allow_loopback=True, image_budget=5),
        resolve=Resolver("127.0.0.1"),
        ca_bundle=str(cert),
    )
    return fetch.fetch(tls.url(host="cdn.test"))


def test_tls_uses_the_host_name_for_sni_and_the_certificate_check(tmp_path: Path) -> None:
    cert, key = _certificate(tmp_path, "cdn.test")
    with _tls_server(cert, key) as tls:
        tls.script([png_response()])
        result = _fetch_over_tls(tls, cert)
        assert result.ok, result.error
        assert tls.sni == ["cdn.test"]


def test_tls_to_a_host_whose_certificate_names_another_host_fails_for_good(tmp_path: Path) -> None:
    cert, key = _certificate(tmp_path, "other.test")
    with _tls_server(cert, key) as tls:
        tls.script([png_response()])
        result = _fetch_over_tls(tls, cert)
        assert result.error is not None and result.error.code == FetchCode.TLS
        assert result.attempts == 1
        assert tls.sni == ["cdn.test"]


# --- hosts that misbehave -------------------------------------------------------------------------


def test_a_small_image_is_fetched(server: HostileServer) -> None:
    server.script([png_response()])
    result = fetcher().fetch(server.url())
    assert (result.ok, result.body, result.content_type, result.attempts) == (True, PNG, "image/png", 1)
    assert b"Connection: close" in server.requests[0]


def test_a_connection_closed_mid_body_is_retried_then_reported(server: HostileServer) -> None:
    cut = png_response(BIG_PNG[:1500])[:-1000]  # declares 1500 bytes, sends 500, closes
    server.script([cut], [cut], [cut])
    sleeps = Sleeps()
    result = fetcher(sleep=sleeps).fetch(server.url())
    assert result.error is not None and result.error.code == FetchCode.CONNECTION
    assert (result.attempts, len(sleeps)) == (3, 2)
    assert sleeps[1] > sleeps[0]  # exponential


def test_a_drop_then_a_good_answer_makes_the_copy(server: HostileServer) -> None:
    server.script([png_response()[:40]], [png_response()])
    result = fetcher().fetch(server.url())
    assert result.ok and result.attempts == 2


def test_a_host_that_stalls_past_the_read_timeout_times_out(server: HostileServer) -> None:
    server.script([3.0], [3.0])
    started = time.monotonic()
    result = fetcher(read_timeout=0.3, retries=1).fetch(server.url())
    assert result.error is not None and result.error.code == FetchCode.TIMEOUT
    assert result.attempts == 2
    assert time.monotonic() - started < 2


def test_a_host_stalling_mid_body_times_out(server: HostileServer) -> None:
    server.script([png_response(BIG_PNG[:1500])[:300], 3.0])
    result = fetcher(read_timeout=0.3, retries=0).fetch(server.url())
    assert result.error is not None and result.error.code == FetchCode.TIMEOUT


def test_a_host_trickling_the_body_is_cut_off_by_the_budget(server: HostileServer) -> None:
    head = png_response(BIG_PNG[:1500])[: -1500 + 20]
    server.script([head, *trickle(b"\0" * 1480, 0.05)])
    started = time.monotonic()
    result = fetcher(read_timeout=0.5, image_budget=0.8).fetch(server.url())
    elapsed = time.monotonic() - started
    assert result.error is not None and result.error.code == FetchCode.BUDGET_EXHAUSTED
    assert elapsed < 1.6


def test_a_host_trickling_its_headers_is_cut_off_by_the_budget(server: HostileServer) -> None:
    server.script(trickle(b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"a" * 400 + b"\r\n\r\n", 0.05))
    started = time.monotonic()
    result = fetcher(read_timeout=0.5, image_budget=0.8).fetch(server.url())
    assert result.error is not None and result.error.code == FetchCode.BUDGET_EXHAUSTED
    assert time.monotonic() - started < 1.6


@pytest.mark.parametrize("length", ["abc", "-5", "1e3", ""])
def test_a_malformed_content_length_is_ignored_and_the_bytes_counted(
    server: HostileServer, length: str
) -> None:
    server.script([http_response(200, PNG, [("Content-Length", length)], content_length=False)])
    result = fetcher().fetch(server.url())
    assert result.ok, result.error
    assert result.body == PNG


def test_two_conflicting_content_lengths_are_a_bad_response(server: HostileServer) -> None:
    headers = [("Content-Length", str(len(PNG))), ("Content-Length", "7")]
    server.script([http_response(200, PNG, headers, content_length=False)])
    result = fetcher().fetch(server.url())
    assert result.error is not None and result.error.code == FetchCode.BAD_RESPONSE
    assert "multiple unmatching values" in result.error.message
    assert result.attempts == 1


def test_a_malformed_oversize_body_is_counted_not_trusted(server: HostileServer) -> None:
    server.script([http_response(200, BIG_PNG, [("Content-Length", "abc")], content_length=False)])
    result = fetcher().fetch(server.url())
    assert result.error is not None and result.error.code == FetchCode.TOO_LARGE


def test_a_content_length_larger_than_the_body_is_a_dropped_connection(server: HostileServer) -> None:
    lying = http_response(200, PNG, [("Content-Length", str(len(PNG) + 100))], content_length=False)
    server.script([lying], [lying], [lying])
    result = fetcher().fetch(server.url())
    assert result.error is not None and result.error.code == FetchCode.CONNECTION
    assert result.attempts == 3


def test_a_content_length_smaller_than_the_body_reads_only_what_was_declared(server: HostileServer) -> None:
    short = http_response(
        200, PNG + b"TRAILING-JUNK" * 10, [("Content-Length", str(len(PNG)))], content_length=False
    )
    server.script([short])
    result = fetcher().fetch(server.url())
    assert result.ok and result.body == PNG


def test_a_declared_oversize_body_is_refused_before_reading(server: HostileServer) -> None:
    server.script([http_response(200, b"", [("Content-Length", "999999999")], content_length=False), 5.0])
    started = time.monotonic()
    result = fetcher().fetch(server.url())
    assert result.error is not None and result.error.code == FetchCode.TOO_LARGE
    assert result.attempts == 1
    assert time.monotonic() - started < 1


def test_an_oversize_body_without_content_length_is_refused(server: HostileServer) -> None:
    server.script([http_response(200, BIG_PNG, content_length=False)])
    result = fetcher().fetch(server.url())
    assert result.error is not None and result.error.code == FetchCode.TOO_LARGE


def test_chunked_encoding_is_read(server: HostileServer) -> None:
    body = (
        b"".join(f"{len(part):x}\r\n".encode() + part + b"\r\n" for part in (PNG[:50], PNG[50:]))
        + b"0\r\n\r\n"
    )
    server.script([http_response(200, body, [("Transfer-Encoding", "chunked")], content_length=False)])
    result = fetcher().fetch(server.url())
    assert result.ok and result.body == PNG


@pytest.mark.parametrize(
    "body",
    [
        b"64\r\n" + PNG[:30],  # a chunk of 100 bytes cut after 30
        b"10\r\n" + PNG[:16] + b"\r\nzz\r\n",  # an unreadable chunk size
    ],
)
def test_chunked_encoding_broken_mid_way_is_a_connection_failure(server: HostileServer, body: bytes) -> None:
    broken = http_response(200, body, [("Transfer-Encoding", "chunked")], content_length=False)
    server.script([broken], [broken], [broken])
    result = fetcher().fetch(server.url())
    assert result.error is not None and result.error.code == FetchCode.CONNECTION
    assert result.attempts == 3


def test_a_503_then_200_is_retried_and_the_copy_made(server: HostileServer) -> None:
    server.script([http_response(503, b"busy")], [png_response()])
    sleeps = Sleeps()
    result = fetcher(sleep=sleeps).fetch(server.url())
    assert result.ok and result.attempts == 2
    assert len(sleeps) == 1


def test_a_429_is_retried_after_the_time_it_asks_for(server: HostileServer) -> None:
    server.script([http_response(429, b"slow down", [("Retry-After", "2")])], [png_response()])
    sleeps = Sleeps()
    result = fetcher(sleep=sleeps).fetch(server.url())
    assert result.ok and sleeps == [2.0]


def test_a_429_asking_for_more_than_the_budget_gives_up_at_once(server: HostileServer) -> None:
    server.script([http_response(429, b"slow down", [("Retry-After", "120")])])
    sleeps = Sleeps()
    result = fetcher(sleep=sleeps).fetch(server.url())
    assert result.error is not None and result.error.code == FetchCode.BUDGET_EXHAUSTED
    assert (result.error.status, result.attempts, sleeps) == (429, 1, [])


@pytest.mark.parametrize("status", [404, 403, 410, 400, 501])
def test_permanent_statuses_are_not_retried(server: HostileServer, status: int) -> None:
    server.script([http_response(status, b"no")])
    sleeps = Sleeps()
    result = fetcher(sleep=sleeps).fetch(server.url())
    assert result.error is not None and result.error.code == FetchCode.HTTP_STATUS
    assert (result.error.status, result.attempts, sleeps) == (status, 1, [])


def test_a_refused_connection_is_retried_then_reported() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    result = fetcher().fetch(f"http://127.0.0.1:{port}/a.png")
    assert result.error is not None and result.error.code == FetchCode.CONNECTION
    assert result.attempts == 3


def test_a_relative_redirect_is_followed(server: HostileServer) -> None:
    server.script([http_response(302, b"", [("Location", "/real.png")])], [png_response()])
    result = fetcher().fetch(server.url())
    assert result.ok and result.attempts == 2
    assert server.requests[1].startswith(b"GET /real.png ")


@pytest.mark.parametrize(
    ("location", "code"),
    [
        ("http://10.0.0.1/x.png", FetchCode.REFUSED_ADDRESS),
        ("https://169.254.169.254/latest/meta-data/", FetchCode.REFUSED_ADDRESS),
        ("https://[64:ff9b::a9fe:a9fe]/", FetchCode.REFUSED_ADDRESS),
        ("https://127.0.0.1:1\\@cdn.example/a.png", FetchCode.REFUSED_URL),
        ("file:///etc/passwd", FetchCode.REFUSED_URL),
        ("https://user@cdn.example/", FetchCode.REFUSED_URL),
    ],
)
def test_a_redirect_to_a_refused_target_stops_there(server: HostileServer, location: str, code: str) -> None:
    server.script([http_response(302, b"", [("Location", location)])])
    result = fetcher(allow_loopback=True).fetch(server.url())
    assert result.error is not None and result.error.code == code
    assert result.attempts == 1


def test_a_redirect_loop_stops_at_the_limit(server: HostileServer) -> None:
    loop = [http_response(302, b"", [("Location", server.url())])]
    server.script(*[loop] * 10)
    result = fetcher(max_redirects=3).fetch(server.url())
    assert result.error is not None and result.error.code == FetchCode.TOO_MANY_REDIRECTS
    assert result.attempts == 4


def test_a_huge_redirect_body_is_not_read(server: HostileServer) -> None:
    server.script([http_response(302, b"x" * 1_000_000, [("Location", "/real.png")])], [png_response()])
    result = fetcher().fetch(server.url())
    assert result.ok


@pytest.mark.parametrize(
    ("body", "declared", "reason"),
    [
        (b"<html>" + b"x" * 500 + b"</html>", "image/png", "not a PNG"),
        (b"<html>hi</html>", "image/png", "not a PNG"),
        (JPEG, "image/png", "declared image/png but the bytes are image/jpeg"),
        (b"\x1f\x8b" + b"\0" * 100, "image/png", "not a PNG"),
    ],
)
def test_what_is_not_the_image_it_claims_is_refused_for_good(
    server: HostileServer, body: bytes, declared: str, reason: str
) -> None:
    server.script([http_response(200, body, [("Content-Type", declared)])])
    result = fetcher().fetch(server.url())
    assert result.error is not None and result.error.code == FetchCode.NOT_AN_IMAGE
    assert reason in result.error.message
    assert result.attempts == 1


def test_the_call_budget_is_shared_between_images(server: HostileServer) -> None:
    server.script([3.0])
    fetch = fetcher(read_timeout=5.0, image_budget=5.0, call_budget=0.5, retries=0)
    started = time.monotonic()
    first, second = fetch.fetch_all([server.url(), server.url("/other.png")])
    assert first.error is not None and first.error.code == FetchCode.BUDGET_EXHAUSTED
    assert second.error is not None and second.error.code == FetchCode.BUDGET_EXHAUSTED
    assert second.attempts == 0
    assert time.monotonic() - started < 1.5


# --- small parts ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [(None, None), ("12", 12), ("12, 12", 12), ("12, 13", None), ("-1", None), ("abc", None), ("", None)],
)
def test_declared_length_is_used_only_when_well_formed(header: str | None, expected: int | None) -> None:
    assert declared_length(header) == expected


def test_retry_after_reads_seconds_and_dates() -> None:
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds("Thu, 01 Jan 2026 00:00:30 GMT", now) == 30.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None
