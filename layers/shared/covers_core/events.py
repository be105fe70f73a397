"""The two events the pipeline emits on its EventBridge bus (schemas in ``events/schemas/``)."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from covers_core.errors import AwsTransientError
from covers_core.model import Status

COVER_GENERATED = "Cover Generated"
COVER_GENERATION_FAILED = "Cover Generation Failed"
DEFAULT_SOURCE = "covers.pipeline"


def detail_type_for(status: str) -> str:
    return COVER_GENERATED if status == Status.SUCCEEDED else COVER_GENERATION_FAILED


def event_detail(record: dict[str, Any]) -> dict[str, Any]:
    """The event detail for a terminal record."""
    expires = record.get("imagesExpireAt")
    archived = {a.get("url"): a for a in record.get("archivedImages") or []}
    images = []
    for url in record.get("images") or []:
        image: dict[str, Any] = {"url": url, "expiresAt": expires}
        copy = archived.get(url)
        if copy and copy.get("s3Uri"):
            image.update(
                s3Uri=copy["s3Uri"],
                sha256=copy.get("sha256"),
                size=copy.get("size"),
                contentType=copy.get("contentType"),
            )
        elif copy and copy.get("error"):
            image["archiveError"] = copy["error"]
        images.append(image)
    detail: dict[str, Any] = {
        "musicTaskId": record["musicTaskId"],
        "coverTaskId": record.get("coverTaskId"),
        "status": record["status"],
        "images": images,
        "correlationId": record.get("correlationId"),
        "metadata": record.get("metadata") or {},
        "pollCount": int(record.get("pollCount") or 0),
        "createdAt": record.get("createdAt"),
        "completedAt": record.get("completedAt"),
    }
    if record.get("error"):
        detail["error"] = record["error"]
    return detail


class EventPublisher:
    """PutEvents to the covers bus. ``client`` is a boto3 ``events`` client."""

    def __init__(self, client: Any, bus_name: str, source: str = DEFAULT_SOURCE) -> None:
        self.client = client
        self.bus_name = bus_name
        self.source = source

    def publish(self, record: dict[str, Any]) -> str:
        """Send the terminal event for ``record``; returns the EventBridge event id."""
        entry = {
            "Source": self.source,
            "DetailType": detail_type_for(record["status"]),
            "Detail": json.dumps(event_detail(record), separators=(",", ":")),
            "EventBusName": self.bus_name,
            "Resources": [record["executionArn"]] if record.get("executionArn") else [],
        }
        try:
            response = self.client.put_events(Entries=[entry])
        except (ClientError, BotoCoreError) as exc:
            raise AwsTransientError(f"EventBridge PutEvents failed: {exc}") from exc
        result = (response.get("Entries") or [{}])[0]
        if response.get("FailedEntryCount") or not result.get("EventId"):
            raise AwsTransientError(
                f"EventBridge refused the event: {result.get('ErrorCode')} {result.get('ErrorMessage')}"
            )
        return str(result["EventId"])
