"""The cover record in DynamoDB (one item per music task) and its conditional state changes.

Every status change is a conditional write, so concurrent invocations cannot both win, and a terminal
record never changes again. The generate call is guarded by a *claim*: a conditional write that moves
the record to GENERATING with a token and a lease. Only the holder of a live claim may call the
vendor; a claim whose lease ran out without being released means its holder crashed part way, so the
next holder knows a credit may already be spent (``uncertain``).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from covers_core.errors import AwsTransientError, ClaimBusyError
from covers_core.model import NON_TERMINAL_STATUSES, TERMINAL_STATUSES, CoverRequest, Status

#: How long the vendor keeps image URLs.
IMAGE_RETENTION = timedelta(days=14)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def plain(value: Any) -> Any:
    """DynamoDB's Decimals back to int/float, recursively."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


@dataclass(frozen=True)
class Claim:
    """The caller now holds the right to call generate for this music task."""

    token: str
    uncertain: bool  # an earlier attempt may already have spent the credit


@dataclass(frozen=True)
class Existing:
    """The record exists and is not claimable (IN_PROGRESS or terminal)."""

    record: dict[str, Any]


class CoverStore:
    """Data access for the covers table. ``table`` is a boto3 ``dynamodb.Table``."""

    def __init__(self, table: Any) -> None:
        self.table = table

    # --- reads -----------------------------------------------------------------------------

    def get(self, music_task_id: str) -> dict[str, Any] | None:
        item = self._do(self.table.get_item, Key={"musicTaskId": music_task_id}, ConsistentRead=True)
        return plain(item.get("Item")) if item.get("Item") else None

    # --- the claim -----------------------------------------------------------------------------

    def claim(self, request: CoverRequest, now: datetime, lease_seconds: int) -> Claim | Existing:
        """Claim the music task for a generate call, or say why it cannot be claimed.

        Raises :class:`ClaimBusyError` while another invocation holds a live claim."""
        token = secrets.token_hex(8)
        stamp = iso(now)
        expires = int(now.timestamp()) + lease_seconds
        item: dict[str, Any] = {
            "musicTaskId": request.music_task_id,
            "status": Status.GENERATING.value,
            "claimToken": token,
            "claimExpiresAt": expires,
            "generateAttempts": 1,
            "pollCount": 0,
            "createdAt": stamp,
            "updatedAt": stamp,
        }
        if request.correlation_id:
            item["correlationId"] = request.correlation_id
        if request.metadata:
            item["metadata"] = request.metadata
        if self._conditional(
            self.table.put_item, Item=item, ConditionExpression="attribute_not_exists(musicTaskId)"
        ):
            return Claim(token=token, uncertain=False)

        record = self.get(request.music_task_id)
        if record is None:  # deleted in between by an operator; try once more from scratch
            return self.claim(request, now, lease_seconds)
        status = record.get("status")
        if status == Status.GENERATING:
            expires_at = int(record.get("claimExpiresAt") or 0)
            if expires_at > int(now.timestamp()):
                raise ClaimBusyError(
                    f"music task {request.music_task_id} is being started by another invocation "
                    f"(claim held until {iso(datetime.fromtimestamp(expires_at, UTC))})"
                )
            # A released claim (0) carries its own verdict; a lapsed one means its holder crashed.
            uncertain = bool(record.get("generateUncertain")) or expires_at != 0
        elif status == Status.BLOCKED:
            uncertain = bool(record.get("generateUncertain"))
        else:
            return Existing(record)
        taken = self._conditional(
            self.table.update_item,
            Key={"musicTaskId": request.music_task_id},
            UpdateExpression=(
                "SET #s = :generating, claimToken = :token, claimExpiresAt = :expires, "
                "updatedAt = :now, generateUncertain = :uncertain ADD generateAttempts :one"
            ),
            ConditionExpression=(
                "#s = :old_status AND (claimToken = :old_token OR attribute_not_exists(claimToken))"
            ),
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":generating": Status.GENERATING.value,
                ":token": token,
                ":expires": expires,
                ":now": stamp,
                ":uncertain": uncertain,
                ":one": 1,
                ":old_status": status,
                ":old_token": record.get("claimToken", "-"),
            },
        )
        if not taken:
            raise ClaimBusyError(f"music task {request.music_task_id} was claimed concurrently")
        return Claim(token=token, uncertain=uncertain)

    def release(
        self,
        music_task_id: str,
        token: str,
        *,
        uncertain: bool,
        error: dict[str, str],
        now: datetime,
        count_not_found: bool = False,
    ) -> int:
        """Give the claim back after a generate call that failed; returns the record's not-found count."""
        update = "SET claimExpiresAt = :zero, updatedAt = :now, lastError = :error"
        values: dict[str, Any] = {":zero": 0, ":now": iso(now), ":error": error, ":token": token}
        if uncertain:
            update += ", generateUncertain = :true"
            values[":true"] = True
        if count_not_found:
            update += " ADD notFoundCount :one"
            values[":one"] = 1
        attrs = self._update(
            music_task_id,
            update,
            condition="claimToken = :token",
            values=values,
        )
        return int((attrs or {}).get("notFoundCount") or 0)

    def block(self, music_task_id: str, token: str, error: dict[str, str], now: datetime) -> None:
        """Record that the vendor refused for an operator-fixable reason (401/402); releases the claim."""
        self._update(
            music_task_id,
            "SET #s = :blocked, claimExpiresAt = :zero, updatedAt = :now, lastError = :error",
            condition="claimToken = :token",
            names={"#s": "status"},
            values={
                ":blocked": Status.BLOCKED.value,
                ":zero": 0,
                ":now": iso(now),
                ":error": error,
                ":token": token,
            },
        )

    # --- progress ------------------------------------------------------------------------------

    def record_cover_task(
        self, music_task_id: str, token: str, cover_task_id: str, now: datetime
    ) -> dict[str, Any]:
        """Store the cover task id the moment generate returns it (the status becomes IN_PROGRESS)."""
        values = {
            ":in_progress": Status.IN_PROGRESS.value,
            ":cover": cover_task_id,
            ":now": iso(now),
            ":token": token,
            ":generating": Status.GENERATING.value,
        }
        update = (
            "SET #s = :in_progress, coverTaskId = :cover, generatedAt = :now, updatedAt = :now "
            "REMOVE claimExpiresAt, lastError"
        )
        attrs = self._update(
            music_task_id,
            update,
            names={"#s": "status"},
            values=values,
            condition="#s = :generating AND claimToken = :token",
        )
        if attrs is not None:
            return attrs
        # Our lease lapsed and someone took over, but the vendor gives one cover per task: the id we
        # hold is the real one, so keep it unless another holder already stored one.
        attrs = self._update(
            music_task_id,
            update.replace(" AND claimToken = :token", ""),
            names={"#s": "status"},
            values={k: v for k, v in values.items() if k != ":token"},
            condition="#s = :generating AND attribute_not_exists(coverTaskId)",
        )
        if attrs is None:
            raise AwsTransientError(
                f"could not store cover task {cover_task_id} for music task {music_task_id}: "
                "the record changed under us"
            )
        return attrs

    def record_execution(self, music_task_id: str, execution_arn: str, now: datetime) -> None:
        self._set_while_in_progress(music_task_id, {"executionArn": execution_arn, "updatedAt": iso(now)})

    def record_poll(self, music_task_id: str, poll_count: int, now: datetime) -> None:
        self._set_while_in_progress(
            music_task_id, {"pollCount": poll_count, "lastPolledAt": iso(now), "updatedAt": iso(now)}
        )

    def _set_while_in_progress(self, music_task_id: str, fields: dict[str, Any]) -> None:
        """Progress notes: written only while the record is IN_PROGRESS (never onto a terminal one)."""
        self._update(
            music_task_id,
            "SET " + ", ".join(f"{name} = :{name}" for name in fields),
            condition="#s = :in_progress",
            names={"#s": "status"},
            values={
                **{f":{name}": value for name, value in fields.items()},
                ":in_progress": Status.IN_PROGRESS.value,
            },
        )

    # --- the end ------------------------------------------------------------------------------

    def finish(
        self,
        music_task_id: str,
        status: Status,
        fields: dict[str, Any],
        now: datetime,
        request: CoverRequest | None = None,
    ) -> dict[str, Any] | None:
        """Move a non-terminal record to a terminal status. Returns the new record, or None when the
        record was already terminal (nothing changed)."""
        assert status in TERMINAL_STATUSES
        stamp = iso(now)
        sets = {"status": status.value, "updatedAt": stamp, "completedAt": stamp, **fields}
        names = {f"#f{i}": key for i, key in enumerate(sets)}
        values: dict[str, Any] = {f":v{i}": value for i, value in enumerate(sets.values())}
        expr = "SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(sets)))
        if request is not None:  # the start function may finish a task before it ever had a record
            expr += ", createdAt = if_not_exists(createdAt, :now)"
            values[":now"] = stamp
            for key, value in (("correlationId", request.correlation_id), ("metadata", request.metadata)):
                if value:
                    names[f"#{key}"] = key
                    values[f":{key}"] = value
                    expr += f", #{key} = if_not_exists(#{key}, :{key})"
        names["#status"] = "status"
        values.update({f":ok{i}": s.value for i, s in enumerate(sorted(NON_TERMINAL_STATUSES))})
        allowed = ", ".join(f":ok{i}" for i in range(len(NON_TERMINAL_STATUSES)))
        return self._update(
            music_task_id,
            expr + " REMOVE claimExpiresAt",
            condition=f"attribute_not_exists(musicTaskId) OR #status IN ({allowed})",
            names=names,
            values=values,
        )

    def claim_event(self, music_task_id: str, now: datetime, lease_seconds: int) -> bool:
        """Take the right to publish the terminal event (the record is the outbox)."""
        attrs = self._update(
            music_task_id,
            "SET eventClaimedUntil = :until",
            condition="attribute_not_exists(eventPublishedAt) AND "
            "(attribute_not_exists(eventClaimedUntil) OR eventClaimedUntil < :now)",
            values={":until": int(now.timestamp()) + lease_seconds, ":now": int(now.timestamp())},
        )
        return attrs is not None

    def event_published(self, music_task_id: str, event_id: str, now: datetime) -> None:
        self._update(
            music_task_id,
            "SET eventPublishedAt = :now, eventId = :id REMOVE eventClaimedUntil",
            values={":now": iso(now), ":id": event_id},
        )

    def release_event(self, music_task_id: str) -> None:
        self._update(music_task_id, "REMOVE eventClaimedUntil")

    # --- plumbing ------------------------------------------------------------------------------

    def _update(
        self,
        music_task_id: str,
        expression: str,
        *,
        condition: str | None = None,
        names: dict[str, str] | None = None,
        values: dict[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        kwargs: dict[str, Any] = {
            "Key": {"musicTaskId": music_task_id},
            "UpdateExpression": expression,
            "ReturnValues": "ALL_NEW",
        }
        if condition:
            kwargs["ConditionExpression"] = condition
        if names:
            kwargs["ExpressionAttributeNames"] = names
        if values:
            kwargs["ExpressionAttributeValues"] = values
        result: dict[str, Any] = {}
        if not self._conditional(self.table.update_item, _out=result, **kwargs):
            return None
        return plain(result.get("Attributes", {}))

    def _conditional(self, call: Any, _out: dict[str, Any] | None = None, **kwargs: Any) -> bool:
        """Run a conditional write; False when its condition did not hold."""
        try:
            response = call(**kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise AwsTransientError(f"DynamoDB {exc.response.get('Error', {}).get('Code')}: {exc}") from exc
        except BotoCoreError as exc:
            raise AwsTransientError(f"DynamoDB unreachable: {exc}") from exc
        if _out is not None:
            _out.update(response)
        return True

    def _do(self, call: Any, **kwargs: Any) -> dict[str, Any]:
        try:
            return call(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise AwsTransientError(f"DynamoDB call failed: {exc}") from exc


def images_expire_at(generated_at: str | None, now: datetime) -> str:
    """The vendor keeps image URLs 14 days from generation (counted from when we got the task id)."""
    start = parse_iso(generated_at) if generated_at else now
    return iso(start + IMAGE_RETENTION)
