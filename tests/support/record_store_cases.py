"""The record store's contract, as cases any implementation of ``RecordStore`` must pass.

``tests/integration/test_port_contracts.py`` runs them against the DynamoDB adapter (on a moto table built
from template.yaml) and against the in-memory fake (``covers_local.fakes.MemoryRecordStore``), so the fake
that the unit tests run on cannot drift from DynamoDB's conditional semantics."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from covers_core.domain.claim import Claim, Settled
from covers_core.domain.model import CoverError, CoverRecord, CoverRequest, ImageCopy, Status
from covers_core.domain.outcomes import Ending, Outcome
from covers_core.errors import AwsTransientError, ClaimBusyError, ErrorCode
from covers_core.logic.ports import RecordStore

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
LEASE = 60
REQUEST = CoverRequest("task-1", correlation_id="order-7", metadata={"tenant": "acme", "n": 3})
ERROR = CoverError.of(ErrorCode.VENDOR_UNAVAILABLE, "503")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def comparable(record: CoverRecord | None) -> Any:
    """A record without what is random by design (the claim token: only whether there is one)."""
    if record is None:
        return None
    return replace(record, claim_token="held" if record.claim_token else None)


def case_a_first_claim_creates_the_record(store: RecordStore) -> None:
    claim = store.claim(REQUEST, at(0), LEASE)
    record = store.get("task-1")
    assert record is not None
    assert claim == Claim(token=record.claim_token or "-", uncertain=False)
    assert (record.status, record.generate_attempts, record.claim_expires_at) == (
        Status.GENERATING,
        1,
        int(T0.timestamp()) + LEASE,
    )
    assert (record.correlation_id, dict(record.metadata), record.created_at) == (
        "order-7",
        {"tenant": "acme", "n": 3},
        "2026-11-30T12:00:00.000Z",
    )


def case_a_live_claim_is_busy_and_a_lapsed_one_is_taken_over_uncertain(store: RecordStore) -> None:
    store.claim(REQUEST, at(0), LEASE)
    with pytest.raises(ClaimBusyError):
        store.claim(REQUEST, at(LEASE - 1), LEASE)
    second = store.claim(REQUEST, at(LEASE + 1), LEASE)
    assert isinstance(second, Claim) and second.uncertain  # its holder may have spent the credit
    record = store.get("task-1")
    assert record is not None and record.generate_attempts == 2 and record.generate_uncertain


def case_a_released_claim_carries_its_own_verdict(store: RecordStore) -> None:
    claim = store.claim(REQUEST, at(0), LEASE)
    assert isinstance(claim, Claim)
    assert store.release("task-1", "not-the-token", uncertain=True, error=ERROR, now=at(1)) == 0
    assert (
        store.release("task-1", claim.token, uncertain=False, error=ERROR, now=at(1), count_not_found=True)
        == 1
    )
    record = store.get("task-1")
    assert record is not None and (record.claim_expires_at, record.last_error) == (0, ERROR)
    again = store.claim(REQUEST, at(2), LEASE)  # released, not lapsed: nothing was spent
    assert isinstance(again, Claim) and not again.uncertain
    assert (
        store.release("task-1", again.token, uncertain=True, error=ERROR, now=at(3), count_not_found=True)
        == 2
    )
    third = store.claim(REQUEST, at(4), LEASE)  # the answer was lost: a credit may be spent
    assert isinstance(third, Claim) and third.uncertain


def case_blocked_is_retaken_by_the_next_delivery(store: RecordStore) -> None:
    claim = store.claim(REQUEST, at(0), LEASE)
    assert isinstance(claim, Claim)
    store.block("task-1", claim.token, CoverError.of(ErrorCode.CREDITS_EXHAUSTED, "402"), at(1))
    record = store.get("task-1")
    assert record is not None and record.status == Status.BLOCKED and record.claim_expires_at == 0
    again = store.claim(REQUEST, at(2), LEASE)
    assert isinstance(again, Claim) and not again.uncertain


def case_the_cover_task_id_moves_the_record_to_in_progress_once(store: RecordStore) -> None:
    claim = store.claim(REQUEST, at(0), LEASE)
    assert isinstance(claim, Claim)
    record = store.record_cover_task("task-1", claim.token, "cover-1", at(1))
    assert (record.status, record.cover_task_id, record.generated_at, record.claim_expires_at) == (
        Status.IN_PROGRESS,
        "cover-1",
        "2026-11-30T12:00:01.000Z",
        None,
    )
    with pytest.raises(AwsTransientError):  # not GENERATING any more
        store.record_cover_task("task-1", claim.token, "cover-2", at(2))
    settled = store.claim(REQUEST, at(3), LEASE)
    assert isinstance(settled, Settled) and settled.record.cover_task_id == "cover-1"


def case_a_lapsed_holder_keeps_its_cover_task_id_unless_one_is_stored(store: RecordStore) -> None:
    first = store.claim(REQUEST, at(0), LEASE)
    second = store.claim(REQUEST, at(LEASE + 1), LEASE)
    assert isinstance(first, Claim) and isinstance(second, Claim)
    record = store.record_cover_task("task-1", first.token, "cover-1", at(LEASE + 2))  # the vendor's one id
    assert record.cover_task_id == "cover-1"


def case_the_execution_is_noted_only_while_in_progress(store: RecordStore) -> None:
    claim = store.claim(REQUEST, at(0), LEASE)
    assert isinstance(claim, Claim)
    store.record_execution("task-1", "arn:execution:task-0", at(1))  # GENERATING: ignored
    ignored = store.get("task-1")
    assert ignored is not None and ignored.execution_arn is None
    store.record_cover_task("task-1", claim.token, "cover-1", at(2))
    store.record_execution("task-1", "arn:execution:task-1", at(3))
    record = store.get("task-1")
    assert record is not None
    assert (record.execution_arn, record.updated_at) == ("arn:execution:task-1", "2026-11-30T12:00:03.000Z")
    store.finish("task-1", Ending(Outcome(Status.SUCCEEDED, images=("u",))), at(5))
    store.record_execution("task-1", "arn:execution:task-1.r9", at(6))  # terminal: ignored
    record = store.get("task-1")
    assert record is not None and record.execution_arn == "arn:execution:task-1"
    assert record.updated_at == "2026-11-30T12:00:05.000Z"


def case_finish_wins_once_and_a_terminal_record_never_changes(store: RecordStore) -> None:
    claim = store.claim(REQUEST, at(0), LEASE)
    assert isinstance(claim, Claim)
    store.record_cover_task("task-1", claim.token, "cover-1", at(1))
    copies = (ImageCopy("u1", s3_uri="s3://b/covers/k", size=3, sha256="ab", content_type="image/png"),)
    ending = Ending(
        Outcome(Status.SUCCEEDED, images=("u1",), poll_count=2), "2026-12-14T12:00:01.000Z", copies
    )
    done = store.finish("task-1", ending, at(2))
    assert done is not None
    assert (done.status, done.images, done.archived_images, done.poll_count, done.completed_at) == (
        Status.SUCCEEDED,
        ("u1",),
        copies,
        2,
        "2026-11-30T12:00:02.000Z",
    )
    failed = Ending(Outcome.failed(Status.FAILED, ErrorCode.VENDOR_FAILED, "no"))
    assert store.finish("task-1", failed, at(3)) is None
    assert comparable(store.get("task-1")) == comparable(done)


def case_finish_creates_the_record_of_a_task_that_never_had_one(store: RecordStore) -> None:
    ending = Ending(Outcome.failed(Status.REJECTED, ErrorCode.COVER_ALREADY_EXISTS, "400"))
    record = store.finish("task-1", ending, at(0), request=REQUEST)
    assert record is not None
    assert (record.status, record.created_at, record.correlation_id, dict(record.metadata)) == (
        Status.REJECTED,
        "2026-11-30T12:00:00.000Z",
        "order-7",
        {"tenant": "acme", "n": 3},
    )
    assert record.error == CoverError.of(ErrorCode.COVER_ALREADY_EXISTS, "400")


def case_one_publisher_holds_the_event_until_it_publishes_or_its_lease_ends(store: RecordStore) -> None:
    store.finish("task-1", Ending(Outcome(Status.SUCCEEDED, images=("u",))), at(0), request=REQUEST)
    assert store.claim_event("task-1", at(1), LEASE)
    assert not store.claim_event("task-1", at(2), LEASE)
    assert not store.claim_event("task-1", at(1 + LEASE), LEASE)  # held through its last second
    assert store.claim_event("task-1", at(LEASE + 2), LEASE)  # the first holder died
    store.release_event("task-1")
    assert store.claim_event("task-1", at(LEASE + 3), LEASE)
    store.event_published("task-1", "event-1", at(LEASE + 4))
    assert not store.claim_event("task-1", at(10 * LEASE), LEASE)
    record = store.get("task-1")
    assert record is not None
    assert (record.event_id, record.event_published_at, record.event_claimed_until) == (
        "event-1",
        iso_of(LEASE + 4),
        None,
    )


def case_a_resume_wins_once_and_clears_the_outcome(store: RecordStore) -> None:
    claim = store.claim(REQUEST, at(0), LEASE)
    assert isinstance(claim, Claim)
    store.record_cover_task("task-1", claim.token, "cover-1", at(1))
    timed_out = Ending(Outcome.failed(Status.TIMED_OUT, ErrorCode.DEADLINE_EXCEEDED, "late", 9))
    store.finish("task-1", timed_out, at(2))
    store.claim_event("task-1", at(2), LEASE)
    store.event_published("task-1", "event-1", at(3))
    record = store.get("task-1")
    assert record is not None
    moved = store.resume(record, "cover-1", at(4))
    assert moved is not None
    assert (moved.status, moved.resume_count, moved.poll_count, moved.error, moved.event_published_at) == (
        Status.IN_PROGRESS,
        1,
        0,
        None,
        None,
    )
    assert (moved.generated_at, moved.completed_at, moved.execution_arn) == (iso_of(4), None, None)
    assert store.resume(record, "cover-1", at(5)) is None  # as read before: another resume won


def case_records_are_listed_by_status_since_a_time(store: RecordStore) -> None:
    for n, status in enumerate((Status.REJECTED, Status.FAILED, Status.REJECTED)):
        ending = Ending(Outcome.failed(status, ErrorCode.VENDOR_FAILED, "x"))
        store.finish(f"task-{n}", ending, at(n * 10), request=CoverRequest(f"task-{n}"))
    assert [r.music_task_id for r in store.by_status(Status.REJECTED)] == ["task-0", "task-2"]
    assert [r.music_task_id for r in store.by_status(Status.REJECTED, at(5))] == ["task-2"]


def case_a_record_is_open_from_its_claim_until_its_event_unless_an_operator_must_act(
    store: RecordStore,
) -> None:
    def open_ids(before: float | None = None, limit: int | None = None) -> list[str]:
        return sorted(
            r.music_task_id for r in store.open_records(at(before) if before is not None else None, limit)
        )

    for n, task in enumerate(("a", "b", "c")):
        store.claim(CoverRequest(task), at(n), LEASE)
    assert open_ids() == ["a", "b", "c"] and open_ids(before=1) == ["a", "b"]
    assert len(open_ids(limit=2)) == 2
    store.finish("a", Ending(Outcome(Status.SUCCEEDED, images=("u",))), at(5), event_lease_seconds=LEASE)
    assert open_ids() == ["a", "b", "c"]  # ended, but its event is not sent yet
    store.event_published("a", "e-1", at(6), close=True)
    attention = Ending(Outcome.failed(Status.NEEDS_ATTENTION, ErrorCode.COVER_TASK_ID_LOST, "lost"))
    store.finish("b", attention, at(7))
    store.event_published("b", "e-2", at(8), close=False)  # an operator acts on it: still listed
    assert open_ids() == ["b", "c"]
    assert [r.music_task_id for r in store.by_status(Status.NEEDS_ATTENTION)] == ["b"]
    assert [r.music_task_id for r in store.by_status(Status.SUCCEEDED)] == ["a"]
    store.finish(
        "d",
        Ending(Outcome.failed(Status.REJECTED, ErrorCode.COVER_ALREADY_EXISTS)),
        at(9),
        request=CoverRequest("d"),
    )
    assert "d" in open_ids()  # finished by the start function before its event


def case_touch_marks_a_record_still_in_its_status(store: RecordStore) -> None:
    claim = store.claim(REQUEST, at(0), LEASE)
    assert isinstance(claim, Claim)
    store.block("task-1", claim.token, ERROR, at(1))
    assert store.touch("task-1", Status.BLOCKED, at(5))
    record = store.get("task-1")
    assert record is not None and record.updated_at == iso_of(5)
    assert not store.touch("task-1", Status.GENERATING, at(6)) and not store.touch(
        "nobody", Status.BLOCKED, at(6)
    )


def iso_of(seconds: float) -> str:
    return at(seconds).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


CASES: dict[str, Callable[[RecordStore], None]] = {
    name.removeprefix("case_"): case for name, case in globals().items() if name.startswith("case_")
}


WEIGHTS = (
    ("claim", 3),
    ("release", 2),
    ("block", 1),
    ("cover", 3),
    ("execution", 1),
    ("finish", 1),
    ("event", 2),
    ("published", 1),
    ("unclaim", 1),
    ("resume", 1),
)
OPERATIONS = [name for name, _ in WEIGHTS]


def random_operations(store: RecordStore, seed: int, steps: int = 80) -> list[Any]:
    """A seeded random walk over every write, on three tasks; what each step returned and left stored."""
    rng = random.Random(seed)
    tokens: dict[str, list[str]] = {}
    trace: list[Any] = []
    clock = 0.0
    for _ in range(steps):
        clock += rng.choice((1, 1, 5, LEASE + 1))
        now, task = at(clock), rng.choice(("a", "b", "c"))
        held = tokens.get(task, [])
        token = held[-1] if held and rng.random() < 0.7 else rng.choice([*held, "stranger"])
        operation = rng.choices(OPERATIONS, weights=[weight for _, weight in WEIGHTS])[0]
        try:
            if operation == "claim":
                result: Any = store.claim(CoverRequest(task), now, LEASE)
                if isinstance(result, Claim):
                    tokens.setdefault(task, []).append(result.token)
                    result = ("claim", result.uncertain)
                else:
                    result = ("settled", comparable(result.record))
            elif operation == "release":
                result = store.release(task, token, uncertain=rng.random() < 0.5, error=ERROR, now=now)
            elif operation == "block":
                store.block(task, token, ERROR, now)
                result = None
            elif operation == "cover":
                result = comparable(store.record_cover_task(task, token, f"cover-{task}", now))
            elif operation == "execution":
                store.record_execution(task, f"arn:execution:{task}", now)
                result = None
            elif operation == "finish":
                status = rng.choice((Status.SUCCEEDED, Status.FAILED, Status.TIMED_OUT))
                outcome = (
                    Outcome(status, images=("u",))
                    if status == Status.SUCCEEDED
                    else Outcome.failed(status, ErrorCode.VENDOR_FAILED)
                )
                result = comparable(store.finish(task, Ending(outcome), now))
            elif operation == "event":
                result = store.claim_event(task, now, LEASE) if store.get(task) else None
            elif operation == "published":
                if store.get(task):  # (on a missing item, DynamoDB's UpdateItem would create one)
                    store.event_published(task, "e", now)
                result = None
            elif operation == "unclaim":
                if store.get(task):
                    store.release_event(task)
                result = None
            else:
                record = store.get(task)
                result = comparable(store.resume(record, f"cover-{task}", now)) if record else None
        except (AwsTransientError, ClaimBusyError) as exc:
            result = type(exc).__name__
        trace.append((operation, task, result, comparable(store.get(task))))
    trace.append(sorted(r.music_task_id for r in store.open_records()))
    return trace
