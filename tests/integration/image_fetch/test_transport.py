"""The pinned transport against loopback servers: the socket dials the vetted address whatever DNS says
later, TLS names the host (SNI, certificate check), and the watchdog cuts a trickling host off at the
budget."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import time
from pathlib import Path
from typing import Any

import pytest
from covers_core.adapters.image_fetch import FetchCode, FetchResult, FetchSettings, ImageFetcher

from tests.support.hostile_server import HostileServer, trickle
from tests.support.image_fetch import BIG_PNG, Resolver, addrinfo, fetcher, png_response

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


# --- the watchdog -------------------------------------------------------------------------------


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
