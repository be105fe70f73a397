"""The vendor client against every answer in the vendor document (exact bodies), served over loopback."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest
import requests
from covers_core.adapters.vendor import VendorClient, _interpret
from covers_core.errors import (
    CoverAlreadyExistsError,
    CoverTaskNotFoundError,
    MusicTaskNotFoundError,
    VendorAmbiguousError,
    VendorAuthError,
    VendorCreditsExhaustedError,
    VendorError,
    VendorTransientError,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.scripted_server import Answer, ScriptedServer

# The vendor document's examples, byte for byte in meaning (../shared/seeds/000_37a437a69d3c07ea.txt).
DOC_GENERATE_OK = {"code": 200, "msg": "success", "data": {"taskId": "cover123123213213b880d2"}}
DOC_GENERATE_400 = {"code": 400, "msg": "Cover already exists for this task"}
DOC_401 = {"code": 401, "message": "No API key provided in Authorization header"}
DOC_402 = {"code": 402, "message": "Insufficient balance, please recharge"}
DOC_GENERATE_404 = {"code": 404, "message": "Original music task not found, please check your task id"}
DOC_STATUS_SUCCESS = {
    "code": 200,
    "msg": "success",
    "data": {
        "taskId": "cover123123213213b880d2",
        "status": "SUCCESS",
        "images": ["https://tempcover.storage.com/s/123.png", "https://tempcover.storage.com/s/456.png"],
        "created_at": "2026-01-01 00:00:30",
    },
}
DOC_STATUS_RUNNING = {
    "code": 200,
    "msg": "success",
    "data": {
        "taskId": "cover123123213213b880d2",
        "status": "IN_PROGRESS",
        "images": None,
        "created_at": "2026-01-01 00:00:00",
    },
}
DOC_STATUS_FAILED = {
    "code": 200,
    "msg": "success",
    "data": {
        "taskId": "cover123123213213b880d2",
        "status": "FAILED",
        "error": "Cover generation failed",
        "images": None,
        "created_at": "2026-01-01 00:00:00",
    },
}
DOC_STATUS_404 = {"code": 404, "msg": "Cover task not found", "data": None}


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    srv = ScriptedServer()
    yield srv
    srv.close()


def client(server: ScriptedServer, read_timeout: float = 2.0) -> VendorClient:
    return VendorClient(server.url, "secret-key", timeout=(1.0, read_timeout))


def answer(status: int, body: object, **kw: object) -> Answer:
    return Answer(status, json.dumps(body), **kw)  # type: ignore[arg-type]


def test_generate_sends_the_documented_request_and_returns_the_cover_task_id(server: ScriptedServer) -> None:
    server.script(answer(200, DOC_GENERATE_OK))
    assert client(server).generate("gen123213213213123bksv") == "cover123123213213b880d2"
    request = server.requests[0]
    assert (request["method"], request["path"]) == ("POST", "/api/v2/cover/generate")
    assert json.loads(request["body"]) == {"taskId": "gen123213213213123bksv"}
    assert request["headers"]["Authorization"] == "Bearer secret-key"


@pytest.mark.parametrize(
    ("status", "body", "error", "code"),
    [
        (400, DOC_GENERATE_400, CoverAlreadyExistsError, "Cover already exists"),
        (401, DOC_401, VendorAuthError, "No API key provided"),
        (402, DOC_402, VendorCreditsExhaustedError, "Insufficient balance"),
        (404, DOC_GENERATE_404, MusicTaskNotFoundError, "Original music task not found"),
    ],
)
def test_generate_maps_each_documented_error_and_reads_msg_or_message(
    server: ScriptedServer, status: int, body: dict, error: type[VendorError], code: str
) -> None:
    server.script(answer(status, body))
    with pytest.raises(error) as caught:
        client(server).generate("gen1")
    assert code in caught.value.message
    assert caught.value.http_status == status


def test_the_body_code_counts_when_the_http_status_says_200(server: ScriptedServer) -> None:
    server.script(answer(200, DOC_402), answer(200, {"code": 500, "msg": "busy", "data": None}))
    with pytest.raises(VendorCreditsExhaustedError):
        client(server).generate("gen1")
    with pytest.raises(VendorAmbiguousError):  # an unknown error code on a paid call: credit may be spent
        client(server).generate("gen1")


def test_status_reads_the_three_documented_states(server: ScriptedServer) -> None:
    server.script(
        answer(200, DOC_STATUS_RUNNING), answer(200, DOC_STATUS_SUCCESS), answer(200, DOC_STATUS_FAILED)
    )
    vendor = client(server)
    running = vendor.status("cover123123213213b880d2")
    done = vendor.status("cover123123213213b880d2")
    failed = vendor.status("cover123123213213b880d2")
    assert (running.status, running.images) == ("IN_PROGRESS", ())
    assert done.status == "SUCCESS"
    assert done.images == (
        "https://tempcover.storage.com/s/123.png",
        "https://tempcover.storage.com/s/456.png",
    )
    assert (failed.status, failed.error) == ("FAILED", "Cover generation failed")
    assert server.requests[0]["path"] == "/api/v2/cover/status?task_id=cover123123213213b880d2"


def test_status_of_an_unknown_cover_task_is_not_found(server: ScriptedServer) -> None:
    server.script(answer(404, DOC_STATUS_404))
    with pytest.raises(CoverTaskNotFoundError, match="Cover task not found"):
        client(server).status("nope")


@pytest.mark.parametrize(
    "scripted",
    [
        Answer(500, '{"code": 500, "message": "boom"}'),
        Answer(503, "<html><body>503 Service Unavailable</body></html>", {"Content-Type": "text/html"}),
        Answer(200, "<html>not json</html>", {"Content-Type": "text/html"}),
        Answer(200, json.dumps({"code": 200, "msg": "success", "data": {"taskId": "x"}})),  # no status
    ],
)
def test_status_transient_answers(server: ScriptedServer, scripted: Answer) -> None:
    server.script(scripted)
    with pytest.raises(VendorTransientError) as caught:
        client(server).status("cover1")
    assert not isinstance(caught.value, VendorAmbiguousError)  # GET: nothing to lose


def test_429_is_transient_and_carries_retry_after(server: ScriptedServer) -> None:
    server.script(answer(429, {"code": 429, "message": "Too many requests"}, headers={"Retry-After": "7"}))
    with pytest.raises(VendorTransientError) as caught:
        client(server).generate("gen1")
    assert caught.value.retry_after == 7.0
    assert not isinstance(caught.value, VendorAmbiguousError)  # rate limited: not processed


@pytest.mark.parametrize(
    "scripted",
    [
        Answer(502, "<html>bad gateway</html>", {"Content-Type": "text/html"}),
        Answer(200, "not json at all"),
        Answer(200, json.dumps({"code": 200, "msg": "success", "data": {}})),  # success without a task id
        Answer(drop=True),  # the request arrived, the answer never came
    ],
)
def test_generate_answers_that_may_have_spent_a_credit_are_ambiguous(
    server: ScriptedServer, scripted: Answer
) -> None:
    server.script(scripted)
    with pytest.raises(VendorAmbiguousError):
        client(server).generate("gen1")
    assert len(server.requests) == 1  # and the client never retried on its own


def test_a_read_timeout_on_generate_is_ambiguous_and_on_status_merely_transient(
    server: ScriptedServer,
) -> None:
    server.script(Answer(stall=0.6, body=json.dumps(DOC_GENERATE_OK)), Answer(stall=0.6, body="{}"))
    with pytest.raises(VendorAmbiguousError, match="no answer"):
        client(server, read_timeout=0.2).generate("gen1")
    with pytest.raises(VendorTransientError) as caught:
        client(server, read_timeout=0.2).status("cover1")
    assert not isinstance(caught.value, VendorAmbiguousError)


def test_a_refused_connection_is_transient_not_ambiguous() -> None:
    with socket.socket() as sock:  # a port with nobody listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    vendor = VendorClient(f"http://127.0.0.1:{port}/api", "k", timeout=(0.5, 0.5))
    with pytest.raises(VendorTransientError) as caught:
        vendor.generate("gen1")
    assert not isinstance(caught.value, VendorAmbiguousError)


def test_an_unreadable_api_key_is_reported_without_calling_the_vendor(server: ScriptedServer) -> None:
    from covers_core.errors import ConfigError

    def no_key() -> str:
        raise ConfigError("secret not set")

    with pytest.raises(VendorAuthError, match="secret not set"):
        VendorClient(server.url, no_key, timeout=(1.0, 1.0)).generate("gen1")
    assert server.requests == []


def test_the_key_never_appears_in_error_messages(server: ScriptedServer) -> None:
    server.script(answer(401, DOC_401))
    with pytest.raises(VendorAuthError) as caught:
        client(server).generate("gen1")
    assert "secret-key" not in str(caught.value)


@settings(max_examples=400, deadline=None)
@given(
    status=st.integers(100, 599),
    body=st.one_of(
        st.binary(max_size=200),
        st.fixed_dictionaries(
            {},
            optional={
                "code": st.one_of(st.integers(), st.text(max_size=5), st.none()),
                "msg": st.text(max_size=20),
                "message": st.text(max_size=20),
                "data": st.one_of(st.none(), st.dictionaries(st.text(max_size=8), st.text(max_size=8))),
            },
        ).map(lambda d: json.dumps(d).encode()),
    ),
    retry_after=st.one_of(st.none(), st.text(max_size=12)),
    paid=st.booleans(),
)
def test_any_vendor_answer_maps_to_data_or_a_vendor_error(
    status: int, body: bytes, retry_after: str | None, paid: bool
) -> None:
    response = requests.Response()
    response.status_code = status
    response._content = body
    response.encoding = "utf-8"
    if retry_after is not None:
        response.headers["Retry-After"] = retry_after
    try:
        _interpret(response, "POST", "/v2/cover/generate", spends_credit=paid)
    except VendorError as exc:
        assert exc.message
        if isinstance(exc, VendorTransientError) and exc.retry_after is not None:
            assert exc.retry_after >= 0
    else:
        assert status == 200  # only a 200 can carry data
