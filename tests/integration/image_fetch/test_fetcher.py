"""The fetcher against hosts that misbehave (real loopback servers, raw bytes): drops, stalls, lying or
malformed framing, oversize bodies, transient and permanent statuses, redirects, what is not an image,
and the budget shared between the images of one call."""

from __future__ import annotations

import socket
import time

import pytest
from covers_core.adapters.image_fetch import FetchCode

from tests.support.hostile_server import HostileServer, http_response
from tests.support.image_fetch import BIG_PNG, JPEG, PNG, Sleeps, fetcher, png_response


def test_a_small_image_is_fetched(server: HostileServer) -> None:
    server.script([png_response()])
    result = fetcher().fetch(server.url())
    assert (result.ok, result.body, result.content_type, result.attempts) == (True, PNG, "image/png", 1)
    assert b"Connection: close" in server.requests[0]


def test_a_connection_closed_mid_body_is_retried_then_reported(server: HostileServer) -> None:
    cut = png_response(BIG_PNG[:1500])[:-1000]  # declares 1500 bytes, sends 500, closes
    server.script([cut], [cut], [cut])
    sleeps = Sleeps()
    result = fetcher(sleep=sleeps).fetch(server.url())
    assert result.error is not None and result.error.code == FetchCode.CONNECTION
    assert (result.attempts, len(sleeps)) == (3, 2)
    assert sleeps[1] > sleeps[0]  # exponential


def test_a_drop_then_a_good_answer_makes_the_copy(server: HostileServer) -> None:
    server.script([png_response()[:40]], [png_response()])
    result = fetcher().fetch(server.url())
    assert result.ok and result.attempts == 2


def test_a_host_that_stalls_past_the_read_timeout_times_out(server: HostileServer) -> None:
    server.script([3.0], [3.0])
    started = time.monotonic()
    result = fetcher(read_timeout=0.3, retries=1).fetch(server.url())
    assert result.error is not None and result.error.code == FetchCode.TIMEOUT
    assert result.attempts == 2
    assert time.monotonic() - started < 2


def test_a_host_stalling_mid_body_times_out(server: HostileServer) -> None:
    server.script([png_response(BIG_PNG[:1500])[:300], 3.0])
    result = fetcher(read_timeout=0.3, retries=0).fetch(server.url())
    assert result.error is not None and result.error.code == FetchCode.TIMEOUT


# Not one valid length, or differing lengths: where the body ends cannot be known (RFC 9112 section 6.3).
INVALID_LENGTHS = ["abc", "-5", "-1", "1e3", "", " ", "+14", "1 4", "0x10", "1_0", "12, 13", "14, abc", "14,"]


@pytest.mark.parametrize("length", INVALID_LENGTHS)
def test_an_invalid_content_length_is_refused_for_good(server: HostileServer, length: str) -> None:
    server.script([http_response(200, PNG, [("Content-Length", length)], content_length=False)])
    result = fetcher().fetch(server.url())
    assert result.error is not None and result.error.code == FetchCode.BAD_RESPONSE
    assert not result.error.transient and result.attempts == 1
    assert result.body is None


def test_a_plus_signed_content_length_is_refused_though_python_reads_it(server: HostileServer) -> None:
    """int("+N") is N to http.client and urllib3, which would read the image as if nothing were wrong."""
    server.script([http_response(200, PNG, [("Content-Length", f"+{len(PNG)}")], content_length=False)])
    result = fetcher().fetch(server.url())
    assert result.error is not None and result.error.code == FetchCode.BAD_RESPONSE
    assert "Content-Length" in result.error.message


def test_an_invalid_content_length_is_refused_before_the_body_is_read(server: HostileServer) -> None:
    """A host that sends part of a body and then holds the connection open: nothing waits for its close."""
    head = http_response(200, BIG_PNG[:40], [("Content-Length", "abc")], content_length=False)
    server.script([head, 3.0], [head, 3.0])
    result = fetcher(read_timeout=1.0, retries=1).fetch(server.url())
    assert result.error is not None and result.error.code == FetchCode.BAD_RESPONSE
    assert result.attempts == 1


@pytest.mark.parametrize(
    ("status", "headers"), [(302, [("Location", "/real.png")]), (503, []), (429, [("Retry-After", "1")])]
)
def test_a_redirect_or_a_transient_status_with_an_invalid_content_length_is_discarded(
    server: HostileServer, status: int, headers: list[tuple[str, str]]
) -> None:
    server.script([http_response(status, b"", [*headers, ("Content-Length", "x")], content_length=False)])
    server.script([png_response()])
    result = fetcher().fetch(server.url())
    assert result.error is not None and result.error.code == FetchCode.BAD_RESPONSE
    assert result.attempts == 1


