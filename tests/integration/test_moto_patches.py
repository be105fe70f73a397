"""covers_local.moto_patches: applied only when entered, undone on exit, refused on another moto version;
and the workaround for moto's answers to an item with an empty key inside a map attribute."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import moto
import pytest
from botocore.exceptions import ClientError
from covers_core.adapters.records import CoverStore
from covers_core.domain.claim import Claim
from covers_core.domain.model import CoverRequest, Status
from moto import mock_aws
from moto.cloudformation import models as cfn_models
from moto.cloudformation import parsing
from moto.events.models import EventBus

from covers_local import moto_patches
from tests.support.harness import Aws
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


# --- an empty key inside a map attribute ---------------------------------------------------------------


@pytest.fixture
def table() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        client.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


ITEM = {
    "pk": {"S": "a"},
    "metadata": {"M": {"": {"N": "1"}, "k": {"S": "v"}, "nested": {"M": {"": {"S": "deep"}}}}},
}


def test_moto_answers_an_empty_map_key_it_stored_in_a_form_botocore_cannot_parse(table: Any) -> None:
    """The moto bug the workaround is for (when a moto release fixes it, drop the workaround)."""
    table.put_item(TableName="t", Item=ITEM)
    with pytest.raises(AttributeError, match="'str' object has no attribute 'get'"):
        table.get_item(TableName="t", Key={"pk": {"S": "a"}})


def test_with_the_workaround_every_answer_keeps_the_empty_map_key(table: Any) -> None:
    table.put_item(TableName="t", Item=ITEM)
    with moto_patches.empty_map_keys():
        assert table.get_item(TableName="t", Key={"pk": {"S": "a"}})["Item"] == ITEM
        assert table.scan(TableName="t")["Items"] == [ITEM]
        updated = table.update_item(
            TableName="t",
            Key={"pk": {"S": "a"}},
            UpdateExpression="SET s = :s",
            ExpressionAttributeValues={":s": {"S": "x"}},
            ReturnValues="ALL_NEW",
        )
        assert updated["Attributes"] == ITEM | {"s": {"S": "x"}}
        with pytest.raises(ClientError, match="ConditionalCheckFailed"):  # errors still serialize
            table.put_item(TableName="t", Item=ITEM, ConditionExpression="attribute_not_exists(pk)")


def test_a_record_whose_metadata_has_an_empty_key_is_recorded_and_read_back(aws: Aws) -> None:
    """What the reviewer saw: the UpdateItem of record_cover_task could not read its answer (the record's
    metadata came back malformed), whatever the music task id (here one that reads like a placeholder)."""
    store = CoverStore(aws.table)
    now = datetime.now(UTC)
    request = CoverRequest(music_task_id=":token", metadata={"": 1, "album": {"": "x"}})

    claim = store.claim(request, now, 60)
    assert isinstance(claim, Claim)
    record = store.record_cover_task(":token", claim.token, "cover-1", now)

    assert (record.status, record.cover_task_id) == (Status.IN_PROGRESS, "cover-1")
    assert aws.records()[":token"].metadata == {"": 1, "album": {"": "x"}}  # a scan, as local-stack's


def test_an_action_moto_lacks_answers_501_at_once_instead_of_a_500_and_retries() -> None:
    """`covers doctor` on the local stack asks Service Quotas for a list moto has not implemented."""
    with mock_aws():
        quotas = boto3.client("service-quotas", region_name="us-east-1")
        with pytest.raises(NotImplementedError):
            quotas.list_service_quotas(ServiceCode="states")
        with moto_patches.unsupported_services(), pytest.raises(ClientError) as caught:
            quotas.list_service_quotas(ServiceCode="states")
    error = caught.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 501
    assert error["ResponseMetadata"]["RetryAttempts"] == 0
    assert error["Error"]["Code"] == "NotImplementedException"
    assert "list_service_quotas" in error["Error"]["Message"]
