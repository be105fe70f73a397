"""Request parsing (the queue contract), execution names and the poll schedule."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest
from covers_core.domain.names import execution_name
from covers_core.domain.requests import MAX_BODY_BYTES, MAX_METADATA_BYTES, parse_request
from covers_core.domain.schedule import PollSchedule
from covers_core.errors import BadRequestError
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.paths import load_event


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
        (b"\xff\xfe\x00", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ("{}", "no music task id"),
        ('{"musicTaskId": 42}', "must be a string"),
        ('{"musicTaskId": "a b"}', "printable ASCII"),
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


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1, max_size=300))
def test_execution_names_are_valid_and_distinct_ids_never_collide(music_task_id: str) -> None:
    name = execution_name(music_task_id)
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,80}", name)
    assert execution_name(music_task_id) == name
    assert execution_name(music_task_id + "x") != name


def test_simple_ids_are_used_as_they_are_and_others_are_hashed() -> None:
    assert execution_name("gen123213213213123bksv") == "gen123213213213123bksv"
    assert execution_name("a.b") != execution_name("a_b")
    assert len(execution_name("x" * 81)) == 80


def test_the_poll_schedule_never_waits_past_the_deadline_and_gives_up_at_it() -> None:
    schedule = PollSchedule(interval=10, deadline=60, backoff=2.0, max_interval=25, max_polls=500)
    assert schedule.next_wait(1, 5) == 10
    assert schedule.next_wait(2, 15) == 20
    assert schedule.next_wait(3, 35) == 25  # capped by max_interval
    assert schedule.next_wait(4, 55) == 5  # the last check lands on the deadline
    assert schedule.next_wait(5, 60) is None
    assert replace(schedule, max_polls=3).next_wait(3, 1) is None


def test_a_nonsensical_schedule_is_refused() -> None:
    with pytest.raises(ValueError, match="interval"):
        PollSchedule(interval=0, deadline=60, backoff=1.0, max_interval=60, max_polls=5)
