"""Least privilege proven by execution: each function's role, as the transformed template grants it, against
the AWS calls its real handler made.

The scenarios below run every code path that calls AWS (a start batch with a bad message, a duplicate, a
402 and an existing cover; polls in progress and done; finalize with and without the archive, twice, and
through the safety net; the webhook's 202, 400 and 401) on ``template.yaml`` deployed into moto with
every conditional resource (``ArchiveImages=true``, an upstream bus). ``covers_local.aws_calls`` records
each call as (function, IAM action, resource). The test then requires, per function: every call granted
(else the deployed function fails) and every grant used (else it is more than the code needs), apart
from CloudWatch Logs and X-Ray (``AWSLambdaBasicExecutionRole``, ``AWSXrayWriteOnlyAccess``) and what the
SQS event source mapping does with the function's role (:data:`EVENT_SOURCE_GRANTS`).

``pytest tests/infra/test_iam.py -rP`` prints the table function | granted | used."""

from __future__ import annotations

import fnmatch
import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from covers_core import wiring
from covers_core.domain.signature import sign
from moto import mock_aws

from covers_local import moto_patches
from covers_local.aws_calls import Recorder
from covers_local.emulator import VendorEmulator
from covers_local.lambda_events import http_api_event, status_api_event
from covers_local.stack import Stack, deploy, transform
from tests.infra.test_contracts import LOG_DELIVERY_ACTIONS
from tests.infra.test_template_ops import FUNCTIONS, Resolved, as_list, statements
from tests.support.harness import invoke, sqs_event
from tests.support.paths import API_KEY, ROOT, WEBHOOK_KEY, load_event

#: Every conditional resource exists: the archive bucket, the upstream rule and its queues.
PARAMETERS = {"ArchiveImages": "true", "UpstreamEventBusName": "music-events"}
STACK = "covers-iam"
CFN = transform(PARAMETERS)
RESOLVED = Resolved(CFN, STACK, PARAMETERS)
#: The AWS managed policies a role may have: CloudWatch Logs for the function's own logs, X-Ray traces.
LOGS = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
XRAY = "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess"
#: Not called by the code but by Lambda's SQS event source mapping, with the function's role.
EVENT_SOURCE_GRANTS = {
    "StartCoverFunction": {
        ("sqs:ReceiveMessage", "<CoverRequestsQueue>"),
        ("sqs:DeleteMessage", "<CoverRequestsQueue>"),
        ("sqs:GetQueueAttributes", "<CoverRequestsQueue>"),
    }
}
#: The kinds of resource a function names in its calls (physical id -> logical id).
CALLED_TYPES = {
    "AWS::DynamoDB::Table",
    "AWS::SQS::Queue",
    "AWS::Events::EventBus",
    "AWS::StepFunctions::StateMachine",
    "AWS::SecretsManager::Secret",
    "AWS::S3::Bucket",
}

Grants = set[tuple[str, str]]  # (IAM action, resource as "<LogicalId>" or "<LogicalId>/key pattern")


# --- what the roles grant ----------------------------------------------------------------------------------


def role_id(logical_id: str) -> str:
    resource = CFN["Resources"][logical_id]["Properties"]
    return str((resource.get("Role") or resource["RoleArn"])["Fn::GetAtt"][0])


def role_of(logical_id: str) -> dict[str, Any]:
    return dict(CFN["Resources"][role_id(logical_id)]["Properties"])


def resource_name(value: Any) -> str:
    """A resolved resource: "<X.Arn>" (ARN by GetAtt) and "<X>" (ARN by Ref) both become "<X>"."""
    return str(value).replace(".Arn>", ">")


def role_statements(logical_id: str) -> list[dict[str, Any]]:
    role = RESOLVED(role_of(logical_id))
    return [s for policy in role.get("Policies", []) if policy for s in statements(policy["PolicyDocument"])]


def managed_policies(logical_id: str) -> set[str]:
    return set(RESOLVED(role_of(logical_id)).get("ManagedPolicyArns", []))


def granted(logical_id: str) -> Grants:
    found: Grants = set()
    for statement in role_statements(logical_id):
        assert statement["Effect"] == "Allow" and set(statement) <= {"Sid", "Effect", "Action", "Resource"}
        found |= {
            (a, resource_name(r))
            for a in as_list(statement["Action"])
            for r in as_list(statement["Resource"])
        }
    return found


