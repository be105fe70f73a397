"""CoverStatusApiFunction: ``GET /covers/{musicTaskId}`` answers a cover's public view, through the real
handler on the moto stack; bad ids get 400, unknown ones 404, and no internal field ever leaks."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import requests
from covers_core import wiring
from covers_core.adapters.records import A
from covers_core.domain.model import iso

from covers_local.lambda_events import status_api_event
from covers_local.stack import transform
from tests.infra.test_template_ops import Resolved
from tests.support.harness import Aws, invoke, sqs_event
from tests.support.paths import load_event

#: What an app may see (covers_core.domain.events.public_view); anything else is internal.
PUBLIC_FIELDS = {
    "musicTaskId",
    "coverTaskId",
    "status",
    "images",
    "correlationId",
    "metadata",
    "pollCount",
    "createdAt",
    "completedAt",
    "updatedAt",
    "cost",
}
INTERNAL_ATTRIBUTES = {
    A.EXECUTION_ARN,
    A.GENERATE_ATTEMPTS,
    A.GENERATE_UNCERTAIN,
    A.NOT_FOUND_COUNT,
    A.CLAIM_TOKEN,
    A.CLAIM_EXPIRES_AT,
    A.EVENT_PUBLISHED_AT,
    A.EVENT_ID,
    A.EVENT_CLAIMED_UNTIL,
    A.LAST_POLLED_AT,
    A.GENERATED_AT,
    A.IMAGES_EXPIRE_AT,
    A.ARCHIVED_IMAGES,
    A.BUDGET_CHARGED,
    A.START_LAMBDA,
}


def get(music_task_id: str) -> tuple[int, dict[str, Any]]:
    response = invoke("cover_status_api", status_api_event(music_task_id))
    assert response["headers"]["content-type"] == "application/json"
    return response["statusCode"], json.loads(response["body"])


def test_a_cover_in_progress_then_succeeded_is_answered_with_its_public_view(aws: Aws) -> None:
    invoke("start_cover", sqs_event({"musicTaskId": "gen123213213213123bksv", "correlationId": "order-42"}))
    status, body = get("gen123213213213123bksv")
    assert status == 200
    assert body["status"] == "IN_PROGRESS" and body["coverTaskId"].startswith("cover")
    assert body["images"] == [] and body["correlationId"] == "order-42"

    finalize = load_event("finalize_cover.json") | {"coverTaskId": body["coverTaskId"]}
    invoke("finalize_cover", finalize)
    status, body = get("gen123213213213123bksv")
    assert status == 200
    assert body["status"] == "SUCCEEDED" and body["pollCount"] == 3
    assert [i["url"] for i in body["images"]] == [
        "https://tempcover.storage.com/s/123.png",
        "https://tempcover.storage.com/s/456.png",
    ]
    assert all(i["expiresAt"] for i in body["images"])
    assert body["completedAt"] and body["createdAt"] and "error" not in body


def test_the_sample_event_reads_the_sample_task(aws: Aws) -> None:
    invoke("start_cover", load_event("start_cover.json"))
    response = invoke("cover_status_api", load_event("cover_status_api.json"))
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["musicTaskId"] == "gen123213213213123bksv"


def test_an_unknown_music_task_is_404(aws: Aws) -> None:
    status, body = get("gen-never-requested")
    assert status == 404 and "gen-never-requested" in body["error"]


@pytest.mark.parametrize(
    "music_task_id",
    ["with space", "x" * 300, "", "tab\there", "é-not-ascii", "line\nbreak"],
    ids=["space", "300-chars", "empty", "tab", "non-ascii", "newline"],
)
def test_a_malformed_music_task_id_is_400_not_a_crash(aws: Aws, music_task_id: str) -> None:
    status, body = get(music_task_id)
    assert status == 400 and body["error"].startswith("invalid music task id")


def test_an_event_without_the_path_parameter_is_400(aws: Aws) -> None:
    event = status_api_event("x")
    del event["pathParameters"]
    response = invoke("cover_status_api", event)
    assert response["statusCode"] == 400


def test_no_internal_field_leaks(aws: Aws) -> None:
    item: dict[str, Any] = {
        A.MUSIC_TASK_ID: "gen-all-fields",
        A.STATUS: "SUCCEEDED",
        A.COVER_TASK_ID: "cover-all-fields",
        A.IMAGES: ["https://tempcover.storage.com/s/1.png"],
        A.IMAGES_EXPIRE_AT: "2026-12-12T10:00:00.000Z",
        A.ARCHIVED_IMAGES: [
            {
                "url": "https://tempcover.storage.com/s/1.png",
                "s3Uri": "s3://b/covers/1.png",
                "size": 10,
                "sha256": "ab" * 32,
                "contentType": "image/png",
            }
        ],
        A.ERROR: None,
        A.LAST_ERROR: {"code": "VENDOR_UNAVAILABLE", "message": "503"},
        A.POLL_COUNT: 4,
        A.EXECUTION_ARN: "arn:aws:states:us-east-1:123456789012:execution:wf:gen-all-fields",
        A.CORRELATION_ID: "order-1",
        A.METADATA: {"title": "t"},
        A.CREATED_AT: "2026-11-28T10:00:00.000Z",
        A.UPDATED_AT: "2026-11-28T10:01:00.000Z",
        A.GENERATED_AT: "2026-11-28T10:00:01.000Z",
        A.COMPLETED_AT: "2026-11-28T10:01:00.000Z",
        A.LAST_POLLED_AT: "2026-11-28T10:00:59.000Z",
        A.GENERATE_ATTEMPTS: 2,
        A.GENERATE_UNCERTAIN: True,
        A.NOT_FOUND_COUNT: 1,
        A.CLAIM_TOKEN: "secret-claim-token",
        A.CLAIM_EXPIRES_AT: 1796040000,
        A.EVENT_PUBLISHED_AT: "2026-11-28T10:01:00.000Z",
        A.EVENT_ID: "event-1",
        A.EVENT_CLAIMED_UNTIL: 1796040000,
        A.RESUME_COUNT: 1,
        A.OPEN_SHARD: "3",
        A.BUDGET_CHARGED: ["budget|*|2026-11#d28"],
        A.START_LAMBDA: "[40,256,0.25]",
        A.COST: "[1,4,4,2.25,2000,0.25,1,0.000123,1.5]",
    }
    assert {v for k, v in vars(A).items() if k.isupper()} == set(item)  # every attribute the store knows
    del item[A.ERROR]
    boto3.resource("dynamodb").Table(aws.table_name).put_item(Item=item)
    status, body = get("gen-all-fields")
    assert status == 200
    assert set(body) == PUBLIC_FIELDS
    assert set(body["images"][0]) == {
        "url",
        "sourceUrl",
        "expiresAt",
        "s3Uri",
        "sha256",
        "size",
        "contentType",
    }
    text = json.dumps(body)
    for internal in ("secret-claim-token", "event-1", "execution:wf", *INTERNAL_ATTRIBUTES):
        assert internal not in text


def test_with_a_delivery_base_archived_images_are_served_from_it_old_and_new_records_alike(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The delivery URL comes from the stored S3 key and the setting in force when the record is read: a
    record archived before the distribution existed (no size, no thumbnail) gets one too."""
    vendor = "https://tempcover.storage.com/s/"
    copy = {"size": 10, "sha256": "ab" * 32, "contentType": "image/png"}
    items: dict[str, dict[str, Any]] = {
        "gen-old": {"url": vendor + "1.png", "s3Uri": "s3://b/covers/gen-old/0-aa.png", **copy},
        "gen-new": {
            "url": vendor + "2.png",
            "s3Uri": "s3://b/covers/gen-new/0-bb.png",
            **copy,
            "width": 1024,
            "height": 768,
            "thumbnail": {
                "s3Uri": "s3://b/covers/gen-new/0-bb.thumb-256.webp",
                "width": 256,
                "height": 192,
                "size": 5,
                "contentType": "image/webp",
            },
        },
        "gen-failed-copy": {"url": vendor + "3.png", "error": "NOT_AN_IMAGE: does not decode as PNG"},
    }
    table = boto3.resource("dynamodb").Table(aws.table_name)
    for task_id, archived in items.items():
        table.put_item(
            Item={
                A.MUSIC_TASK_ID: task_id,
                A.STATUS: "SUCCEEDED",
                A.IMAGES: [archived["url"]],
                A.IMAGES_EXPIRE_AT: "2026-12-12T10:00:00.000Z",
                A.ARCHIVED_IMAGES: [archived],
            }
        )
    before = {task_id: get(task_id)[1]["images"][0] for task_id in items}
    assert [image["url"] for image in before.values()] == [
        vendor + "1.png",
        vendor + "2.png",
        vendor + "3.png",
    ]

    monkeypatch.setenv("DELIVERY_BASE_URL", "https://d111.cloudfront.net/")
    wiring.reset()
    old, new, failed = (get(task_id)[1]["images"][0] for task_id in items)
    assert old["url"] == "https://d111.cloudfront.net/covers/gen-old/0-aa.png"
    assert old["sourceUrl"] == vendor + "1.png" and old["expiresAt"] == "2026-12-12T10:00:00.000Z"
    assert "thumbnail" not in old and "width" not in old
    assert new["url"] == "https://d111.cloudfront.net/covers/gen-new/0-bb.png"
    assert (new["width"], new["height"]) == (1024, 768)
    assert new["thumbnail"] == {
        "url": "https://d111.cloudfront.net/covers/gen-new/0-bb.thumb-256.webp",
        **items["gen-new"]["thumbnail"],
    }
    assert failed["url"] == failed["sourceUrl"] == vendor + "3.png"  # not archived: the vendor's URL
    assert failed["archiveError"].startswith("NOT_AN_IMAGE")


