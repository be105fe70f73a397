"""The image archiver: which URLs it will fetch (no real DNS: the resolver is swapped) and what it keeps."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator

import boto3
import pytest
from covers_core.adapters.archive import ArchiveRefusedError, ImageArchiver, UrlGuard
from moto import mock_aws

from covers_local.emulator import VendorEmulator, png
from tests.scripted_server import Answer, ScriptedServer


def resolver(address: str):
    def resolve(host: str, port: int, **_: object) -> list:
        return [
            (
                socket.AF_INET6 if ":" in address else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (address, port),
            )
        ]

    return resolve


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"])
def test_https_to_a_public_address_is_allowed(address: str) -> None:
    UrlGuard(resolve=resolver(address)).check("https://tempcover.storage.com/s/123.png")


@pytest.mark.parametrize(
    ("url", "address", "reason"),
    [
        ("http://tempcover.storage.com/a.png", "93.184.216.34", "only https"),
        ("file:///etc/passwd", "93.184.216.34", "not an absolute URL"),
        ("https://internal.example/a.png", "10.0.0.5", "non-public"),
        ("https://metadata.example/a.png", "169.254.169.254", "non-public"),
        ("https://loop.example/a.png", "127.0.0.1", "non-public"),
        ("https://v6.example/a.png", "::1", "non-public"),
        ("https://carrier.example/a.png", "100.64.0.1", "non-public"),
    ],
)
def test_other_urls_are_refused(url: str, address: str, reason: str) -> None:
    with pytest.raises(ArchiveRefusedError, match=reason):
        UrlGuard(resolve=resolver(address)).check(url)


def test_loopback_over_http_only_in_local_mode() -> None:
    UrlGuard(allow_loopback=True, resolve=resolver("127.0.0.1")).check(
        "http://127.0.0.1:8787/api/images/a/0.png"
    )
    with pytest.raises(ArchiveRefusedError):
        UrlGuard(allow_loopback=True, resolve=resolver("10.1.1.1")).check("http://host/a.png")


@pytest.fixture
def s3() -> Iterator[object]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="archive")
        yield client


def test_images_are_stored_with_size_hash_and_type(s3: object, emulator: VendorEmulator) -> None:
    archiver = ImageArchiver(s3, "archive", max_bytes=20 * 1024 * 1024, guard=UrlGuard(allow_loopback=True))
    _, body = emulator.generate("m1")
    _, status = emulator.status(body["data"]["taskId"], emulator.base_url)
    results = archiver.archive_all("m1", tuple(status["data"]["images"]))
    assert [r.content_type for r in results] == ["image/png", "image/png"]
    key = str(results[0].s3_uri).removeprefix("s3://archive/")
    stored = s3.get_object(Bucket="archive", Key=key)  # type: ignore[attr-defined]
    assert stored["ContentType"] == "image/png"
    assert len(stored["Body"].read()) == results[0].size


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (Answer(200, b"<html>hi</html>", {"Content-Type": "text/html"}), "not a PNG"),
        (Answer(200, png(4, 4, (1, 2, 3)), {"Content-Type": "image/jpeg"}), "declared image/jpeg"),
        (Answer(200, png(400, 400, (1, 2, 3)) + b"\0" * 5000, {"Content-Type": "image/png"}), "limit"),
        (Answer(404, b"gone"), "HTTP 404"),
        (Answer(302, b"", {"Location": "http://10.0.0.1/x.png"}), "non-public|only https"),
    ],
)
def test_what_is_not_a_small_image_is_listed_with_its_error_not_stored(
    s3: object, answer: Answer, reason: str
) -> None:
    server = ScriptedServer()
    try:
        server.script(answer)
        archiver = ImageArchiver(s3, "archive", guard=UrlGuard(allow_loopback=True), max_bytes=2000)
        url = server.url + "/img.png"
        (result,) = archiver.archive_all("m1", (url,))
        assert result.url == url
        assert re.search(reason, str(result.error))
        assert s3.list_objects_v2(Bucket="archive").get("KeyCount", 0) == 0  # type: ignore[attr-defined]
    finally:
        server.close()
