"""Run one Lambda handler once, in this process, as the Lambda runtime would:
``python -m covers_local.lambda_process CODE_DIR EVENT_FILE``.

The handler's environment is this process's (``covers invoke`` starts it with exactly the variables
``sam local invoke`` would set). The handler's output (its logs) goes to stderr; stdout gets only the
result as JSON, or the error as Lambda reports it (``errorType``, ``errorMessage``), with exit code 1."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any


class Context:
    """The Lambda context object, from the variables the runtime sets."""

    def __init__(self) -> None:
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "local")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.invoked_function_arn = f"arn:aws:lambda:local:123456789012:function:{self.function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        timeout = float(os.environ.get("AWS_LAMBDA_FUNCTION_TIMEOUT", "30"))
        self._deadline = time.monotonic() + timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def invoke(code_dir: Path, event: Any) -> tuple[bool, Any]:
    """(succeeded, result or Lambda's error document)."""
    sys.path.insert(0, str(code_dir))
    with contextlib.redirect_stdout(sys.stderr):  # logs to stderr, the result alone to stdout
        try:
            spec = importlib.util.spec_from_file_location("app", code_dir / "app.py")
            assert spec and spec.loader, f"no app.py in {code_dir}"
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return True, module.lambda_handler(event, Context())
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