# --- what the handlers call --------------------------------------------------------------------------------


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch, emulator: VendorEmulator) -> Iterator[Stack]:
    with mock_aws(), moto_patches.cloudformation():
        boto3.client("events").create_event_bus(Name=PARAMETERS["UpstreamEventBusName"])
        deployed = deploy(STACK, {**PARAMETERS, "VendorBaseUrl": emulator.base_url}, root=ROOT)
        deployed.put_secret(deployed.api_key_secret_arn, API_KEY)
        deployed.put_secret(deployed.webhook_secret_arn, WEBHOOK_KEY)
        env = deployed.process_env() | {
            "SECRET_CACHE_SECONDS": "0",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "ARCHIVE_ALLOW_LOOPBACK": "true",  # the emulator serves its images on 127.0.0.1
        }
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        wiring.reset()
        yield deployed
        wiring.reset()


def webhook(body: bytes, key: str = WEBHOOK_KEY) -> int:
    event = http_api_event(body, signature=sign(key, body, int(time.time())))
    return int(invoke("music_webhook", event)["statusCode"])


def check_input(stack: Stack, music_task_id: str) -> dict[str, Any]:
    record = stack.record(music_task_id) or {}
    return {
        **load_event("check_cover_status.json"),
        "musicTaskId": music_task_id,
        "coverTaskId": record["coverTaskId"],
        "generatedAt": record["generatedAt"],
    }


