"""SQS: the cover requests queue (in the body format the start function reads) and its dead-letter queue
(rejected bodies with their reason as a message attribute)."""

from __future__ import annotations

from typing import Any

from covers_core.adapters.aws import aws_call
from covers_core.domain import jsontext
from covers_core.domain.model import CoverRequest
from covers_core.domain.requests import COVER_TASK_ID_ATTRIBUTE
from covers_core.logic.ports import DeadLetterSink, RequestSink

#: The message attribute that says why a message was rejected as bad input.
REJECT_REASON = "rejectReason"


class RequestQueue(RequestSink):
    """Sends cover requests to the cover requests queue."""

    def __init__(self, sqs: Any, queue_url: str) -> None:
        self.sqs = sqs
        self.queue_url = queue_url

    def send(self, request: CoverRequest, *, cover_task_id: str | None = None, delay_seconds: int = 0) -> str:
        """Queue ``request``; returns the SQS message id. ``cover_task_id`` goes in the message attribute
        ``coverTaskId`` (an adoption: see ``covers_core.logic.start``)."""
        extra: dict[str, Any] = {}
        if cover_task_id:
            extra["MessageAttributes"] = {
                COVER_TASK_ID_ATTRIBUTE: {"DataType": "String", "StringValue": cover_task_id}
            }
        response = aws_call(
            "SQS SendMessage (cover request)",
            self.sqs.send_message,
            QueueUrl=self.queue_url,
            MessageBody=jsontext.dumps(request.to_message()),
            DelaySeconds=delay_seconds,
            **extra,
        )
        return str(response["MessageId"])


class DeadLetters(DeadLetterSink):
    """Sends rejected message bodies to the dead-letter queue with the reason as a message attribute."""

    def __init__(self, sqs: Any, queue_url: str) -> None:
        self.sqs = sqs
        self.queue_url = queue_url

    def send(self, body: str, reason: str, message_id: str, *, cover_task_id: str | None = None) -> None:
        attributes = {
            REJECT_REASON: {"DataType": "String", "StringValue": reason[:1000]},
            "originalMessageId": {"DataType": "String", "StringValue": message_id or "-"},
        }
        if cover_task_id:
            attributes[COVER_TASK_ID_ATTRIBUTE] = {"DataType": "String", "StringValue": cover_task_id}
        aws_call(
            "SQS SendMessage (dead letter)",
            self.sqs.send_message,
            QueueUrl=self.queue_url,
            MessageBody=body if body else "(empty)",
            MessageAttributes=attributes,
        )
