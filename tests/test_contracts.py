"""The contracts between template.yaml, statemachine/ and the code, checked both ways."""

from __future__ import annotations

import inspect
import json
import re

from covers_core import errors

from covers_local.stack import functions, load_template
from tests.conftest import ROOT

ASL = json.loads(re.sub(r"\$\{\w+\}", "arn:x", (ROOT / "statemachine/cover_workflow.asl.json").read_text()))
TEMPLATE = load_template(ROOT / "template.yaml")


def retry_names(state: str) -> list[set[str]]:
    return [set(r["ErrorEquals"]) for r in ASL["States"][state].get("Retry", [])]


def test_every_error_name_in_the_state_machine_is_an_exception_of_errors_py() -> None:
    classes = {
        name for name, obj in inspect.getmembers(errors, inspect.isclass) if issubclass(obj, Exception)
    }
    for state in ASL["States"].values():
        for block in state.get("Retry", []) + state.get("Catch", []):
            for name in block["ErrorEquals"]:
                assert name in classes or name in errors.LAMBDA_SERVICE_ERRORS or name == "States.ALL", name


def test_the_retry_blocks_are_exactly_the_ones_errors_py_declares() -> None:
    for state, blocks in errors.STATE_MACHINE_RETRY.items():
        expected = [set(errors.LAMBDA_SERVICE_ERRORS)] + [set(names) for names in blocks.values()]
        assert retry_names(state) == expected


def test_retries_have_backoff_jitter_and_a_cap_and_never_retry_every_error() -> None:
    for state in ("CheckCoverStatus", "FinalizeCover"):
        for block in ASL["States"][state]["Retry"]:
            assert block["JitterStrategy"] == "FULL"
            assert block["BackoffRate"] >= 2 and block["MaxDelaySeconds"] > 0
            assert not {"States.ALL", "States.TaskFailed"} & set(block["ErrorEquals"])


def test_failures_are_caught_into_finalize_keeping_the_input() -> None:
    (catch,) = ASL["States"]["CheckCoverStatus"]["Catch"]
    assert catch == {"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": "FinalizeCover"}
    for name in errors.FAILURE_OUTCOMES:
        assert any(name in names for names in retry_names("CheckCoverStatus"))


def test_the_loop_is_bounded_well_under_the_history_limit() -> None:
    choice = ASL["States"]["IsCoverReady"]
    assert choice["Default"] == "FinalizeCover"
    assert ASL["TimeoutSeconds"] <= 86400
    # About 10 history events per poll: the default poll cap keeps a run far below 25,000 events.
    from covers_core.schedule import PollSchedule

    assert PollSchedule().max_polls * 10 < 25_000 / 2


def test_visibility_timeout_is_at_least_six_times_the_start_function_timeout() -> None:
    timeout = TEMPLATE["Resources"]["StartCoverFunction"]["Properties"].get(
        "Timeout", TEMPLATE["Globals"]["Function"]["Timeout"]
    )
    assert TEMPLATE["Resources"]["CoverRequestsQueue"]["Properties"]["VisibilityTimeout"] >= 6 * timeout


def test_functions_run_python313_on_arm64_with_partial_batch_failures() -> None:
    glob = TEMPLATE["Globals"]["Function"]
    assert (glob["Runtime"], glob["Architectures"]) == ("python3.13", ["arm64"])
    sqs = TEMPLATE["Resources"]["StartCoverFunction"]["Properties"]["Events"]["CoverRequests"]["Properties"]
    assert sqs["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert "MaximumConcurrency" in sqs["ScalingConfig"]


#: The CloudWatch Logs actions Step Functions logging needs; AWS supports only Resource "*" for them.
LOG_DELIVERY_ACTIONS = {
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
}


def test_no_policy_grants_a_wildcard_resource_except_log_delivery() -> None:
    for logical_id, resource in TEMPLATE["Resources"].items():
        for policy in resource.get("Properties", {}).get("Policies", []):
            for statement in policy.get("Statement", []) if isinstance(policy, dict) else []:
                if statement.get("Resource") == "*":
                    assert logical_id == "CoverWorkflow"
                    assert set(statement["Action"]) <= LOG_DELIVERY_ACTIONS


def test_every_function_setting_the_code_reads_is_set_by_the_template() -> None:
    code = "".join(p.read_text() for p in (ROOT / "layers/shared/covers_core").glob("*.py"))
    read = set(re.findall(r'"([A-Z][A-Z0-9_]+)"', code)) & set(
        re.findall(r'_(?:str|num|flag)\(env, "([A-Z_]+)"', code)
    )
    env = dict(TEMPLATE["Globals"]["Function"]["Environment"]["Variables"])
    for spec in functions(TEMPLATE).values():
        env.update(spec["Properties"].get("Environment", {}).get("Variables", {}))
    required = set(re.findall(r'_str\(env, "([A-Z_]+)"\)', code))  # no default: the template must set them
    assert required <= set(env), required - set(env)
    assert read  # the scan found the settings
