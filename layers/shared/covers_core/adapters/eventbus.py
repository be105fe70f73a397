"""EventBridge: PutEvents of a terminal record's event to the covers bus."""

from __future__ import annotations

from typing import Any

from covers_core.adapters.aws import aws_call
from covers_core.domain import jsontext
from covers_core.domain.events import NO_DELIVERY, DeliveryUrls, detail_type_for, event_detail
from covers_core.domain.model import CoverRecord
from covers_core.errors import AwsTransientError
from covers_core.logic.ports import EventBus


class EventPublisher(EventBus):
    """``client`` is a boto3 ``events`` client; ``urls`` where archived images are served from."""

    def __init__(self, client: Any, bus_name: str, source: str, urls: DeliveryUrls = NO_DELIVERY) -> None:
        self.client = client
        self.bus_name = bus_name
        self.source = source
        self.urls = urls

    def publish(self, record: CoverRecord) -> str:
        """Send the terminal event for ``record``; returns the EventBridge event id."""
        entry = {
            "Source": self.source,
            "DetailType": detail_type_for(record.status),
            "Detail": jsontext.dumps(event_detail(record, self.urls)),
            "EventBusName": self.bus_name,
            "Resources": [record.execution_arn] if record.execution_arn else [],
        }
        response = aws_call("EventBridge PutEvents", self.client.put_events, Entries=[entry])
        result = (response.get("Entries") or [{}])[0]
        if response.get("FailedEntryCount") or not result.get("EventId"):
            raise AwsTransientError(
                f"EventBridge refused the event: {result.get('ErrorCode')} {result.get('ErrorMessage')}"
            )
        return str(result["EventId"])