@pytest.mark.parametrize("repeated", ["one header", "two headers"])
def test_identical_repeated_content_lengths_are_one_length(server: HostileServer, repeated: str) -> None:
    n = str(len(PNG))
    headers = [("Content-Length", f"{n}, {n}")] if repeated == "one header" else [("Content-Length", n)] * 2
    server.script([http_response(200, PNG + b"TRAILING-JUNK" * 10, headers, content_length=False)])
    result = fetcher().fetch(server.url())
    assert result.ok, result.error
    assert result.body == PNG  # what follows the declared length is not read as the image


def test_two_conflicting_content_lengths_are_a_bad_response(server: HostileServer) -> None:
    headers = [("Content-Length", str(len(PNG))), ("Content-Length", "7")]
    server.script([http_response(200, PNG, headers, content_length=False)])
    result = fetcher().fetch(server.url())
    assert result.error is not None and result.error.code == FetchCode.BAD_RESPONSE
    assert "multiple unmatching values" in result.error.message
    assert result.attempts == 1


def test_a_malformed_length_on_an_oversize_body_is_not_trusted(server: HostileServer) -> None:
    server.script([http_response(200, BIG_PNG, [("Content-Length", "abc")], content_length=False)])
    result = fetcher().fetch(server.url())
    assert result.error is not None and result.error.code == FetchCode.BAD_RESPONSE
    assert result.body is None


def test_a_content_length_larger_than_the_body_is_a_dropped_connection(server: HostileServer) -> None:
    lying = http_response(200, PNG, [("Content-Length", str(len(PNG) + 100))], content_length=False)
    server.script([lying], [lying], [lying])
    result = fetcher().fetch(server.url())
    assert result.error is not None and result.error.code == FetchCode.CONNECTION
    assert result.attempts == 3


def test_a_content_length_smaller_than_the_body_reads_only_what_was_declared(server: HostileServer) -> None:
    short = http_response(
        200, PNG + b"TRAILING-JUNK" * 10, [("Content-Length", str(len(PNG)))], content_length=False
    )
    server.script([short])
    result = fetcher().fetch(server.url())
    assert result.ok and result.body == PNG


def test_a_declared_oversize_body_is_refused_before_reading(server: HostileServer) -> None:
    server.script([http_response(200, b"", [("Content-Length", "999999999")], content_length=False), 5.0])
    started = time.monotonic()
    result = fetcher().fetch(server.url())
    assert result.error is not None and result.error.code == FetchCode.TOO_LARGE
    assert result.attempts == 1
    assert time.monotonic() - started < 1


def test_an_oversize_body_without_content_length_is_refused(server: HostileServer) -> None:
    server.script([http_response(200, BIG_PNG, content_length=False)])
    result = fetcher().fetch(server.url())
    assert result.error is not None and result.error.code == FetchCode.TOO_LARGE


def test_chunked_encoding_is_read(server: HostileServer) -> None:
    body = (
        b"".join(f"{len(part):x}\r\n".encode() + part + b"\r\n" for part in (PNG[:50], PNG[50:]))
        + b"0\r\n\r\n"
    )
    server.script([http_response(200, body, [("Transfer-Encoding", "chunked")], content_length=False)])
    result = fetcher().fetch(server.url())
    assert result.ok and result.body == PNG


@pytest.mark.parametrize(
    "body",
    [
        b"64\r\n" + PNG[:30],  # a chunk of 100 bytes cut after 30
        b"10\r\n" + PNG[:16] + b"\r\nzz\r\n",  # an unreadable chunk size
    ],
)
def test_chunked_encoding_broken_mid_way_is_a_connection_failure(server: HostileServer, body: bytes) -> None:
    broken = http_response(200, body, [("Transfer-Encoding", "chunked")], content_length=False)
    server.script([broken], [broken], [broken])
    result = fetcher().fetch(server.url())
    assert result.error is not None and result.error.code == FetchCode.CONNECTION
    assert result.attempts == 3


def test_a_503_then_200_is_retried_and_the_copy_made(server: HostileServer) -> None:
    server.script([http_response(503, b"busy")], [png_response()])
    sleeps = Sleeps()
    result = fetcher(sleep=sleeps).fetch(server.url())
    assert result.ok and result.attempts == 2
    assert len(sleeps) == 1


def test_a_429_is_retried_after_the_time_it_asks_for(server: HostileServer) -> None:
    server.script([http_response(429, b"slow down", [("Retry-After", "2")])], [png_response()])
    sleeps = Sleeps()
    result = fetcher(sleep=sleeps).fetch(server.url())
    assert result.ok and sleeps == [2.0]


