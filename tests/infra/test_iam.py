"""Least privilege proven by execution: each role, as the transformed template grants it, against the AWS
calls made with it, down to the resource ARN.

The scenarios below run every code path that calls AWS (a start batch with a bad message, a duplicate, a
402 and an existing cover; polls in progress and done; finalize with and without the archive, twice, and
through the safety net; the webhook's 202, 400 and 401; the status API's 200, presigned URLs and 404) on
``template.yaml`` deployed into moto with every conditional resource (``ArchiveImages=true``, an upstream
bus). ``covers_local.aws_calls`` records each call as (function, IAM action, resource ARN). What AWS does
with a role for the code is added from the deployed stack: the SQS event source mapping's polling (the
function's role), the Lambda versions the state machine's definition names (its role), and the
unqualified ARNs executions started before version pinning call (:func:`pre_pinning_calls`). That runs
once per module (the ``observed`` fixture); the rest are pure comparisons
(``tests/support/least_privilege.py``) on the roles resolved to the deployed ARNs (as moto's
CloudFormation resolved them: :func:`test_the_proof_resolves_the_roles_as_cloudformation_did`).

Per role (every function and state machine of the template): every call granted (else the deployed
function fails), every grant used, and every grant's resource the narrowest pattern covering the ARNs its
calls touched: the exact ARN, or the pattern the code is designed to use (:data:`DESIGNED`). Exempt: the
log-delivery actions AWS requires on ``*`` (:data:`LOG_DELIVERY_ACTIONS`); the managed policies are
read from the template below. Every grant, widened in a copy of the template or dropped, must fail the
proof (:func:`test_a_widened_or_dropped_grant_fails_the_proof`), so a new grant needs no new test, and a
new function only its code paths in :func:`run_every_aws_code_path`.

``pytest tests/infra/test_iam.py -rP`` prints the table principal | granted | used."""

from __future__ import annotations

import ast
import inspect
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import covers_core.logic.start as start_module
import pytest
from covers_core import wiring
from covers_core.adapters.archive import ImageArchiver
from covers_core.adapters.records import CoverStore, open_shard
from covers_core.domain.model import iso
from covers_core.domain.signature import sign
from covers_core.errors import AwsTransientError, CoverNotReadyError
from moto import mock_aws

from covers_local import aws_calls, moto_patches
from covers_local.asl_map import Interpreter
from covers_local.aws_calls import Recorder, resources
from covers_local.emulator import EmulatorConfig, VendorEmulator
from covers_local.lambda_events import http_api_event, status_api_event
from covers_local.stack import Stack, deploy, transform
from tests.infra.test_contracts import LOG_DELIVERY_ACTIONS
from tests.infra.test_template_ops import FUNCTIONS, Resolved, as_list, statements
from tests.support import least_privilege as proof
from tests.support.harness import invoke, sqs_event
from tests.support.paths import API_KEY, ROOT, TEST_ENV, WEBHOOK_KEY, load_event

