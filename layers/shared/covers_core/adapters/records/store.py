"""The cover record's writes: every status change is a conditional UpdateItem or PutItem, so concurrent
invocations cannot both win, and a terminal record never changes again (but by an operator's resume).
Which changes are allowed is decided in ``covers_core.domain`` (``claim.decide``, the outcomes); this
module carries them out. (Reads: ``listing.py``; how a record is stored: ``items.py``.)"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from covers_core.adapters.aws import CONDITION_FAILED, aws_call
from covers_core.adapters.records.items import (
    A,
    ending_item,
    metadata_item,
    open_shard,
    record_from_item,
    share_item,
)
from covers_core.adapters.records.listing import RecordReads
from covers_core.domain import claim as claims
from covers_core.domain.claim import Busy, Claim, Settled
from covers_core.domain.cost import LambdaShare
from covers_core.domain.model import NON_TERMINAL_STATUSES, CoverError, CoverRecord, CoverRequest, Status, iso
from covers_core.domain.outcomes import Ending
from covers_core.errors import AwsTransientError, ClaimBusyError
from covers_core.logic.ports import RecordStore


class CoverStore(RecordReads, RecordStore):
    """Data access for the covers table. ``table`` is a boto3 ``dynamodb.Table``."""

    def __init__(self, table: Any) -> None:
        self.table = table

    # --- the claim -----------------------------------------------------------------------------

    def claim(self, request: CoverRequest, now: datetime, lease_seconds: int) -> Claim | Settled:
        """Claim the music task for a generate call, or return the record that makes it unclaimable.

        Raises :class:`ClaimBusyError` while another invocation holds a live claim."""
        token = secrets.token_hex(8)
        stamp = iso(now)
        expires = int(now.timestamp()) + lease_seconds
        item: dict[str, Any] = {
            A.MUSIC_TASK_ID: request.music_task_id,
            A.STATUS: Status.GENERATING.value,
            A.CLAIM_TOKEN: token,
            A.CLAIM_EXPIRES_AT: expires,
            A.GENERATE_ATTEMPTS: 1,
            A.POLL_COUNT: 0,
            A.CREATED_AT: stamp,
            A.UPDATED_AT: stamp,
            A.OPEN_SHARD: open_shard(request.music_task_id),
        }
        if request.correlation_id:
            item[A.CORRELATION_ID] = request.correlation_id
        if request.metadata:
            item[A.METADATA] = metadata_item(request.metadata)
        created = aws_call(
            "DynamoDB PutItem",
            self.table.put_item,
            tolerate={CONDITION_FAILED},
            Item=item,
            ConditionExpression=f"attribute_not_exists({A.MUSIC_TASK_ID})",
        )
        if created is not None:
            return Claim(token=token, uncertain=False)

        record = self.get(request.music_task_id)
        if record is None:  # deleted in between by an operator; try once more from scratch
            return self.claim(request, now, lease_seconds)
        decision = claims.decide(record, int(now.timestamp()))
        if isinstance(decision, Settled):
            return decision
        if isinstance(decision, Busy):
            raise ClaimBusyError(
                f"music task {request.music_task_id} is being started by another invocation "
                f"(claim held until {iso(datetime.fromtimestamp(decision.until, UTC))})"
            )
        taken = self._update(
            request.music_task_id,
            f"SET #s = :generating, {A.CLAIM_TOKEN} = :token, {A.CLAIM_EXPIRES_AT} = :expires, "
            f"{A.UPDATED_AT} = :now, {A.GENERATE_UNCERTAIN} = :uncertain ADD {A.GENERATE_ATTEMPTS} :one",
            condition=f"#s = :old_status AND ({A.CLAIM_TOKEN} = :old_token "
            f"OR attribute_not_exists({A.CLAIM_TOKEN}))",
            values={
                ":generating": Status.GENERATING.value,
                ":token": token,
                ":expires": expires,
                ":now": stamp,
                ":uncertain": decision.uncertain,
                ":one": 1,
                ":old_status": record.status.value,
                ":old_token": record.claim_token or "-",
            },
        )
        if taken is None:
            raise ClaimBusyError(f"music task {request.music_task_id} was claimed concurrently")
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
        """Give the claim back after a generate call that failed; returns the record's not-found count."""
        update = f"SET {A.CLAIM_EXPIRES_AT} = :zero, {A.UPDATED_AT} = :now, {A.LAST_ERROR} = :error"
        values: dict[str, Any] = {":zero": 0, ":now": iso(now), ":error": error.as_dict(), ":token": token}
        if uncertain:
            update += f", {A.GENERATE_UNCERTAIN} = :true"
            values[":true"] = True
        if count_not_found:
            update += f" ADD {A.NOT_FOUND_COUNT} :one"
            values[":one"] = 1
        record = self._update(music_task_id, update, condition=f"{A.CLAIM_TOKEN} = :token", values=values)
        return record.not_found_count if record else 0

    def block(
        self,
        music_task_id: str,
        token: str,
        error: CoverError,
        now: datetime,
        status: Status = Status.BLOCKED,
    ) -> None:
        """Record that the vendor refused for an operator-fixable reason (401/402), or that a credit budget
        did (``status`` BUDGET_EXCEEDED); releases the claim."""
        self._update(
            music_task_id,
            f"SET #s = :blocked, {A.CLAIM_EXPIRES_AT} = :zero, {A.UPDATED_AT} = :now, "
            f"{A.LAST_ERROR} = :error",
            condition=f"{A.CLAIM_TOKEN} = :token",
            values={
                ":blocked": status.value,
                ":zero": 0,
                ":now": iso(now),
                ":error": error.as_dict(),
                ":token": token,
            },
        )

    def note_budget(self, music_task_id: str, token: str, keys: Sequence[str]) -> bool:
        """Note the budget units the holder of ``token`` took (``()``: given back)."""
        if keys:
            expression, values = f"SET {A.BUDGET_CHARGED} = :keys", {":keys": list(keys), ":token": token}
        else:
            expression, values = f"REMOVE {A.BUDGET_CHARGED}", {":token": token}
        noted = self._update(music_task_id, expression, condition=f"{A.CLAIM_TOKEN} = :token", values=values)
        return noted is not None

    # --- progress ------------------------------------------------------------------------------

    def record_cover_task(
        self,
        music_task_id: str,
        token: str,
        cover_task_id: str,
        now: datetime,
        *,
        start_lambda: LambdaShare | None = None,
    ) -> CoverRecord:
        """Store the cover task id the moment generate returns it (the status becomes IN_PROGRESS), with
        the start's share of its batch's billed time (in the same write)."""
        update, values = self._in_progress_update, self._in_progress_values(cover_task_id, now)
        if start_lambda is not None:
            update = update.replace(" REMOVE", f", {A.START_LAMBDA} = :start_lambda REMOVE", 1)
            values[":start_lambda"] = share_item(start_lambda)
        record = self._update(
            music_task_id,
            update,
            values=values | {":token": token},
            condition=f"#s = :generating AND {A.CLAIM_TOKEN} = :token",
        )
        if record is not None:
            return record
        # Our lease lapsed and someone took over, but the vendor gives one cover per task: the id we
        # hold is the real one, so keep it unless another holder already stored one.
        record = self.adopt(music_task_id, cover_task_id, now)
        if record is None or (record.status, record.cover_task_id) != (Status.IN_PROGRESS, cover_task_id):
            raise AwsTransientError(
                f"could not store cover task {cover_task_id} for music task {music_task_id}: "
                "the record changed under us"
            )
        return record

    def adopt(self, music_task_id: str, cover_task_id: str, now: datetime) -> CoverRecord | None:
        """GENERATING without a cover task id -> IN_PROGRESS with ``cover_task_id``, whoever holds the
        claim (the id came back from the vendor; a write that failed sent it on). Returns the record as it
        now stands (holding another id, or already past GENERATING), or None when there is none."""
        record = self._update(
            music_task_id,
            self._in_progress_update,
            values=self._in_progress_values(cover_task_id, now),
            condition=f"#s = :generating AND attribute_not_exists({A.COVER_TASK_ID})",
        )
        return record if record is not None else self.get(music_task_id)

    _in_progress_update = (
        f"SET #s = :in_progress, {A.COVER_TASK_ID} = :cover, {A.GENERATED_AT} = :now, "
        f"{A.UPDATED_AT} = :now REMOVE {A.CLAIM_EXPIRES_AT}, {A.LAST_ERROR}"
    )

    @staticmethod
    def _in_progress_values(cover_task_id: str, now: datetime) -> dict[str, Any]:
        return {
            ":in_progress": Status.IN_PROGRESS.value,
            ":cover": cover_task_id,
            ":now": iso(now),
            ":generating": Status.GENERATING.value,
        }

    def touch(self, music_task_id: str, status: Status, now: datetime) -> bool:
        record = self._update(
            music_task_id,
            f"SET {A.UPDATED_AT} = :now",
            condition="#s = :status",
            values={":now": iso(now), ":status": status.value},
        )
        return record is not None

    def record_execution(self, music_task_id: str, execution_arn: str, now: datetime) -> None:
        self._set_while_in_progress(music_task_id, {A.EXECUTION_ARN: execution_arn, A.UPDATED_AT: iso(now)})

    def _set_while_in_progress(self, music_task_id: str, fields: dict[str, Any]) -> None:
        """Progress notes: written only while the record is IN_PROGRESS (never onto a terminal one)."""
        self._update(
            music_task_id,
            "SET " + ", ".join(f"{name} = :{name}" for name in fields),
            condition="#s = :in_progress",
            values={
                **{f":{name}": value for name, value in fields.items()},
                ":in_progress": Status.IN_PROGRESS.value,
            },
        )

    # --- an operator's resume ---------------------------------------------------------------------

    def resume(self, record: CoverRecord, cover_task_id: str, now: datetime) -> CoverRecord | None:
        """Move a resumable ``record`` back to IN_PROGRESS for a new workflow run (``domain/resume.py``
        decided it may): counts the resume, sets the cover task id and a new ``generatedAt`` (the
        deadline restarts), and clears the outcome (error, completion, event bookkeeping, execution).
        Conditional on the record being as read (status and resume count): of two concurrent resumes
        exactly one wins; returns None for the other."""
        cleared = (
            A.ERROR,
            A.LAST_ERROR,
            A.COMPLETED_AT,
            A.EVENT_PUBLISHED_AT,
            A.EVENT_ID,
            A.EVENT_CLAIMED_UNTIL,
            A.EXECUTION_ARN,
            A.CLAIM_EXPIRES_AT,
        )
        return self._update(
            record.music_task_id,
            f"SET #s = :in_progress, {A.COVER_TASK_ID} = :cover, {A.GENERATED_AT} = :now, "
            f"{A.UPDATED_AT} = :now, {A.POLL_COUNT} = :zero, {A.RESUME_COUNT} = :next "
            "REMOVE " + ", ".join(f"#r{i}" for i in range(len(cleared))),
            names={f"#r{i}": name for i, name in enumerate(cleared)},
            condition=f"#s = :old AND (attribute_not_exists({A.RESUME_COUNT}) OR {A.RESUME_COUNT} = :count)",
            values={
                ":in_progress": Status.IN_PROGRESS.value,
                ":cover": cover_task_id,
                ":now": iso(now),
                ":zero": 0,
                ":next": record.resume_count + 1,
                ":old": record.status.value,
                ":count": record.resume_count,
            },
        )

    # --- the end ------------------------------------------------------------------------------

    def finish(
        self,
        music_task_id: str,
        ending: Ending,
        now: datetime,
        request: CoverRequest | None = None,
        *,
        event_lease_seconds: int | None = None,
    ) -> CoverRecord | None:
        """Move a non-terminal (or missing) record to ``ending``'s terminal status (taking the right to
        publish its event for ``event_lease_seconds``). Returns the new record, or None when the record
        was already terminal."""
        stamp = iso(now)
        sets = {
            A.STATUS: ending.status.value,
            A.UPDATED_AT: stamp,
            A.COMPLETED_AT: stamp,
            **ending_item(ending),
        }
        if event_lease_seconds is not None:
            sets[A.EVENT_CLAIMED_UNTIL] = int(now.timestamp()) + event_lease_seconds
        names = {f"#f{i}": key for i, key in enumerate(sets)}
        values: dict[str, Any] = {f":v{i}": value for i, value in enumerate(sets.values())}
        expr = "SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(sets)))
        if request is not None:  # the start function may finish a task before it ever had a record
            expr += f", {A.CREATED_AT} = if_not_exists({A.CREATED_AT}, :now)"
            expr += f", {A.OPEN_SHARD} = if_not_exists({A.OPEN_SHARD}, :shard)"
            values[":now"] = stamp
            values[":shard"] = open_shard(music_task_id)
            for key, value in ((A.CORRELATION_ID, request.correlation_id), (A.METADATA, request.metadata)):
                if value:
                    names[f"#{key}"] = key
                    values[f":{key}"] = metadata_item(value) if isinstance(value, Mapping) else value
                    expr += f", #{key} = if_not_exists(#{key}, :{key})"
        values.update({f":ok{i}": s.value for i, s in enumerate(sorted(NON_TERMINAL_STATUSES))})
        allowed = ", ".join(f":ok{i}" for i in range(len(NON_TERMINAL_STATUSES)))
        return self._update(
            music_task_id,
            expr + f" REMOVE {A.CLAIM_EXPIRES_AT}",
            condition=f"attribute_not_exists({A.MUSIC_TASK_ID}) OR #s IN ({allowed})",
            names=names,
            values=values,
        )

    def claim_event(self, music_task_id: str, now: datetime, lease_seconds: int) -> bool:
        """Take the right to publish the terminal event (the record is the outbox)."""
        record = self._update(
            music_task_id,
            f"SET {A.EVENT_CLAIMED_UNTIL} = :until",
            condition=f"attribute_not_exists({A.EVENT_PUBLISHED_AT}) AND "
            f"(attribute_not_exists({A.EVENT_CLAIMED_UNTIL}) OR {A.EVENT_CLAIMED_UNTIL} < :now)",
            values={":until": int(now.timestamp()) + lease_seconds, ":now": int(now.timestamp())},
        )
        return record is not None

    def event_published(
        self, music_task_id: str, event_id: str, now: datetime, *, close: bool = True
    ) -> None:
        """Mark the terminal event sent; ``close``: the record leaves the open index (not for the statuses
        an operator acts on)."""
        closing = f", {A.OPEN_SHARD}" if close else ""
        self._update(
            music_task_id,
            f"SET {A.EVENT_PUBLISHED_AT} = :now, {A.EVENT_ID} = :id REMOVE {A.EVENT_CLAIMED_UNTIL}{closing}",
            values={":now": iso(now), ":id": event_id},
        )

    def release_event(self, music_task_id: str) -> None:
        self._update(music_task_id, f"REMOVE {A.EVENT_CLAIMED_UNTIL}")

    # --- plumbing ------------------------------------------------------------------------------

    def _update(
        self,
        music_task_id: str,
        expression: str,
        *,
        condition: str | None = None,
        names: dict[str, str] | None = None,
        values: dict[str, Any] | None = None,
    ) -> CoverRecord | None:
        """One UpdateItem; returns the record as it now stands, or None when ``condition`` did not hold."""
        kwargs: dict[str, Any] = {
            "Key": {A.MUSIC_TASK_ID: music_task_id},
            "UpdateExpression": expression,
            "ReturnValues": "ALL_NEW",
        }
        names = dict(names or {})
        if "#s" in expression or (condition and "#s" in condition):
            names["#s"] = A.STATUS
        if condition:
            kwargs["ConditionExpression"] = condition
        if names:
            kwargs["ExpressionAttributeNames"] = names
        if values:
            kwargs["ExpressionAttributeValues"] = values
        response = aws_call(
            "DynamoDB UpdateItem", self.table.update_item, tolerate={CONDITION_FAILED}, **kwargs
        )
        if response is None:
            return None
        return record_from_item(response["Attributes"])
