"""The contracts between template.yaml, statemachine/, the event schemas and the code, checked both ways."""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from covers_core import errors, settings
from covers_core.domain import events, outcomes
from covers_core.domain.model import CheckStatus, Status
from covers_core.domain.schedule import FirstWaitPolicy
from covers_core.errors import ErrorCode
from covers_core.metrics import Metric
from moto import mock_aws

from covers_local import moto_patches
from covers_local.stack import constant as template_constant
from covers_local.stack import deploy, functions, load_template
from tests.support.paths import ROOT

ASL = json.loads(re.sub(r"\$\{\w+\}", "arn:x", (ROOT / "statemachine/cover_workflow.asl.json").read_text()))
TEMPLATE = load_template(ROOT / "template.yaml")
SCHEMAS = {
    path.name: json.loads(path.read_text()) for path in (ROOT / "events" / "schemas").glob("*.schema.json")
}
#: The settings object each function reads at cold start.
FUNCTION_SETTINGS: dict[str, Callable[[Mapping[str, str]], object]] = {
    "StartCoverFunction": settings.StartSettings.from_env,
    "CheckCoverStatusFunction": settings.CheckSettings.from_env,
    "FinalizeCoverFunction": settings.FinalizeSettings.from_env,
    "MusicWebhookFunction": settings.WebhookSettings.from_env,
    "CoverStatusApiFunction": settings.StatusApiSettings.from_env,
    "ReconcileFunction": settings.ReconcileSettings.from_env,
}


def constant(value: Any) -> Any:
    return template_constant(TEMPLATE, value)


def retry_names(state: str) -> list[set[str]]:
    return [set(r["ErrorEquals"]) for r in ASL["States"][state].get("Retry", [])]


# --- the state machine -------------------------------------------------------------------------------


def test_every_error_name_in_the_state_machine_is_an_exception_of_errors_py() -> None:
    classes = {
        name for name, obj in inspect.getmembers(errors, inspect.isclass) if issubclass(obj, Exception)
    }
    for state in ASL["States"].values():
        for block in state.get("Retry", []) + state.get("Catch", []):
            for name in block["ErrorEquals"]:
                assert name in classes or name in errors.LAMBDA_ERRORS or name == "States.ALL", name


def test_the_retry_blocks_are_exactly_the_ones_the_outcome_table_declares() -> None:
    task_states = {name for name, state in ASL["States"].items() if state["Type"] == "Task"}
    assert set(outcomes.RETRIED) == task_states
    for state, blocks in outcomes.RETRIED.items():
        assert retry_names(state) == [set(names) for names in blocks.values()]
        assert set(blocks["lambda_service"]) == set(errors.LAMBDA_SERVICE_ERRORS)  # every Task, first


def test_retries_have_backoff_jitter_and_a_cap_and_never_retry_every_error() -> None:
    for state, blocks in outcomes.RETRIED.items():
        for name, block in zip(blocks, ASL["States"][state]["Retry"], strict=True):
            assert not {"States.ALL", "States.TaskFailed"} & set(block["ErrorEquals"])
            if name in outcomes.CADENCES:  # the poll loop itself (its own test)
                continue
            if name in outcomes.LEASE_WAITS:  # waits a lease out: no jitter, and longer than the lease
                waits = [
                    block["IntervalSeconds"] * block["BackoffRate"] ** n for n in range(block["MaxAttempts"])
                ]
                assert block["JitterStrategy"] == "NONE" and sum(waits) > 2 * outcomes.LEASE_WAITS[name]
                continue
            assert block["JitterStrategy"] == "FULL"
            assert block["BackoffRate"] >= 2 and block["MaxDelaySeconds"] > 0


def test_a_throttled_or_killed_check_is_retried_for_longer_than_a_throttle_storm_lasts() -> None:
    """Throttling delays a paid cover, never ends it: the budget outlasts an hour of throttling (the mean
    of full jitter is half each capped delay); a killed check (it spends no credit) is retried too."""
    for state in outcomes.RETRIED:
        (throttled,) = [
            b for b in ASL["States"][state]["Retry"] if errors.LAMBDA_THROTTLED in b["ErrorEquals"]
        ]
        capped = [
            min(throttled["IntervalSeconds"] * throttled["BackoffRate"] ** n, throttled["MaxDelaySeconds"])
            for n in range(throttled["MaxAttempts"])
        ]
        assert sum(capped) / 2 > 3600, state
    check = outcomes.RETRIED["CheckCoverStatus"]
    assert set(check["function_killed"]) == set(errors.FUNCTION_KILLED_ERRORS)
    assert "function_killed" not in outcomes.RETRIED["FinalizeCover"]  # the safety net takes over instead


