"""The layering holds: the domain does no I/O, and each handler imports only what its function uses
(which is also what its cold start pays for)."""

from __future__ import annotations

import json
import subprocess
import sys

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
