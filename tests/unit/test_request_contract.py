"""The request contract (docs/contracts.md, "Request") over the whole input space, on in-memory fakes.

Whatever a body holds, it is either accepted, stored and returned exactly, or refused with a reason; one
record's failure is that record's alone; the webhook answers 4xx, never 5xx, to any body."""

from __future__ import annotations

import dataclasses
import json
import re
from decimal import Decimal

import pytest
from covers_core.adapters.records import metadata_item
from covers_core.domain import jsontext
from covers_core.domain.model import CoverRequest, Status
from covers_core.domain.requests import REQUEST_FIELDS, parse_request
from covers_core.domain.signature import sign
from covers_core.errors import BadRequestError
from covers_core.logic.intake import WebhookIntake
from hypothesis import given, settings
from hypothesis import strategies as st

from covers_local.fakes import FakeDeadLetters, FakeRequestQueue
from tests.support.strategies import good_bodies, request_bodies
from tests.support.world import World

WEBHOOK_KEY = "unit-webhook-key"


@settings(max_examples=400)
@given(request_bodies())
def test_any_body_is_accepted_and_round_trips_exactly_or_refused_with_a_reason(body: str | bytes) -> None:
    try:
        request = parse_request(body)
    except BadRequestError as exc:
        assert exc.message and "\n" not in exc.message
        return
    assert re.fullmatch(r"[\x21-\x7e]{1,256}", request.music_task_id)
    stored = metadata_item(request.metadata)
    stored.encode("utf-8")  # DynamoDB, SQS and EventBridge carry UTF-8: no lone surrogate got through
    assert jsontext.loads(stored) == request.metadata
    assert jsontext.dumps(jsontext.loads(jsontext.dumps(request.metadata))) == jsontext.dumps(
        request.metadata
    )
    if request.correlation_id is not None:
        request.correlation_id.encode("utf-8")
        assert not any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in request.correlation_id)


@pytest.mark.parametrize(
    ("metadata_json", "returned"),
    [
        ('{"bpm": 120.5}', '{"bpm":120.5}'),
        ('{"bpm": 120.50}', '{"bpm":120.50}'),  # the digits the sender wrote
        (
            '{"n": 123456789012345678901234567890123456789012}',
            '{"n":123456789012345678901234567890123456789012}',
        ),
        ('{"x": 0.1000000000000000055511151231257827}', '{"x":0.1000000000000000055511151231257827}'),
        ('{"": 1, "a b": [true, null, {}]}', '{"":1,"a b":[true,null,{}]}'),
        ('{"tab": "a\\tb\\u0000"}', '{"tab":"a\\tb\\u0000"}'),
        ('{"emoji": "\\ud83c\\udfb5"}', '{"emoji":"\\ud83c\\udfb5"}'),
    ],
)
def test_accepted_metadata_is_returned_exactly(metadata_json: str, returned: str) -> None:
    request = parse_request('{"musicTaskId": "t1", "metadata": ' + metadata_json + "}")
    assert jsontext.dumps(request.metadata) == returned
    assert jsontext.loads(metadata_item(request.metadata)) == request.metadata


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ('{"musicTaskId": "t1", "metadata": {"a": "\\ud800"}}', "lone surrogate \\ud800"),
        ('{"musicTaskId": "t1", "metadata": {"\\udfff": 1}}', "lone surrogate \\udfff"),
        ('{"musicTaskId": "t1", "metadata": {"a": NaN}}', "NaN is not a JSON number"),
        ('{"musicTaskId": "t1", "metadata": {"a": -Infinity}}', "-Infinity is not a JSON number"),
        ('{"musicTaskId": "t1", "metadata": {"a": 1, "a": 2}}', "duplicate key 'a'"),
        ('{"musicTaskId": "t1", "correlationId": "a\\nb"}', "control character U+000A"),
        ('{"musicTaskId": "t1", "correlationId": "\\ud800"}', "lone surrogate"),
        ('{"musicTaskId": "t1", "metadata": ' + "[" * 40 + "]" * 40 + "}", "nests deeper than 32"),
        (b'{"musicTaskId": "t1", "metadata": {"a": "\xff"}}', "not valid UTF-8"),
        ('{"musicTaskId": "t1", "metadata": 7}', "'metadata' must be a JSON object, got number"),
    ],
)
def test_what_cannot_be_kept_exactly_is_refused_at_the_door(body: str | bytes, reason: str) -> None:
    with pytest.raises(BadRequestError, match=re.escape(reason)):
        parse_request(body)


