"""covers_local.moto_patches: applied only when entered, undone on exit, refused on another moto version."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import tomllib
from typing import Any

import moto
import pytest
from moto import mock_aws
from moto.cloudformation import models as cfn_models
from moto.cloudformation import parsing
from moto.events.models import EventBus

from covers_local import moto_patches
from tests.support.paths import ROOT

REGION = "us-east-1"


def cloudformation_state() -> tuple[Any, ...]:
    """What the CloudFormation patch replaces, as moto holds it."""
    return (
        parsing.clean_json,
        parsing.get_model_list,
        parsing.get_model_map,
        parsing.get_name_type_map,
        vars(cfn_models.Stack)["parse_template"],
        vars(EventBus).get("physical_resource_id"),
    )


# --- version, import, apply and undo -------------------------------------------------------------------


def test_another_moto_version_is_refused_in_one_line_naming_both(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not moto_patches.cloudformation().applied
    before = cloudformation_state()
    monkeypatch.setattr(moto, "__version__", "5.3.0")

    with pytest.raises(moto_patches.MotoVersionError) as refused, moto_patches.cloudformation():
        pass

    message = str(refused.value)
    assert "\n" not in message
    assert "moto 5.2.5" in message and "moto 5.3.0 is installed" in message
    assert cloudformation_state() == before  # nothing was patched
    assert not moto_patches.cloudformation().applied


def test_the_version_checked_is_the_one_pyproject_pins() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    (pin,) = [d for d in project["dependencies"] if d.startswith("moto[")]
    assert pin.endswith(f"]=={moto_patches.MOTO_VERSION}")
    assert moto.__version__ == moto_patches.MOTO_VERSION


def test_importing_the_patch_modules_changes_nothing_in_moto() -> None:
    script = textwrap.dedent(
        """
        from moto.cloudformation import models as cfn_models, parsing
        from moto.core.serialize import BaseJSONSerializer
        from moto.awslambda_simple.models import LambdaSimpleBackend
        from moto.dynamodb.models import DynamoDBBackend
        from moto.dynamodb.responses import DynamoHandler
        from moto.events.models import EventBus

        def state():
            return (
                parsing.clean_json, parsing.get_model_list, parsing.get_model_map,
                parsing.get_name_type_map, vars(cfn_models.Stack)["parse_template"],
                vars(EventBus).get("physical_resource_id"), BaseJSONSerializer._serialize_type_map,
                LambdaSimpleBackend.invoke, DynamoDBBackend.put_item, DynamoHandler.batch_get_item,
            )

        before = state()
        from covers_local import moto_cfn, moto_patches
        assert state() == before
        parsing.get_model_list.cache_clear()
        parsing.get_model_map.cache_clear()
        models = parsing.get_model_map()  # moto's own lookup, computed after the import
        assert "AWS::SecretsManager::Secret" not in models
        assert models["AWS::StepFunctions::StateMachine"].__module__ == "moto.stepfunctions.models"
        print("unchanged")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "unchanged"


def test_a_patch_is_undone_at_its_last_exit_however_uses_overlap() -> None:
    patch = moto_patches.cloudformation()
    assert not patch.applied
    original = cloudformation_state()

    first, second = moto_patches.cloudformation(), moto_patches.cloudformation()
    first.__enter__()
    patched = cloudformation_state()
    assert all(p is not o for p, o in zip(patched, original, strict=True))
    second.__enter__()
    first.__exit__(None, None, None)  # not the last user: still applied (a module fixture, then a test's)
    assert cloudformation_state() == patched
    second.__exit__(None, None, None)

    assert cloudformation_state() == original
    assert not patch.applied


def test_deploy_refuses_to_run_without_the_cloudformation_patch() -> None:
    from covers_local.stack import deploy

    with mock_aws(), pytest.raises(RuntimeError, match=r"moto_patches\.cloudformation\(\)"):
        deploy("covers-unpatched", root=ROOT)
