"""SQS: the cover requests queue (in the body format the start function reads) and its dead-letter queue
(rejected bodies, each copied so that SQS accepts it, with its reason as a message attribute).

The dead-letter message format (docs/operations.md, "Dead letters"): the body is the rejected body as it
was when that is text SQS accepts; otherwise the base64 of its bytes, said by ``bodyEncoding`` =
``base64``; an empty body is ``(empty)`` with ``bodyEncoding`` = ``empty``. ``rejectReason`` says why, and
``originalMessageId`` which message (or webhook request) it was."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

from covers_core.adapters.aws import aws_call
from covers_core.domain import jsontext
from covers_core.domain.model import CoverRequest
from covers_core.domain.requests import COVER_TASK_ID_ATTRIBUTE
from covers_core.errors import DeadLetterTooLargeError
from covers_core.logic.ports import DeadLetterSink, RequestSink

#: The message attribute that says why a message was rejected as bad input.
REJECT_REASON = "rejectReason"
#: The message attribute that says why a good request was given up on (it kept failing: redrive it).
LAST_FAILURE = "lastFailure"
#: The message attribute that says how a dead letter's body holds the original (absent: as it was).
BODY_ENCODING = "bodyEncoding"
BASE64 = "base64"
EMPTY = "empty"
EMPTY_BODY = "(empty)"
ORIGINAL_MESSAGE_ID = "originalMessageId"
#: Longest ``rejectReason`` / ``originalMessageId`` kept, in characters.
MAX_ATTRIBUTE_CHARS = 1000
#: The largest message SQS accepts: its body and its message attributes (names, types and values), in
#: bytes of UTF-8.
MAX_MESSAGE_BYTES = 256 * 1024
#: What SQS refuses in a body or a string attribute: anything outside #x9 | #xA | #xD | #x20-#xD7FF |
#: #xE000-#xFFFD | #x10000-#x10FFFF (lone surrogates included), written as the characters refused (the
#: negated class of the allowed ranges means the same and takes ~3 ms of every cold start to compile).
_NOT_SQS_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def is_sqs_text(text: str) -> bool:
    """Whether SQS accepts ``text`` as a message body or attribute value (its characters; not its size)."""
    return _NOT_SQS_TEXT.search(text) is None


def sqs_safe(text: str, limit: int = MAX_ATTRIBUTE_CHARS) -> str:
    """``text`` with each character SQS refuses written as its Python escape (``\\x00``, ``\\ud800``),
    then cut to ``limit`` characters; ``-`` for nothing (SQS refuses an empty attribute)."""
    escaped = _NOT_SQS_TEXT.sub(lambda m: ascii(m.group())[1:-1], text)[:limit]
    return escaped or "-"


def message_bytes(body: str, attributes: dict[str, dict[str, str]]) -> int:
    """A message's size as SQS counts it against :data:`MAX_MESSAGE_BYTES`."""
    size = len(body.encode("utf-8", "surrogatepass"))
    for name, attribute in attributes.items():
        size += len(name.encode()) + len(attribute["DataType"].encode())
        size += len(attribute["StringValue"].encode("utf-8", "surrogatepass"))
    return size


def original_bytes(body: str | bytes) -> bytes:
    """A body's bytes: text as UTF-8, a lone surrogate as UTF-8 would write it (``surrogatepass``)."""
    return body.encode("utf-8", "surrogatepass") if isinstance(body, str) else bytes(body)


def dead_letter(
    body: str | bytes, reason: str, message_id: str, *, retryable: bool = False
) -> tuple[str, dict[str, dict[str, str]]]:
    """The SQS message body and message attributes of the dead-letter copy of ``body``: ``reason`` as
    ``rejectReason`` (bad input: redrive leaves it) or, when ``retryable``, as ``lastFailure`` (a request
    that kept failing: redrive sends it back)."""
    raw = original_bytes(body)
    try:
        text: str | None = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    attributes = {
        (LAST_FAILURE if retryable else REJECT_REASON): {
            "DataType": "String",
            "StringValue": sqs_safe(reason),
        },
        ORIGINAL_MESSAGE_ID: {"DataType": "String", "StringValue": sqs_safe(message_id)},
    }
    if not raw:
        copy, encoding = EMPTY_BODY, EMPTY
    elif text is not None and is_sqs_text(text):
        copy, encoding = text, None
    else:
        copy, encoding = base64.b64encode(raw).decode("ascii"), BASE64
    if encoding:
        attributes[BODY_ENCODING] = {"DataType": "String", "StringValue": encoding}
    return copy, attributes


