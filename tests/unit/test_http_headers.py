"""HTTP header values read one way by every client (covers_core/adapters/http_headers.py): Retry-After and
Content-Length."""

from __future__ import annotations

import datetime as dt

import pytest
import requests
from covers_core.adapters.http_headers import content_length, retry_after_seconds
from covers_core.adapters.vendor import _interpret
from covers_core.errors import VendorTransientError
from hypothesis import given, settings
from hypothesis import strategies as st

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def test_retry_after_reads_seconds_and_dates() -> None:
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds("Thu, 01 Jan 2026 00:00:30 GMT", now) == 30.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("0", 0.0), ("7", 7.0), ("120", 120.0), ("007", 7.0), (" 7\t", 7.0), ("1.5", 1.5), ("0.25", 0.25)],
)
def test_delay_seconds_are_digits_with_an_optional_fraction(value: str, seconds: float) -> None:
    assert retry_after_seconds(value) == seconds


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("Thu, 01 Jan 2026 00:00:30 GMT", 30.0),  # the preferred form
        ("Thursday, 01-Jan-26 00:01:00 GMT", 60.0),  # the obsolete RFC 850 form
        ("Thu Jan  1 00:00:05 2026", 5.0),  # asctime: no zone, and an HTTP-date is always UTC
        ("Wed, 31 Dec 2025 23:59:00 GMT", 0.0),  # past: retry now
    ],
)
def test_an_http_date_is_counted_from_now(value: str, seconds: float) -> None:
    assert retry_after_seconds(value, NOW) == seconds


@pytest.mark.parametrize(
    "value",
    [
        "",
        " ",
        "soon",
        "-5",
        "+5",
        "-0.5",
        "1e3",
        "inf",
        "nan",
        "1.",
        ".5",
        "1_0",
        "1 5",
        "0x10",
        "1.5.2",
        "\u0667",
        "\uff17",
        "7s",
        "Thu, 99 Jan 2026 00:00:30 GMT",
    ],
)
def test_anything_else_is_none(value: str) -> None:
    assert retry_after_seconds(value, NOW) is None


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_any_value_is_none_or_a_wait(value: str) -> None:
    seconds = retry_after_seconds(value, NOW)
    assert seconds is None or seconds >= 0


@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize(
    ("value", "seconds"),
    [("7", 7.0), ("1.5", 1.5), ("Thu, 01 Jan 1998 00:00:00 GMT", 0.0), ("-5", None), ("soon", None)],
)
def test_the_vendor_client_reads_retry_after_by_the_same_rule(
    status: int, value: str, seconds: float | None
) -> None:
    response = requests.Response()
    response.status_code = status
    response._content = b'{"code": %d, "message": "later"}' % status
    response.headers["Retry-After"] = value
    with pytest.raises(VendorTransientError) as caught:
        _interpret(response, "GET", "/v2/cover/status", spends_credit=False)
    assert caught.value.retry_after == seconds


# --- Content-Length -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("12", 12),
        ("0", 0),
        ("012", 12),
        (" 12\t", 12),
        ("12, 12", 12),  # one number repeated (also two identical header lines, joined)
        ("12,12", 12),
        ("12, 012", 12),
        ("9" * 30, 10**18),  # read without overflow: far over any byte limit
        ("1" * 5000, 10**18),  # longer than int() reads
    ],
)
def test_a_content_length_is_one_number_or_one_number_repeated(
    header: str | None, expected: int | None
) -> None:
    assert content_length(header) == expected


@pytest.mark.parametrize(
    "header",
    [
        "12, 13",
        "-1",
        "+5",
        "abc",
        "",
        " ",
        "1 2",
        "12,",
        ",12",
        "12;12",
        "12, abc",
        "1e3",
        "0x10",
        "1_0",
        "\u0661\u0662",  # digits, but not ASCII ones
    ],
)
def test_an_invalid_content_length_is_an_error(header: str) -> None:
    with pytest.raises(ValueError, match="Content-Length"):
        content_length(header)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from([*"0123456789, \t+-_ex"]), max_size=18))
def test_any_content_length_is_a_length_or_an_error(header: str) -> None:
    try:
        length = content_length(header)
    except ValueError:
        return
    assert length is not None and length >= 0
    assert {part.strip(" \t").lstrip("0") for part in header.split(",")} == {str(length).lstrip("0")}
