"""In-memory implementations of the ports (``covers_core.logic.ports``), for unit tests and simulations.

Each fake honours the semantics of the adapter it stands in for: :class:`MemoryRecordStore` applies the
same conditions as the DynamoDB writes of ``covers_core.adapters.records`` (``tests/integration/
test_port_contracts.py`` runs both through the same cases). Every side effect goes through one
:class:`Journal`, which records it in order and can kill the caller at any step (:class:`Killed` is a
``BaseException``, so code under test cannot catch it with ``except Exception``: it dies as a Lambda
killed by a timeout would), which is how the crash tests visit every point between two writes.
"""

from __future__ import annotations

import itertools
import secrets
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from covers_core.domain import budget
from covers_core.domain import claim as claims
from covers_core.domain.claim import Busy, Claim, Settled
from covers_core.domain.cost import LambdaShare
from covers_core.domain.delivery import SignedUrl
from covers_core.domain.events import detail_type_for, event_detail
from covers_core.domain.first_wait import WINDOW_MINUTES, Counts, Observation, counts_from_item
from covers_core.domain.model import (
    CoverError,
    CoverRecord,
    CoverRequest,
    CoverStatus,
    ImageCopy,
    Status,
    VendorStatus,
    WorkflowInput,
    iso,
)
from covers_core.domain.names import execution_name
from covers_core.domain.outcomes import Ending
from covers_core.errors import AwsTransientError, ClaimBusyError, CoverAlreadyExistsError, VendorError


class Killed(BaseException):
    """The function was killed at this step (timeout, out of memory)."""


