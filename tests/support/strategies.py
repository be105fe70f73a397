"""Hypothesis strategies for everything a sender can put in a request body.

Any Unicode (surrogates and control characters included: hypothesis leaves category Cs out unless asked),
JSON texts written by hand with escapes, lone surrogate escapes, ``NaN``/``Infinity``, duplicate and empty
keys, floats, integers far past 64 bits, deep nesting, and raw bytes that are not UTF-8. Used by the unit
property tests (on fakes) and by the integration ones (the real handlers on the moto stack)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

#: Every code point, surrogates and control characters included.
ANY_CHAR = st.characters(codec=None, categories=None, exclude_categories=())
any_text = st.text(ANY_CHAR, max_size=24)
#: Strings that are odd but not broken: control characters, astral planes, RTL marks, no surrogates.
odd_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=24)
GOOD_ID = st.from_regex(r"[A-Za-z0-9_.:-]{1,40}", fullmatch=True)

_SCALARS: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**60), max_value=10**60),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(allow_nan=False, allow_infinity=False),
    any_text,
)
json_values: st.SearchStrategy[Any] = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4),
    max_leaves=16,
)


@st.composite
def json_text(draw: st.DrawFn, value: Any) -> str:
    """``value`` written as JSON the way some sender might: escaped or not, spaced or not, with a float
    as its repr, NaN/Infinity as Python writes them, and now and then a duplicate key or a lone surrogate
    escape spliced into a string."""
    text = json.dumps(
        value,
        ensure_ascii=draw(st.booleans()),
        separators=draw(st.sampled_from([(",", ":"), (", ", ": ")])),
    )
    splice = draw(st.sampled_from(["", "", "", "\\ud800", "\\udfff", "\\u0000", "\\u001b", "\\ud83d\\ude00"]))
    if splice and '"' in text:
        at = text.index('"') + 1
        text = text[:at] + splice + text[at:]
    if draw(st.integers(0, 9)) == 0 and text.startswith("{") and len(text) > 2:
        text = '{"dup": 1, "dup": 2, ' + text[1:]
    return text


@st.composite
def request_bodies(draw: st.DrawFn) -> str | bytes:
    """One message body from the whole space: mostly shaped like a request, often broken somewhere."""
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(st.binary(max_size=200))  # anything, mostly not UTF-8
    if kind == 1:
        return draw(st.text(ANY_CHAR, max_size=200))
    fields: dict[str, Any] = {}
    fields[draw(st.sampled_from(["musicTaskId", "taskId", "workId"]))] = draw(
        st.one_of(GOOD_ID, any_text, json_values) if kind == 2 else GOOD_ID
    )
    if draw(st.booleans()):
        fields["correlationId"] = draw(st.one_of(odd_text, any_text, st.integers()))
    if draw(st.booleans()):
        fields["metadata"] = draw(st.one_of(st.dictionaries(any_text, json_values, max_size=5), json_values))
    if draw(st.integers(0, 4)) == 0:
        fields[draw(any_text)] = draw(json_values)
    body: Any = fields
    if draw(st.integers(0, 5)) == 0:
        body = {
            "version": "0",
            "detail-type": "Music Generation Completed",
            "source": "udio",
            "detail": fields,
        }
    text = draw(json_text(body))
    if kind == 3:  # invalid UTF-8 spliced into the encoded text
        raw = text.encode("utf-8", "surrogatepass")
        at = draw(st.integers(0, len(raw)))
        return raw[:at] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80\x80"])) + raw[at:]
    if kind == 4:  # nested deeper than any request needs
        return '{"musicTaskId": "deep", "metadata": ' + "[" * 40 + "]" * 40 + "}"
    return text


@st.composite
def good_bodies(draw: st.DrawFn, music_task_id: str) -> str:
    """A valid request for ``music_task_id``, with odd but valid metadata and correlation id."""
    metadata = draw(
        st.dictionaries(
            odd_text,
            st.recursive(
                st.none()
                | st.booleans()
                | st.integers(min_value=-(10**50), max_value=10**50)
                | odd_text
                | st.floats(allow_nan=False, allow_infinity=False),
                lambda inner: st.lists(inner, max_size=3) | st.dictionaries(odd_text, inner, max_size=3),
                max_leaves=8,
            ),
            max_size=4,
        )
    )
    body: dict[str, Any] = {"musicTaskId": music_task_id, "metadata": metadata}
    correlation = draw(st.text(st.characters(exclude_categories=["Cs", "Cc"]), min_size=1, max_size=30))
    if correlation.strip():
        body["correlationId"] = correlation
    return json.dumps(body, ensure_ascii=draw(st.booleans()))