#: Every conditional resource exists: the archive bucket, the upstream rule and its queues, the backfill.
PARAMETERS = {"ArchiveImages": "true", "UpstreamEventBusName": "music-events", "CatalogueBackfill": "true"}
STACK = "covers-iam"
CFN = transform(PARAMETERS)
RESOLVED = Resolved(CFN, STACK, PARAMETERS)
#: The role of each function and state machine (principal -> role, logical ids).
ROLES = proof.principals(CFN)
LAMBDAS = sorted(p for p in ROLES if CFN["Resources"][p]["Type"] == "AWS::Lambda::Function")
#: The AWS managed policies a role may have: CloudWatch Logs for the function's own logs, X-Ray traces.
LOGS = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
XRAY = "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess"
#: The key prefix the archiver writes under (covers_core/adapters/archive.py; the wiring keeps the default).
ARCHIVE_PREFIX = str(inspect.signature(ImageArchiver).parameters["prefix"].default)
#: ARNs the code names one per item or per deploy, and the pattern a grant uses for them instead.
DESIGNED = (
    # One object per archived image, under the archiver's prefix.
    (rf"(arn:aws:s3:::[^/]+/{re.escape(ARCHIVE_PREFIX)}).+", r"\1*"),
    # The workflow calls the version published by the deploy its execution started with (docs/deploy.md,
    # "Upgrading").
    (r"(arn:aws:lambda:[^:]+:\d+:function:[^:]+):\d+", r"\1:*"),
    # The reconciler reads the execution of each stranded cover: one per music task, of the one machine;
    # the backfill's Distributed Map follows its child executions.
    (r"(arn:aws:states:[^:]+:\d+:execution:[^:]+):[^:]+", r"\1:*"),
    # The backfill reads any manifest under manifests/ and writes its results under results/.
    (r"(arn:aws:s3:::[^/]+/(?:manifests|results)/).+", r"\1*"),
)
#: The state machine whose Tasks are SDK integrations, run by covers_local.asl_map (moto runs no Distributed
#: Map): what it calls is recorded, as the functions' calls are.
BACKFILL = "CoverBackfill"
#: EventBridge Scheduler's role for the reconciler's schedule (SAM's ScheduleV2 event "Every").
SCHEDULE = "ReconcileFunctionEvery"
#: What Lambda's event source mapping calls with the function's role, by event source service.
EVENT_SOURCE_ACTIONS = {"sqs": ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")}

Grants = set[tuple[str, str]]  # (IAM action, resource as "<LogicalId>" or "<LogicalId>/key pattern")


def exempt(action: str, pattern: str) -> bool:
    """The log-delivery actions support no resource-level permissions: AWS requires ``*`` for them."""
    return pattern == "*" and action in LOG_DELIVERY_ACTIONS


# --- what the roles grant, read from the template ------------------------------------------------------


def role_id(logical_id: str) -> str:
    resource = CFN["Resources"][logical_id]["Properties"]
    role = resource.get("Role") or resource.get("RoleArn") or resource["Target"]["RoleArn"]  # a schedule's
    return str(role["Fn::GetAtt"][0])


def role_of(logical_id: str) -> dict[str, Any]:
    return dict(CFN["Resources"][role_id(logical_id)]["Properties"])


def resource_name(value: Any) -> str:
    """A resolved resource: "<X.Arn>" (ARN by GetAtt) and "<X>" (ARN by Ref) both become "<X>"."""
    return str(value).replace(".Arn>", ">")


def role_statements(logical_id: str) -> list[dict[str, Any]]:
    role = RESOLVED(role_of(logical_id))
    return [s for policy in role.get("Policies", []) for s in statements(policy["PolicyDocument"])]


def managed_policies(logical_id: str) -> set[str]:
    return set(RESOLVED(role_of(logical_id)).get("ManagedPolicyArns", []))


def granted(logical_id: str) -> Grants:
    found: Grants = set()
    for statement in role_statements(logical_id):
        found |= {
            (a, resource_name(r))
            for a in as_list(statement["Action"])
            for r in as_list(statement["Resource"])
        }
    return found


# --- what is called with each role, observed once ------------------------------------------------------


@dataclass(frozen=True)
class Observed:
    """What the module's scenarios observed on the moto stack (plain data: the mutations need no AWS)."""

    calls: dict[str, set[proof.Call]]  # principal (logical id) -> (IAM action, resource ARN)
    deployed: dict[str, str]  # "LogicalId" (Ref) and "LogicalId.Arn" -> their values in the stack
    policies: dict[str, dict[str, Any]]  # principal -> its role's policies as moto's CloudFormation made them

    def resolver(self, template: dict[str, Any]) -> Resolved:
        return Resolved(template, STACK, PARAMETERS, self.deployed)


def arn_attribute(stack: Stack, kind: str, physical_id: str) -> str | None:
    """``!GetAtt X.Arn`` of a deployed resource of the kinds roles name (Ref is the physical id)."""
    if kind == "AWS::DynamoDB::Table":
        return str(boto3.client("dynamodb").describe_table(TableName=physical_id)["Table"]["TableArn"])
    if kind == "AWS::SQS::Queue":
        return stack.queue_arn(physical_id)
    if kind == "AWS::Events::EventBus":
        return str(boto3.client("events").describe_event_bus(Name=physical_id)["Arn"])
    if kind == "AWS::Lambda::Function":
        return str(boto3.client("lambda").get_function_configuration(FunctionName=physical_id)["FunctionArn"])
    if kind == "AWS::S3::Bucket":
        return f"arn:aws:s3:::{physical_id}"
    if kind == "AWS::StepFunctions::StateMachine":
        return physical_id
    return None  # stays "<X.Arn>": a grant naming it matches no call, and the proof fails


def deployed_values(stack: Stack) -> dict[str, str]:
    found = {}
    for logical_id, physical_id in stack.physical_ids.items():
        kind = stack.template["Resources"].get(logical_id, {}).get("Type", "")
        found[logical_id] = physical_id
        arn = arn_attribute(stack, kind, physical_id) if kind else None
        if arn:
            found[f"{logical_id}.Arn"] = arn
        if kind == "AWS::StepFunctions::StateMachine":
            found[f"{logical_id}.Name"] = physical_id.rsplit(":", 1)[-1]
    return found


def deployed_policies(stack: Stack) -> dict[str, dict[str, Any]]:
    iam = boto3.client("iam")
    found: dict[str, dict[str, Any]] = {}
    for principal, role in ROLES.items():
        name = stack.physical_ids[role]
        found[principal] = {}
        for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]:
            document = iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"]
            # moto answers with the repr of the document its CloudFormation stored, AWS with JSON.
            found[principal][policy] = document if isinstance(document, dict) else ast.literal_eval(document)
    return found


