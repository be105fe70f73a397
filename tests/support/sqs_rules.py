"""Real SQS's rules on a message that moto does not enforce (moto stores any text, and counts characters
rather than bytes): SQS refuses a body or a string attribute holding a character outside #x9 | #xA |
#xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF, an empty body, and a message (body plus attribute
names, types and values, in UTF-8 bytes) over 256 KiB.

Written apart from the code under test (``covers_core.adapters.queues``), code point by code point, so that
a mistake in one is not repeated in the other."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

MAX_MESSAGE_BYTES = 262_144
ALLOWED = ((0x9, 0x9), (0xA, 0xA), (0xD, 0xD), (0x20, 0xD7FF), (0xE000, 0xFFFD), (0x10000, 0x10FFFF))


def first_refused(text: str) -> int | None:
    """The first code point of ``text`` SQS refuses."""
    for char in text:
        point = ord(char)
        if not any(low <= point <= high for low, high in ALLOWED):
            return point
    return None


def refusal(body: str, attributes: Mapping[str, Mapping[str, Any]] | None = None) -> str | None:
    """Why real SQS would refuse this SendMessage (its error message), or None if it would take it."""
    if not body:
        return "The request must contain the parameter MessageBody."
    if (point := first_refused(body)) is not None:
        return f"Invalid binary character '#x{point:X}' was found in the message body"
    size = len(body.encode("utf-8"))
    for name, attribute in (attributes or {}).items():
        value = attribute.get("StringValue")
        if attribute.get("DataType", "").startswith(("String", "Number")):
            if not value:
                return f"The message attribute '{name}' must contain a non-empty value"
            if (point := first_refused(value)) is not None:
                return f"Invalid binary character '#x{point:X}' was found in the message attribute '{name}'"
        size += len(name.encode()) + len(attribute["DataType"].encode())
        size += len(value.encode("utf-8")) if value else len(attribute.get("BinaryValue") or b"")
    if size > MAX_MESSAGE_BYTES:
        return f"Reason: Message must be shorter than {MAX_MESSAGE_BYTES} bytes (it is {size})"
    return None


def enforce(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's SendMessage refuses, as SQS does, what SQS would refuse (with SQS's error code)."""
    from moto.sqs.exceptions import SQSException  # here: unit tests use refusal() without moto
    from moto.sqs.models import SQSBackend

    send = SQSBackend.send_message

    def checked(self: SQSBackend, queue_name: str, message_body: str, *args: Any, **kwargs: Any) -> Any:
        attributes = kwargs.get("message_attributes") or (args[0] if args else None)
        problem = refusal(message_body, attributes)
        if problem is not None:
            code = (
                "InvalidMessageContents" if problem.startswith("Invalid binary") else "InvalidParameterValue"
            )
            raise SQSException(code, problem)
        return send(self, queue_name, message_body, *args, **kwargs)

    monkeypatch.setattr(SQSBackend, "send_message", checked)
