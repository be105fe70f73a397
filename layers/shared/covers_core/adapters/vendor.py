"""Client for the udioapi.pro cover API (``POST /v2/cover/generate``, ``GET /v2/cover/status``).

Every answer in the vendor document maps to one type of :mod:`covers_core.errors`. The client reads
both the HTTP status and the ``code`` in the body, and both ``msg`` and ``message``. It never retries
on its own: the generate call costs a credit, so retrying is the caller's decision.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError

from covers_core.adapters.http_headers import retry_after_seconds
from covers_core.domain.model import CoverStatus, VendorStatus
from covers_core.errors import (
    ConfigError,
    CoverAlreadyExistsError,
    CoverTaskNotFoundError,
    MusicTaskNotFoundError,
    VendorAmbiguousError,
    VendorAuthError,
    VendorCreditsExhaustedError,
    VendorError,
    VendorNotFoundError,
    VendorTransientError,
)
from covers_core.logic.ports import Vendor

_MAX_MESSAGE = 300


def new_session(user_agent: str = "covers-pipeline/0.1") -> requests.Session:
    """A session with no automatic retries (a retried POST could spend a second credit)."""
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=0, pool_connections=4, pool_maxsize=16)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = user_agent
    return session


class VendorClient(Vendor):
    """Calls the vendor API. ``api_key`` may be a string or a callable (e.g. a cached secret read)."""

    def __init__(
        self,
        base_url: str,
        api_key: str | Callable[[], str],
        *,
        timeout: tuple[float, float],
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.session = session or new_session()
        self.timeout = timeout

    def generate(self, music_task_id: str) -> str:
        """Start cover generation for a music task; returns the cover task id. Costs one credit."""
        data = self._call(
            "POST",
            "/v2/cover/generate",
            json={"taskId": music_task_id},
            spends_credit=True,
            not_found=MusicTaskNotFoundError,
        )
        task_id = data.get("taskId") if isinstance(data, dict) else None
        if not isinstance(task_id, str) or not task_id:
            raise VendorAmbiguousError(
                "generate answered success without a cover task id in data.taskId", http_status=200
            )
        return task_id

    def status(self, cover_task_id: str) -> CoverStatus:
        """Read the status of a cover task."""
        data = self._call(
            "GET",
            "/v2/cover/status",
            params={"task_id": cover_task_id},
            spends_credit=False,
            not_found=CoverTaskNotFoundError,
        )
        if not isinstance(data, dict):
            raise VendorTransientError("status answered success without a data object", http_status=200)
        status = data.get("status")
        if not isinstance(status, str):
            raise VendorTransientError("status answered without data.status", http_status=200)
        images_raw = data.get("images") or []
        images = (
            tuple(u for u in images_raw if isinstance(u, str) and u) if isinstance(images_raw, list) else ()
        )
        error = data.get("error")
        return CoverStatus(
            task_id=str(data.get("taskId") or cover_task_id),
            # An unknown status (say a future PENDING) is treated as still running; the deadline bounds it.
            status=VendorStatus(status) if status in set(VendorStatus) else VendorStatus.IN_PROGRESS,
            images=images,
            error=str(error)[:_MAX_MESSAGE] if error else None,
        )

    # --- internals ---------------------------------------------------------------------------

    def _key(self) -> str:
        return self._api_key() if callable(self._api_key) else self._api_key

    def _call(
        self,
        method: str,
        path: str,
        *,
        spends_credit: bool,
        not_found: type[VendorNotFoundError],
        **kwargs: Any,
    ) -> Any:
        url = self.base_url + path
        try:
            key = self._key()
        except ConfigError as exc:  # no key configured: an operator must act, nothing was sent
            raise VendorAuthError(f"API key unavailable: {exc.message}") from exc
        except Exception as exc:
            raise VendorTransientError(f"could not read the API key ({type(exc).__name__})") from exc
        headers = {"Authorization": f"Bearer {key}", "Accept": "application/json"}
        lost = VendorAmbiguousError if spends_credit else VendorTransientError
        try:
            response = self.session.request(method, url, headers=headers, timeout=self.timeout, **kwargs)
        except requests.exceptions.ConnectTimeout as exc:
            raise VendorTransientError(f"{method} {path}: connect timeout") from exc
        except requests.exceptions.ReadTimeout as exc:
            raise lost(f"{method} {path}: no answer within {self.timeout[1]}s (request was sent)") from exc
        except requests.exceptions.ConnectionError as exc:
            if _never_sent(exc):
                raise VendorTransientError(f"{method} {path}: cannot connect ({_reason(exc)})") from exc
            raise lost(f"{method} {path}: connection lost ({_reason(exc)})") from exc
        except requests.exceptions.RequestException as exc:
            raise lost(f"{method} {path}: {_reason(exc)}") from exc
        return _interpret(response, method, path, spends_credit=spends_credit, not_found=not_found)


def _interpret(
    response: requests.Response,
    method: str,
    path: str,
    *,
    spends_credit: bool,
    not_found: type[VendorNotFoundError] = VendorNotFoundError,
) -> Any:
    http = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    body_code = body.get("code") if isinstance(body, dict) else None
    message = _message(body, response)
    where = f"{method} {path}"

    if http == 200 and isinstance(body, dict) and body_code in (None, 200, "200"):
        return body.get("data")

    # The HTTP status wins when it is an error; on HTTP 200 the body's own code decides.
    effective = http if http != 200 else _as_int(body_code)
    kwargs: dict[str, Any] = {"http_status": http, "vendor_code": body_code}
    if effective in (401, 403):
        raise VendorAuthError(f"{where}: {effective} {message}", **kwargs)
    if effective == 402:
        raise VendorCreditsExhaustedError(f"{where}: 402 {message}", **kwargs)
    if effective == 404:
        raise not_found(f"{where}: 404 {message}", **kwargs)
    if effective == 400 and spends_credit:
        raise CoverAlreadyExistsError(f"{where}: 400 {message}", **kwargs)
    retry_after = retry_after_seconds(response.headers.get("Retry-After"))  # the rule the fetcher uses too
    if effective == 429:
        raise VendorTransientError(f"{where}: 429 {message}", retry_after=retry_after, **kwargs)
    if http == 200 and body is None:
        # A success status with a body we cannot read: for generate the credit may be spent.
        cls = VendorAmbiguousError if spends_credit else VendorTransientError
        raise cls(f"{where}: HTTP 200 with an unparsable body", **kwargs)
    if effective is not None and 500 <= effective < 600:
        cls = VendorAmbiguousError if spends_credit else VendorTransientError
        raise cls(f"{where}: {effective} {message}", retry_after=retry_after, **kwargs)
    if effective is not None and 400 <= effective < 500:
        # Undocumented 4xx: keep the message retryable so it ends in the DLQ with its reason.
        raise VendorTransientError(f"{where}: unexpected {effective} {message}", **kwargs)
    cls = VendorAmbiguousError if spends_credit else VendorTransientError
    raise cls(f"{where}: unexpected answer (HTTP {http}, code {body_code!r}) {message}", **kwargs)


def _message(body: Any, response: requests.Response) -> str:
    if isinstance(body, dict):
        text = body.get("msg") or body.get("message") or ""
    else:
        text = response.text[:120].replace("\n", " ") if response.text else ""
    return str(text)[:_MAX_MESSAGE]


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _never_sent(exc: requests.exceptions.ConnectionError) -> bool:
    """True when the connection failed before the request could reach the server (refused, DNS, TLS)."""
    if isinstance(exc, requests.exceptions.SSLError | requests.exceptions.ProxyError):
        return True
    inner = exc.args[0] if exc.args else None
    reason = getattr(inner, "reason", inner)
    return isinstance(reason, NewConnectionError)


def _reason(exc: Exception) -> str:
    text = str(exc)
    return text[:200] if text else type(exc).__name__


__all__ = ["CoverStatus", "VendorClient", "VendorError", "new_session"]