def webhook(body: bytes, key: str = WEBHOOK_KEY) -> int:
    event = http_api_event(body, signature=sign(key, body, int(time.time())))
    return int(invoke("music_webhook", event)["statusCode"])


def check_input(stack: Stack, music_task_id: str) -> dict[str, Any]:
    record = stack.record(music_task_id)
    return {
        **load_event("check_cover_status.json"),
        "musicTaskId": music_task_id,
        "coverTaskId": record.cover_task_id,
        "generatedAt": record.generated_at,
    }


def refuse(*args: object, **kwargs: object) -> None:
    raise AwsTransientError("DynamoDB UpdateItem failed: ProvisionedThroughputExceededException")


def run_every_aws_code_path(stack: Stack, emulator: VendorEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    # start: a good request, a bad message (to the DLQ), a duplicate in the batch and in the next one
    invoke("start_cover", sqs_event({"musicTaskId": "ok"}, "not json", {"taskId": "ok"}))
    invoke("start_cover", sqs_event({"musicTaskId": "ok"}))
    emulator.add_existing_cover("made-elsewhere")  # REJECTED: its event goes out from the start function
    invoke("start_cover", sqs_event({"musicTaskId": "made-elsewhere"}))
    with monkeypatch.context() as broken:  # the record cannot keep a cover task id: handed on to the queue
        broken.setattr(CoverStore, "record_cover_task", refuse)
        broken.setattr(start_module, "STORE_PAUSES", ())
        invoke("start_cover", sqs_event({"musicTaskId": "handed-on"}))
    emulator.credits = 0  # 402: BLOCKED, the rest of the batch untouched
    invoke("start_cover", sqs_event({"musicTaskId": "blocked-1"}, {"musicTaskId": "blocked-2"}))
    emulator.recharge(10)
    assert stack.record("ok").status == "IN_PROGRESS"
    assert stack.record("made-elsewhere").status == "REJECTED"
    assert stack.record("blocked-1").status == "BLOCKED"

    # check: in progress (it writes nothing: the poll loop is the workflow's), then done
    ready_after = emulator.config.ready_after
    emulator.config.ready_after = (60.0, 60.0)
    invoke("start_cover", sqs_event({"musicTaskId": "slow"}))
    emulator.config.ready_after = ready_after
    with pytest.raises(CoverNotReadyError):
        invoke("check_cover_status", check_input(stack, "slow"))
    state = check_input(stack, "ok")
    state["check"] = invoke("check_cover_status", state)
    assert state["check"]["status"] == "SUCCESS"

    # finalize with the archive (twice: a retry), without it, and through the safety net
    assert invoke("finalize_cover", state)["status"] == "SUCCEEDED"
    invoke("finalize_cover", state)
    assert all(image.s3_uri for image in stack.record("ok").archived_images)
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

    # status API: a cover (200), its archived images' presigned URLs, and an unknown task (404)
    assert invoke("cover_status_api", status_api_event("ok"))["statusCode"] == 200
    presigned = invoke("cover_status_api", status_api_event("ok", query="urls=presigned"))
    assert all("X-Amz-Signature=" in image["url"] for image in json.loads(presigned["body"])["images"])
    assert invoke("cover_status_api", status_api_event("never-seen"))["statusCode"] == 404

    # reconciler: records stranded two hours ago: an unsent event, a lost claim, a workflow that ended,
    # and the BLOCKED ones above (queued again)
    table = boto3.resource("dynamodb").Table(stack.table_name)
    two_hours_ago = iso(datetime.now(UTC) - timedelta(hours=2))
    boto3.client("stepfunctions").stop_execution(executionArn=str(stack.record("slow").execution_arn))
    for task in ("slow", "blocked-1", "blocked-2"):
        table.update_item(
            Key={"musicTaskId": task},
            UpdateExpression="SET createdAt = :t, updatedAt = :t, generatedAt = :t",
            ExpressionAttributeValues={":t": two_hours_ago},
        )
    for task, status, extra in (
        ("unsent", "SUCCEEDED", {"images": ["https://img.example/1.png"]}),
        ("lost-claim", "GENERATING", {"claimExpiresAt": 1, "claimToken": "dead"}),
        ("over-budget", "BUDGET_EXCEEDED", {"metadata": '{"tenant": "acme"}'}),  # fits: budgets read
    ):
        table.put_item(
            Item={
                "musicTaskId": task,
                "status": status,
                "createdAt": two_hours_ago,
                "updatedAt": two_hours_ago,
                "openShard": open_shard(task),
                **extra,
            }
        )
    repaired = invoke("reconcile", load_event("reconcile.json"))["repaired"]
    assert repaired == {"PublishEvent": 1, "SettleLostClaim": 1, "ResumeWorkflow": 1, "Requeue": 3}


def event_source_calls(stack: Stack) -> dict[str, set[proof.Call]]:
    """What each event source mapping does with its function's role (Lambda polls the source)."""
    by_name = {f.name: logical_id for logical_id, f in stack.functions.items()}
    found: dict[str, set[proof.Call]] = {}
    for mapping in boto3.client("lambda").list_event_source_mappings()["EventSourceMappings"]:
        function = by_name[mapping["FunctionArn"].split(":function:")[1].split(":")[0]]
        source = mapping["EventSourceArn"]
        actions = EVENT_SOURCE_ACTIONS[source.split(":")[2]]  # a new kind of source: declare its actions
        found.setdefault(function, set()).update((a, source) for a in actions)
    return found


def schedule_calls(stack: Stack) -> dict[str, set[proof.Call]]:
    """What EventBridge Scheduler does with each schedule's role: invoke the schedule's target."""
    scheduler = boto3.client("scheduler")
    found: dict[str, set[proof.Call]] = {}
    for logical_id, resource in stack.template["Resources"].items():
        if resource["Type"] == "AWS::Scheduler::Schedule":
            name = stack.physical_ids[logical_id].rsplit("/", 1)[-1]
            target = scheduler.get_schedule(Name=name)["Target"]["Arn"]
            found[logical_id] = {("lambda:InvokeFunction", target)}
    return found


def task_resources(states: dict[str, Any]) -> Iterator[str]:
    for state in states.values():
        if state["Type"] == "Task":
            yield state["Resource"]
        for branch in [*state.get("Branches", []), state.get("ItemProcessor") or state.get("Iterator")]:
            if branch:
                yield from task_resources(branch["States"])


def workflow_calls(stack: Stack) -> dict[str, set[proof.Call]]:
    """What Step Functions calls with each state machine's role: the Lambda functions (published
    versions) its deployed definition's Task states name."""
    found: dict[str, set[proof.Call]] = {}
    client = boto3.client("stepfunctions")
    for logical_id, resource in stack.template["Resources"].items():
        if resource["Type"] != "AWS::StepFunctions::StateMachine":
            continue
        definition = client.describe_state_machine(stateMachineArn=stack.physical_ids[logical_id])
        for task in task_resources(json.loads(definition["definition"])["States"]):
            if logical_id == BACKFILL:
                continue  # its SDK calls are recorded as it runs (backfill_calls)
            # A new kind of task (an SDK integration, lambda:invoke): declare what it calls.
            assert task.startswith("arn:aws:lambda:"), task
            found.setdefault(logical_id, set()).add(("lambda:InvokeFunction", task))
    return found


def backfill_calls(stack: Stack) -> dict[str, set[proof.Call]]:
    """The backfill's deployed definition run on a manifest (covers_local.asl_map) with its calls recorded,
    and what Step Functions itself does with its role for a Distributed Map (AWS's "IAM policies for using
    Distributed Map states"): start its child executions on the machine, read and stop them, and write
    the results (multipart uploads: list their parts, abort a failed one)."""
    machine = stack.physical_ids[BACKFILL]
    bucket = stack.outputs["BackfillBucketName"]
    definition = json.loads(
        boto3.client("stepfunctions").describe_state_machine(stateMachineArn=machine)["definition"]
    )
    s3, sqs = boto3.client("s3"), boto3.client("sqs")
    s3.put_object(Bucket=bucket, Key="manifests/catalogue.csv", Body=b"musicTaskId\nbackfilled-1\n")
    with Recorder() as recorder, aws_calls.running(BACKFILL):
        Interpreter({"s3": s3, "sqs": sqs}).execute(
            definition, {"manifestKey": "manifests/catalogue.csv", "waitSeconds": 0, "maxConcurrency": 1}
        )
    made = {(c.action, c.resource) for c in recorder.calls}
    results = {arn for action, arn in made if action == "s3:PutObject"}
    child = machine.replace(":stateMachine:", ":execution:") + ":Rows-child"
    declared = {("states:StartExecution", machine)} | {
        (a, child) for a in ("states:DescribeExecution", "states:StopExecution")
    }
    declared |= {
        (a, arn)
        for arn in results
        for a in ("s3:GetObject", "s3:ListMultipartUploadParts", "s3:AbortMultipartUpload")
    }
    return {BACKFILL: made | declared}


def pre_pinning_calls(calls: dict[str, set[proof.Call]]) -> dict[str, set[proof.Call]]:
    """Executions started before version pinning call the unqualified function ARNs (for one day at most,
    the workflow's timeout; drop these grants and this scenario in the next release: CHANGELOG)."""
    return {
        principal: {(a, re.sub(r":\d+$", "", arn)) for a, arn in made if a == "lambda:InvokeFunction"}
        for principal, made in calls.items()
    }


def merge(*sources: dict[str, set[proof.Call]]) -> dict[str, set[proof.Call]]:
    found: dict[str, set[proof.Call]] = {}
    for source in sources:
        for principal, made in source.items():
            found.setdefault(principal, set()).update(made)
    return found


@pytest.fixture(scope="module")
def observed() -> Iterator[Observed]:
    """Every scenario, run once per module on the moto stack."""
    config = EmulatorConfig(api_key=API_KEY, ready_after=(0.0, 0.0), seed=1)
    with (
        VendorEmulator(config) as emulator,
        mock_aws(),
        moto_patches.cloudformation(),
        pytest.MonkeyPatch.context() as monkeypatch,
    ):
        for key, value in TEST_ENV.items():  # the autouse fixture's, which runs after this one
            monkeypatch.setenv(key, value)
        boto3.client("events").create_event_bus(Name=PARAMETERS["UpstreamEventBusName"])
        stack = deploy(STACK, {**PARAMETERS, "VendorBaseUrl": emulator.base_url}, root=ROOT)
        stack.put_secret(stack.api_key_secret_arn, API_KEY)
        stack.put_secret(stack.webhook_secret_arn, WEBHOOK_KEY)
        env = stack.process_env() | {
            "SECRET_CACHE_SECONDS": "0",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "ARCHIVE_ALLOW_LOOPBACK": "true",  # the emulator serves its images on 127.0.0.1
        }
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        wiring.reset()
        try:
            with Recorder() as recorder:
                run_every_aws_code_path(stack, emulator, monkeypatch)
        finally:
            wiring.reset()
        code: dict[str, set[proof.Call]] = {}
        for call in recorder.calls:
            code.setdefault(call.function, set()).add((call.action, call.resource))
        assert set(code) == set(LAMBDAS), "every function ran and called AWS"
        workflow = workflow_calls(stack)
        calls = merge(
            code,
            event_source_calls(stack),
            schedule_calls(stack),
            workflow,
            pre_pinning_calls(workflow),
            backfill_calls(stack),
        )
        seen = Observed(calls, deployed_values(stack), deployed_policies(stack))
    yield seen  # plain data: moto, the emulator and the environment are gone


# --- the proof -----------------------------------------------------------------------------------------


def shorten(text: str, deployed: dict[str, str]) -> str:
    """``text`` with the stack's ARNs and names as ``<LogicalId.Arn>`` / ``<LogicalId>``."""
    for key, value in sorted(deployed.items(), key=lambda kv: -len(kv[1])):
        if len(value) > 12:
            text = text.replace(value, f"<{key}>")
    return text


def table(grants: list[proof.Grant], seen: Observed) -> str:
    lines = ["principal | granted (action on resource) | used by"]
    for grant in grants:
        for action in grant.actions:
            made = seen.calls.get(grant.site.principal, set())
            uses = sorted({arn for a, arn in made if a == action and proof.matches(grant.pattern, arn)})
            shown = ", ".join(uses[:2]) + (" ..." if len(uses) > 2 else "")
            note = "(AWS requires *)" if exempt(action, grant.pattern) else "UNUSED"
            lines.append(f"{grant.label} | {action} on {grant.pattern} | {shown or note}")
    return shorten("\n".join(lines), seen.deployed)


def problems_of(template: dict[str, Any], seen: Observed) -> list[proof.Problem]:
    grants = proof.grants(template, seen.resolver(template), ROLES)
    return proof.verdict(grants, seen.calls, DESIGNED, exempt)


@pytest.mark.xdist_group("iam_proof")
def test_each_role_grants_exactly_what_is_called_with_it_on_the_narrowest_resources(
    observed: Observed,
) -> None:
    grants = proof.grants(CFN, observed.resolver(CFN), ROLES)
    print(table(grants, observed))  # the table of docs/security.md, "Least privilege"
    assert {g.site.principal for g in grants} == set(observed.calls)
    problems = problems_of(CFN, observed)
    assert not problems, "\n".join(shorten(p.text, observed.deployed) for p in problems)


@pytest.mark.xdist_group("iam_proof")
def test_the_proof_resolves_the_roles_as_cloudformation_did(observed: Observed) -> None:
    """The grants the proof reads are those of the deployed roles (moto's CloudFormation resolved them)."""
    resolve = observed.resolver(CFN)
    assert set(observed.policies) == set(ROLES)
    for principal, deployed in observed.policies.items():
        policies = proof.role_policies(CFN, resolve, ROLES[principal])
        assert {p["PolicyName"]: p["PolicyDocument"] for p in policies} == deployed, principal


#: Every resource of every Allow statement, but the log delivery's ``*`` (nothing is broader).
GRANTS = {g.site: g for g in proof.grants(CFN, RESOLVED, ROLES)}
SITES = [site for site, g in GRANTS.items() if not all(exempt(a, g.pattern) for a in g.actions)]


@pytest.mark.xdist_group("iam_proof")
@pytest.mark.parametrize(
    "site", SITES, ids=lambda site: f"{GRANTS[site].label}/{site.resource}".replace(" ", "/")
)
def test_a_widened_or_dropped_grant_fails_the_proof(observed: Observed, site: proof.Site) -> None:
    """Each grant widened (to ``*``, a trailing ``*``, a dropped key prefix, name, stack-name prefix,
    region or account) fails the proof, naming the grant, the widened pattern and the pattern that would
    do; dropped, it fails for the calls it covered."""
    resolve = observed.resolver(CFN)
    (grant,) = [g for g in proof.grants(CFN, resolve, ROLES) if g.site == site]
    role = ROLES[site.principal]
    wider = proof.widenings(grant.pattern)
    assert len(wider) >= 5, wider
    for pattern in wider:
        problems = problems_of(proof.with_resource(CFN, resolve, role, site, pattern), observed)
        named = [p for p in problems if p.grant and p.grant.site == site]
        assert named, f"{grant.label}: {grant.pattern} widened to {pattern} passes the proof"
        for problem in named:
            assert problem.kind == "not narrowest" and problem.grant and problem.grant.pattern == pattern
            assert grant.pattern in problem.narrower and f"{pattern} is broader than" in problem.text, problem
        assert {p.kind for p in problems} == {"not narrowest"}, problems
    problems = problems_of(proof.with_resource(CFN, resolve, role, site, None), observed)
    assert problems, f"{grant.label}: without {grant.pattern} the proof passes"
    assert {p.kind for p in problems} == {"missing"}, problems


@pytest.mark.parametrize(
    ("service", "params", "arn"),
    [
        (
            "dynamodb",
            {"TableName": "t", "IndexName": "byStatus"},
            "arn:aws:dynamodb:eu-west-1:1:table/t/index/byStatus",
        ),
        ("dynamodb", {"RequestItems": {"t": {}, "u": {}}}, "arn:aws:dynamodb:eu-west-1:1:table/t"),
        ("sqs", {"QueueUrl": "https://sqs.eu-west-1.amazonaws.com/2/q"}, "arn:aws:sqs:eu-west-1:2:q"),
        ("events", {"Entries": [{"Source": "x"}]}, "arn:aws:events:eu-west-1:1:event-bus/default"),
        ("s3", {"Bucket": "b"}, "arn:aws:s3:::b"),
        ("s3", {"Bucket": "b", "Key": "covers/k.png"}, "arn:aws:s3:::b/covers/k.png"),
        ("lambda", {"FunctionName": "f", "Qualifier": "3"}, "arn:aws:lambda:eu-west-1:1:function:f:3"),
        (
            "secretsmanager",
            {"SecretId": "arn:aws:secretsmanager:eu-west-1:2:secret:s-AbC"},
            "arn:aws:secretsmanager:eu-west-1:2:secret:s-AbC",
        ),
        ("sts", {}, "*"),
    ],
)
def test_a_call_is_recorded_with_the_arn_iam_matches_it_against(
    service: str, params: dict[str, Any], arn: str
) -> None:
    """The kinds of request the scenarios do not make (yet): an index query, batches, a bucket."""
    assert resources(service, params, "eu-west-1", account="1")[0] == arn


# --- what the transformed template grants, read -----------------------------------------------------------


@pytest.mark.parametrize("function", LAMBDAS)
def test_a_function_role_has_no_managed_policy_but_logs_and_xray_and_no_wildcard(function: str) -> None:
    assert managed_policies(function) == {LOGS, XRAY}
    for action, resource in granted(function):
        assert "*" not in action, f"{function}: {action}"
        # stack resources only: "<LogicalId...>", or an ARN built around one (the workflow's executions)
        assert resource != "*" and (not resource.startswith("arn:") or "<" in resource), (
            f"{function}: {action} on {resource}"
        )


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
    assert iam == set(ROLES.values())
    assert {x: role_id(x) for x in (*FUNCTIONS, "CoverWorkflow", BACKFILL, SCHEDULE)} == ROLES


def test_the_reconcilers_schedule_may_invoke_the_reconciler_only() -> None:
    assert managed_policies(SCHEDULE) == set()
    # the function's `live` alias: a deploy moves it to the new version, as it does for the SQS mapping
    assert granted(SCHEDULE) == {("lambda:InvokeFunction", "<ReconcileFunctionAliaslive>")}


def test_the_backfill_may_read_manifests_write_results_queue_requests_and_run_its_children_only() -> None:
    assert managed_policies(BACKFILL) <= {XRAY}
    machine = "arn:aws:states:us-east-1:123456789012:stateMachine:covers-iam-backfill"
    assert {(a, r) for a, r in granted(BACKFILL) if a not in LOG_DELIVERY_ACTIONS} == {
        ("s3:GetObject", "<BackfillBucket>/manifests/*"),
        *(
            (a, "<BackfillBucket>/results/*")
            for a in (
                "s3:PutObject",
                "s3:GetObject",
                "s3:ListMultipartUploadParts",
                "s3:AbortMultipartUpload",
            )
        ),
        ("sqs:SendMessage", "<CoverRequestsQueue>"),
        ("states:StartExecution", machine),
        ("states:DescribeExecution", machine.replace(":stateMachine:", ":execution:") + ":*"),
        ("states:StopExecution", machine.replace(":stateMachine:", ":execution:") + ":*"),
    }
