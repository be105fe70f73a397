"""Statuses, the cover request and its parser (the queue contract in DESIGN.md)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from covers_core.errors import BadRequestError

#: Largest SQS message / webhook body accepted, in bytes (SQS itself allows 256 KiB).
MAX_BODY_BYTES = 256 * 1024
#: Largest ``metadata`` object accepted, in bytes of compact JSON.
MAX_METADATA_BYTES = 4096
MAX_ID_LENGTH = 256
MAX_CORRELATION_ID_LENGTH = 256
#: Keys under which the vendor (and upstream events) name the music task, in order of preference.
ID_KEYS = ("musicTaskId", "taskId", "workId")
_ID_PATTERN = re.compile(r"^[\x21-\x7e]+$")  # printable ASCII, no spaces


class Status(StrEnum):
    GENERATING = "GENERATING"
    IN_PROGRESS = "IN_PROGRESS"
    BLOCKED = "BLOCKED"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    TIMED_OUT = "TIMED_OUT"
    REJECTED = "REJECTED"
    NEEDS_ATTENTION = "NEEDS_ATTENTION"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset(
    {Status.SUCCEEDED, Status.FAILED, Status.TIMED_OUT, Status.REJECTED, Status.NEEDS_ATTENTION}
)
NON_TERMINAL_STATUSES = frozenset(set(Status) - TERMINAL_STATUSES)


@dataclass(frozen=True)
class CoverRequest:
    """One music task whose cover the pipeline should make."""

    music_task_id: str
    correlation_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_message(self) -> dict[str, Any]:
        body: dict[str, Any] = {"musicTaskId": self.music_task_id}
        if self.correlation_id:
            body["correlationId"] = self.correlation_id
        if self.metadata:
            body["metadata"] = self.metadata
        return body


def parse_request(body: str | bytes | None) -> CoverRequest:
    """Parse a queue message body: a JSON object naming the music task, or an EventBridge event whose
    ``detail`` names it. Raises :class:`BadRequestError` with a message fit for a log line."""
    if body is None:
        raise BadRequestError("empty message body")
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else bytes(body)
    if len(raw) > MAX_BODY_BYTES:
        raise BadRequestError(f"message body is {len(raw)} bytes; the limit is {MAX_BODY_BYTES}")
    if not raw.strip():
        raise BadRequestError("empty message body")
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequestError(f"message body is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise BadRequestError(f"message body must be a JSON object, got {type(doc).__name__}")
    return request_from_mapping(doc)


def request_from_mapping(doc: dict[str, Any]) -> CoverRequest:
    """Build a request from a decoded JSON object (plain request or EventBridge event)."""
    if "detail" in doc and "detail-type" in doc:
        detail = doc["detail"]
        if not isinstance(detail, dict):
            raise BadRequestError("EventBridge event 'detail' must be an object")
        doc = detail
    music_task_id = _music_task_id(doc)
    correlation_id = doc.get("correlationId")
    if correlation_id is not None:
        if not isinstance(correlation_id, str) or not correlation_id.strip():
            raise BadRequestError("'correlationId' must be a non-empty string")
        if len(correlation_id) > MAX_CORRELATION_ID_LENGTH:
            raise BadRequestError(f"'correlationId' is longer than {MAX_CORRELATION_ID_LENGTH} characters")
    metadata = doc.get("metadata")
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise BadRequestError(f"'metadata' must be a JSON object, got {type(metadata).__name__}")
    size = len(json.dumps(metadata, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    if size > MAX_METADATA_BYTES:
        raise BadRequestError(f"'metadata' is {size} bytes of JSON; the limit is {MAX_METADATA_BYTES}")
    return CoverRequest(music_task_id=music_task_id, correlation_id=correlation_id, metadata=metadata)


def _music_task_id(doc: dict[str, Any]) -> str:
    present = [(key, doc[key]) for key in ID_KEYS if doc.get(key) is not None]
    if not present:
        raise BadRequestError(f"no music task id: expected one of {', '.join(ID_KEYS)}")
    values = {value for _, value in present if isinstance(value, str)}
    key, value = present[0]
    if not isinstance(value, str):
        raise BadRequestError(f"'{key}' must be a string, got {type(value).__name__}")
    if len(values) > 1 or any(not isinstance(v, str) for _, v in present):
        names = ", ".join(k for k, _ in present)
        raise BadRequestError(f"conflicting music task ids in {names}")
    if len(value) > MAX_ID_LENGTH:
        raise BadRequestError(f"'{key}' is longer than {MAX_ID_LENGTH} characters")
    if not _ID_PATTERN.match(value):
        raise BadRequestError(f"'{key}' must be printable ASCII without spaces")
    return value
