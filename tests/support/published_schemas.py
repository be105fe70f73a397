"""The published (JSON Schema Draft 4) event schemas, for any test that emits events.

``assert_valid_published(event)`` validates an event as a consumer using the schema registry would:
against ``events/schemas/published/<name>.json``, chosen by the event's ``detail-type``. Use it next
to the draft 2020-12 check (``assert_valid_event`` in tests/integration/test_finalize.py) so every
emitted event is checked against both forms."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema

ROOT = Path(__file__).resolve().parents[2]
PUBLISHED_DIR = ROOT / "events" / "schemas" / "published"


def _detail_type(schema: dict[str, Any]) -> str:
    (detail_type,) = schema["properties"]["detail-type"]["enum"]
    return str(detail_type)


def load_published() -> dict[str, dict[str, Any]]:
    """detail-type -> its published Draft 4 schema."""
    schemas = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(PUBLISHED_DIR.glob("*.json"))]
    return {_detail_type(schema): schema for schema in schemas}


PUBLISHED = load_published()


def published_validator(detail_type: str) -> jsonschema.Draft4Validator:
    schema = PUBLISHED.get(detail_type)
    assert schema is not None, f"no published schema for detail-type {detail_type!r}"
    return jsonschema.Draft4Validator(schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)


def assert_valid_published(event: dict[str, Any]) -> None:
    """Fails (jsonschema.ValidationError) unless ``event`` matches the published schema of its detail-type."""
    assert isinstance(event, dict) and "detail-type" in event, f"not an EventBridge event: {event!r}"
    published_validator(event["detail-type"]).validate(event)
