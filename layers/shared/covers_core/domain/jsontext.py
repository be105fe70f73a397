"""JSON that round-trips exactly: what a sender puts in ``metadata`` is what consumers get back.

Python's ``json`` module turns ``120.50`` into the float ``120.5`` and ``0.1000000000000000055511`` into
``0.1``, accepts ``NaN`` and ``Infinity`` (not JSON), and keeps the last of two equal keys. Here numbers with
a fraction or an exponent are parsed as :class:`~decimal.Decimal` from their text and written back with the
same digits, integers stay Python ints (exact at any size), and what cannot be returned exactly is refused
with a :class:`ValueError` naming it: ``NaN``/``Infinity``, duplicate keys, strings holding a lone UTF-16
surrogate (they have no UTF-8 form: neither DynamoDB, SQS nor EventBridge can carry them). docs/contracts.md,
"Request", has the whole table.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r} in a JSON object")
        result[key] = value
    return result


def loads(text: str | bytes) -> Any:
    """Parse JSON exactly (see the module docstring); ``ValueError`` (incl. ``UnicodeDecodeError``) when
    the text is not JSON or holds something that could not be returned exactly."""
    value = json.loads(
        text, parse_float=Decimal, parse_constant=_no_constants, object_pairs_hook=_no_duplicate_keys
    )
    lone = first_lone_surrogate(value)
    if lone is not None:
        raise ValueError(f"a string holds the lone surrogate \\u{lone:04x} (not valid Unicode)")
    return value


def first_lone_surrogate(value: Any) -> int | None:
    """The code point of the first lone surrogate in ``value``'s strings (keys included), or None."""
    if isinstance(value, str):
        for char in value:
            if 0xD800 <= ord(char) <= 0xDFFF:
                return ord(char)
        return None
    if isinstance(value, Mapping):
        items: list[Any] = [*value.keys(), *value.values()]
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        return None
    for item in items:
        found = first_lone_surrogate(item)
        if found is not None:
            return found
    return None


def dumps(value: Any, *, ensure_ascii: bool = True) -> str:
    """Compact JSON of ``value``: Decimals with their own digits, ints at any size, everything else as
    ``json.dumps`` writes it. Refuses non-finite numbers (``ValueError``)."""
    parts: list[str] = []
    _write(value, parts, ensure_ascii)
    return "".join(parts)


def _write(value: Any, out: list[str], ensure_ascii: bool) -> None:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} is not a JSON number")
        out.append(str(value))
    elif isinstance(value, Mapping):
        out.append("{")
        for index, (key, item) in enumerate(value.items()):
            if index:
                out.append(",")
            out.append(json.dumps(str(key), ensure_ascii=ensure_ascii))
            out.append(":")
            _write(item, out, ensure_ascii)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _write(item, out, ensure_ascii)
        out.append("]")
    else:
        out.append(json.dumps(value, ensure_ascii=ensure_ascii, allow_nan=False))
