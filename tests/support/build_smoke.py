"""Run each built function (``sam build`` output) on its sample event against moto and the emulator.

Usage: python tests/support/build_smoke.py .aws-sam/build
(run by tests/infra/test_build.py in a fresh interpreter)

The layer's ``python/`` folder comes first on sys.path, as ``/opt/python`` does in Lambda, and the script
checks that the domain package and its dependencies really were loaded from it."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

build = Path(sys.argv[1]).resolve()
root = Path(__file__).resolve().parents[2]
layer = build / "SharedLayer" / "python"
sys.path[:0] = [str(layer), str(root)]

import aws_lambda_powertools  # noqa: E402
import covers_core  # noqa: E402
import requests  # noqa: E402
from moto import mock_aws  # noqa: E402

for module in (covers_core, aws_lambda_powertools, requests):
    origin = Path(str(module.__file__)).resolve()
    assert origin.is_relative_to(layer), f"{module.__name__} not from the layer: {origin}"

from covers_local import moto_patches  # noqa: E402
from covers_local.emulator import EmulatorConfig, VendorEmulator  # noqa: E402
from covers_local.lambda_events import LambdaContext, signed_webhook_event  # noqa: E402
from covers_local.runner import load_handler  # noqa: E402
from covers_local.stack import deploy  # noqa: E402
from covers_local.template import DELIVERY_DEFAULTS  # noqa: E402


def event(name: str) -> dict:
    return json.loads((root / "events" / name).read_text())


os.environ.update({"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1"})
with (
    VendorEmulator(EmulatorConfig(api_key="k", ready_after=(0, 0))) as emulator,
    mock_aws(),
    moto_patches.cloudformation(),
):
    stack = deploy("covers-smoke", {"VendorBaseUrl": emulator.base_url}, root=root)
    stack.put_secret(stack.api_key_secret_arn, "k")
    stack.put_secret(stack.webhook_secret_arn, "hk")
    quiet = {"POWERTOOLS_METRICS_DISABLED": "true", "POWERTOOLS_LOG_LEVEL": "CRITICAL"}
    os.environ.update(DELIVERY_DEFAULTS | stack.process_env() | quiet)
    handlers = {name: load_handler(build / name, f"built_{name}") for name in stack.functions}

    started = handlers["StartCoverFunction"](event("start_cover.json"), LambdaContext("s"))
    assert started == {"batchItemFailures": []}, started
    record = stack.record("gen123213213213123bksv")
    assert record.status == "IN_PROGRESS", record
    answer = handlers["CoverStatusApiFunction"](event("cover_status_api.json"), LambdaContext("a"))
    assert answer["statusCode"] == 200 and '"IN_PROGRESS"' in answer["body"], answer

    check = {
        **event("check_cover_status.json"),
        "coverTaskId": record.cover_task_id,
        "generatedAt": record.generated_at,
    }
    result = handlers["CheckCoverStatusFunction"](check, LambdaContext("c"))
    assert result["status"] == "SUCCESS", result

    final = handlers["FinalizeCoverFunction"](event("finalize_cover.json"), LambdaContext("f"))
    assert final["status"] == "SUCCEEDED", final

    body = (root / "events" / "upstream_music_completed.json").read_bytes()
    answer = handlers["MusicWebhookFunction"](signed_webhook_event("hk", body), LambdaContext("w"))
    assert answer["statusCode"] == 202, answer
print(f"build output OK: {len(handlers)} functions ran on their sample events")
