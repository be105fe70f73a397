"""Request parsing (the queue contract), execution names and the poll schedule."""

from __future__ import annotations

import json
import re

import pytest
from covers_core.domain.names import archive_prefix, execution_name, resumed_execution_name
from covers_core.domain.requests import MAX_BODY_BYTES, MAX_METADATA_BYTES, parse_request
from covers_core.errors import BadRequestError
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.paths import load_event
from tests.support.strategies import ANY_CHAR, GOOD_ID


@pytest.mark.parametrize("key", ["musicTaskId", "taskId", "workId"])
def test_every_id_name_the_vendor_uses_is_accepted(key: str) -> None:
    request = parse_request(json.dumps({key: "gen123", "correlationId": "c-1", "metadata": {"a": 1}}))
    assert (request.music_task_id, request.correlation_id, request.metadata) == ("gen123", "c-1", {"a": 1})


def test_an_eventbridge_event_is_read_from_its_detail() -> None:
    body = load_event("upstream_music_completed.json")
    request = parse_request(json.dumps(body))
    assert request.music_task_id == body["detail"]["workId"]
    assert request.correlation_id == body["detail"]["correlationId"]


def test_the_sample_sqs_event_holds_only_valid_requests() -> None:
    ids = [parse_request(r["body"]).music_task_id for r in load_event("start_cover.json")["Records"]]
    assert ids == ["gen123213213213123bksv", "gen998877665544332211", "gen555444333222111000"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("", "empty"),
        ("not json", "not valid JSON"),
        (b"\xff\xfe\x00", "not valid UTF-8"),
        (b"\xef\xbb\xbf{}", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ("{}", "no music task id"),
        ('{"musicTaskId": 42}', "must be a string"),
        ('{"musicTaskId": "a b"}', "printable ASCII"),
        ('{"musicTaskId": "abc\\n"}', "printable ASCII"),  # (a regex "$" would let the newline through)
        ('{"musicTaskId": "a", "taskId": "b"}', "conflicting"),
        ('{"musicTaskId": "a", "metadata": [1]}', "'metadata' must be a JSON object"),
        ('{"musicTaskId": "a", "correlationId": 5}', "correlationId"),
        ('{"detail-type": "x", "detail": "nope"}', "'detail' must be an object"),
        (json.dumps({"musicTaskId": "a", "metadata": {"x": "y" * MAX_METADATA_BYTES}}), "the limit is"),
        ("x" * (MAX_BODY_BYTES + 1), "the limit is"),
    ],
)
def test_bad_bodies_get_a_clear_reason(body: str | bytes, reason: str) -> None:
    with pytest.raises(BadRequestError, match=re.escape(reason)):
        parse_request(body)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=600),
        st.text(max_size=600),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=20),
            lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=12), c, max_size=4),
            max_leaves=20,
        ).map(json.dumps),
    )
)
def test_any_body_is_either_a_valid_request_or_a_bad_request_error(body: str | bytes) -> None:
    try:
        request = parse_request(body)
    except BadRequestError as exc:
        assert exc.message  # always says why
    else:
        assert re.fullmatch(r"[\x21-\x7e]{1,256}", request.music_task_id)
        assert isinstance(request.metadata, dict)


NAME = re.compile(r"[A-Za-z0-9_.-]{1,80}")  # what Step Functions and S3 accept, and more


@st.composite
def lookalike_ids(draw: st.DrawFn) -> list[str]:
    """Ids, and ids that look like the names other ids get: hashed names, resumed names, cut names."""
    base = draw(st.lists(st.text(ANY_CHAR, min_size=1, max_size=90) | GOOD_ID, min_size=1, max_size=4))
    derived = []
    for music_task_id in base:
        name = execution_name(music_task_id)
        derived += [
            name,
            f"{name}.r1",
            f"{name}-r1",
            resumed_execution_name(music_task_id, 2),
            name[:-1] + "0",
        ]
    return base + derived + draw(st.lists(GOOD_ID, max_size=3))


@settings(max_examples=300)
@given(lookalike_ids())
def test_no_two_ids_and_no_id_and_a_resumed_run_share_a_name(ids: list[str]) -> None:
    names: dict[str, tuple[str, int]] = {}
    for music_task_id in set(ids):
        for run in range(4):  # the first run and three resumes
            name = execution_name(music_task_id) if run == 0 else resumed_execution_name(music_task_id, run)
            assert NAME.fullmatch(name), name
            assert names.setdefault(name, (music_task_id, run)) == (music_task_id, run), name
        assert archive_prefix(music_task_id) == execution_name(music_task_id)


def test_simple_ids_are_their_own_names_and_others_are_hashed_with_a_dot() -> None:
    assert execution_name("gen123213213213123bksv") == "gen123213213213123bksv"
    # The reviewer's collisions: both now differ.
    assert execution_name("col.x") != "col_x-d28f48b9c255b186" == execution_name("col_x-d28f48b9c255b186")
    assert resumed_execution_name("foo", 1) == "foo.r1" != execution_name("foo-r1") == "foo-r1"
    assert execution_name("col.x").count(".") == 1 and len(execution_name("x" * 81)) == 80
    assert NAME.fullmatch(execution_name("abc\n"))  # a trailing newline is not an allowed character
    assert len(resumed_execution_name("y" * 80, 12)) == 80
