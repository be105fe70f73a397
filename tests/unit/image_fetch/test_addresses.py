"""Address policy: which addresses are refused, and that a host resolving to one is never contacted
(DNS mocked: nothing here opens a socket)."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import pytest
from covers_core.adapters.image_fetch import FetchCode
from covers_core.adapters.image_fetch.addresses import address_refusal

from tests.support.image_fetch import Resolver, fetcher, never_called

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
