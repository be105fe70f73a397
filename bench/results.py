"""Where the bench's runs leave their figures: one JSON file per run under ``bench/results/``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def save(result: Any, prefix: str = "", path: Path | None = None, indent: int = 1) -> Path:
    """Write ``result`` to ``path``, or to a new ``bench/results/<prefix><UTC time>.json``; return it."""
    path = path or RESULTS / f"{prefix}{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=indent) + "\n")
    return path
