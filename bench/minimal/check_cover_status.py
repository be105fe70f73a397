"""CheckCoverStatusFunction, minimal: the API key from Secrets Manager, one status call to the vendor."""

from __future__ import annotations

import os
from typing import Any

import boto3
import requests

secrets: Any = boto3.client("secretsmanager", endpoint_url=os.environ.get("COVERS_AWS_ENDPOINT_URL") or None)
session = requests.Session()


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    key = secrets.get_secret_value(SecretId=os.environ["VENDOR_API_KEY_SECRET"])["SecretString"]
    answer = session.get(
        os.environ["VENDOR_BASE_URL"] + "/v2/cover/status",
        params={"task_id": event["coverTaskId"]},
        headers={"Authorization": f"Bearer {key}"},
        timeout=(3.05, 15),
    )
    data = answer.json()["data"]
    return {"status": data["status"], "pollCount": 1, "images": data.get("images") or []}
