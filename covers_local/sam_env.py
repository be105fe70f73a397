"""The environment ``sam local invoke --env-vars FILE`` gives a function, computed by SAM CLI's own code.

``sam local`` only overrides variables the template declares on the function (an env file naming others
is silently ignored), takes values from the shell for declared names, and adds its own ``AWS_*``
variables. Reusing SAM CLI's resolution (``samcli``, installed with ``make``) instead of re-implementing
those rules is what lets ``covers invoke`` and the tests claim "exactly what ``sam local invoke`` would
set"."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from unittest import mock


class SamEnvError(Exception):
    """The env file or the function name is not usable."""


def function_environment(
    template: Path,
    function: str,
    env_file: Path | None,
    *,
    shell: Mapping[str, str] | None = None,
    parameter_overrides: Mapping[str, str] | None = None,
) -> tuple[dict[str, str], Path]:
    """The variables ``sam local invoke <function> --env-vars <env_file>`` sets in the function's container
    (with ``shell`` as the shell's environment, default none of ours), and the function's code folder."""
    try:
        from samcli.commands.local.lib.local_lambda import LocalLambdaRunner
        from samcli.lib.providers.sam_function_provider import SamFunctionProvider
        from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider
    except ImportError as exc:  # pragma: no cover - aws-sam-cli is in the project's build extra
        raise SamEnvError("needs aws-sam-cli (pip install -e '.[build]', or run make once)") from exc
    values: dict[str, Any] = {}
    if env_file is not None:
        try:
            values = json.loads(env_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SamEnvError(f"cannot read env file {env_file}: {exc}") from exc
    root = template.resolve().parent
    # SAM reads the shell for declared names and for credentials; never the EC2 metadata service here.
    with mock.patch.dict(os.environ, {**(shell or {}), "AWS_EC2_METADATA_DISABLED": "true"}, clear=True):
        stacks, _ = SamLocalStackProvider.get_stacks(
            str(template), parameter_overrides=dict(parameter_overrides or {})
        )
        provider = SamFunctionProvider(stacks)
        found = provider.get(function)
        if found is None:
            names = ", ".join(sorted(f.name for f in provider.get_all()))
            raise SamEnvError(f"no function {function!r} in {template} (one of: {names})")
        runner = LocalLambdaRunner(
            local_runtime=None,
            function_provider=provider,
            cwd=str(root),
            real_path=str(root),
            env_vars_values=values,
        )
        environment = runner._make_env_vars(found).resolve()
    return {str(k): str(v) for k, v in environment.items()}, root / str(found.codeuri)