def test_a_429_may_ask_for_a_fraction_of_a_second(server: HostileServer) -> None:
    """Retry-After is read by the rule every client shares (covers_core/adapters/http_headers.py)."""
    server.script([http_response(429, b"slow down", [("Retry-After", "1.5")])], [png_response()])
    sleeps = Sleeps()
    result = fetcher(sleep=sleeps).fetch(server.url())
    assert result.ok and sleeps == [1.5]


def test_a_429_asking_for_more_than_the_budget_gives_up_at_once(server: HostileServer) -> None:
    server.script([http_response(429, b"slow down", [("Retry-After", "120")])])
    sleeps = Sleeps()
    result = fetcher(sleep=sleeps).fetch(server.url())
    assert result.error is not None and result.error.code == FetchCode.BUDGET_EXHAUSTED
    assert (result.error.status, result.attempts, sleeps) == (429, 1, [])


@pytest.mark.parametrize("status", [404, 403, 410, 400, 501])
def test_permanent_statuses_are_not_retried(server: HostileServer, status: int) -> None:
    server.script([http_response(status, b"no")])
    sleeps = Sleeps()
    result = fetcher(sleep=sleeps).fetch(server.url())
    assert result.error is not None and result.error.code == FetchCode.HTTP_STATUS
    assert (result.error.status, result.attempts, sleeps) == (status, 1, [])


def test_a_refused_connection_is_retried_then_reported() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    result = fetcher().fetch(f"http://127.0.0.1:{port}/a.png")
    assert result.error is not None and result.error.code == FetchCode.CONNECTION
    assert result.attempts == 3


def test_a_relative_redirect_is_followed(server: HostileServer) -> None:
    server.script([http_response(302, b"", [("Location", "/real.png")])], [png_response()])
    result = fetcher().fetch(server.url())
    assert result.ok and result.attempts == 2
    assert server.requests[1].startswith(b"GET /real.png ")


@pytest.mark.parametrize(
    ("location", "code"),
    [
        ("http://10.0.0.1/x.png", FetchCode.REFUSED_ADDRESS),
        ("https://169.254.169.254/latest/meta-data/", FetchCode.REFUSED_ADDRESS),
        ("https://[64:ff9b::a9fe:a9fe]/", FetchCode.REFUSED_ADDRESS),
        ("https://127.0.0.1:1\\@cdn.example/a.png", FetchCode.REFUSED_URL),
        ("file:///etc/passwd", FetchCode.REFUSED_URL),
        ("https://user@cdn.example/", FetchCode.REFUSED_URL),
    ],
)
def test_a_redirect_to_a_refused_target_stops_there(server: HostileServer, location: str, code: str) -> None:
    server.script([http_response(302, b"", [("Location", location)])])
    result = fetcher(allow_loopback=True).fetch(server.url())
    assert result.error is not None and result.error.code == code
    assert result.attempts == 1


def test_a_redirect_loop_stops_at_the_limit(server: HostileServer) -> None:
    loop = [http_response(302, b"", [("Location", server.url())])]
    server.script(*[loop] * 10)
    result = fetcher(max_redirects=3).fetch(server.url())
    assert result.error is not None and result.error.code == FetchCode.TOO_MANY_REDIRECTS
    assert result.attempts == 4


def test_a_huge_redirect_body_is_not_read(server: HostileServer) -> None:
    server.script([http_response(302, b"x" * 1_000_000, [("Location", "/real.png")])], [png_response()])
    result = fetcher().fetch(server.url())
    assert result.ok


@pytest.mark.parametrize(
    ("body", "declared", "reason"),
    [
        (b"<html>" + b"x" * 500 + b"</html>", "image/png", "not a PNG"),
        (b"<html>hi</html>", "image/png", "not a PNG"),
        (JPEG, "image/png", "declared image/png but the bytes are image/jpeg"),
        (b"\x1f\x8b" + b"\0" * 100, "image/png", "not a PNG"),
    ],
)
def test_what_is_not_the_image_it_claims_is_refused_for_good(
    server: HostileServer, body: bytes, declared: str, reason: str
) -> None:
    server.script([http_response(200, body, [("Content-Type", declared)])])
    result = fetcher().fetch(server.url())
    assert result.error is not None and result.error.code == FetchCode.NOT_AN_IMAGE
    assert reason in result.error.message
    assert result.attempts == 1


def test_the_call_budget_is_shared_between_images(server: HostileServer) -> None:
    server.script([3.0])
    fetch = fetcher(read_timeout=5.0, image_budget=5.0, call_budget=0.5, retries=0)
    started = time.monotonic()
    first, second = fetch.fetch_all([server.url(), server.url("/other.png")])
    assert first.error is not None and first.error.code == FetchCode.BUDGET_EXHAUSTED
    assert second.error is not None and second.error.code == FetchCode.BUDGET_EXHAUSTED
    assert second.attempts == 0
    assert time.monotonic() - started < 1.5
