"""The layering holds: the domain does no I/O, each handler imports only what its function uses (which is
also what its cold start pays for), and the shipped layer, the operator's code and the local tooling depend
on each other in one direction only."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import ROOT

LAYER = ROOT / "layers" / "shared"

#: covers_core modules a function must never load, by function folder.
NOT_LOADED = {
    "start_cover": {
        "covers_core.adapters.archive",
        "covers_core.adapters.image_fetch",  # the image fetcher (a package): only archiving uses it
        "covers_core.logic.check",
        "covers_core.logic.intake",
        "aws_lambda_powertools.utilities.data_classes",  # the webhook's event classes
    },
    "check_cover_status": {
        "covers_core.adapters.archive",
        "covers_core.adapters.image_fetch",
        "covers_core.adapters.eventbus",
        "covers_core.adapters.queues",
        "covers_core.adapters.workflow",
        "covers_core.logic.start",
        "covers_core.logic.batch",
        "covers_core.logic.finalize",
        "covers_core.logic.intake",
        "aws_lambda_powertools.utilities.data_classes",
    },
    "finalize_cover": {
        "covers_core.adapters.archive",  # only when archiving is on (ARCHIVE_BUCKET set)
        "covers_core.adapters.image_fetch",
        "covers_core.adapters.vendor",
        "covers_core.adapters.workflow",
        "covers_core.adapters.queues",
        "covers_core.logic.start",
        "covers_core.logic.batch",
        "covers_core.logic.check",
        "covers_core.adapters.secrets",  # reads no secret
        "aws_lambda_powertools.utilities.parameters",
        "requests",
    },
    "music_webhook": {
        "aws_lambda_powertools.utilities.data_classes",  # ~10 ms of cold start to read a few keys
        "covers_core.adapters.vendor",
        "covers_core.adapters.records",
        "covers_core.adapters.archive",
        "covers_core.adapters.image_fetch",
        "covers_core.adapters.workflow",
        "covers_core.logic.start",
        "covers_core.logic.batch",
        "covers_core.logic.finalize",
        "requests",
    },
    "cover_status_api": {  # reads the table only
        "aws_lambda_powertools.utilities.data_classes",
        "covers_core.adapters.vendor",
        "covers_core.adapters.queues",
        "covers_core.adapters.workflow",
        "covers_core.adapters.archive",
        "covers_core.adapters.image_fetch",
        "covers_core.adapters.eventbus",
        "covers_core.adapters.secrets",
        "covers_core.logic.start",
        "covers_core.logic.batch",
        "covers_core.logic.check",
        "covers_core.logic.finalize",
        "covers_core.logic.intake",
        "requests",
    },
}

# Pillow: no handler loads it at import, finalize's included (its archiver imports it at the first image it
# decodes: covers_core/adapters/thumbnails.py).
for _modules in NOT_LOADED.values():
    _modules |= {"PIL", "covers_core.adapters.thumbnails"}


def loaded_modules(code: str) -> set[str]:
    script = f"import json, sys; {code}; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": f"{LAYER}:{ROOT}", "AWS_DEFAULT_REGION": "us-east-1", "PATH": "/usr/bin:/bin"},
    )
    return set(json.loads(result.stdout.splitlines()[-1]))


@pytest.mark.parametrize("folder", sorted(NOT_LOADED))
def test_a_handler_imports_only_what_its_function_uses(folder: str) -> None:
    app = ROOT / "functions" / folder / "app.py"
    modules = loaded_modules(
        f"import importlib.util as u; s = u.spec_from_file_location('app', {str(app)!r}); "
        "s.loader.exec_module(u.module_from_spec(s))"
    )
    assert "covers_core.wiring" in modules  # it really imported its handler
    assert modules & NOT_LOADED[folder] == set()
    # What the layer leaves out (layers/shared/Makefile UNUSED) is never imported.
    assert not {m for m in modules if m.startswith("aws_lambda_powertools.event_handler")}


def test_the_domain_does_no_io() -> None:
    modules = loaded_modules(
        "import pkgutil, importlib, covers_core.domain as d; "
        "[importlib.import_module(m.name) for m in pkgutil.iter_modules(d.__path__, 'covers_core.domain.')]"
    )
    assert {m for m in modules if m.startswith("covers_core.domain.")}  # the domain modules loaded
    assert not {m for m in modules if m.split(".")[0] in ("boto3", "botocore", "requests", "urllib3")}
    assert not {m for m in modules if m.startswith(("covers_core.adapters", "covers_core.logic"))}


def test_unit_tests_run_on_fakes_alone() -> None:
    """tests/unit is the fast loop: nothing it imports loads moto or an AWS adapter's SDK stack."""
    modules = loaded_modules(
        "import pkgutil, importlib, tests.unit as u; "
        "[importlib.import_module(m.name) for m in pkgutil.walk_packages(u.__path__, 'tests.unit.')]"
    )
    assert {m for m in modules if m.startswith("tests.unit.")}  # the unit tests loaded
    assert not {m for m in modules if m.split(".")[0] == "moto"}


def test_the_logic_depends_on_ports_not_adapters() -> None:
    modules = loaded_modules(
        "import pkgutil, importlib, covers_core.logic as l; "
        "[importlib.import_module(m.name) for m in pkgutil.iter_modules(l.__path__, 'covers_core.logic.')]"
    )
    assert {m for m in modules if m.startswith("covers_core.logic.")}
    assert not {m for m in modules if m.startswith("covers_core.adapters")}
    # (botocore comes with Powertools' logger, which log_context uses; no client is made here)
    assert not {m for m in modules if m.split(".")[0] in ("boto3", "requests", "urllib3")}


def imported_packages(module: Path) -> set[str]:
    """The top-level packages a module imports, anywhere in it (imports inside functions too)."""
    found = set()
    for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def importers(folder: Path, package: str) -> set[str]:
    """The modules under ``folder`` that import ``package`` (paths relative to the project)."""
    return {
        module.relative_to(ROOT).as_posix()
        for module in folder.rglob("*.py")
        if package in imported_packages(module)
    }


def test_the_shipped_layer_never_imports_the_operator_code_or_the_local_tooling() -> None:
    assert importers(LAYER / "covers_core", "covers_ops") == set()
    assert importers(LAYER / "covers_core", "covers_local") == set()


def test_the_operator_code_needs_no_local_tooling() -> None:
    """covers_ops runs against AWS: neither the local tooling nor moto comes with it."""
    assert importers(ROOT / "covers_ops", "covers_local") == set()
    modules = loaded_modules("import covers_ops.cli")
    assert "covers_ops.deployed" in modules  # it really imported the operations
    assert not {m for m in modules if m.split(".")[0] in ("covers_local", "moto", "samtranslator")}


def test_only_the_covers_command_reaches_the_operator_code_from_the_local_tooling() -> None:
    """The one ``covers`` command composes the local and the operator's subcommands (``cli.py``), its
    local commands share their ``CommandError``, and the demo resumes a cover as ``covers resume`` does
    (``cli_runs.py``). The tooling under the command (runner, stack, local stack, emulator, moto patches)
    never imports covers_ops."""
    assert importers(ROOT / "covers_local", "covers_ops") == {
        "covers_local/cli.py",
        "covers_local/cli_runs.py",
        "covers_local/cli_serve.py",
    }