@pytest.mark.parametrize(("archive", "delivery"), [("false", "false"), ("true", "false"), ("true", "true")])
def test_only_the_status_route_requires_iam_and_the_function_may_only_get_items_and_read_archived_images(
    archive: str, delivery: str
) -> None:
    """One item by key; with the archive and no distribution, the archived images it presigns (their keys
    only) too. With a distribution it presigns nothing (the images' URLs are permanent)."""
    parameters = {"ArchiveImages": archive, "ArchiveDelivery": delivery}
    template = transform(parameters)
    resources = template["Resources"]
    paths = resources["CoversHttpApi"]["Properties"]["Body"]["paths"]
    assert paths["/covers/{musicTaskId}"]["get"]["security"] == [{"AWS_IAM": []}]
    assert "security" not in paths["/webhooks/music"]["post"]  # HMAC-signed, open to IAM-less senders
    resolve = Resolved(template, "covers", parameters)
    role = resolve(resources[resources["CoverStatusApiFunction"]["Properties"]["Role"]["Fn::GetAtt"][0]])
    grants = {
        (action, resource)
        for policy in role["Properties"]["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
        for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
        for resource in (
            [statement["Resource"]] if isinstance(statement["Resource"], str) else statement["Resource"]
        )
    }
    expected = {("dynamodb:GetItem", "<CoversTable.Arn>")}  # the table itself, no index
    if archive == "true" and delivery == "false":
        expected.add(("s3:GetObject", "<ArchiveBucket.Arn>/covers/*"))
    assert grants == expected
    managed = {str(arn).rsplit("/", 1)[-1] for arn in role["Properties"]["ManagedPolicyArns"]}
    assert managed == {"AWSLambdaBasicExecutionRole", "AWSXrayWriteOnlyAccess"}  # logs and traces only


# --- ?urls=presigned (docs/contracts.md, "Status API") ---------------------------------------------------

ARCHIVED_KEY = "covers/gen-archived/0-0123456789abcdef.png"
ARCHIVED_BODY = b"\x89PNG archived bytes"


@pytest.fixture
def archived(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> str:
    """An archive bucket (ArchiveImages=true) holding one image of a SUCCEEDED record; its vendor URL."""
    boto3.client("s3").create_bucket(Bucket="archive")
    boto3.client("s3").put_object(Bucket="archive", Key=ARCHIVED_KEY, Body=ARCHIVED_BODY)
    monkeypatch.setenv("ARCHIVE_BUCKET", "archive")
    wiring.reset()
    source = "https://tempcover.storage.com/s/archived.png"
    archived = {"url": source, "s3Uri": f"s3://archive/{ARCHIVED_KEY}", "size": len(ARCHIVED_BODY)}
    boto3.resource("dynamodb").Table(aws.table_name).put_item(
        Item={
            A.MUSIC_TASK_ID: "gen-archived",
            A.STATUS: "SUCCEEDED",
            A.COVER_TASK_ID: "cover-archived",
            A.IMAGES: [source],
            A.IMAGES_EXPIRE_AT: "2026-12-12T10:00:00.000Z",
            A.ARCHIVED_IMAGES: [archived],
            A.CREATED_AT: "2026-11-28T10:00:00.000Z",
            A.UPDATED_AT: "2026-11-28T10:01:00.000Z",
            A.COMPLETED_AT: "2026-11-28T10:01:00.000Z",
            A.OPEN_SHARD: "3",
        }
    )
    return source


def get_query(music_task_id: str, query: str) -> tuple[int, dict[str, Any]]:
    response = invoke("cover_status_api", status_api_event(music_task_id, query=query))
    return response["statusCode"], json.loads(response["body"])


def test_presigned_urls_read_the_archived_object_and_say_when_they_expire(archived: str) -> None:
    seconds = int(os.environ["PRESIGN_SECONDS"])  # as the template sets it (PresignedUrlSeconds)
    status, body = get_query("gen-archived", "urls=presigned")
    assert status == 200
    (image,) = body["images"]
    assert image["sourceUrl"] == archived and image["s3Uri"] == f"s3://archive/{ARCHIVED_KEY}"
    url = urlsplit(image["url"])
    query = parse_qs(url.query)
    assert (
        url.scheme == "https" and url.netloc == "archive.s3.amazonaws.com" and url.path == f"/{ARCHIVED_KEY}"
    )
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]  # SigV4: S3 refuses SigV2 in newer regions
    assert query["X-Amz-Expires"] == [str(seconds)]
    signed_at = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert image["urlExpiresAt"] == iso(signed_at + timedelta(seconds=seconds))
    assert requests.get(image["url"], timeout=5).content == ARCHIVED_BODY  # moto serves the object


def test_without_the_parameter_the_url_is_the_recorded_one_and_with_a_distribution_the_permanent_one(
    archived: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert get_query("gen-archived", "")[1]["images"][0]["url"] == archived
    monkeypatch.setenv("DELIVERY_BASE_URL", "https://d111111abcdef8.cloudfront.net")
    wiring.reset()
    status, body = get_query("gen-archived", "urls=presigned")  # accepted; the URLs are permanent already
    image = body["images"][0]
    assert status == 200 and "urlExpiresAt" not in image
    assert image["url"].startswith("https://d111111abcdef8.cloudfront.net/covers/gen-archived/")
    assert image["sourceUrl"] == archived


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("urls=signed", "query parameter 'urls' must be 'presigned', got 'signed'"),
        ("urls=", "query parameter 'urls' must be 'presigned', got ''"),
        ("urls=presigned&urls=presigned", "query parameter 'urls' must be 'presigned'"),
    ],
    ids=["other-value", "empty", "repeated"],
)
def test_a_bad_query_parameter_is_400_naming_what_is_accepted(
    archived: str, query: str, message: str
) -> None:
    status, body = get_query("gen-archived", query)
    assert status == 400 and message in body["error"]


def test_a_plain_status_read_creates_no_s3_client(archived: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cold start (docs/performance.md): the signing client is made on the first ?urls=presigned only."""
    made: list[str] = []
    original: Any = boto3.client

    def client(service: str, *args: Any, **kwargs: Any) -> Any:
        made.append(service)
        return original(service, *args, **kwargs)

    monkeypatch.setattr(boto3, "client", client)
    assert get_query("gen-archived", "")[0] == 200
    assert "s3" not in made
    assert get_query("gen-archived", "urls=presigned")[0] == 200
    assert get_query("gen-archived", "urls=presigned")[0] == 200
    assert made.count("s3") == 1  # once per container
