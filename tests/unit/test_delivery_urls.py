"""Image entries of events and of the status view: ``url`` is the permanent delivery URL of an archived image
when a delivery base is set, derived from the stored S3 key when the record is shown; everything else the
entry said before stays (docs/contracts.md, "Archived images"). And the settings that turn it on."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from covers_core.domain.events import NO_DELIVERY, DeliveryUrls, event_detail, public_view
from covers_core.domain.model import CoverRecord, ImageCopy, Status, Thumbnail
from covers_core.errors import ConfigError
from covers_core.settings import FinalizeSettings, StatusApiSettings

from tests.support.paths import ROOT

VENDOR = "https://tempcover.storage.com/s/"
CDN = DeliveryUrls("https://d111.cloudfront.net")
THUMB = Thumbnail("s3://archive/covers/gen1/0-abcd.thumb-256.webp", 256, 192, 4321, "image/webp")
COPIES = (
    ImageCopy(
        url=VENDOR + "1.png",
        s3_uri="s3://archive/covers/gen1/0-abcd.png",
        size=51234,
        sha256="a" * 64,
        content_type="image/png",
        width=1024,
        height=768,
        thumbnail=THUMB,
    ),
    ImageCopy(url=VENDOR + "2.png", error="NOT_AN_IMAGE: does not decode as PNG"),
    ImageCopy(
        url=VENDOR + "3.png",
        s3_uri="s3://archive/covers/gen1/2-ef01.png",
        size=10,
        sha256="b" * 64,
        content_type="image/png",
        width=8,
        height=8,
        thumbnail_error="THUMBNAIL_FAILED: encoder broke",
    ),
)
RECORD = CoverRecord(
    music_task_id="gen1",
    status=Status.SUCCEEDED,
    cover_task_id="cover1",
    images=(VENDOR + "1.png", VENDOR + "2.png", VENDOR + "3.png"),
    images_expire_at="2026-12-12T10:00:00.000Z",
    archived_images=COPIES,
    created_at="2026-11-28T10:00:00.000Z",
    completed_at="2026-11-28T10:01:02.000Z",
    updated_at="2026-11-28T10:01:02.000Z",
)
SCHEMA = json.loads((ROOT / "events" / "schemas" / "cover-generated.schema.json").read_text())


def valid(detail: dict[str, Any]) -> None:
    envelope = {
        "version": "0",
        "id": "1",
        "detail-type": "Cover Generated",
        "source": "covers.pipeline",
        "account": "123456789012",
        "time": "2026-11-28T10:01:02Z",
        "region": "eu-west-1",
        "resources": [],
        "detail": detail,
    }
    jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(envelope)


def test_with_a_delivery_base_an_archived_image_is_served_from_it_and_keeps_its_source() -> None:
    detail = event_detail(RECORD, CDN)
    valid(detail)
    first, not_archived, no_thumbnail = detail["images"]
    assert first == {
        "url": "https://d111.cloudfront.net/covers/gen1/0-abcd.png",
        "sourceUrl": VENDOR + "1.png",
        "expiresAt": "2026-12-12T10:00:00.000Z",  # the vendor URL's expiry
        "s3Uri": "s3://archive/covers/gen1/0-abcd.png",
        "sha256": "a" * 64,
        "size": 51234,
        "contentType": "image/png",
        "width": 1024,
        "height": 768,
        "thumbnail": {
            "url": "https://d111.cloudfront.net/covers/gen1/0-abcd.thumb-256.webp",
            "s3Uri": THUMB.s3_uri,
            "width": 256,
            "height": 192,
            "size": 4321,
            "contentType": "image/webp",
        },
    }
    assert not_archived == {
        "url": VENDOR + "2.png",
        "sourceUrl": VENDOR + "2.png",
        "expiresAt": "2026-12-12T10:00:00.000Z",
        "archiveError": "NOT_AN_IMAGE: does not decode as PNG",
    }
    assert no_thumbnail["url"] == "https://d111.cloudfront.net/covers/gen1/2-ef01.png"
    assert no_thumbnail["thumbnailError"] == "THUMBNAIL_FAILED: encoder broke"
    assert "thumbnail" not in no_thumbnail


def test_without_a_delivery_base_url_stays_the_vendors_as_before() -> None:
    detail = event_detail(RECORD, NO_DELIVERY)
    valid(detail)
    assert [i["url"] for i in detail["images"]] == list(RECORD.images)
    assert [i["sourceUrl"] for i in detail["images"]] == list(RECORD.images)
    assert "url" not in detail["images"][0]["thumbnail"]
    assert detail["images"][0]["s3Uri"] == "s3://archive/covers/gen1/0-abcd.png"


def test_the_status_view_gives_the_same_images_as_the_event() -> None:
    for urls in (NO_DELIVERY, CDN):
        assert public_view(RECORD, urls)["images"] == event_detail(RECORD, urls)["images"]


@pytest.mark.parametrize(
    ("base", "url"),
    [
        ("https://d111.cloudfront.net", "https://d111.cloudfront.net/covers/gen1/0-abcd.png"),
        ("https://covers.example.com/", "https://covers.example.com/covers/gen1/0-abcd.png"),
        ("http://127.0.0.1:8788/archive", "http://127.0.0.1:8788/archive/covers/gen1/0-abcd.png"),
        (None, None),
    ],
)
def test_a_delivery_url_is_the_base_and_the_objects_key(base: str | None, url: str | None) -> None:
    assert DeliveryUrls(base).url_of("s3://archive/covers/gen1/0-abcd.png") == url
    assert DeliveryUrls(base).url_of(None) is None


FINALIZE_ENV = {
    "COVERS_TABLE_NAME": "t",
    "COVERS_BUS_NAME": "b",
    "EVENT_SOURCE": "covers.pipeline",
    "ARCHIVE_BUCKET": "archive",
    "ARCHIVE_MAX_BYTES": "1000",
    "POLL_STATS_TABLE_NAME": "p",
    "FIRST_WAIT_TENANT_FIELD": "",
    "DELIVERY_BASE_URL": "",
    "THUMBNAIL_SIZE": "256",
    "WORKFLOW_TYPE": "STANDARD",
    "COST_METRIC_TENANTS": "",
}
STATUS_ENV = {"COVERS_TABLE_NAME": "t", "ARCHIVE_BUCKET": "", "PRESIGN_SECONDS": "900"}


@pytest.mark.parametrize(
    ("value", "base"),
    [
        ("", None),
        ("https://d111.cloudfront.net", "https://d111.cloudfront.net"),
        ("https://d111.cloudfront.net/", "https://d111.cloudfront.net"),
        ("http://127.0.0.1:8788/archive", "http://127.0.0.1:8788/archive"),
        ("http://localhost:8788", "http://localhost:8788"),
    ],
)
def test_the_delivery_base_is_https_or_loopback_http(value: str, base: str | None) -> None:
    assert FinalizeSettings.from_env({**FINALIZE_ENV, "DELIVERY_BASE_URL": value}).delivery_base_url == base
    status = StatusApiSettings.from_env({**STATUS_ENV, "DELIVERY_BASE_URL": value})
    assert status.delivery_base_url == base


@pytest.mark.parametrize(
    "value",
    [
        "http://d111.cloudfront.net",  # plain http off loopback
        "d111.cloudfront.net",
        "ftp://d111.cloudfront.net",
        "https://",
        "https://d111.cloudfront.net/?a=b",
        "https://user:pw@d111.cloudfront.net",
    ],
)
def test_any_other_delivery_base_stops_the_function_naming_it(value: str) -> None:
    with pytest.raises(ConfigError, match="DELIVERY_BASE_URL"):
        FinalizeSettings.from_env({**FINALIZE_ENV, "DELIVERY_BASE_URL": value})
    with pytest.raises(ConfigError, match="DELIVERY_BASE_URL"):
        StatusApiSettings.from_env({**STATUS_ENV, "DELIVERY_BASE_URL": value})


@pytest.mark.parametrize(("value", "size"), [("0", 0), ("1", 1), ("256", 256), ("2048", 2048)])
def test_the_thumbnail_size_is_zero_for_none_or_a_side_in_pixels(value: str, size: int) -> None:
    assert FinalizeSettings.from_env({**FINALIZE_ENV, "THUMBNAIL_SIZE": value}).thumbnail_size == size


@pytest.mark.parametrize("value", ["-1", "2049", "abc", "", "1.5"])
def test_a_bad_thumbnail_size_stops_the_function_naming_it(value: str) -> None:
    with pytest.raises(ConfigError, match="THUMBNAIL_SIZE"):
        FinalizeSettings.from_env({**FINALIZE_ENV, "THUMBNAIL_SIZE": value})
