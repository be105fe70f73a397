"""Dead-letter copies: always a message real SQS accepts, from which the rejected body comes back exactly
(docs/operations.md, "Dead letters": the DLQ message format)."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from covers_core.adapters.queues import MAX_ATTRIBUTE_CHARS, DeadLetters, is_sqs_text, restored
from covers_core.errors import DeadLetterTooLargeError
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support import sqs_rules

#: Every code point, surrogates included, and the ones SQS refuses made frequent.
ANY_CHARACTER = st.one_of(
    st.characters(codec=None, categories=None),
    st.characters(categories=["Cs"]),
    st.characters(max_codepoint=0x1F),
    st.sampled_from("\x7f\ufffe\uffff\U0010ffff\ud800\udfff"),
)
ANY_TEXT = st.text(ANY_CHARACTER)


class StrictSqs:
    """An SQS client that takes only what real SQS takes (``sqs_rules``), and keeps what it took."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send_message(self, **kwargs: Any) -> dict[str, str]:
        problem = sqs_rules.refusal(kwargs["MessageBody"], kwargs.get("MessageAttributes"))
        assert problem is None, problem
        self.sent.append(kwargs)
        return {"MessageId": f"m-{len(self.sent)}"}


def sent_copy(body: str | bytes, reason: str = "not valid JSON", message_id: str = "msg-1") -> dict[str, Any]:
    sqs = StrictSqs()
    DeadLetters(sqs, "https://sqs/dlq").send(body, reason, message_id)
    (message,) = sqs.sent
    return message


def original(message: dict[str, Any]) -> bytes:
    """What an operator gets back from a received copy (ReceiveMessage gives the same body and attributes)."""
    return restored(message["MessageBody"], message["MessageAttributes"])


@settings(max_examples=300, derandomize=True)
@given(st.binary(max_size=2000))
def test_any_bytes_are_kept_as_a_copy_sqs_takes_that_gives_them_back_exactly(body: bytes) -> None:
    message = sent_copy(body)
    assert original(message) == body


@settings(max_examples=300, derandomize=True)
@given(ANY_TEXT)
def test_any_text_even_with_lone_surrogates_is_kept_and_given_back_exactly(body: str) -> None:
    message = sent_copy(body)
    assert original(message).decode("utf-8", "surrogatepass") == body


@settings(max_examples=200, derandomize=True)
@given(reason=ANY_TEXT, message_id=ANY_TEXT)
def test_the_reason_and_message_id_are_made_sqs_safe_and_capped(reason: str, message_id: str) -> None:
    attributes = sent_copy(b"{}", reason, message_id)["MessageAttributes"]
    kept_reason = attributes["rejectReason"]["StringValue"]
    assert len(kept_reason) <= MAX_ATTRIBUTE_CHARS
    if sqs_rules.first_refused(reason) is None and 0 < len(reason) <= MAX_ATTRIBUTE_CHARS:
        assert kept_reason == reason  # nothing to change: unchanged
    assert attributes["originalMessageId"]["StringValue"]


def test_the_characters_sqs_takes_are_told_apart_at_every_edge_of_its_rules() -> None:
    edges = {p for low, high in sqs_rules.ALLOWED for p in (low - 1, low, high, high + 1)}
    for point in sorted(p for p in edges | {0, 0x7F, 0xD800, 0xDFFF} if 0 <= p <= 0x10FFFF):
        assert is_sqs_text(chr(point)) == (sqs_rules.first_refused(chr(point)) is None), hex(point)


def test_text_sqs_takes_is_kept_as_it_is_and_the_rest_as_base64() -> None:
    plain = sent_copy('{"title": "no id", "note": "tab\\t ok, é, 😀"}')
    assert plain["MessageBody"] == '{"title": "no id", "note": "tab\\t ok, é, 😀"}'
    assert "bodyEncoding" not in plain["MessageAttributes"]
    assert sent_copy(b"\x7f")["MessageBody"] == "\x7f"  # DEL is a character SQS takes
    refused = [b"\x00", b'{"musicTaskId": "a\x1b"}', b"\xff\xfe", b"\xed\xa0\x80", "\ufffe".encode()]
    for body in refused:  # NUL, ESC, not UTF-8, an encoded surrogate, a noncharacter
        message = sent_copy(body)
        assert message["MessageAttributes"]["bodyEncoding"]["StringValue"] == "base64"
        assert base64.b64decode(message["MessageBody"]) == body
    empty = sent_copy(b"")
    assert (empty["MessageBody"], empty["MessageAttributes"]["bodyEncoding"]["StringValue"]) == (
        "(empty)",
        "empty",
    )
    assert original(empty) == b""


def test_the_reason_keeps_what_it_says_with_refused_characters_escaped() -> None:
    attributes = sent_copy(b"x", "bad id '\x00\ud800'", "")["MessageAttributes"]
    assert attributes["rejectReason"]["StringValue"] == "bad id '\\x00\\ud800'"
    assert attributes["originalMessageId"]["StringValue"] == "-"
    assert sent_copy(b"x", "r" * 5000)["MessageAttributes"]["rejectReason"]["StringValue"] == "r" * 1000


def test_the_largest_copies_sqs_takes_are_sent_and_larger_ones_are_refused_before_sending() -> None:
    assert len(sent_copy("x" * 256_000)["MessageBody"]) == 256_000  # text: as it is
    assert original(sent_copy(b"\x00" * 190_000)) == b"\x00" * 190_000  # base64: 253,334 bytes
    sqs = StrictSqs()
    for body in (b"\x00" * 200_000, "x" * (256 * 1024)):
        with pytest.raises(DeadLetterTooLargeError, match="SQS takes at most 262144"):
            DeadLetters(sqs, "https://sqs/dlq").send(body, "not valid JSON", "msg-1")
    assert sqs.sent == []


@pytest.mark.parametrize(
    ("body", "attributes"),
    [("%%%", {"bodyEncoding": {"StringValue": "base64"}}), ("x", {"bodyEncoding": {"StringValue": "gzip"}})],
)
def test_a_copy_that_is_not_what_it_says_is_refused_when_restored(body: str, attributes: dict) -> None:
    with pytest.raises(ValueError):
        restored(body, attributes)
