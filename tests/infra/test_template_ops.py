"""Operability, read from the template as CloudFormation gets it (after the SAM transform): alarms that reach
a person, per-stack metrics, a dashboard, safe redeploys (versions, retained data) and least privilege for
the workflow."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import pytest
from covers_core.domain.reconcile import Repair
from covers_core.metrics import Metric, repair_metric

from covers_local.stack import transform
from tests.support.paths import ROOT

FUNCTIONS = (
    "StartCoverFunction",
    "CheckCoverStatusFunction",
    "FinalizeCoverFunction",
    "MusicWebhookFunction",
    "CoverStatusApiFunction",
    "ReconcileFunction",
)
#: The custom metrics the code emits (namespace CoverPipeline, dimension service).
CUSTOM_METRICS = {*(m.value for m in Metric), *(repair_metric(repair) for repair in Repair)}
#: Everything that holds data or pending work, or that data depends on (the key of the alarm topic).
RETAINED = (
    "CoversTable",
    "ArchiveBucket",
    "CoverRequestsQueue",
    "CoverRequestsDeadLetterQueue",
    "UpstreamEventsDeadLetterQueue",
    "VendorApiKeySecret",
    "WebhookSigningSecret",
    "AlarmTopicKey",
)
UPSTREAM = {"UpstreamEventBusName": "music-events", "ArchiveImages": "true"}


CFN = transform()
RESOURCES: dict[str, dict[str, Any]] = CFN["Resources"]


#: ``!Ref AWS::NoValue``: :class:`Resolved` drops it from lists and objects, as CloudFormation does.
NO_VALUE = object()


class Resolved:
    """Resolves the transformed template for one stack name and parameter set: pseudo parameters and
    parameters become values, conditions are evaluated, ``AWS::NoValue`` is dropped, other refs become
    what ``deployed`` gives for ``"LogicalId"`` (Ref) or ``"LogicalId.Attr"`` (GetAtt), else stay
    ``<LogicalId>`` / ``<Id.Attr>``."""

    def __init__(
        self,
        template: dict[str, Any],
        stack_name: str,
        parameters: dict[str, str] | None = None,
        deployed: Mapping[str, str] | None = None,
    ):
        self.template, self.stack_name = template, stack_name
        self.parameters = {k: str(v.get("Default", "")) for k, v in template["Parameters"].items()}
        self.parameters.update(parameters or {})
        self.deployed = deployed or {}

    def ref(self, name: str) -> Any:
        pseudo = {
            "AWS::StackName": self.stack_name,
            "AWS::Region": "us-east-1",
            "AWS::AccountId": "123456789012",
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in pseudo:
            return pseudo[name]
        return self.parameters.get(name, self.deployed.get(name, f"<{name}>"))

    def attribute(self, name: str) -> str:
        return self.deployed.get(name, f"<{name}>")

    def condition(self, name: str) -> bool:
        return bool(self(self.template["Conditions"][name]))

    def __call__(self, node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (self(n) for n in node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) != 1 or not next(iter(node)).startswith(("Ref", "Fn::", "Condition")):
            return {k: v for k, v in ((k, self(v)) for k, v in node.items()) if v is not NO_VALUE}
        ((key, value),) = node.items()
        if key == "Ref":
            return self.ref(value)
        if key == "Fn::GetAtt":
            return self.attribute(".".join(value) if isinstance(value, list) else value)
        if key == "Fn::Sub":
            text, names = (value, {}) if isinstance(value, str) else (value[0], self(value[1]))

            def one(match: re.Match[str]) -> str:
                name = match.group(1)
                if name in names:
                    return str(names[name])
                return self.attribute(name) if "." in name else str(self.ref(name))

            return re.sub(r"\$\{([^}!]+)\}", one, text)
        if key == "Fn::Join":
            separator, parts = value
            return separator.join(str(p) for p in self(parts))
        if key == "Fn::If":
            name, yes, no = value
            return self(yes if self.condition(name) else no)
        if key == "Fn::Equals":
            return str(self(value[0])) == str(self(value[1]))
        if key == "Fn::Not":
            return not self(value[0])
        if key == "Fn::And":
            return all(self(v) for v in value)
        if key == "Fn::Or":
            return any(self(v) for v in value)
        if key == "Condition":
            return self.condition(value)
        return {key: self(value)}


def of_type(kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in RESOURCES.items() if v["Type"] == kind}


def statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    found = document["Statement"]
    return found if isinstance(found, list) else [found]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# --- Alarms that reach a person ------------------------------------------------------------------------


def test_every_alarm_notifies_a_topic_whose_key_cloudwatch_may_use() -> None:
    alarms = of_type("AWS::CloudWatch::Alarm")
    assert len(alarms) >= 17
    for logical_id, alarm in alarms.items():
        props = alarm["Properties"]
        actions = props.get("AlarmActions", []) + props.get("OKActions", [])
        actions += props.get("InsufficientDataActions", [])
        assert props.get("AlarmActions"), f"{logical_id} notifies nobody"
        for action in actions:
            topic_id = action["Ref"]
            topic = RESOURCES[topic_id]
            assert topic["Type"] == "AWS::SNS::Topic"
            key_ref = topic["Properties"]["KmsMasterKeyId"]
            assert not (isinstance(key_ref, str) and key_ref.startswith("alias/aws/")), (
                f"{logical_id} -> {topic_id} uses an AWS-managed key CloudWatch cannot use"
            )
            key_id = key_ref["Fn::GetAtt"][0] if "Fn::GetAtt" in key_ref else key_ref["Ref"]
            key = RESOURCES[key_id]
            assert key["Type"] == "AWS::KMS::Key"
            assert key["Properties"]["EnableKeyRotation"] is True
            assert_cloudwatch_may_use(key["Properties"]["KeyPolicy"])
            assert_cloudwatch_may_publish(topic_id)


def assert_cloudwatch_may_use(key_policy: dict[str, Any]) -> None:
    grants = [
        s
        for s in statements(key_policy)
        if s["Effect"] == "Allow" and s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert grants, "the key policy does not name cloudwatch.amazonaws.com"
    (grant,) = grants
    assert {"kms:Decrypt", "kms:GenerateDataKey*"} <= set(as_list(grant["Action"]))
    assert grant["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    admins = [s for s in statements(key_policy) if s.get("Principal", {}).get("AWS")]
    (admin,) = admins
    root = Resolved(CFN, "covers")(admin["Principal"]["AWS"])
    assert root == "arn:aws:iam::123456789012:root", "only the account administers the key"


def assert_cloudwatch_may_publish(topic_id: str) -> None:
    policies = [
        p for p in of_type("AWS::SNS::TopicPolicy").values() if {"Ref": topic_id} in p["Properties"]["Topics"]
    ]
    assert any(
        s["Effect"] == "Allow"
        and s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
        and "sns:Publish" in as_list(s["Action"])
        and s["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
        for p in policies
        for s in statements(p["Properties"]["PolicyDocument"])
    ), f"no topic policy lets CloudWatch publish to {topic_id}"


def watched(alarm: dict[str, Any]) -> set[tuple[str, str]]:
    """(namespace, metric name) of everything an alarm watches."""
    props = alarm["Properties"]
    if "MetricName" in props:
        return {(props["Namespace"], props["MetricName"])}
    return {
        (q["MetricStat"]["Metric"]["Namespace"], q["MetricStat"]["Metric"]["MetricName"])
        for q in props["Metrics"]
        if "MetricStat" in q
    }


def dimensions(alarm: dict[str, Any], resolve: Resolved, namespace: str | None = None) -> dict[str, Any]:
    """The dimensions of an alarm's metric, or the one set all the metrics of its expression share (those
    in ``namespace``, when given)."""
    props = alarm["Properties"]
    found = [props["Dimensions"]] if "Dimensions" in props and namespace in (None, props["Namespace"]) else []
    found += [
        q["MetricStat"]["Metric"]["Dimensions"]
        for q in props.get("Metrics", [])
        if "MetricStat" in q and namespace in (None, q["MetricStat"]["Metric"]["Namespace"])
    ]
    (shared,) = {json.dumps(resolve(d), sort_keys=True) for d in found}
    return {d["Name"]: d["Value"] for d in json.loads(shared)}


def test_the_pipeline_has_the_alarms_the_runbook_describes() -> None:
    alarms = of_type("AWS::CloudWatch::Alarm")
    resolve = Resolved(CFN, "covers", UPSTREAM)
    lambda_metrics = (
        {("AWS/Lambda", "Errors"), ("AWS/Lambda", "Invocations")},  # errors as a share of invocations
        {("AWS/Lambda", "Throttles")},
    )
    # The check's not-ready errors are its poll loop, not failures: its errors alarm subtracts them.
    not_ready = {("CoverPipeline", Metric.CHECKS_NOT_READY.value)}
    for fn in FUNCTIONS:
        for lambda_ones in lambda_metrics:
            metrics = lambda_ones
            if fn == "CheckCoverStatusFunction" and ("AWS/Lambda", "Errors") in metrics:
                metrics = metrics | not_ready
            assert any(
                watched(a) == metrics and dimensions(a, resolve, "AWS/Lambda") == {"FunctionName": f"<{fn}>"}
                for a in alarms.values()
            ), f"no {metrics} alarm for {fn}"
    check_errors = alarms["CheckCoverStatusErrorsAlarm"]["Properties"]["Metrics"]
    assert "(FILL(errors, 0) - FILL(notReady, 0))" in next(
        q["Expression"] for q in check_errors if "Expression" in q
    )
    queue_age = alarms["RequestsQueueAgeAlarm"]
    assert watched(queue_age) == {("AWS/SQS", "ApproximateAgeOfOldestMessage")}
    assert dimensions(queue_age, resolve) == {"QueueName": "<CoverRequestsQueue.QueueName>"}
    api = alarms["WebhookApi5xxAlarm"]
    assert watched(api) == {("AWS/ApiGateway", "5xx")}
    assert dimensions(api, resolve) == {"ApiId": "<CoversHttpApi>"}
    assert RESOURCES["CoversHttpApi"]["Type"] == "AWS::ApiGatewayV2::Api"
    for kept in (
        "CreditsExhausted",
        "VendorAuthFailed",
        "DeadLetterQueue",
        "NeedsAttention",
        "WorkflowFailed",
    ):
        assert f"{kept}Alarm" in alarms
    # Every alarm has a runbook line in the operator's guide.
    runbook = (ROOT / "docs" / "operations.md").read_text()
    for logical_id in alarms:
        assert f"| `{logical_id}` |" in runbook, f"docs/operations.md runbook has no line for {logical_id}"


def test_upstream_delivery_failures_alarm_and_land_in_a_dead_letter_queue() -> None:
    alarm = RESOURCES["UpstreamRuleFailedInvocationsAlarm"]
    assert alarm["Condition"] == "HasUpstreamRule"
    assert watched(alarm) == {("AWS/Events", "FailedInvocations")}
    rule = RESOURCES["UpstreamMusicCompletedRule"]
    custom = Resolved(CFN, "covers", UPSTREAM)
    name = custom(rule["Properties"]["Name"])
    assert dimensions(alarm, custom) == {"EventBusName": "music-events", "RuleName": name}
    on_default = Resolved(CFN, "covers", {"UpstreamEventBusName": "default"})
    assert dimensions(alarm, on_default) == {"RuleName": name}
    (target,) = rule["Properties"]["Targets"]
    assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
    dlq_id = target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
    assert RESOURCES[dlq_id]["Type"] == "AWS::SQS::Queue"
    assert RESOURCES[dlq_id]["Condition"] == "HasUpstreamRule"
    (policy,) = [
        p for p in of_type("AWS::SQS::QueuePolicy").values() if {"Ref": dlq_id} in p["Properties"]["Queues"]
    ]
    (grant,) = statements(policy["Properties"]["PolicyDocument"])
    assert grant["Principal"] == {"Service": "events.amazonaws.com"}
    assert grant["Condition"]["ArnEquals"]["aws:SourceArn"] == {
        "Fn::GetAtt": ["UpstreamMusicCompletedRule", "Arn"]
    }


# --- Every stack its own metrics -----------------------------------------------------------------------


def custom_metric_alarms() -> dict[str, dict[str, Any]]:
    return {
        k: a
        for k, a in of_type("AWS::CloudWatch::Alarm").items()
        if any(ns == "CoverPipeline" for ns, _ in watched(a))
    }


def service_names(stack_name: str) -> tuple[set[str], set[str], set[str]]:
    """The service dimension of the custom-metric alarms and of the dashboard, and the functions'
    POWERTOOLS_SERVICE_NAME, for a stack of that name."""
    resolve = Resolved(CFN, stack_name)
    alarms = {dimensions(a, resolve, "CoverPipeline")["service"] for a in custom_metric_alarms().values()}
    functions = {
        resolve(RESOURCES[fn]["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"])
        for fn in FUNCTIONS
    }
    dashboard = {
        metric[3]
        for metric in dashboard_metrics(stack_name)
        if metric[0] == "CoverPipeline" and metric[2] == "service"
    }
    return alarms, functions, dashboard


def test_each_stack_alarms_on_its_own_custom_metrics() -> None:
    assert set(custom_metric_alarms()) == {
        "CreditsExhaustedAlarm",
        "VendorAuthFailedAlarm",
        "BudgetExceededAlarm",
        "NeedsAttentionAlarm",
        "RepairsKeepHappeningAlarm",
        "CheckCoverStatusErrorsAlarm",
    }
    first, second = service_names("covers-pipeline"), service_names("covers-pipeline-prod")
    assert first == ({"covers-pipeline"},) * 3
    assert second == ({"covers-pipeline-prod"},) * 3
    for fn in FUNCTIONS:
        env = RESOURCES[fn]["Properties"]["Environment"]["Variables"]
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == "CoverPipeline"
    names = {m for a in custom_metric_alarms().values() for ns, m in watched(a) if ns == "CoverPipeline"}
    names |= {m[1] for m in dashboard_metrics("covers") if m[0] == "CoverPipeline"}
    assert names <= CUSTOM_METRICS
    assert names == CUSTOM_METRICS, "the dashboard shows every custom metric"


def dashboard_metrics(stack_name: str) -> list[list[Any]]:
    (dashboard,) = of_type("AWS::CloudWatch::Dashboard").values()
    body = json.loads(Resolved(CFN, stack_name)(dashboard["Properties"]["DashboardBody"]))
    return [
        [part for part in metric if not isinstance(part, dict)]
        for widget in body["widgets"]
        for metric in widget["properties"].get("metrics", [])
    ]


def test_the_dashboard_shows_queue_outcomes_credits_workflow_and_errors() -> None:
    metrics = {tuple(m[:2]): m[2:] for m in dashboard_metrics("covers")}
    for wanted in (
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        ("AWS/SQS", "ApproximateAgeOfOldestMessage"),
        ("AWS/States", "ExecutionsFailed"),
        ("CoverPipeline", "CoversRequested"),
        ("CoverPipeline", "CreditsExhausted"),
        ("CoverPipeline", "VendorAuthFailed"),
        ("CoverPipeline", "Polls"),
    ):
        assert wanted in metrics, wanted
    errors = {m[3] for m in dashboard_metrics("covers") if m[:2] == ["AWS/Lambda", "Errors"]}
    assert errors == {f"<{fn}>" for fn in FUNCTIONS}


# --- Safe redeploys ------------------------------------------------------------------------------------


def test_the_workflow_calls_the_function_versions_it_started_with() -> None:
    substitutions = RESOURCES["CoverWorkflow"]["Properties"]["DefinitionSubstitutions"]
    for key, fn in (
        ("CheckCoverStatusFunctionArn", "CheckCoverStatusFunction"),
        ("FinalizeCoverFunctionArn", "FinalizeCoverFunction"),
    ):
        version = RESOURCES[substitutions[key]["Ref"]]
        assert version["Type"] == "AWS::Lambda::Version", key
        assert version["Properties"]["FunctionName"] == {"Ref": fn}
        # Old versions stay, so executions started before a deploy can still call them.
        assert version["DeletionPolicy"] == "Retain"
    definition = json.dumps(RESOURCES["CoverWorkflow"]["Properties"]["DefinitionString"])
    assert set(re.findall(r"\$\{(\w+)\}", definition)) == set(substitutions)


def test_the_workflow_may_invoke_published_versions_of_its_two_functions_only() -> None:
    role = RESOURCES[RESOURCES["CoverWorkflow"]["Properties"]["RoleArn"]["Fn::GetAtt"][0]]
    invoke = [
        s
        for policy in role["Properties"]["Policies"]
        for s in statements(policy["PolicyDocument"])
        if "lambda:InvokeFunction" in as_list(s["Action"])
    ]
    resources = sorted(Resolved(CFN, "covers")(r) for s in invoke for r in as_list(s["Resource"]))
    # Versions of the two functions; the unqualified ARNs only for executions started before pinning.
    assert resources == [
        "<CheckCoverStatusFunction.Arn>",
        "<CheckCoverStatusFunction.Arn>:*",
        "<FinalizeCoverFunction.Arn>",
        "<FinalizeCoverFunction.Arn>:*",
    ]


def test_every_function_publishes_a_live_alias_that_its_triggers_call() -> None:
    aliases = of_type("AWS::Lambda::Alias")
    for fn in FUNCTIONS:
        (alias,) = [a for a in aliases.values() if a["Properties"]["FunctionName"] == {"Ref": fn}]
        assert alias["Properties"]["Name"] == "live"
    start_alias = next(
        k for k, a in aliases.items() if a["Properties"]["FunctionName"]["Ref"] == FUNCTIONS[0]
    )
    (mapping,) = of_type("AWS::Lambda::EventSourceMapping").values()
    assert mapping["Properties"]["FunctionName"] == {"Ref": start_alias}


def function_versions(layer_version: str | Mapping[str, str]) -> dict[str, str]:
    resources = transform(layer_version=layer_version)["Resources"]
    return {
        r["Properties"]["FunctionName"]["Ref"]: logical_id
        for logical_id, r in resources.items()
        if r["Type"] == "AWS::Lambda::Version"
    }


def test_a_change_to_the_shared_layer_alone_publishes_new_function_versions() -> None:
    before = function_versions("-build-1")
    after = function_versions("-build-2")
    assert set(before) == set(after) == set(FUNCTIONS)
    assert all(before[fn] != after[fn] for fn in FUNCTIONS), (before, after)


def test_a_change_to_the_imaging_layer_alone_publishes_a_new_finalize_version_only() -> None:
    before = function_versions({"ImagingLayer": "-build-1"})
    after = function_versions({"ImagingLayer": "-build-2"})
    changed = {fn for fn in FUNCTIONS if before[fn] != after[fn]}
    assert changed == {"FinalizeCoverFunction"}, (before, after)


def layers_of(function: str) -> list[str]:
    """The logical ids (as template.yaml names them) of the layers ``function`` gets, in order."""
    refs = [ref["Ref"] for ref in RESOURCES[function]["Properties"]["Layers"]]
    assert all(RESOURCES[ref]["Type"] == "AWS::Lambda::LayerVersion" for ref in refs)
    return [re.sub(r"[0-9a-f]{10}$", "", ref) for ref in refs]  # SAM adds a hash of the content


def test_only_finalize_gets_pillow_and_every_function_gets_the_shared_layer_once() -> None:
    for fn in FUNCTIONS:
        expected = ["SharedLayer", "ImagingLayer"] if fn == "FinalizeCoverFunction" else ["SharedLayer"]
        assert layers_of(fn) == expected, fn


@pytest.mark.parametrize("logical_id", RETAINED)
def test_data_and_pending_work_survive_deletion_and_replacement(logical_id: str) -> None:
    resource = RESOURCES[logical_id]
    assert resource.get("DeletionPolicy") == "Retain"
    assert resource.get("UpdateReplacePolicy") == "Retain"


def test_the_webhook_api_logs_its_requests_to_a_log_group_with_retention() -> None:
    (stage,) = of_type("AWS::ApiGatewayV2::Stage").values()
    destination = stage["Properties"]["AccessLogSettings"]["DestinationArn"]["Fn::GetAtt"][0]
    assert RESOURCES[destination]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
