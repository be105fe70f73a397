"""SQS: the cover requests queue (in the body format the start function reads) and its dead-letter queue
(rejected bodies with their reason as a message attribute)."""

from __future__ import annotations

import json
from typing import Any

from covers_core.adapters.aws import aws_call
from covers_core.domain.model import CoverRequest
from covers_core.logic.ports import DeadLetterSink, RequestSink

#: The message attribute that says why a message was rejected as bad input.
REJECT_REASON = "rejectReason"


class RequestQueue(RequestSink):
    """Sends cover requests to the cover requests queue."""

    def __init__(self, sqs: Any, queue_url: str) -> None:
        self.sqs = sqs
        self.queue_url = queue_url

    def send(self, request: CoverRequest) -> str:
        """Queue ``request``; returns the SQS message id."""
        response = aws_call(
            "SQS SendMessage (cover request)",
            self.sqs.send_message,
            QueueUrl=self.queue_url,
            MessageBody=json.dumps(request.to_message()),
        )
        return str(response["MessageId"])


class DeadLetters(DeadLetterSink):
    """Sends rejected message bodies to the dead-letter queue with the reason as a message attribute."""

    def __init__(self, sqs: Any, queue_url: str) -> None:
        self.sqs = sqs
        self.queue_url = queue_url

    def send(self, body: str, reason: str, message_id: str) -> None:
        aws_call(
            "SQS SendMessage (dead letter)",
            self.sqs.send_message,
            QueueUrl=self.queue_url,
            MessageBody=body if body else "(empty)",
            MessageAttributes={
                REJECT_REASON: {"DataType": "String", "StringValue": reason[:1000]},
                "originalMessageId": {"DataType": "String", "StringValue": message_id or "-"},
            },
        )