def test_failures_are_caught_into_finalize_keeping_the_input_and_each_has_an_outcome() -> None:
    (catch,) = ASL["States"]["CheckCoverStatus"]["Catch"]
    assert catch == {"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": "FinalizeCover"}
    retried = set().union(*retry_names("CheckCoverStatus"))
    assert set(outcomes.FAILURE_OUTCOMES) <= retried  # a caught error was retried first
    assert retried - set(errors.LAMBDA_SERVICE_ERRORS) <= set(outcomes.FAILURE_OUTCOMES)
    for name, (status, code) in outcomes.FAILURE_OUTCOMES.items():
        assert status.terminal and code in errors.TERMINAL_ERROR_CODES, name
        if name in errors.LAMBDA_ERRORS:
            assert (status, code) == (Status.NEEDS_ATTENTION, ErrorCode.INTERNAL_ERROR), name
            continue
        if issubclass(getattr(errors, name), errors.CoverNotReadyError):  # the loop ran out of attempts
            assert (status, code) == (Status.TIMED_OUT, ErrorCode.DEADLINE_EXCEEDED), name
            continue
        exception = getattr(errors, name)
        # The code a caught error leaves on the record is the exception's own (or the transient one).
        assert code in (exception.code, errors.VendorTransientError.code), name


def test_a_check_that_returns_goes_to_finalize_and_every_status_it_returns_has_an_outcome() -> None:
    check = ASL["States"]["CheckCoverStatus"]
    assert check["Next"] == "FinalizeCover" and check["ResultPath"] == "$.check"
    assert check["Parameters"]["attempt.$"] == "$$.State.RetryCount"  # the poll loop's round
    assert set(outcomes.CHECK_OUTCOMES) == set(CheckStatus) - {CheckStatus.IN_PROGRESS}
    assert not any(state["Type"] == "Choice" for state in ASL["States"].values())  # no transition to spare


def test_the_loop_is_bounded_well_under_the_history_limit() -> None:
    assert ASL["TimeoutSeconds"] <= 86400
    # About 10 history events per poll: the template's poll cap keeps a run far below 25,000 events.
    parameter = TEMPLATE["Parameters"]["PollMaxPolls"]
    assert max(parameter["Default"], parameter["MaxValue"]) * 10 < 25_000 / 2


# --- the events ------------------------------------------------------------------------------------


def test_the_failed_event_schema_lists_exactly_the_terminal_error_codes() -> None:
    failed = SCHEMAS["cover-generation-failed.schema.json"]["properties"]["detail"]["properties"]
    assert set(failed["error"]["properties"]["code"]["enum"]) == set(errors.TERMINAL_ERROR_CODES)
    assert set(failed["status"]["enum"]) == {s.value for s in Status if s.terminal} - {"SUCCEEDED"}
    generated = SCHEMAS["cover-generated.schema.json"]["properties"]["detail"]["properties"]
    assert generated["status"]["enum"] == [Status.SUCCEEDED]
    outcome_codes = {code for _, code in outcomes.FAILURE_OUTCOMES.values()} | {
        code for _, code in outcomes.CHECK_OUTCOMES.values() if code
    }
    assert outcome_codes <= errors.TERMINAL_ERROR_CODES


def test_the_wire_field_table_and_the_event_schemas_agree_both_ways() -> None:
    """covers_core.domain.events.WIRE_FIELDS makes the event detail: each of its event fields is a property
    of both schemas, required exactly where the table says; each schema property is an event field of it."""
    by_type = {schema["properties"]["detail-type"]["const"]: schema for schema in SCHEMAS.values()}
    assert set(by_type) == set(events.DETAIL_TYPES)
    table = {f.name: f for f in events.WIRE_FIELDS}
    assert len(table) == len(events.WIRE_FIELDS)  # no name twice
    for detail_type, schema in by_type.items():
        detail = schema["properties"]["detail"]
        assert detail["additionalProperties"] is False  # so the schema's properties are all there is
        properties, required = set(detail["properties"]), set(detail["required"])
        assert properties == {f.name for f in events.EVENT_FIELDS}, detail_type
        assert required == {f.name for f in events.EVENT_FIELDS if detail_type in f.required_in}, detail_type
    for f in events.EVENT_FIELDS:
        # a field always written must be required everywhere; one required somewhere names a real schema
        assert f.optional or set(f.required_in) == set(events.DETAIL_TYPES), f.name
        assert set(f.required_in) <= set(events.DETAIL_TYPES), f.name
    view_only = {f.name for f in events.WIRE_FIELDS if not f.event}
    assert view_only == {"updatedAt", "lastError", "cost"}  # docs/contracts.md, "Status API"


def test_error_codes_are_distinct_and_every_exception_has_one() -> None:
    assert len({c.value for c in ErrorCode}) == len(ErrorCode)
    for name, cls in inspect.getmembers(errors, inspect.isclass):
        if issubclass(cls, errors.CoverPipelineError):
            assert isinstance(getattr(cls, "code", None), ErrorCode), name


# --- settings: what each function reads is exactly what the template sets on it --------------------


class Recording(dict[str, str]):
    """An environment that remembers which variables were looked at."""

    def __init__(self, values: Mapping[str, str]) -> None:
        super().__init__(values)
        self.read: set[str] = set()

    def __contains__(self, key: object) -> bool:
        self.read.add(str(key))
        return super().__contains__(key)

    def __getitem__(self, key: str) -> str:
        self.read.add(key)
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)


@pytest.fixture(scope="module")
def deployed_environments() -> dict[str, dict[str, str]]:
    """Each function's environment as CloudFormation resolves it (template.yaml deployed into moto)."""
    # (POWERTOOLS_* are Powertools' own settings; the endpoint override is every AWS client's, below)
    with mock_aws(), moto_patches.cloudformation():
        stack = deploy("covers-contracts", root=ROOT)
        return {
            logical_id: {
                k: v
                for k, v in stack.function_env(logical_id).items()
                if not k.startswith("POWERTOOLS_") and k != settings.AWS_ENDPOINT_VARIABLE
            }
            for logical_id in stack.functions
        }


def test_every_function_has_a_settings_object() -> None:
    assert set(FUNCTION_SETTINGS) == set(functions(TEMPLATE))


def test_each_function_reads_exactly_the_variables_the_template_sets_on_it(
    deployed_environments: dict[str, dict[str, str]],
) -> None:
    assert set(deployed_environments) == set(FUNCTION_SETTINGS)
    for logical_id, env in deployed_environments.items():
        recording = Recording(env)
        FUNCTION_SETTINGS[logical_id](recording)  # the template's values are valid settings
        assert recording.read - settings.LOCAL_ONLY == set(env), logical_id


def test_a_missing_variable_stops_the_function_naming_it(
    deployed_environments: dict[str, dict[str, str]],
) -> None:
    for logical_id, env in deployed_environments.items():
        for name in env:
            if name == "ARCHIVE_BUCKET":  # present but empty when archiving is off
                continue
            with pytest.raises(errors.ConfigError, match=name):
                FUNCTION_SETTINGS[logical_id]({k: v for k, v in env.items() if k != name})


# --- the template --------------------------------------------------------------------------------


def test_custom_metric_alarms_watch_metrics_the_code_emits() -> None:
    alarms = [
        r["Properties"] for r in TEMPLATE["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"
    ]
    namespace = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]
    watched = {a["MetricName"] for a in alarms if a.get("Namespace") == namespace}
    assert watched and watched <= {m.value for m in Metric}


def test_visibility_timeout_is_at_least_six_times_the_start_function_timeout() -> None:
    timeout = TEMPLATE["Resources"]["StartCoverFunction"]["Properties"].get(
        "Timeout", TEMPLATE["Globals"]["Function"]["Timeout"]
    )
    assert (
        constant(TEMPLATE["Resources"]["CoverRequestsQueue"]["Properties"]["VisibilityTimeout"])
        >= 6 * timeout
    )


def test_the_claim_lease_outlives_the_start_function() -> None:
    start = TEMPLATE["Resources"]["StartCoverFunction"]["Properties"]
    timeout = start.get("Timeout", TEMPLATE["Globals"]["Function"]["Timeout"])
    assert int(constant(start["Environment"]["Variables"]["CLAIM_LEASE_SECONDS"])) > timeout


def test_functions_run_python313_on_arm64_with_partial_batch_failures() -> None:
    glob = TEMPLATE["Globals"]["Function"]
    assert (glob["Runtime"], glob["Architectures"]) == ("python3.13", ["arm64"])
    sqs = TEMPLATE["Resources"]["StartCoverFunction"]["Properties"]["Events"]["CoverRequests"]["Properties"]
    assert sqs["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert "MaximumConcurrency" in sqs["ScalingConfig"]


def test_the_check_functions_timeout_holds_its_longest_budget_and_one_more_vendor_call() -> None:
    p = TEMPLATE["Parameters"]
    check = TEMPLATE["Resources"]["CheckCoverStatusFunction"]["Properties"]
    longest_call = p["VendorConnectTimeoutSeconds"]["Default"] + p["VendorReadTimeoutSeconds"]["Default"] + 5
    assert p["PollInvocationBudgetSeconds"]["MaxValue"] + longest_call < check["Timeout"]
    # and Step Functions waits a little longer than the function (a timeout is the function's own error)
    assert ASL["States"]["CheckCoverStatus"]["TimeoutSeconds"] > check["Timeout"]


def test_poll_schedule_defaults_are_a_valid_policy() -> None:
    p = TEMPLATE["Parameters"]
    FirstWaitPolicy(
        fallback=p["PollFirstWaitSeconds"]["Default"],
        minimum=p["PollFirstWaitMinSeconds"]["Default"],
        maximum=p["PollFirstWaitMaxSeconds"]["Default"],
        percentile=p["PollFirstWaitPercentile"]["Default"],
        interval=p["PollInvocationIntervalSeconds"]["Default"],
        max_interval=p["PollMaxIntervalSeconds"]["Default"],
    )


def test_the_poll_loops_cadences_are_the_not_ready_errors_own() -> None:
    """Each not-ready error's Retry block waits exactly its cadence, without jitter or backoff, with attempts
    for the longest deadline at that cadence (the check ends the loop with TIMED_OUT before)."""
    longest = TEMPLATE["Parameters"]["PollMaxWaitSeconds"]["MaxValue"]
    for block in ASL["States"]["CheckCoverStatus"]["Retry"]:
        (name,) = block["ErrorEquals"] if len(block["ErrorEquals"]) == 1 else ("-",)
        error = getattr(errors, name, None)
        if isinstance(error, type) and issubclass(error, errors.CoverNotReadyError):
            assert (block["IntervalSeconds"], block["BackoffRate"], block["JitterStrategy"]) == (
                error.cadence,
                1,
                "NONE",
            )
            assert block["MaxAttempts"] * error.cadence >= longest


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
                    assert logical_id in {"CoverWorkflow", "CoverBackfill"}  # the state machines
                    assert set(statement["Action"]) <= LOG_DELIVERY_ACTIONS


def test_every_aws_client_honours_the_endpoint_override_only_when_it_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from covers_core.adapters import aws, secrets

    declared = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    assert declared[settings.AWS_ENDPOINT_VARIABLE] == ""  # deployed: AWS itself
    for value, expected in (("", "https://sqs.us-east-1.amazonaws.com"), ("http://127.0.0.1:5000", None)):
        monkeypatch.setenv(settings.AWS_ENDPOINT_VARIABLE, value)
        aws.forget_clients()
        secrets.forget_secrets()
        want = expected or value
        assert aws.client("sqs").meta.endpoint_url == want
        assert aws.table("t").meta.client.meta.endpoint_url == want.replace("sqs", "dynamodb")
        assert secrets._provider().client.meta.endpoint_url == want.replace("sqs", "secretsmanager")
    monkeypatch.setenv(settings.AWS_ENDPOINT_VARIABLE, "localhost:5000")
    aws.forget_clients()
    with pytest.raises(errors.ConfigError, match=settings.AWS_ENDPOINT_VARIABLE):
        aws.client("sqs")
    aws.forget_clients()
    secrets.forget_secrets()
