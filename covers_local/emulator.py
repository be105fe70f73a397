"""An emulator of the udioapi.pro cover API, served over real HTTP on loopback.

It follows the vendor document (``../shared/seeds/``) to the letter: the same paths, Bearer auth, the
same bodies (including ``msg`` on some errors and ``message`` on others), one cover per music task,
one credit per generate, 14-day-style image URLs (served here as real PNG files).

Music task ids pick a scenario by prefix, so a demo or a test can ask for any path:

=================  ==============================================================================
prefix             behaviour
=================  ==============================================================================
``unknown-``       generate answers 404 (music task not found), always
``late-``          generate answers 404 the first time, then works (music registered late)
``hascover-``      the task already has a cover: generate answers 400
``fail-``          the cover task ends FAILED
``noimg-``         the cover task ends SUCCESS with no images
``slow-``          the cover takes ``slow_seconds`` to be ready
``lost-``          the first generate is processed (credit spent) but the connection is dropped
``flaky-``         the first two calls for the task answer 503 / 429 before the real answer
``vanish-``        the cover task is created, but status always answers 404 (cover task not found)
anything else      IN_PROGRESS for a random time in ``ready_after`` (or the time
                   ``ready_after_for`` gives the task), then SUCCESS with 2 images
=================  ==============================================================================

Random faults (``fault_rate``) and scripted ones (:meth:`VendorEmulator.inject`) cover the rest:
latency, 5xx, 429 with Retry-After, HTML bodies, 200 with an error code, dropped connections.
"""

from __future__ import annotations

import json
import random
import secrets
import socket
import struct
import threading
import time
import zlib
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

API_PREFIX = "/api"
#: Fault kinds. "drop_after" is processed by the vendor but the answer never arrives.
FAULT_KINDS = (
    "http_500",
    "http_503_html",
    "http_429",
    "code_in_body",
    "drop_before",
    "drop_after",
    "latency",
)
#: Faults that never change vendor state (safe for random injection on any call).
SAFE_FAULTS = ("http_500", "http_503_html", "http_429", "code_in_body", "drop_before", "latency")


@dataclass
class EmulatorConfig:
    api_key: str = "local-demo-key"
    credits: int = 1000
    ready_after: tuple[float, float] = (1.0, 3.0)
    slow_seconds: float = 3600.0
    failure_rate: float = 0.0
    fault_rate: float = 0.0
    fault_kinds: tuple[str, ...] = SAFE_FAULTS
    latency_seconds: float = 0.5
    #: Every API answer (generate, status) takes at least this long: a distant or slow vendor.
    base_latency_seconds: float = 0.0
    retry_after_seconds: int = 1
    images_per_cover: int = 2
    #: Side in pixels of the (square, solid-colour) PNG images served: larger than the default thumbnail.
    image_side: int = 512
    seed: int | None = None
    #: Seconds from generate to ready for one music task (None: a draw from ``ready_after``), e.g. a
    #: workload's own latencies (bench/crosscheck.py replays the load simulation's). ``slow-`` tasks keep
    #: ``slow_seconds``.
    ready_after_for: Callable[[str], float | None] | None = None


@dataclass
class CoverTask:
    task_id: str
    music_task_id: str
    created: float
    ready_at: float
    outcome: str  # SUCCESS or FAILED
    images: int


