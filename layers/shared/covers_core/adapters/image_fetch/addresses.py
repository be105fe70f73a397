"""Address policy: which IP addresses may be connected to, and the one DNS answer a fetch uses.

``address_refusal`` judges an IP address: public only (``is_global`` plus explicit special-purpose ranges,
because ``is_global`` differs between Python versions and calls multicast global), with the IPv4 inside
IPv6 transition forms (mapped, IPv4-compatible, NAT64, 6to4, Teredo) unwrapped and judged. Loopback is
allowed only in local mode, and then only loopback. ``vet`` resolves a host once and accepts the answer
only if *every* address in it passes."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from covers_core.adapters.image_fetch.results import FetchCode, FetchError
from covers_core.adapters.image_fetch.urls import IPAddress, Target

Resolver = Callable[..., Iterable[Sequence[Any]]]  # socket.getaddrinfo-like

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
