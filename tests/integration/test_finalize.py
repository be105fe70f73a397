"""FinalizeCoverFunction and the finalizer: terminal records, exactly one event, schemas."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import jsonschema
import pytest
from covers_core import wiring
from covers_core.adapters.eventbus import EventPublisher
from covers_core.errors import AwsTransientError

from covers_local.emulator import VendorEmulator, png
from tests.support.harness import Aws, invoke, sqs_event
from tests.support.hostile_server import HostileServer, http_response
from tests.support.paths import ROOT, load_event
from tests.support.published_schemas import assert_valid_published

SCHEMAS = {
    "Cover Generated": json.loads((ROOT / "events/schemas/cover-generated.schema.json").read_text()),
    "Cover Generation Failed": json.loads(
        (ROOT / "events/schemas/cover-generation-failed.schema.json").read_text()
    ),
}


def assert_valid_event(event: dict[str, Any]) -> None:
    """Valid against the source schema (2020-12) and the form published in the schema registry."""
    jsonschema.validate(event, SCHEMAS[event["detail-type"]], format_checker=jsonschema.FormatChecker())
    assert_valid_published(event)


def in_progress(
    aws: Aws, task: str = "gen123213213213123bksv", cover: str = "cover123123213213b880d2"
) -> None:
    boto3.resource("dynamodb").Table(aws.table_name).put_item(
        Item={
            "musicTaskId": task,
            "status": "IN_PROGRESS",
            "coverTaskId": cover,
            "generatedAt": "2026-11-28T10:00:00.000Z",
            "createdAt": "2026-11-28T09:59:59.000Z",
            "correlationId": "order-42",
            "metadata": {"title": "Night Drive"},
            "pollCount": 2,
        }
    )


def test_success_records_images_with_their_expiry_and_emits_cover_generated(aws: Aws) -> None:
    in_progress(aws)
    result = invoke("finalize_cover", load_event("finalize_cover.json"))
    assert result["status"] == "SUCCEEDED"
    record = aws.record("gen123213213213123bksv")
    assert record.images == (
        "https://tempcover.storage.com/s/123.png",
        "https://tempcover.storage.com/s/456.png",
    )
    assert record.images_expire_at == "2026-12-12T10:00:00.000Z"  # 14 days after generation
    assert record.poll_count == 3 and record.completed_at and record.event_published_at
    (event,) = aws.drain_events()
    assert_valid_event(event)
    assert event["detail-type"] == "Cover Generated"
    assert event["source"] == "covers.pipeline"
    assert event["detail"]["images"][0] == {
        "url": "https://tempcover.storage.com/s/123.png",
        "sourceUrl": "https://tempcover.storage.com/s/123.png",
        "expiresAt": "2026-12-12T10:00:00.000Z",
    }
    assert (event["detail"]["correlationId"], event["detail"]["metadata"]) == (
        "order-42",
        {"title": "Night Drive"},
    )


@pytest.mark.parametrize(
    ("check", "status", "code"),
    [
        ({"status": "FAILED", "error": "Cover generation failed", "pollCount": 4}, "FAILED", "VENDOR_FAILED"),
        ({"status": "SUCCESS", "images": [], "pollCount": 4}, "FAILED", "NO_IMAGES"),
        ({"status": "SUCCESS", "images": None, "pollCount": 4}, "FAILED", "NO_IMAGES"),
        (
            {"status": "TIMED_OUT", "error": "still IN_PROGRESS", "pollCount": 90},
            "TIMED_OUT",
            "DEADLINE_EXCEEDED",
        ),
        ({"status": "WEIRD", "pollCount": 1}, "NEEDS_ATTENTION", "UNEXPECTED_STATE"),
    ],
)
def test_unhappy_outcomes_emit_one_failed_event_with_status_and_code(
    aws: Aws, check: dict, status: str, code: str
) -> None:
    in_progress(aws)
    invoke("finalize_cover", {**load_event("check_cover_status.json"), "check": check})
    record = aws.record("gen123213213213123bksv")
    assert record.error is not None
    assert (record.status, record.error.code) == (status, code)
    (event,) = aws.drain_events()
    assert_valid_event(event)
    assert (event["detail"]["status"], event["detail"]["error"]["code"]) == (status, code)


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        ("CoverTaskNotFoundError", "FAILED", "COVER_TASK_NOT_FOUND"),
        ("VendorCreditsExhaustedError", "NEEDS_ATTENTION", "CREDITS_EXHAUSTED"),
        ("VendorAuthError", "NEEDS_ATTENTION", "VENDOR_AUTH_FAILED"),
        ("VendorTransientError", "NEEDS_ATTENTION", "VENDOR_UNAVAILABLE"),
        ("States.Timeout", "NEEDS_ATTENTION", "INTERNAL_ERROR"),
        ("KeyError", "NEEDS_ATTENTION", "INTERNAL_ERROR"),
    ],
)
def test_caught_failures_map_to_a_terminal_status_without_calling_a_paid_cover_failed(
    aws: Aws, error: str, status: str, code: str
) -> None:
    in_progress(aws)
    event = {
        **load_event("check_cover_status.json"),
        "failure": {
            "Error": error,
            "Cause": json.dumps({"errorType": error, "errorMessage": "details here"}),
        },
    }
    invoke("finalize_cover", event)
    record = aws.record("gen123213213213123bksv")
    assert record.error is not None
    assert (record.status, record.error.code) == (status, code)
    assert "details here" in record.error.message
    assert_valid_event(aws.drain_events()[0])


def test_a_second_finalize_changes_nothing_and_emits_nothing(aws: Aws) -> None:
    in_progress(aws)
    invoke("finalize_cover", load_event("finalize_cover.json"))
    before = aws.record("gen123213213213123bksv")
    again = invoke("finalize_cover", load_event("finalize_cover_failure.json"))  # a different, later outcome
    assert again["status"] == "SUCCEEDED"
    assert aws.record("gen123213213213123bksv") == before
    assert len(aws.drain_events()) == 1


def test_a_crash_between_the_record_and_the_event_is_completed_by_the_retry(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    in_progress(aws)
    original = EventPublisher.publish

    def broken(self: EventPublisher, record: dict[str, Any]) -> str:
        raise AwsTransientError("EventBridge PutEvents failed: throttled")

    monkeypatch.setattr(EventPublisher, "publish", broken)
    with pytest.raises(AwsTransientError):  # Step Functions retries AwsTransientError
        invoke("finalize_cover", load_event("finalize_cover.json"))
    assert aws.record("gen123213213213123bksv").status == "SUCCEEDED"
    assert aws.drain_events() == []
    monkeypatch.setattr(EventPublisher, "publish", original)
    invoke("finalize_cover", load_event("finalize_cover.json"))
    assert [e["detail-type"] for e in aws.drain_events()] == ["Cover Generated"]
    invoke("finalize_cover", load_event("finalize_cover.json"))
    assert aws.drain_events() == []


def test_a_terminal_record_never_changes_again(aws: Aws) -> None:
    in_progress(aws)
    invoke("finalize_cover", load_event("finalize_cover_failure.json"))
    finished = aws.record("gen123213213213123bksv")
    assert finished.status == "FAILED"
    from covers_core.wiring.finalize_cover import finalizer

    store = finalizer().store
    from datetime import UTC, datetime

    from covers_core.domain.model import Status
    from covers_core.domain.outcomes import Ending, Outcome

    success = Ending(Outcome(Status.SUCCEEDED, images=("x",)))
    assert store.finish("gen123213213213123bksv", success, datetime.now(UTC)) is None
    assert aws.record("gen123213213213123bksv") == finished


def test_the_schemas_are_valid_json_schema() -> None:
    for schema in SCHEMAS.values():
        jsonschema.Draft202012Validator.check_schema(schema)


def test_sample_events_exist_for_every_function() -> None:
    from covers_local.stack import functions, load_template

    folders = {
        spec["Properties"]["CodeUri"].strip("/").split("/")[-1]
        for spec in functions(load_template(ROOT / "template.yaml")).values()
    }
    assert len(folders) == 6
    names = {p.name for p in Path(ROOT / "events").glob("*.json")}
    assert {f"{folder}.json" for folder in folders} <= names


def test_archiving_copies_the_images_once_even_when_finalize_runs_again(
    aws: Aws, emulator: VendorEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    boto3.client("s3").create_bucket(Bucket="archive")
    monkeypatch.setenv("ARCHIVE_BUCKET", "archive")
    monkeypatch.setenv("ARCHIVE_ALLOW_LOOPBACK", "true")  # the emulator serves its PNGs on 127.0.0.1
    wiring.reset()
    invoke("start_cover", sqs_event({"musicTaskId": "art"}))
    record = aws.record("art")
    state = {
        **load_event("check_cover_status.json"),
        "musicTaskId": "art",
        "coverTaskId": record.cover_task_id,
        "generatedAt": record.generated_at,
    }
    state["check"] = invoke("check_cover_status", state)
    invoke("finalize_cover", state)
    invoke("finalize_cover", state)  # a Step Functions retry or a duplicate execution
    archived = aws.record("art").archived_images
    assert [a.content_type for a in archived] == ["image/png", "image/png"]
    assert all((a.s3_uri or "").startswith("s3://archive/covers/art/") for a in archived)
    assert all(len(a.sha256 or "") == 64 for a in archived)
    assert emulator.stats.image_requests["art"] == 2  # two images, downloaded once each
    # each image and its thumbnail (THUMBNAIL_SIZE 256), once
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket="archive")["Contents"]]
    assert sorted(keys) == sorted(
        [str(a.s3_uri).removeprefix("s3://archive/") for a in archived]
        + [str(a.thumbnail.s3_uri).removeprefix("s3://archive/") for a in archived if a.thumbnail]
    )
    assert len(keys) == 4
    (event,) = aws.drain_events()
    assert_valid_event(event)
    assert [i["s3Uri"] for i in event["detail"]["images"]] == [a.s3_uri for a in archived]
    # no delivery base: url stays the vendor's, thumbnails have no url
    assert [i["url"] for i in event["detail"]["images"]] == [
        i["sourceUrl"] for i in event["detail"]["images"]
    ]
    assert all("url" not in i["thumbnail"] for i in event["detail"]["images"])


TWO_LENGTHS = [("Content-Length", "12"), ("Content-Length", "9")]


def archiving_on(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    boto3.client("s3").create_bucket(Bucket="archive")
    monkeypatch.setenv("ARCHIVE_BUCKET", "archive")
    monkeypatch.setenv("ARCHIVE_ALLOW_LOOPBACK", "true")
    wiring.reset()


@pytest.mark.parametrize(
    ("script", "code"),
    [
        ([http_response(200, png(8, 8, (1, 2, 3)))[:60]], "CONNECTION"),  # closes mid-body, every time
        ([http_response(200, b"x", TWO_LENGTHS, content_length=False)], "BAD_RESPONSE"),  # lying headers
        ([http_response(200, b"<html>login</html>", [("Content-Type", "image/png")])], "NOT_AN_IMAGE"),
        ([http_response(403, b"denied")], "HTTP_STATUS"),
    ],
)
def test_an_image_host_that_misbehaves_never_stops_the_cover_from_finishing(
    aws: Aws, monkeypatch: pytest.MonkeyPatch, script: list[bytes], code: str
) -> None:
    """Decision: the vendor made the cover and its URLs live 14 days, so the record is SUCCEEDED with
    the images; each image that could not be copied carries its ``archiveError`` (record and event)."""
    archiving_on(aws, monkeypatch)
    in_progress(aws)
    with HostileServer(*[script] * 8) as host:
        urls = [host.url("/0.png"), host.url("/1.png")]
        event = {**load_event("finalize_cover.json")}
        event["check"] = {**event["check"], "images": urls}
        result = invoke("finalize_cover", event)
    assert result["status"] == "SUCCEEDED"
    record = aws.record("gen123213213213123bksv")
    assert record.images == tuple(urls)
    assert [(a.error or "").split(":")[0] for a in record.archived_images] == [code, code]
    (published,) = aws.drain_events()
    assert_valid_event(published)
    assert [i["archiveError"].split(":")[0] for i in published["detail"]["images"]] == [code, code]
    assert boto3.client("s3").list_objects_v2(Bucket="archive").get("KeyCount", 0) == 0


def test_the_safety_net_finalizes_without_archiving_and_says_why(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    archiving_on(aws, monkeypatch)
    in_progress(aws)
    event = {
        **load_event("finalize_cover.json"),
        "finalizeFailure": {
            "Error": "RuntimeError",
            "Cause": json.dumps({"errorType": "RuntimeError", "errorMessage": "archive crashed"}),
        },
    }
    assert invoke("finalize_cover", event)["status"] == "SUCCEEDED"
    record = aws.record("gen123213213213123bksv")
    assert len(record.images) == 2
    assert [a.error for a in record.archived_images] == [
        "ARCHIVE_SKIPPED: FinalizeCover failed (RuntimeError: archive crashed)"
    ] * 2
    (published,) = aws.drain_events()
    assert_valid_event(published)
    assert published["detail"]["images"][0]["archiveError"].startswith("ARCHIVE_SKIPPED")
