"""Pinned transport: a request goes only to the vetted IP, and a watchdog cuts it off at its budget.

The request URL names the IP itself, so nothing below us resolves the host again (no DNS rebinding
window), while the ``Host`` header keeps the host name and the TLS connection is created with
``server_hostname=<host>``: SNI is sent for the host, and OpenSSL's certificate check runs against the host
name, not the IP. This is done with a requests transport adapter (``PinnedAdapter``) whose
``get_connection_with_tls_context`` builds a fresh urllib3 pool for the pinned IP, instead of overriding
name resolution inside urllib3: the pool key, TLS settings and Host header are all public knobs, and the
adapter refuses to send a request that carries no pin.

The ``Watchdog`` shuts the attempt's socket down when the budget runs out: a host that trickles one byte
per second never trips a read timeout."""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from covers_core.adapters.image_fetch.urls import IPAddress, Target


class Watchdog:
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
    def __init__(self, *args: Any, watchdog: Watchdog, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._watchdog = watchdog

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        self._watchdog.watch(sock)
        return sock


class _PinnedHTTPSConnection(HTTPSConnection):
    def __init__(self, *args: Any, watchdog: Watchdog, **kwargs: Any) -> None:
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
    watchdog: Watchdog
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
