"""The queue contract (DESIGN.md, "Request"): what a cover request message may look like.

A JSON object naming the music task as ``musicTaskId``, ``taskId`` or ``workId`` (the vendor uses all
three), or an EventBridge event whose ``detail`` does; optional ``correlationId`` and ``metadata``.
Anything else raises :class:`BadRequestError` with a reason fit for a log line and the DLQ."""

from __future__ import annotations

import json
import re
from typing import Any

from covers_core.domain.model import CoverRequest
from covers_core.errors import BadRequestError

#: Largest SQS message / webhook body accepted, in bytes (SQS itself allows 256 KiB).
MAX_BODY_BYTES = 256 * 1024
#: Largest ``metadata`` object accepted, in bytes of compact JSON.
MAX_METADATA_BYTES = 4096
#: Deepest nesting of arrays/objects accepted (a real request needs 3; Python's parser dies near 1,000).
MAX_JSON_DEPTH = 32
MAX_ID_LENGTH = 256
MAX_CORRELATION_ID_LENGTH = 256
#: Keys under which the vendor (and upstream events) name the music task, in order of preference.
ID_KEYS = ("musicTaskId", "taskId", "workId")
_ID_PATTERN = re.compile(r"^[\x21-\x7e]+$")  # printable ASCII, no spaces


def json_depth(raw: bytes) -> int:
    """The deepest nesting of ``[``/``{`` in a JSON text, outside strings (a linear scan, no parsing)."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest


def parse_request(body: str | bytes | None) -> CoverRequest:
    """Parse a queue message body or webhook body into a request."""
    if body is None:
        raise BadRequestError("empty message body")
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else bytes(body)
    if len(raw) > MAX_BODY_BYTES:
        raise BadRequestError(f"message body is {len(raw)} bytes; the limit is {MAX_BODY_BYTES}")
    if not raw.strip():
        raise BadRequestError("empty message body")
    if json_depth(raw) > MAX_JSON_DEPTH:
        raise BadRequestError(f"message body nests deeper than {MAX_JSON_DEPTH} levels")
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
