"""Run one Lambda handler once, in this process, as the Lambda runtime would:
``python -m covers_local.lambda_process CODE_DIR EVENT_FILE``.

The handler's environment is this process's (``covers invoke`` starts it with exactly the variables
``sam local invoke`` would set). The handler's output (its logs) goes to stderr; stdout gets only the
result as JSON, or the error as Lambda reports it (``errorType``, ``errorMessage``), with exit code 1."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

from covers_local.lambda_events import LambdaContext


def invoke(code_dir: Path, event: Any) -> tuple[bool, Any]:
    """(succeeded, result or Lambda's error document)."""
    sys.path.insert(0, str(code_dir))
    with contextlib.redirect_stdout(sys.stderr):  # logs to stderr, the result alone to stdout
        try:
            spec = importlib.util.spec_from_file_location("app", code_dir / "app.py")
            assert spec and spec.loader, f"no app.py in {code_dir}"
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return True, module.lambda_handler(event, LambdaContext.from_environment())
        except Exception as exc:  # noqa: BLE001 - reported the way Lambda reports it
            return False, {"errorType": type(exc).__name__, "errorMessage": str(exc)}


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m covers_local.lambda_process CODE_DIR EVENT_FILE", file=sys.stderr)
        return 2
    event = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    succeeded, result = invoke(Path(argv[0]), event)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0 if succeeded else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
