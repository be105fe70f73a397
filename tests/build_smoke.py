"""Run each built function (``sam build`` output) on its sample event against moto and the emulator.

Usage: python tests/build_smoke.py .aws-sam/build   (run by tests/test_build.py in a fresh interpreter)

The layer's ``python/`` folder comes first on sys.path, as ``/opt/python`` does in Lambda, and the script
checks that the domain package and its dependencies really were loaded from it."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

build = Path(sys.argv[1]).resolve()
root = Path(__file__).resolve().parent.parent
layer = build / "SharedLayer" / "python"
sys.path[:0] = [str(layer), str(root)]

import aws_lambda_powertools  # noqa: E402
import boto3  # noqa: E402 - the Lambda runtime provides boto3; everything else must come from the build
import covers_core  # noqa: E402
import requests  # noqa: E402
from moto import mock_aws  # noqa: E402

for module in (covers_core, aws_lambda_powertools, requests):
    origin = Path(module.__file__).resolve()
    assert origin.is_relative_to(layer), f"{module.__name__} not from the layer: {origin}"

from covers_core.domain.signature import sign  # noqa: E402

from covers_local.emulator import EmulatorConfig, VendorEmulator  # noqa: E402
from covers_local.runner import FakeContext, load_handler  # noqa: E402
from tests import minimal_stack  # noqa: E402


def event(name: str) -> dict:
    return json.loads((root / "events" / name).read_text())


os.environ.update(minimal_stack.QUIET_LAMBDA_ENV)
with VendorEmulator(EmulatorConfig(api_key="k", ready_after=(0, 0))) as emulator, mock_aws():
    minimal_stack.create(emulator.base_url, api_key="k", webhook_key="hk")
    names = (
        "StartCoverFunction",
        "CheckCoverStatusFunction",
        "FinalizeCoverFunction",
        "MusicWebhookFunction",
    )
    handlers = {name: load_handler(build / name, f"built_{name}") for name in names}

    started = handlers["StartCoverFunction"](event("start_cover.json"), FakeContext("s"))
    assert started == {"batchItemFailures": []}, started
    record = (
        boto3.resource("dynamodb")
        .Table("covers")
        .get_item(Key={"musicTaskId": "gen123213213213123bksv"})["Item"]
    )
    assert record["status"] == "IN_PROGRESS", record

    check = {
        **event("check_cover_status.json"),
        "coverTaskId": record["coverTaskId"],
        "generatedAt": record["generatedAt"],
    }
    result = handlers["CheckCoverStatusFunction"](check, FakeContext("c"))
    assert result["status"] == "SUCCESS", result

    final = handlers["FinalizeCoverFunction"](event("finalize_cover.json"), FakeContext("f"))
    assert final["status"] == "SUCCEEDED", final

    body = (root / "events" / "upstream_music_completed.json").read_bytes()
    webhook = {
        "headers": {"x-covers-signature": sign("hk", body, int(time.time()))},
        "body": body.decode(),
        "isBase64Encoded": False,
        "requestContext": {"requestId": "r1"},
    }
    answer = handlers["MusicWebhookFunction"](webhook, FakeContext("w"))
    assert answer["statusCode"] == 202, answer
print("build output OK: 4 functions ran on their sample events")
