"""The status API's ``?urls=presigned`` (docs/contracts.md, "Status API"): archived images answered with
short-lived presigned URLs when there is no distribution; bad query parameters refused with 400. On
in-memory fakes (the S3 signer: tests/integration/test_status_api.py)."""

from __future__ import annotations

from typing import Any

import pytest
from covers_core.domain.events import public_view
from covers_core.domain.model import CoverRecord, ImageCopy, Status
from covers_core.logic.status import CoverStatusReader, Presigning, presigned_image

from covers_local.fakes import FakeClock, FakeUrlSigner, MemoryRecordStore

BUCKET = "covers-archive"
VENDOR = (
    "https://tempcover.example/1.png",
    "https://tempcover.example/2.png",
    "https://tempcover.example/3.png",
)
RECORD = CoverRecord(
    music_task_id="gen-1",
    status=Status.SUCCEEDED,
    cover_task_id="cover-1",
    images=VENDOR,
    images_expire_at="2026-12-14T12:00:00.000Z",
    archived_images=(
        ImageCopy(VENDOR[0], s3_uri=f"s3://{BUCKET}/covers/gen-1/0-aaaa.png", size=9, sha256="a" * 64),
        ImageCopy(VENDOR[1], error="HTTP_STATUS: 404"),  # not archived: nothing to sign
        ImageCopy(VENDOR[2], s3_uri="s3://another-bucket/covers/gen-1/2-cccc.png", size=9),  # not ours
    ),
    created_at="2026-11-30T11:59:00.000Z",
    updated_at="2026-11-30T12:00:00.000Z",
    completed_at="2026-11-30T12:00:00.000Z",
)


def reader(presign: bool = True) -> tuple[CoverStatusReader, FakeUrlSigner]:
    store = MemoryRecordStore()
    store.records[RECORD.music_task_id] = RECORD
    signer = FakeUrlSigner(FakeClock())
    presigning = Presigning(signer, BUCKET, 900) if presign else None
    return CoverStatusReader(store, presigning), signer


def test_presigned_urls_replace_the_archived_images_urls_with_their_expiry() -> None:
    status_reader, signer = reader()
    answer = status_reader.answer("gen-1", {"urls": "presigned"})
    assert answer.status == 200
    first, failed, foreign = answer.body["images"]
    assert signer.signed == [(BUCKET, "covers/gen-1/0-aaaa.png", 900)]  # our bucket's objects only
    assert (
        first["url"]
        == f"https://{BUCKET}.s3.example/covers/gen-1/0-aaaa.png?X-Amz-Expires=900&X-Amz-Signature=fake"
    )
    assert first["urlExpiresAt"] == "2026-11-30T12:15:00.000Z"  # the clock's now + 900 s
    assert first["sourceUrl"] == VENDOR[0]  # the vendor's URL is kept
    assert first["s3Uri"] == f"s3://{BUCKET}/covers/gen-1/0-aaaa.png"
    expected = public_view(RECORD)["images"]
    assert failed == expected[1] and foreign == expected[2]  # untouched: no url of ours to give
    assert {k: v for k, v in answer.body.items() if k != "images"} == {
        k: v for k, v in public_view(RECORD).items() if k != "images"
    }


def test_without_the_parameter_the_view_is_unchanged_and_nothing_is_signed() -> None:
    status_reader, signer = reader()
    answer = status_reader.answer("gen-1")
    assert answer.status == 200 and answer.body == public_view(RECORD)
    assert signer.signed == []


def test_without_presigning_the_parameter_is_accepted_and_changes_nothing() -> None:
    """A distribution (the URLs are permanent already) or no archive: the wiring gives no presigning."""
    status_reader, _ = reader(presign=False)
    answer = status_reader.answer("gen-1", {"urls": "presigned"})
    assert answer.status == 200 and answer.body == public_view(RECORD)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"urls": "signed"}, "query parameter 'urls' must be 'presigned', got 'signed'"),
        ({"urls": ""}, "query parameter 'urls' must be 'presigned', got ''"),
        ({"urls": "presigned,presigned"}, "must be 'presigned', got 'presigned,presigned'"),  # repeated
    ],
    ids=["other-value", "empty", "repeated"],
)
def test_a_bad_query_parameter_is_400_with_what_is_accepted(query: dict[str, str], message: str) -> None:
    status_reader, signer = reader()
    for task in ("gen-1", "gen-never-seen"):  # refused before the record is read
        answer = status_reader.answer(task, query)
        assert answer.status == 400
        assert message in answer.body["error"]
    assert signer.signed == []


def test_a_parameter_the_api_does_not_know_is_ignored_as_before() -> None:
    status_reader, signer = reader()
    answer = status_reader.answer("gen-1", {"_": "1733000000", "url": "presigned"})  # a cache-buster, a typo
    assert answer.status == 200 and answer.body == public_view(RECORD)
    assert signer.signed == []


def test_a_malformed_id_is_still_refused_first() -> None:
    answer = reader()[0].answer("with space", {"urls": "nonsense"})
    assert answer.status == 400 and answer.body["error"].startswith("invalid music task id")


def test_a_thumbnail_archived_in_the_bucket_is_presigned_too() -> None:
    signer = FakeUrlSigner(FakeClock())
    image: dict[str, Any] = {
        "url": VENDOR[0],
        "sourceUrl": VENDOR[0],  # the field the image entries carry once delivery URLs exist
        "s3Uri": f"s3://{BUCKET}/covers/gen-1/0-aaaa.png",
        "thumbnail": {"s3Uri": f"s3://{BUCKET}/covers/gen-1/0-aaaa-256.webp", "width": 256},
    }
    signed = presigned_image(image, Presigning(signer, BUCKET, 60))
    assert signed["sourceUrl"] == VENDOR[0] and signed["url"].startswith(f"https://{BUCKET}.s3.example/")
    assert signed["thumbnail"] == {
        "s3Uri": f"s3://{BUCKET}/covers/gen-1/0-aaaa-256.webp",
        "width": 256,
        "url": f"https://{BUCKET}.s3.example/covers/gen-1/0-aaaa-256.webp?X-Amz-Expires=60&X-Amz-Signature=fake",
        "urlExpiresAt": "2026-11-30T12:01:00.000Z",
    }
    assert image["thumbnail"] == {
        "s3Uri": f"s3://{BUCKET}/covers/gen-1/0-aaaa-256.webp",
        "width": 256,
    }  # a copy


def test_a_thumbnail_without_an_archived_copy_is_left_as_it_is() -> None:
    signer = FakeUrlSigner(FakeClock())
    image = {"url": VENDOR[1], "thumbnail": {"error": "NOT_AN_IMAGE"}}
    assert presigned_image(image, Presigning(signer, BUCKET, 60)) == image
    assert signer.signed == []
