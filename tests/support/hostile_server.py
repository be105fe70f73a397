"""A loopback raw-socket server that misbehaves the way real image hosts do.

Each accepted connection plays the next script: a list of steps, where ``bytes`` are sent as they are
and a ``float`` is a pause in seconds; the connection is then closed (so a short body is a body cut off
mid-way). The server records each request head it read, and (with TLS) the SNI name the client sent."""

from __future__ import annotations

import socket
import ssl
import threading
from collections import deque
from collections.abc import Iterable, Sequence

Step = bytes | float


def http_response(
    status: int = 200,
    body: bytes = b"",
    headers: Iterable[tuple[str, str]] | None = None,
    *,
    content_length: bool = True,
) -> bytes:
    """The raw bytes of an HTTP/1.1 response; ``headers`` may repeat a name."""
    lines = [f"HTTP/1.1 {status} Whatever"]
    lines += [f"{name}: {value}" for name, value in headers or ()]
    if content_length:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def trickle(data: bytes, interval: float) -> list[Step]:
    """Send ``data`` one byte at a time, ``interval`` seconds apart."""
    steps: list[Step] = []
    for byte in data:
        steps += [bytes([byte]), interval]
    return steps


class HostileServer:
    def __init__(
        self, *scripts: Sequence[Step], tls: ssl.SSLContext | None = None, bind: str = "127.0.0.1"
    ) -> None:
        self.scripts: deque[Sequence[Step]] = deque(scripts)
        self.requests: list[bytes] = []
        self.sni: list[str | None] = []
        self.tls = tls
        if tls is not None:
            tls.sni_callback = self._record_sni
        self._stop = threading.Event()
        self.bind = bind
        family = socket.AF_INET6 if ":" in bind else socket.AF_INET
        self._listener = socket.create_server((bind, 0), family=family)
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def url(self, path: str = "/img.png", host: str | None = None) -> str:
        scheme = "https" if self.tls else "http"
        host = host or (f"[{self.bind}]" if ":" in self.bind else self.bind)
        return f"{scheme}://{host}:{self.port}{path}"

    def script(self, *scripts: Sequence[Step]) -> None:
        self.scripts.extend(scripts)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self._listener.close()

    def __enter__(self) -> HostileServer:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _record_sni(self, _sock: object, name: str | None, _ctx: object) -> None:
        self.sni.append(name)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            steps = self.scripts.popleft() if self.scripts else [http_response(500, b"no script")]
            threading.Thread(target=self._play, args=(conn, steps), daemon=True).start()

    def _play(self, conn: socket.socket, steps: Sequence[Step]) -> None:
        try:
            conn.settimeout(5)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # each step leaves when scripted
            if self.tls is not None:
                conn = self.tls.wrap_socket(conn, server_side=True)
            self.requests.append(self._read_head(conn))
            for step in steps:
                if isinstance(step, bytes):
                    conn.sendall(step)
                elif self._stop.wait(step):
                    return
        except OSError:
            return
        finally:
            conn.close()

    @staticmethod
    def _read_head(conn: socket.socket) -> bytes:
        head = b""
        while b"\r\n\r\n" not in head and len(head) < 65536:
            data = conn.recv(4096)
            if not data:
                break
            head += data
        return head
