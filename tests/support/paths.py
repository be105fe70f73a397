"""Where things are, and the sample events (no AWS, no moto: unit tests import this too)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
REGION = "us-east-1"
API_KEY = "test-key-0123456789"
WEBHOOK_KEY = "webhook-signing-key-abc"
#: Every test's environment (tests/conftest.py): fake AWS credentials, a region, Powertools' names.
TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "POWERTOOLS_METRICS_NAMESPACE": "CoverPipeline",
    "POWERTOOLS_SERVICE_NAME": "covers",
    "POWERTOOLS_TRACE_DISABLED": "true",
}


def load_script(path: Path, name: str) -> ModuleType:
    """A repository script that is not a package module (docs/generate.py, events/schemas/publish.py)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_event(name: str) -> dict[str, Any]:
    """A sample event from events/ (the same files `sam local invoke -e` uses)."""
    return json.loads((EVENTS / name).read_text())
