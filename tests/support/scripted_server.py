"""A loopback HTTP server that answers with exactly what a test scripts (status, headers, raw body),
or drops the connection / stalls, and records every request it saw."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Answer:
    status: int = 200
    body: bytes | str = b""
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # close the connection without answering (after reading the request)
    stall: float = 0.0  # sleep before answering


class ScriptedServer:
    def __init__(self) -> None:
        self.answers: deque[Answer] = deque()
        self.requests: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # no delayed-ACK wait between headers and body

            def log_message(self, *args: Any) -> None:
                return

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                server.requests.append(
                    {"method": self.command, "path": self.path, "body": body, "headers": dict(self.headers)}
                )
                answer = server.answers.popleft() if server.answers else Answer(500, b"no answer scripted")
                if answer.stall:
                    time.sleep(answer.stall)
                if answer.drop:
                    self.close_connection = True
                    self.connection.close()
                    return
                raw = answer.body.encode() if isinstance(answer.body, str) else answer.body
                self.send_response(answer.status)
                for key, value in {"Content-Type": "application/json", **answer.headers}.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}/api"

    def script(self, *answers: Answer) -> None:
        self.answers.extend(answers)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
