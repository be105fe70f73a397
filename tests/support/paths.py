"""Where things are, and the sample events (no AWS, no moto: unit tests import this too)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
REGION = "us-east-1"
API_KEY = "test-key-0123456789"
WEBHOOK_KEY = "webhook-signing-key-abc"


def load_event(name: str) -> dict[str, Any]:
    """A sample event from events/ (the same files `sam local invoke -e` uses)."""
    return json.loads((EVENTS / name).read_text())