class FakeClock:
    """A settable clock: ``now()`` for the code under test, ``advance()`` for the test."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 11, 30, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)

    def epoch(self) -> float:
        return self.current.timestamp()


@dataclass
class Journal:
    """Every side effect the fakes perform, in order (``"store.claim"``, ``"vendor.generate"``, ...).

    ``kill_at``: the step number (0-based, counting every recorded step) at which the caller is killed
    before the step takes effect; ``fail``: step names that raise ``AwsTransientError`` instead."""

    steps: list[str] = field(default_factory=list)
    kill_at: int | None = None
    fail: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def step(self, name: str) -> None:
        with self._lock:
            if self.kill_at is not None and len(self.steps) == self.kill_at:
                self.kill_at = None
                raise Killed(f"killed before {name}")
            self.steps.append(name)
        if name in self.fail:
            raise AwsTransientError(f"{name} failed (injected)")


class MemoryRecordStore:
    """The cover records in a dict, with the conditional semantics of the DynamoDB adapter."""

    def __init__(self, journal: Journal | None = None) -> None:
        self.journal = journal or Journal()
        self.records: dict[str, CoverRecord] = {}
        self.open: set[str] = set()  # what the byOpen index holds
        self._lock = threading.RLock()

    # --- reads -----------------------------------------------------------------------------------

    def get(self, music_task_id: str) -> CoverRecord | None:
        with self._lock:
            return self.records.get(music_task_id)

    def open_records(
        self, created_before: datetime | None = None, limit: int | None = None
    ) -> Iterator[CoverRecord]:
        with self._lock:
            found = [self.records[t] for t in self.open]
        found = [r for r in found if created_before is None or (r.created_at or "") <= iso(created_before)]
        yield from sorted(found, key=lambda r: (r.created_at or "", r.music_task_id))[:limit]

    def by_status(self, status: Status, since: datetime | None = None) -> Iterator[CoverRecord]:
        with self._lock:
            found = [r for r in self.records.values() if r.status == status]
        found = [r for r in found if since is None or (r.updated_at or "") >= iso(since)]
        yield from sorted(found, key=lambda r: r.updated_at or "")

    # --- the claim ---------------------------------------------------------------------------------

    def claim(self, request: CoverRequest, now: datetime, lease_seconds: int) -> Claim | Settled:
        token = secrets.token_hex(8)
        expires = int(now.timestamp()) + lease_seconds
        self.journal.step("store.claim")
        with self._lock:
            record = self.records.get(request.music_task_id)
            if record is None:
                self.records[request.music_task_id] = CoverRecord(
                    music_task_id=request.music_task_id,
                    status=Status.GENERATING,
                    claim_token=token,
                    claim_expires_at=expires,
                    generate_attempts=1,
                    correlation_id=request.correlation_id,
                    metadata=dict(request.metadata),
                    created_at=iso(now),
                    updated_at=iso(now),
                )
                self.open.add(request.music_task_id)
                return Claim(token=token, uncertain=False)
            decision = claims.decide(record, int(now.timestamp()))
            if isinstance(decision, Settled):
                return decision
            if isinstance(decision, Busy):
                raise ClaimBusyError(
                    f"music task {request.music_task_id} is being started by another invocation"
                )
            self.records[request.music_task_id] = replace(
                record,
                status=Status.GENERATING,
                claim_token=token,
                claim_expires_at=expires,
                updated_at=iso(now),
                generate_uncertain=decision.uncertain,
                generate_attempts=record.generate_attempts + 1,
            )
            return Claim(token=token, uncertain=decision.uncertain, budget_charged=decision.budget_charged)

    def release(
        self,
        music_task_id: str,
        token: str,
        *,
        uncertain: bool,
        error: CoverError,
        now: datetime,
        count_not_found: bool = False,
    ) -> int:
        self.journal.step("store.release")
        with self._lock:
            record = self.records.get(music_task_id)
            if record is None or record.claim_token != token:
                return 0
            record = replace(
                record,
                claim_expires_at=0,
                updated_at=iso(now),
                last_error=error,
                generate_uncertain=record.generate_uncertain or uncertain,
                not_found_count=record.not_found_count + (1 if count_not_found else 0),
            )
            self.records[music_task_id] = record
            return record.not_found_count

    def block(
        self,
        music_task_id: str,
        token: str,
        error: CoverError,
        now: datetime,
        status: Status = Status.BLOCKED,
    ) -> None:
        self.journal.step("store.block")
        with self._lock:
            record = self.records.get(music_task_id)
            if record is not None and record.claim_token == token:
                self.records[music_task_id] = replace(
                    record, status=status, claim_expires_at=0, updated_at=iso(now), last_error=error
                )

    def note_budget(self, music_task_id: str, token: str, keys: Sequence[str]) -> bool:
        self.journal.step("store.note_budget")
        with self._lock:
            record = self.records.get(music_task_id)
            if record is None or record.claim_token != token:
                return False
            self.records[music_task_id] = replace(record, budget_charged=tuple(keys))
            return True

    # --- progress ----------------------------------------------------------------------------------

    def record_cover_task(
        self,
        music_task_id: str,
        token: str,
        cover_task_id: str,
        now: datetime,
        *,
        start_lambda: LambdaShare | None = None,
    ) -> CoverRecord:
        self.journal.step("store.record_cover_task")
        with self._lock:
            record = self.records.get(music_task_id)
            ours = record is not None and record.status == Status.GENERATING and record.claim_token == token
            adoptable = record is not None and record.status == Status.GENERATING and not record.cover_task_id
            if record is not None and (record.status, record.cover_task_id) == (
                Status.IN_PROGRESS,
                cover_task_id,
            ):
                return record  # stored already (the vendor gives one cover per task)
            if record is None or not (ours or adoptable):
                raise AwsTransientError(
                    f"could not store cover task {cover_task_id} for music task {music_task_id}: "
                    "the record changed under us"
                )
            record = replace(
                record,
                status=Status.IN_PROGRESS,
                cover_task_id=cover_task_id,
                generated_at=iso(now),
                updated_at=iso(now),
                claim_expires_at=None,
                last_error=None,
                start_lambda=start_lambda if ours else record.start_lambda,
            )
            self.records[music_task_id] = record
            return record

    def adopt(self, music_task_id: str, cover_task_id: str, now: datetime) -> CoverRecord | None:
        self.journal.step("store.adopt")
        with self._lock:
            record = self.records.get(music_task_id)
            if record is None or record.status != Status.GENERATING or record.cover_task_id:
                return record
            record = replace(
                record,
                status=Status.IN_PROGRESS,
                cover_task_id=cover_task_id,
                generated_at=iso(now),
                updated_at=iso(now),
                claim_expires_at=None,
                last_error=None,
            )
            self.records[music_task_id] = record
            return record

    def touch(self, music_task_id: str, status: Status, now: datetime) -> bool:
        self.journal.step("store.touch")
        with self._lock:
            record = self.records.get(music_task_id)
            if record is None or record.status != status:
                return False
            self.records[music_task_id] = replace(record, updated_at=iso(now))
            return True

    def record_execution(self, music_task_id: str, execution_arn: str, now: datetime) -> None:
        self.journal.step("store.record_execution")
        self._while_in_progress(music_task_id, execution_arn=execution_arn, updated_at=iso(now))

    def _while_in_progress(self, music_task_id: str, **changes: Any) -> None:
        with self._lock:
            record = self.records.get(music_task_id)
            if record is not None and record.status == Status.IN_PROGRESS:
                self.records[music_task_id] = replace(record, **changes)

    def resume(self, record: CoverRecord, cover_task_id: str, now: datetime) -> CoverRecord | None:
        self.journal.step("store.resume")
        with self._lock:
            current = self.records.get(record.music_task_id)
            if (
                current is None
                or current.status != record.status
                or current.resume_count != record.resume_count
            ):
                return None
            moved = replace(
                current,
                status=Status.IN_PROGRESS,
                cover_task_id=cover_task_id,
                generated_at=iso(now),
                updated_at=iso(now),
                poll_count=0,
                resume_count=current.resume_count + 1,
                error=None,
                last_error=None,
                completed_at=None,
                event_published_at=None,
                event_id=None,
                event_claimed_until=None,
                execution_arn=None,
                claim_expires_at=None,
            )
            self.records[record.music_task_id] = moved
            return moved

    # --- the end -----------------------------------------------------------------------------------

    def finish(
        self,
        music_task_id: str,
        ending: Ending,
        now: datetime,
        request: CoverRequest | None = None,
        *,
        event_lease_seconds: int | None = None,
    ) -> CoverRecord | None:
        self.journal.step("store.finish")
        with self._lock:
            record = self.records.get(music_task_id)
            if record is not None and record.terminal:
                return None
            if record is None:  # an UpdateItem creates the item
                record = CoverRecord(music_task_id=music_task_id, status=ending.status)
                if request is not None:
                    record = replace(record, created_at=iso(now))
            if request is not None:
                self.open.add(music_task_id)
                record = replace(
                    record,
                    created_at=record.created_at or iso(now),
                    correlation_id=record.correlation_id or request.correlation_id or None,
                    metadata=record.metadata or dict(request.metadata),
                )
            outcome = ending.outcome
            changes: dict[str, Any] = {
                "status": ending.status,
                "updated_at": iso(now),
                "completed_at": iso(now),
                "claim_expires_at": None,
            }
            if outcome.images:
                changes.update(images=tuple(outcome.images), images_expire_at=ending.images_expire_at)
            if ending.archived is not None:
                changes["archived_images"] = tuple(ending.archived)
            if outcome.error is not None:
                changes["error"] = outcome.error
            if outcome.poll_count is not None:
                changes["poll_count"] = outcome.poll_count
            if ending.cost is not None:
                changes["cost"] = ending.cost
            if ending.cover_task_id:
                changes["cover_task_id"] = ending.cover_task_id
            if event_lease_seconds is not None:
                changes["event_claimed_until"] = int(now.timestamp()) + event_lease_seconds
            record = replace(record, **changes)
            self.records[music_task_id] = record
            return record

    def claim_event(self, music_task_id: str, now: datetime, lease_seconds: int) -> bool:
        self.journal.step("store.claim_event")
        with self._lock:
            record = self.records.get(music_task_id) or CoverRecord(music_task_id, Status.GENERATING)
            held = record.event_claimed_until is not None and record.event_claimed_until >= int(
                now.timestamp()
            )
            if record.event_published_at or held:
                return False
            if music_task_id in self.records:
                until = int(now.timestamp()) + lease_seconds
                self.records[music_task_id] = replace(record, event_claimed_until=until)
            return True

    def event_published(
        self, music_task_id: str, event_id: str, now: datetime, *, close: bool = True
    ) -> None:
        self.journal.step("store.event_published")
        with self._lock:
            if close:
                self.open.discard(music_task_id)
            record = self.records.get(music_task_id)
            if record is not None:
                self.records[music_task_id] = replace(
                    record, event_published_at=iso(now), event_id=event_id, event_claimed_until=None
                )

    def release_event(self, music_task_id: str) -> None:
        self.journal.step("store.release_event")
        with self._lock:
            record = self.records.get(music_task_id)
            if record is not None:
                self.records[music_task_id] = replace(record, event_claimed_until=None)


@dataclass
class FakeVendor:
    """The vendor: one cover per music task, one credit per accepted generate, covers ready when the test
    says (``ready``) or at once. ``generate_errors``/``status_errors``: exceptions to raise, in order, per
    task (music task id for generate, cover task id for status) before answering normally."""

    journal: Journal = field(default_factory=Journal)
    ready: set[str] = field(default_factory=set)
    ready_at_once: bool = True
    images: tuple[str, ...] = ("https://img.example/1.png", "https://img.example/2.png")
    generate_errors: dict[str, list[VendorError]] = field(default_factory=dict)
    status_errors: dict[str, list[VendorError]] = field(default_factory=dict)
    covers: dict[str, str] = field(default_factory=dict)  # music task id -> cover task id
    credits_charged: dict[str, int] = field(default_factory=dict)
    status_calls: int = 0
    #: Cover task id -> when it is ready (by ``clock``): the time-based alternative to ``ready``.
    ready_at: dict[str, datetime] = field(default_factory=dict)
    clock: Callable[[], datetime] | None = None
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def generate(self, music_task_id: str) -> str:
        self.journal.step("vendor.generate")
        if self.generate_errors.get(music_task_id):
            raise self.generate_errors[music_task_id].pop(0)
        if music_task_id in self.covers:
            raise CoverAlreadyExistsError(f"POST /v2/cover/generate: 400 a cover exists for {music_task_id}")
        cover_task_id = f"cover{next(self._ids):06d}"
        self.covers[music_task_id] = cover_task_id
        self.credits_charged[music_task_id] = self.credits_charged.get(music_task_id, 0) + 1
        return cover_task_id

    def status(self, cover_task_id: str) -> CoverStatus:
        self.status_calls += 1
        if self.status_errors.get(cover_task_id):
            raise self.status_errors[cover_task_id].pop(0)
        due = self.ready_at.get(cover_task_id)
        if due is not None and self.clock is not None and self.clock() >= due:
            self.ready.add(cover_task_id)
        if self.ready_at_once or cover_task_id in self.ready:
            return CoverStatus(cover_task_id, VendorStatus.SUCCESS, images=self.images)
        return CoverStatus(cover_task_id, VendorStatus.IN_PROGRESS)

    @property
    def credits(self) -> int:
        return sum(self.credits_charged.values())


@dataclass
class FakeWorkflows:
    """Step Functions STANDARD: one execution per name; the same name with the same input while it runs
    is the same execution, and any other reuse of a name is ``ExecutionAlreadyExists`` (which the adapter
    treats as the execution being there)."""

    journal: Journal = field(default_factory=Journal)
    state_machine_arn: str = "arn:aws:states:us-east-1:123456789012:stateMachine:CoverWorkflow"
    executions: dict[str, tuple[WorkflowInput, str]] = field(default_factory=dict)  # name -> (input, status)

    def start(self, execution_input: WorkflowInput, name: str | None = None) -> str:
        self.journal.step("workflow.start")
        name = name or execution_name(execution_input.music_task_id)
        self.executions.setdefault(name, (execution_input, "RUNNING"))
        return self.arn(name)

    def status(self, execution_arn: str) -> str | None:
        name = execution_arn.rsplit(":", 1)[-1]
        found = self.executions.get(name)
        return found[1] if found else None

    def end(self, name: str, status: str = "SUCCEEDED") -> None:
        self.executions[name] = (self.executions[name][0], status)

    def arn(self, name: str) -> str:
        return self.state_machine_arn.replace(":stateMachine:", ":execution:", 1) + ":" + name


@dataclass
class FakeEventBus:
    """The covers bus: what was published, as (detail-type, detail)."""

    journal: Journal = field(default_factory=Journal)
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def publish(self, record: CoverRecord) -> str:
        self.journal.step("events.publish")
        self.events.append((detail_type_for(record.status), event_detail(record)))
        return f"event-{next(self._ids)}"

    def of(self, music_task_id: str) -> list[dict[str, Any]]:
        return [detail for _, detail in self.events if detail["musicTaskId"] == music_task_id]


@dataclass
class FakeRequestQueue:
    """The cover requests queue: the message bodies sent."""

    journal: Journal = field(default_factory=Journal)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    #: The ``coverTaskId`` attribute of each message (None for a plain request).
    adoptions: list[str | None] = field(default_factory=list)

    def send(self, request: CoverRequest, *, cover_task_id: str | None = None, delay_seconds: int = 0) -> str:
        self.journal.step("requests.send")
        self.bodies.append(request.to_message())
        self.adoptions.append(cover_task_id)
        return f"message-{len(self.bodies)}"


@dataclass(frozen=True)
class DeadLetter:
    body: str | bytes
    reason: str
    message_id: str
    cover_task_id: str | None = None
    retryable: bool = False


@dataclass
class FakeDeadLetters:
    """The dead-letter queue: rejected bodies with their reason."""

    journal: Journal = field(default_factory=Journal)
    letters: list[DeadLetter] = field(default_factory=list)

    def send(
        self,
        body: str | bytes,
        reason: str,
        message_id: str,
        *,
        cover_task_id: str | None = None,
        retryable: bool = False,
    ) -> None:
        self.journal.step("dead_letters.send")
        self.letters.append(DeadLetter(body, reason, message_id, cover_task_id, retryable))


@dataclass
class MemoryLearnedWaits:
    """What recent covers taught the poll schedule, per key and minute, in memory."""

    minutes: dict[tuple[str, int], Counts] = field(default_factory=dict)

    def observe(self, keys: Sequence[str], observation: Observation, now: datetime) -> None:
        minute = int(now.timestamp()) // 60
        for key in keys:
            self.minutes.setdefault((key, minute), Counts()).add(counts_from_item(observation.fields()))

    def recent(self, key: str, now: datetime) -> list[Counts]:
        minute = int(now.timestamp()) // 60
        return [self.minutes.get((key, m)) or Counts() for m in range(minute, minute - WINDOW_MINUTES, -1)]


class MemoryBudgets:
    """The credit budgets' counters and caps in memory, with the DynamoDB adapter's conditions
    (``adapters/budgets.py``): a take adds to the month and the day only if both are under their caps,
    atomically (one lock stands for the one conditional write)."""

    def __init__(self, journal: Journal | None = None) -> None:
        self.journal = journal or Journal()
        self.items: dict[str, dict[str, int]] = {}
        self.caps: dict[str, dict[str, int]] = {}
        self._lock = threading.Lock()

    def override(self, scope: str) -> dict[str, int] | None:
        with self._lock:
            found = self.caps.get(budget.caps_item(scope))
            return dict(found) if found is not None else None

    def set_caps(self, scope: str, *, day: int | None = None, month: int | None = None) -> None:
        with self._lock:
            item = self.caps.setdefault(budget.caps_item(scope), {})
            item.update({k: v for k, v in (("day", day), ("month", month)) if v is not None})

    def take(self, counter: budget.Counter, caps: budget.Caps) -> bool:
        self.journal.step("budgets.take")
        with self._lock:
            item = self.items.setdefault(counter.item, {})
            for attribute, cap in (("m", caps.month), (counter.day, caps.day)):
                if cap and attribute in item and item[attribute] >= cap:
                    return False
            item["m"] = item.get("m", 0) + 1
            item[counter.day] = item.get(counter.day, 0) + 1
            return True

    def give_back(self, counter: budget.Counter) -> None:
        self.journal.step("budgets.give_back")
        with self._lock:
            item = self.items.get(counter.item)
            if item is not None and item.get("m", 0) > 0 and item.get(counter.day, 0) > 0:
                item["m"] -= 1
                item[counter.day] -= 1

    def usage(self, counter: budget.Counter) -> budget.Usage:
        with self._lock:
            item = self.items.get(counter.item, {})
            return budget.Usage(day=item.get(counter.day, 0), month=item.get("m", 0))


@dataclass
class FakeArchiver:
    """Archives every image (``failing``: URLs whose copy fails with that error)."""

    journal: Journal = field(default_factory=Journal)
    failing: Mapping[str, str] = field(default_factory=dict)

    def archive_all(self, music_task_id: str, urls: tuple[str, ...]) -> tuple[ImageCopy, ...]:
        self.journal.step("archive.archive_all")
        return tuple(
            ImageCopy(url=u, error=self.failing[u])
            if u in self.failing
            else ImageCopy(
                url=u, s3_uri=f"s3://archive/covers/{music_task_id}/{i}.png", size=1, sha256="0" * 64
            )
            for i, u in enumerate(urls)
        )


def constant(value: int) -> Callable[[], int]:
    """A first-wait provider that always answers ``value``."""
    return lambda: value


class FakeUrlSigner:
    """Presigned URLs that name the object and its life; each signing is listed in ``signed``."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.signed: list[tuple[str, str, int]] = []

    def presign_get(self, bucket: str, key: str, seconds: int) -> SignedUrl:
        self.signed.append((bucket, key, seconds))
        url = f"https://{bucket}.s3.example/{key}?X-Amz-Expires={seconds}&X-Amz-Signature=fake"
        return SignedUrl(url, self.clock.now() + timedelta(seconds=seconds))