def test_numbers_are_kept_as_decimals_of_their_own_digits() -> None:
    request = parse_request('{"musicTaskId": "t1", "metadata": {"bpm": 120.50, "n": 7}}')
    assert request.metadata == {"bpm": Decimal("120.50"), "n": 7}


def test_the_request_field_table_names_every_field_and_each_of_its_keys_is_accepted() -> None:
    assert set(REQUEST_FIELDS) == {f.name for f in dataclasses.fields(CoverRequest)}
    values = {"music_task_id": "t1", "correlation_id": "order-42", "metadata": {"title": "x"}}
    for attribute, keys in REQUEST_FIELDS.items():
        for key in keys:
            body = {"musicTaskId": "t1", key: values[attribute]}
            assert getattr(parse_request(json.dumps(body)), attribute) == values[attribute], key
    request = CoverRequest("t1", "order-42", {"title": "x"})
    assert parse_request(json.dumps(request.to_message())) == request  # what the pipeline sends, it accepts


@settings(max_examples=60)
@given(st.lists(request_bodies(), min_size=6, max_size=6), st.data())
def test_a_batch_of_ten_starts_every_good_request_once_and_parks_every_bad_one_with_its_reason(
    odd: list[str | bytes], data: st.DataObject
) -> None:
    world = World()
    good = [data.draw(good_bodies(f"good-{n}")) for n in range(4)]
    # An SQS body is text; bytes that are not UTF-8 arrive as text holding lone surrogates.
    bodies = [*good, *(b if isinstance(b, str) else b.decode("utf-8", "surrogateescape") for b in odd)]
    order = data.draw(st.permutations(range(len(bodies))))
    batch = [bodies[i] for i in order]

    failed = world.deliver(*batch)

    assert failed == []  # nothing in these bodies is worth a retry
    rejected = {letter.message_id for letter in world.dead_letters.letters}
    assert all(letter.reason for letter in world.dead_letters.letters)
    for position, index in enumerate(order):
        message_id = f"m{position}"
        if index < len(good):
            assert message_id not in rejected
            assert world.vendor.credits_charged[f"good-{index}"] == 1
            assert world.record(f"good-{index}").status == Status.IN_PROGRESS
    for task in list(world.vendor.covers):  # every accepted request: one credit, one terminal event
        assert world.vendor.credits_charged[task] == 1
        assert world.run_workflow(task).terminal
        assert len(world.events.of(task)) == 1


@settings(max_examples=300)
@given(request_bodies())
def test_the_webhook_answers_4xx_never_5xx_to_any_signed_body(body: str | bytes) -> None:
    raw = body if isinstance(body, bytes) else body.encode("utf-8", "surrogatepass")
    queue, dead = FakeRequestQueue(), FakeDeadLetters()
    intake = WebhookIntake(queue, dead, lambda: (WEBHOOK_KEY,), tolerance=300, clock=lambda: 1_000_000.0)
    answer = intake.handle(raw, sign(WEBHOOK_KEY, raw, 1_000_000), "application/json", "req-1")
    assert answer.status in (202, 400, 413)
    if answer.status == 202:
        assert len(queue.bodies) == 1 and not dead.letters
        jsontext.dumps(queue.bodies[0]).encode("utf-8")  # what goes on the queue is valid UTF-8 JSON
    else:
        assert not queue.bodies and answer.body["error"]
