"""The request contract (docs/contracts.md, "Request"): what a cover request may look like, at every door
(the queue, the webhook, EventBridge events put on the queue).

A JSON object naming the music task as ``musicTaskId``, ``taskId`` or ``workId`` (the vendor uses all
three), or an EventBridge event whose ``detail`` does; optional ``correlationId`` and ``metadata``.
:func:`parse_request` is total: whatever the body holds, it returns a request or raises
:class:`BadRequestError` with a reason fit for a log line, the DLQ's ``rejectReason`` and a 400 answer.
What it accepts can be stored and returned exactly (``covers_core.domain.jsontext``)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from covers_core.domain import jsontext
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
#: The request's fields (docs/contracts.md, "Request"): each ``CoverRequest`` attribute and the JSON keys
#: that may carry it, in order of preference (the vendor and upstream events name the music task all three
#: ways). Only the music task id is required.
REQUEST_FIELDS: Mapping[str, tuple[str, ...]] = {
    "music_task_id": ("musicTaskId", "taskId", "workId"),
    "correlation_id": ("correlationId",),
    "metadata": ("metadata",),
}
ID_KEYS = REQUEST_FIELDS["music_task_id"]
(CORRELATION_ID_KEY,) = REQUEST_FIELDS["correlation_id"]
(METADATA_KEY,) = REQUEST_FIELDS["metadata"]
#: The SQS message attribute that carries a cover task id generate returned for the request but that its
#: record could not keep (an adoption: the start function stores it instead of calling generate).
COVER_TASK_ID_ATTRIBUTE = "coverTaskId"
_ID_PATTERN = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no spaces


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
        text = raw.decode("utf-8")  # strictly: json.loads would also guess UTF-16 and UTF-32
    except UnicodeDecodeError as exc:
        raise BadRequestError(f"message body is not valid UTF-8 (byte {exc.start}: {exc.reason})") from exc
    try:
        doc = jsontext.loads(text)
    except (ValueError, RecursionError) as exc:
        raise BadRequestError(f"message body is not valid JSON: {str(exc)[:200]}") from exc
    if not isinstance(doc, dict):
        raise BadRequestError(f"message body must be a JSON object, got {_kind(doc)}")
    return request_from_mapping(doc)


def request_from_mapping(doc: dict[str, Any]) -> CoverRequest:
    """Build a request from a decoded JSON object (plain request or EventBridge event)."""
    if "detail" in doc and "detail-type" in doc:
        detail = doc["detail"]
        if not isinstance(detail, dict):
            raise BadRequestError("EventBridge event 'detail' must be an object")
        doc = detail
    return CoverRequest(
        music_task_id=_music_task_id(doc),
        correlation_id=_correlation_id(doc.get(CORRELATION_ID_KEY)),
        metadata=_metadata(doc.get(METADATA_KEY)),
    )


def _metadata(metadata: Any) -> dict[str, Any]:
    """A JSON object (absent or null: empty) that can be stored and returned exactly, of bounded size."""
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise BadRequestError(f"'{METADATA_KEY}' must be a JSON object, got {_kind(metadata)}")
    lone = jsontext.first_lone_surrogate(metadata)
    if lone is not None:  # (parse_request refuses these already; a mapping built in code may hold them)
        raise BadRequestError(f"'{METADATA_KEY}' holds the lone surrogate \\u{lone:04x} (not valid Unicode)")
    try:
        size = len(jsontext.dumps(metadata, ensure_ascii=False).encode("utf-8"))
    except ValueError as exc:  # NaN or Infinity in a mapping built in code
        raise BadRequestError(f"'{METADATA_KEY}' cannot be stored exactly: {exc}") from exc
    if size > MAX_METADATA_BYTES:
        raise BadRequestError(f"'{METADATA_KEY}' is {size} bytes of JSON; the limit is {MAX_METADATA_BYTES}")
    return metadata


def _correlation_id(value: Any) -> str | None:
    """1-256 characters, not all blank, no control characters, valid Unicode."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise BadRequestError(f"'{CORRELATION_ID_KEY}' must be a non-empty string")
    if len(value) > MAX_CORRELATION_ID_LENGTH:
        raise BadRequestError(f"'{CORRELATION_ID_KEY}' is longer than {MAX_CORRELATION_ID_LENGTH} characters")
    for char in value:
        if 0xD800 <= ord(char) <= 0xDFFF:
            raise BadRequestError(f"'{CORRELATION_ID_KEY}' holds the lone surrogate \\u{ord(char):04x}")
        if unicodedata.category(char) == "Cc":
            raise BadRequestError(f"'{CORRELATION_ID_KEY}' holds the control character U+{ord(char):04X}")
    return value


def _kind(value: Any) -> str:
    """A JSON type name for a reason line (``Decimal`` is a number to the sender)."""
    return {
        "dict": "object",
        "list": "array",
        "str": "string",
        "Decimal": "number",
        "int": "number",
        "bool": "boolean",
        "NoneType": "null",
    }.get(type(value).__name__, type(value).__name__)


def _music_task_id(doc: dict[str, Any]) -> str:
    present = [(key, doc[key]) for key in ID_KEYS if doc.get(key) is not None]
    if not present:
        raise BadRequestError(f"no music task id: expected one of {', '.join(ID_KEYS)}")
    values = {value for _, value in present if isinstance(value, str)}
    key, value = present[0]
    if not isinstance(value, str):
        raise BadRequestError(f"'{key}' must be a string, got {_kind(value)}")
    if len(values) > 1 or any(not isinstance(v, str) for _, v in present):
        names = ", ".join(k for k, _ in present)
        raise BadRequestError(f"conflicting music task ids in {names}")
    if len(value) > MAX_ID_LENGTH:
        raise BadRequestError(f"'{key}' is longer than {MAX_ID_LENGTH} characters")
    if not _ID_PATTERN.fullmatch(value):
        raise BadRequestError(f"'{key}' must be printable ASCII without spaces")
    return value
