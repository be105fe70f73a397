"""One SQS batch for the start function: what each record's fate is, and batch-wide state.

* A bad message is moved to the dead-letter queue at once with its reason (no pointless retries) and
  reported as handled; if that move fails it is reported failed and SQS's redrive policy moves it.
* After the first 401/402 the rest of the batch is parked as BLOCKED without calling the vendor.
* Near the end of the invocation's time, the remaining records are left on the queue untouched.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from covers_core.errors import AwsTransientError, BadRequestError, RetryLaterError, VendorBlockedError
from covers_core.model import CoverRequest, parse_request
from covers_core.starter import CoverStarter, StartResult

log = logging.getLogger(__name__)


class RequestQueue:
    """Sends cover requests to the cover requests queue, in the body format the start function reads."""

    def __init__(self, sqs: Any, queue_url: str) -> None:
        self.sqs = sqs
        self.queue_url = queue_url

    def send(self, request: CoverRequest) -> str:
        """Queue ``request``; returns the SQS message id."""
        try:
            response = self.sqs.send_message(
                QueueUrl=self.queue_url, MessageBody=json.dumps(request.to_message())
            )
        except (ClientError, BotoCoreError) as exc:
            raise AwsTransientError(f"could not queue the cover request: {exc}") from exc
        return str(response["MessageId"])


class DeadLetters:
    """Sends rejected message bodies to the dead-letter queue with the reason as a message attribute."""

    def __init__(self, sqs: Any, queue_url: str) -> None:
        self.sqs = sqs
        self.queue_url = queue_url

    def send(self, body: str, reason: str, message_id: str) -> None:
        try:
            self.sqs.send_message(
                QueueUrl=self.queue_url,
                MessageBody=body if body else "(empty)",
                MessageAttributes={
                    "rejectReason": {"DataType": "String", "StringValue": reason[:1000]},
                    "originalMessageId": {"DataType": "String", "StringValue": message_id or "-"},
                },
            )
        except (ClientError, BotoCoreError) as exc:
            raise AwsTransientError(f"could not move the bad message to the DLQ: {exc}") from exc


class StartBatch:
    """Per-invocation state; ``handle`` is the record handler given to Powertools' BatchProcessor."""

    def __init__(
        self,
        starter: CoverStarter,
        dead_letters: DeadLetters | None,
        *,
        annotate: Callable[[CoverRequest | None], None] = lambda _: None,
        time_left: Callable[[], float] = lambda: float("inf"),
        reserve_seconds: float = 0.0,
    ) -> None:
        self.starter = starter
        self.dead_letters = dead_letters
        # A generate call cut off by the Lambda timeout leaves its credit in doubt: start none that
        # might not finish (``time_left`` seconds remain; a vendor call may take ``reserve_seconds``).
        self.time_left = time_left
        self.reserve_seconds = reserve_seconds
        self.annotate = annotate  # puts the music task id on the log lines of this record
        self.blocked: VendorBlockedError | None = None
        self.results: list[StartResult] = []
        self.bad_messages = 0

    def handle(self, message_id: str, body: str) -> StartResult | None:
        self.annotate(None)
        try:
            request = parse_request(body)
        except BadRequestError as exc:
            self.bad_messages += 1
            log.error(
                "rejected message %s: %s",
                message_id,
                exc.message,
                extra={"messageId": message_id, "reason": exc.message, "bodyBytes": len(body or "")},
            )
            if self.dead_letters is None:
                raise
            self.dead_letters.send(body, exc.message, message_id)
            return None
        self.annotate(request)
        left = self.time_left()
        if left < self.reserve_seconds:
            raise RetryLaterError(
                f"only {left:.0f}s left in this invocation and a vendor call may take "
                f"{self.reserve_seconds:.0f}s: leaving the message for a later delivery"
            )
        try:
            result = self.starter.start(request, blocked=self.blocked)
        except VendorBlockedError as exc:
            if self.blocked is None:
                self.blocked = exc
                log.error(
                    "vendor refused (%s): %s; parking the rest of this batch as BLOCKED",
                    exc.code,
                    exc.message,
                    extra={"musicTaskId": request.music_task_id},
                )
            raise
        self.results.append(result)
        return result