def run_every_aws_code_path(stack: Stack, emulator: VendorEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    # start: a good request, a bad message (to the DLQ), a duplicate in the batch and in the next one
    invoke("start_cover", sqs_event({"musicTaskId": "ok"}, "not json", {"taskId": "ok"}))
    invoke("start_cover", sqs_event({"musicTaskId": "ok"}))
    emulator.add_existing_cover("made-elsewhere")  # REJECTED: its event goes out from the start function
    invoke("start_cover", sqs_event({"musicTaskId": "made-elsewhere"}))
    emulator.credits = 0  # 402: BLOCKED, the rest of the batch untouched
    invoke("start_cover", sqs_event({"musicTaskId": "blocked-1"}, {"musicTaskId": "blocked-2"}))
    emulator.recharge(10)
    assert stack.record("ok")["status"] == "IN_PROGRESS"
    assert stack.record("made-elsewhere")["status"] == "REJECTED"
    assert stack.record("blocked-1")["status"] == "BLOCKED"

    # check: in progress (the poll count is recorded), then done
    ready_after = emulator.config.ready_after
    emulator.config.ready_after = (60.0, 60.0)
    invoke("start_cover", sqs_event({"musicTaskId": "slow"}))
    emulator.config.ready_after = ready_after
    assert invoke("check_cover_status", check_input(stack, "slow"))["status"] == "IN_PROGRESS"
    state = check_input(stack, "ok")
    state["check"] = invoke("check_cover_status", state)
    assert state["check"]["status"] == "SUCCESS"

    # finalize with the archive (twice: a retry), without it, and through the safety net
    assert invoke("finalize_cover", state)["status"] == "SUCCEEDED"
    invoke("finalize_cover", state)
    assert all("s3Uri" in image for image in stack.record("ok")["archivedImages"])
    invoke("start_cover", sqs_event({"musicTaskId": "plain"}, {"musicTaskId": "netted"}))
    monkeypatch.setenv("ARCHIVE_BUCKET", "")
    wiring.reset()
    plain = check_input(stack, "plain") | {"check": state["check"]}
    assert invoke("finalize_cover", plain)["status"] == "SUCCEEDED"
    monkeypatch.setenv("ARCHIVE_BUCKET", stack.archive_bucket or "")
    wiring.reset()
    netted = check_input(stack, "netted") | {
        "check": state["check"],
        "finalizeFailure": {"Error": "RuntimeError", "Cause": json.dumps({"errorMessage": "crashed"})},
    }
    assert invoke("finalize_cover", netted)["status"] == "SUCCEEDED"

    # webhook: queued (202), authentic but unusable (400, to the DLQ), forged (401)
    assert webhook(json.dumps(load_event("upstream_music_completed.json")).encode()) == 202
    assert webhook(b'{"title": "no id here"}') == 400
    assert webhook(b'{"musicTaskId": "x"}', key="forged") == 401

    # status API: a cover (200) and an unknown task (404)
    assert invoke("cover_status_api", status_api_event("ok"))["statusCode"] == 200
    assert invoke("cover_status_api", status_api_event("never-seen"))["statusCode"] == 404


def logical_ids(stack: Stack) -> dict[str, str]:
    """Physical id -> logical id of the resources functions name in their calls."""
    return {
        stack.physical_ids[logical_id]: logical_id
        for logical_id, resource in stack.template["Resources"].items()
        if resource["Type"] in CALLED_TYPES and logical_id in stack.physical_ids
    }


def used(recorder: Recorder, stack: Stack) -> dict[str, Grants]:
    names = logical_ids(stack)
    found: dict[str, Grants] = {}
    for call in recorder.calls:
        name, _, key = call.resource.partition("/") if "://" not in call.resource else (call.resource, "", "")
        resource = f"<{names.get(name, name)}>" + (f"/{key}" if key else "")
        found.setdefault(call.function, set()).add((call.action, resource))
    return found


def matches(call: tuple[str, str], grant: tuple[str, str]) -> bool:
    return call[0] == grant[0] and fnmatch.fnmatchcase(call[1], grant[1])


def table(grants: dict[str, Grants], calls: dict[str, Grants]) -> str:
    lines = ["function | granted (action on resource) | used by the code"]
    for fn in FUNCTIONS:
        for action, resource in sorted(grants[fn]):
            uses = sorted({r for a, r in calls.get(fn, set()) if matches((a, r), (action, resource))})
            note = "event source mapping" if (action, resource) in EVENT_SOURCE_GRANTS.get(fn, set()) else ""
            shown = ", ".join(uses[:2]) + (" ..." if len(uses) > 2 else "")
            lines.append(f"{fn} | {action} on {resource} | {shown or note or 'UNUSED'}")
    return "\n".join(lines)


def test_each_function_role_grants_exactly_what_its_handler_calls(
    stack: Stack, emulator: VendorEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Recorder() as recorder:
        run_every_aws_code_path(stack, emulator, monkeypatch)
    calls = used(recorder, stack)
    grants = {fn: granted(fn) for fn in FUNCTIONS}
    print(table(grants, calls))  # the table of the README's Security section
    assert set(calls) == set(FUNCTIONS)  # every function ran and called AWS
    for fn in FUNCTIONS:
        missing = {c for c in calls[fn] if not any(matches(c, g) for g in grants[fn])}
        assert not missing, f"{fn} calls what its role does not grant: {sorted(missing)}"
        needed = EVENT_SOURCE_GRANTS.get(fn, set())
        assert needed <= grants[fn], f"{fn}'s event source mapping needs {sorted(needed - grants[fn])}"
        unused = {g for g in grants[fn] - needed if not any(matches(c, g) for c in calls[fn])}
        assert not unused, f"{fn}'s role grants what its code never calls: {sorted(unused)}"


# --- what the transformed template grants, read -----------------------------------------------------------


@pytest.mark.parametrize("function", FUNCTIONS)
def test_a_function_role_has_no_managed_policy_but_logs_and_xray_and_no_wildcard(function: str) -> None:
    assert managed_policies(function) == {LOGS, XRAY}
    for action, resource in granted(function):
        assert "*" not in action, f"{function}: {action}"
        assert resource != "*" and not resource.startswith("arn:"), f"{function}: {action} on {resource}"


def test_the_workflow_may_invoke_its_two_functions_and_deliver_logs_only() -> None:
    assert managed_policies("CoverWorkflow") <= {XRAY}  # X-Ray only with TracingMode=Active
    invoke_grants = {r for a, r in granted("CoverWorkflow") if a == "lambda:InvokeFunction"}
    assert invoke_grants == {
        "<CheckCoverStatusFunction>:*",  # the published versions the definition names
        "<FinalizeCoverFunction>:*",
        "<CheckCoverStatusFunction>",  # executions started before version pinning (CHANGELOG)
        "<FinalizeCoverFunction>",
    }
    rest = {(a, r) for a, r in granted("CoverWorkflow") if a != "lambda:InvokeFunction"}
    assert rest == {(a, "*") for a in LOG_DELIVERY_ACTIONS}


def test_the_roles_of_the_functions_and_the_workflow_are_the_only_iam_in_the_template() -> None:
    iam = {k for k, v in CFN["Resources"].items() if v["Type"].startswith("AWS::IAM::")}
    assert iam == {role_id(x) for x in (*FUNCTIONS, "CoverWorkflow")}