def restored(body: str, attributes: dict[str, Any]) -> bytes:
    """The original bytes of a dead letter (``body`` and message ``attributes`` as ReceiveMessage gives
    them). Raises ``ValueError`` for an unknown encoding or a body that is not the base64 it says."""
    encoding = (attributes.get(BODY_ENCODING) or {}).get("StringValue")
    if encoding is None:
        return original_bytes(body)
    if encoding == EMPTY:
        return b""
    if encoding == BASE64:
        return base64.b64decode(body, validate=True)
    raise ValueError(f"unknown {BODY_ENCODING} {encoding!r}")


class RequestQueue(RequestSink):
    """Sends cover requests to the cover requests queue."""

    def __init__(self, sqs: Any, queue_url: str) -> None:
        self.sqs = sqs
        self.queue_url = queue_url

    def send(self, request: CoverRequest, *, cover_task_id: str | None = None, delay_seconds: int = 0) -> str:
        """Queue ``request``; returns the SQS message id. ``cover_task_id`` goes in the message attribute
        ``coverTaskId`` (an adoption: see ``covers_core.logic.batch``)."""
        extra: dict[str, Any] = {}
        if cover_task_id:
            attribute = {"DataType": "String", "StringValue": sqs_safe(cover_task_id)}
            extra["MessageAttributes"] = {COVER_TASK_ID_ATTRIBUTE: attribute}
        response = aws_call(
            "SQS SendMessage (cover request)",
            self.sqs.send_message,
            QueueUrl=self.queue_url,
            MessageBody=jsontext.dumps(request.to_message()),  # ASCII JSON: always SQS-safe
            DelaySeconds=delay_seconds,
            **extra,
        )
        return str(response["MessageId"])


class DeadLetters(DeadLetterSink):
    """Sends rejected message bodies to the dead-letter queue, each as a copy SQS accepts and from which
    the original bytes come back exactly (:func:`dead_letter`, :func:`restored`), with the reason and
    the original message id as message attributes."""

    def __init__(self, sqs: Any, queue_url: str) -> None:
        self.sqs = sqs
        self.queue_url = queue_url

    def send(
        self,
        body: str | bytes,
        reason: str,
        message_id: str,
        *,
        cover_task_id: str | None = None,
        retryable: bool = False,
    ) -> None:
        """Raises :class:`DeadLetterTooLargeError` (nothing sent) when the copy is over SQS's size limit,
        and :class:`AwsTransientError` when SQS fails. ``cover_task_id``: the attribute ``coverTaskId``."""
        copy, attributes = dead_letter(body, reason, message_id, retryable=retryable)
        if cover_task_id:
            attributes[COVER_TASK_ID_ATTRIBUTE] = {
                "DataType": "String",
                "StringValue": sqs_safe(cover_task_id),
            }
        size = message_bytes(copy, attributes)
        if size > MAX_MESSAGE_BYTES:
            raw = original_bytes(body)
            digest = hashlib.sha256(raw).hexdigest()
            raise DeadLetterTooLargeError(
                f"the dead-letter copy of the {len(raw)}-byte body (sha256 {digest}) would be {size} "
                f"bytes; SQS takes at most {MAX_MESSAGE_BYTES}"
            )
        aws_call(
            "SQS SendMessage (dead letter)",
            self.sqs.send_message,
            QueueUrl=self.queue_url,
            MessageBody=copy,
            MessageAttributes=attributes,
        )