@dataclass
class Stats:
    """What the emulator saw, per music task: the numbers the credit-safety tests count."""

    generate_calls: Counter[str] = field(default_factory=Counter)  # every POST, faulted ones included
    generate_requests: Counter[str] = field(default_factory=Counter)  # the ones that reached the logic
    credits_charged: Counter[str] = field(default_factory=Counter)
    status_requests: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    image_requests: Counter[str] = field(default_factory=Counter)
    #: (endpoint, music task id, fault kind) -> count
    faults_by_task: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    #: Every status answer for a known cover task: music task id -> [(time.time(), status answered)], in
    #: order (the status a call saw, e.g. how long after ``CoverTask.ready_at`` it first saw SUCCESS).
    status_answers: defaultdict[str, list[tuple[float, str]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    #: API requests being answered right now, and the most there ever were at once.
    in_flight: int = 0
    peak_in_flight: int = 0


class VendorEmulator:
    """Holds the emulated vendor state; :meth:`serve` puts it on a loopback HTTP server."""

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config or EmulatorConfig()
        self.credits = self.config.credits
        self.covers: dict[str, CoverTask] = {}  # cover task id -> task
        self.cover_by_music: dict[str, str] = {}  # music task id -> cover task id
        self.stats = Stats()
        self._scripted: dict[tuple[str, str | None], deque[str]] = defaultdict(deque)
        self._seen_scenarios: Counter[str] = Counter()
        self._random = random.Random(self.config.seed)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._advertise_host = "127.0.0.1"
        self._thread: threading.Thread | None = None

    # --- control --------------------------------------------------------------------------------

    def inject(
        self, kind: str, *, endpoint: str = "generate", music_task_id: str | None = None, times: int = 1
    ) -> None:
        """Make the next ``times`` calls to ``endpoint`` (``generate`` or ``status``), for one music task
        or for any, answer with the fault ``kind``."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; one of {', '.join(FAULT_KINDS)}")
        with self._lock:
            self._scripted[(endpoint, music_task_id)].extend([kind] * times)

    def recharge(self, credits: int) -> None:
        with self._lock:
            self.credits += credits

    def add_existing_cover(self, music_task_id: str) -> None:
        """Pretend a cover was already made for this task outside the pipeline."""
        with self._lock:
            self.cover_by_music[music_task_id] = "cover-made-elsewhere"

    def add_cover(self, music_task_id: str, cover_task_id: str, *, ready: bool = True) -> None:
        """A cover task made (and charged) before this emulator started, e.g. the one the sample events
        in ``events/`` name: ``GET /status`` knows it, and generate answers "cover exists" for its music
        task, as the vendor would."""
        with self._lock:
            now = time.time()
            ready_at = now if ready else now + self.config.slow_seconds
            self.covers[cover_task_id] = CoverTask(
                cover_task_id, music_task_id, now, ready_at, "SUCCESS", self.config.images_per_cover
            )
            self.cover_by_music[music_task_id] = cover_task_id

    def finish(self, music_task_id: str) -> str:
        """Make the music task's cover ready now (e.g. a ``slow-`` one after the pipeline gave up on it);
        returns its cover task id."""
        with self._lock:
            task = self.covers.get(self.cover_by_music.get(music_task_id, ""))
            if task is None:
                raise KeyError(f"no cover task for music task {music_task_id}")
            task.ready_at = time.time()
            return task.task_id

    # --- serving --------------------------------------------------------------------------------

    def serve(self, host: str = "127.0.0.1", port: int = 0, *, advertise_host: str | None = None) -> str:
        """Start serving in a background thread; returns the base URL (``http://host:port/api``).

        The URLs the emulator hands out (this one, image URLs) name ``advertise_host``: by default ``host``,
        or 127.0.0.1 when ``host`` is an any-address (0.0.0.0, ::), which is no address to connect to."""
        emulator = self

        class Handler(_Handler):
            pass

        Handler.emulator = emulator
        self._advertise_host = advertise_host or _ANY_ADDRESS.get(host, host)
        server_class = _ServerV6 if ":" in host else ThreadingHTTPServer
        self._server = server_class((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="vendor-emulator", daemon=True
        )
        self._thread.start()
        return self.base_url

    def ensure_serving(self) -> str:
        """The base URL, starting the server first if it is not serving yet."""
        return self.base_url if self._server is not None else self.serve()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "not serving"
        return _address_url(self._server, self._advertise_host)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> VendorEmulator:
        if self._server is None:
            self.serve()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the API (called by the HTTP handler; returns (status, body, headers, action)) ---------------

    def fault_for(self, endpoint: str, music_task_id: str | None) -> str | None:
        with self._lock:
            for key in ((endpoint, music_task_id), (endpoint, None)):
                queue = self._scripted.get(key)
                if queue:
                    return queue.popleft()
            if music_task_id and music_task_id.startswith("flaky-"):
                seen = self._seen_scenarios[f"{endpoint}:{music_task_id}"]
                self._seen_scenarios[f"{endpoint}:{music_task_id}"] += 1
                if seen < 2:
                    return ("http_503_html", "http_429")[seen]
            if self.config.fault_rate and self._random.random() < self.config.fault_rate:
                return self._random.choice(self.config.fault_kinds)
        return None

    def authorized(self, header: str | None) -> tuple[bool, str]:
        if not header or not header.startswith("Bearer ") or not header[7:].strip():
            return False, "No API key provided in Authorization header"
        if not secrets.compare_digest(header[7:].strip(), self.config.api_key):
            return False, "Invalid API key"
        return True, ""

    def generate(self, music_task_id: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.stats.generate_requests[music_task_id] += 1
            if music_task_id.startswith("unknown-") or (
                music_task_id.startswith("late-") and self.stats.generate_requests[music_task_id] == 1
            ):
                return 404, {
                    "code": 404,
                    "message": "Original music task not found, please check your task id",
                }
            if music_task_id in self.cover_by_music or music_task_id.startswith("hascover-"):
                return 400, {"code": 400, "msg": "Cover already exists for this task"}
            if self.credits <= 0:
                return 402, {"code": 402, "message": "Insufficient balance, please recharge"}
            self.credits -= 1
            self.stats.credits_charged[music_task_id] += 1
            task_id = "cover" + secrets.token_hex(10)
            now = time.time()
            delay = self._ready_after(music_task_id)
            failed = music_task_id.startswith("fail-") or self._random.random() < self.config.failure_rate
            images = 0 if music_task_id.startswith("noimg-") else self.config.images_per_cover
            self.covers[task_id] = CoverTask(
                task_id, music_task_id, now, now + delay, "FAILED" if failed else "SUCCESS", images
            )
            self.cover_by_music[music_task_id] = task_id
            return 200, {"code": 200, "msg": "success", "data": {"taskId": task_id}}

    def _ready_after(self, music_task_id: str) -> float:
        if music_task_id.startswith("slow-"):
            return self.config.slow_seconds
        chosen = self.config.ready_after_for(music_task_id) if self.config.ready_after_for else None
        return chosen if chosen is not None else self._random.uniform(*self.config.ready_after)

    def status(self, cover_task_id: str, image_base: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            task = self.covers.get(cover_task_id)
            if task is not None:
                self.stats.status_requests[task.music_task_id] += 1
            if task is None or task.music_task_id.startswith("vanish-"):
                return 404, {"code": 404, "msg": "Cover task not found", "data": None}
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(task.created))
        data: dict[str, Any] = {
            "taskId": task.task_id,
            "status": "IN_PROGRESS",
            "images": None,
            "created_at": created,
        }
        now = time.time()
        if now >= task.ready_at:
            data["status"] = task.outcome
            if task.outcome == "SUCCESS":
                data["images"] = [f"{image_base}/images/{task.task_id}/{i}.png" for i in range(task.images)]
            else:
                data["error"] = "Cover generation failed"
        with self._lock:
            self.stats.status_answers[task.music_task_id].append((now, data["status"]))
        return 200, {"code": 200, "msg": "success", "data": data}

    def music_task_for(self, cover_task_id: str) -> str | None:
        task = self.covers.get(cover_task_id)
        return task.music_task_id if task else None


class _ServerV6(ThreadingHTTPServer):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    emulator: VendorEmulator
    protocol_version = "HTTP/1.1"
    # Small answers go out at once: with Nagle's algorithm on, a keep-alive client waits for the
    # delayed ACK (~40 ms) between the headers and the body.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the runner shows its own progress
        return

    def do_POST(self) -> None:
        self._counted(self._post)

    def do_GET(self) -> None:
        self._counted(self._get)

    def _counted(self, answer: Callable[[], None]) -> None:
        stats, lock = self.emulator.stats, self.emulator._lock
        with lock:
            stats.in_flight += 1
            stats.peak_in_flight = max(stats.peak_in_flight, stats.in_flight)
        try:
            answer()
        finally:
            with lock:
                stats.in_flight -= 1

    def _post(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not self._route_and_auth(urlsplit(self.path).path, "/v2/cover/generate"):
            return
        try:
            body = json.loads(raw or b"{}")
            music_task_id = body.get("taskId") if isinstance(body, dict) else None
        except ValueError:
            music_task_id = None
        if not isinstance(music_task_id, str) or not music_task_id:
            self._send(400, {"code": 400, "msg": "taskId is required"})
            return
        with self.emulator._lock:
            self.emulator.stats.generate_calls[music_task_id] += 1
        fault = self.emulator.fault_for("generate", music_task_id)
        if music_task_id.startswith("lost-") and self.emulator.stats.generate_requests[music_task_id] == 0:
            fault = "drop_after"
        if fault and fault != "drop_after" and self._fault(fault, "generate", music_task_id):
            return
        status, payload = self.emulator.generate(music_task_id)
        if fault == "drop_after":
            self._count_fault("drop_after", "generate", music_task_id)
            self._drop()
            return
        self._send(status, payload)

    def _get(self) -> None:
        parts = urlsplit(self.path)
        if parts.path.startswith(f"{API_PREFIX}/images/"):
            self._send_image(parts.path)
            return
        if not self._route_and_auth(parts.path, "/v2/cover/status"):
            return
        task_id = (parse_qs(parts.query).get("task_id") or [""])[0]
        music_task_id = self.emulator.music_task_for(task_id)
        fault = self.emulator.fault_for("status", music_task_id)
        if fault and self._fault(fault, "status", music_task_id or "-"):
            return
        status, payload = self.emulator.status(task_id, self.emulator.base_url)
        self._send(status, payload)

    # --- helpers --------------------------------------------------------------------------------

    def _route_and_auth(self, path: str, endpoint: str) -> bool:
        """True when the request is for ``endpoint`` with a valid key; otherwise answers 404 or 401."""
        if self.emulator.config.base_latency_seconds:
            time.sleep(self.emulator.config.base_latency_seconds)
        if path != API_PREFIX + endpoint:
            self._send(404, {"code": 404, "message": "Not found"})
            return False
        ok, why = self.emulator.authorized(self.headers.get("Authorization"))
        if not ok:
            self._send(401, {"code": 401, "message": why})
        return ok

    def _count_fault(self, kind: str, endpoint: str, music_task_id: str) -> None:
        with self.emulator._lock:
            self.emulator.stats.faults[kind] += 1
            self.emulator.stats.faults_by_task[(endpoint, music_task_id, kind)] += 1

    def _fault(self, kind: str, endpoint: str, music_task_id: str) -> bool:
        """Answer with a fault; True when the request is done (False: go on after a delay)."""
        self._count_fault(kind, endpoint, music_task_id)
        if kind == "latency":
            time.sleep(self.emulator.config.latency_seconds)
            return False
        if kind == "http_500":
            self._send(500, {"code": 500, "message": "Internal server error"})
        elif kind == "http_503_html":
            self._send_raw(
                503, b"<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>", "text/html"
            )
        elif kind == "http_429":
            self._send(
                429,
                {"code": 429, "message": "Too many requests"},
                {"Retry-After": str(self.emulator.config.retry_after_seconds)},
            )
        elif kind == "code_in_body":
            self._send(200, {"code": 500, "msg": "server busy, please retry", "data": None})
        elif kind == "drop_before":
            self._drop()
        return True

    def _drop(self) -> None:
        self.close_connection = True
        self.wfile.flush()
        self.connection.close()

    def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        self._send_raw(status, json.dumps(payload).encode(), "application/json", headers)

    def _send_raw(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _send_image(self, path: str) -> None:
        pieces = path.rstrip("/").split("/")
        task = self.emulator.covers.get(pieces[-2]) if len(pieces) >= 2 else None
        if task is not None:
            with self.emulator._lock:
                self.emulator.stats.image_requests[task.music_task_id] += 1
        if task is None or task.outcome != "SUCCESS":
            self._send(404, {"code": 404, "message": "Not found"})
            return
        seed = zlib.crc32(path.encode())
        side = self.emulator.config.image_side
        self._send_raw(
            200, png(side, side, (seed & 0xFF, (seed >> 8) & 0xFF, (seed >> 16) & 0xFF)), "image/png"
        )


#: Any-addresses to listen on, and the address a URL names instead (docs/getting-started.md).
_ANY_ADDRESS = {"0.0.0.0": "127.0.0.1", "::": "127.0.0.1", "": "127.0.0.1"}  # noqa: S104


def _address_url(server: Any, host: str) -> str:
    port = server.server_address[1]
    netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"  # an IPv6 address goes in brackets
    return f"http://{netloc}{API_PREFIX}"


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A valid solid-colour PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )
