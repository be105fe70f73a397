"""The image archiver: what it keeps in S3 and what it lists as not archived. (Which URLs and hosts it
will fetch, and how it survives hostile hosts: tests/unit/image_fetch and tests/integration/image_fetch.)"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from covers_core.adapters.archive import ImageArchiver
from covers_core.adapters.image_fetch import FetchSettings, ImageFetcher
from covers_core.errors import AwsTransientError
from moto import mock_aws

from covers_local.emulator import VendorEmulator, png
from tests.support.hostile_server import HostileServer, http_response
from tests.support.scripted_server import Answer, ScriptedServer


def fetcher(max_bytes: int = 20 * 1024 * 1024) -> ImageFetcher:
    return ImageFetcher(FetchSettings(max_bytes=max_bytes, allow_loopback=True, retries=1, backoff_base=0.01))


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="archive")
        yield client


def test_images_are_stored_with_size_hash_and_type(s3: Any, emulator: VendorEmulator) -> None:
    archiver = ImageArchiver(s3, "archive", fetcher())
    _, body = emulator.generate("m1")
    _, status = emulator.status(body["data"]["taskId"], emulator.base_url)
    results = archiver.archive_all("m1", tuple(status["data"]["images"]))
    assert [r.content_type for r in results] == ["image/png", "image/png"]
    key = str(results[0].s3_uri).removeprefix("s3://archive/")
    assert re.fullmatch(r"covers/m1/0-[0-9a-f]{16}\.png", key)
    stored = s3.get_object(Bucket="archive", Key=key)
    assert stored["ContentType"] == "image/png"
    assert len(stored["Body"].read()) == results[0].size


@pytest.mark.parametrize(
    ("answers", "reason"),
    [
        ([Answer(200, b"<html>hi</html>", {"Content-Type": "text/html"})], "NOT_AN_IMAGE"),
        ([Answer(200, png(400, 400, (1, 2, 3)) + b"\0" * 5000, {"Content-Type": "image/png"})], "TOO_LARGE"),
        ([Answer(404, b"gone")], "HTTP_STATUS"),
        ([Answer(302, b"", {"Location": "http://10.0.0.1/x.png"})], "REFUSED_ADDRESS"),
        ([Answer(drop=True), Answer(drop=True)], "CONNECTION"),
    ],
)
def test_what_is_not_a_small_image_is_listed_with_its_error_not_stored(
    s3: Any, answers: list[Answer], reason: str
) -> None:
    server = ScriptedServer()
    try:
        server.script(*answers)
        url = server.url + "/img.png"
        (result,) = ImageArchiver(s3, "archive", fetcher(max_bytes=2000)).archive_all("m1", (url,))
        assert result.url == url and result.s3_uri is None
        assert str(result.error).startswith(reason)
        assert s3.list_objects_v2(Bucket="archive").get("KeyCount", 0) == 0
    finally:
        server.close()


@pytest.mark.parametrize("length", ["abc", "-1", "+5", "12, 13", "1 2"])
def test_an_image_with_an_invalid_content_length_is_listed_as_a_bad_response_not_stored(
    s3: Any, length: str
) -> None:
    """Where such a body ends cannot be known: it is never read to the close and archived."""
    image = png(4, 4, (9, 9, 9))
    headers = [("Content-Type", "image/png"), ("Content-Length", length)]
    with HostileServer() as server:
        server.script([http_response(200, image, headers, content_length=False)])
        (result,) = ImageArchiver(s3, "archive", fetcher()).archive_all("m1", (server.url(),))
        assert len(server.requests) == 1  # refused for good: not tried again
    assert result.s3_uri is None
    assert str(result.error).startswith("BAD_RESPONSE: ")
    assert "Content-Length" in str(result.error)
    assert s3.list_objects_v2(Bucket="archive").get("KeyCount", 0) == 0


def test_a_transient_host_error_is_retried_and_the_copy_made(s3: Any) -> None:
    server = ScriptedServer()
    try:
        server.script(Answer(503, b"busy"), Answer(200, png(4, 4, (9, 9, 9)), {"Content-Type": "image/png"}))
        (result,) = ImageArchiver(s3, "archive", fetcher()).archive_all("m1", (server.url + "/a.png",))
        assert result.s3_uri and result.error is None
        assert len(server.requests) == 2
    finally:
        server.close()


def test_an_s3_failure_is_raised_for_the_state_machine_to_retry(emulator: VendorEmulator) -> None:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")  # no bucket: PutObject fails
        _, body = emulator.generate("m2")
        _, status = emulator.status(body["data"]["taskId"], emulator.base_url)
        with pytest.raises(AwsTransientError, match="S3 PutObject failed: NoSuchBucket"):
            ImageArchiver(client, "archive", fetcher()).archive_all("m2", tuple(status["data"]["images"]))
