"""The local alarm evaluator (covers_local.alarms): what the stack's alarms would do with the metrics the
functions emit, as CloudWatch evaluates them: one notification per change into ALARM, not one per
breaching period or per data point."""

from __future__ import annotations

import json

import pytest
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

from covers_local.alarms import MetricAlarm, Point, alarms_fired, points_from_emf

SERVICE = (("service", "covers"),)


def budget_alarm(**changes: object) -> MetricAlarm:
    """The shape of template.yaml's BudgetExceededAlarm, as describe_alarms answers it."""
    description = {
        "AlarmName": "BudgetExceededAlarm",
        "Namespace": "CoverPipeline",
        "MetricName": "BudgetExceeded",
        "Dimensions": [{"Name": "service", "Value": "covers"}],
        "Statistic": "Sum",
        "Period": 300,
        "EvaluationPeriods": 1,
        "Threshold": 1.0,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": "notBreaching",
    } | changes
    alarm = MetricAlarm.from_description(description)
    assert alarm is not None
    return alarm


def at(seconds: float, value: float = 1, name: str = "BudgetExceeded", dims: tuple = SERVICE) -> Point:
    return Point("CoverPipeline", name, dims, 1_800_000_000 + seconds, value)  # 1.8e9: a period boundary


def test_points_come_from_what_powertools_prints() -> None:
    # Powertools' own EMF serializer (the provider behind Metrics, with a metric set of its own: Metrics
    # instances share theirs, process-wide).
    metrics = AmazonCloudWatchEMFProvider(namespace="CoverPipeline", service="covers")
    metrics.add_metric(name="BudgetExceeded", unit=MetricUnit.Count, value=2)
    metrics.add_metric(name="CoversRequested", unit=MetricUnit.Count, value=7)
    line = json.dumps(metrics.serialize_metric_set(), separators=(",", ":"))
    points = {p.name: p for p in points_from_emf(line)}
    assert {n: (p.namespace, p.dimensions, p.value) for n, p in points.items()} == {
        "BudgetExceeded": ("CoverPipeline", SERVICE, 2.0),
        "CoversRequested": ("CoverPipeline", SERVICE, 7.0),
    }


@pytest.mark.parametrize("line", ["", "plain log text", '{"level": "INFO"}', '{"_aws": {}}', "[1]", "null"])
def test_a_line_that_is_not_emf_has_no_points(line: str) -> None:
    assert points_from_emf(line) == []


def test_refusals_within_one_alarm_episode_notify_once() -> None:
    # Five batches refused, in one period and the next: the alarm stays in ALARM, one notification.
    points = [at(10), at(20, 2), at(200), at(290), at(310)]
    assert budget_alarm().periods_in_alarm(points) == [1_800_000_000.0]
    assert alarms_fired([budget_alarm()], points) == {"BudgetExceededAlarm": 1}


def test_an_alarm_that_recovered_notifies_again() -> None:
    # Quiet periods in between (missing data is not breaching): OK, then ALARM again.
    points = [at(10), at(1000)]
    assert budget_alarm().periods_in_alarm(points) == [1_800_000_000.0, 1_800_000_900.0]


def test_nothing_fires_below_the_threshold_or_for_another_metric_or_stack() -> None:
    alarm = budget_alarm(Threshold=3.0)
    assert alarm.periods_in_alarm([at(10), at(20)]) == []  # a sum of 2 in the period
    assert alarm.periods_in_alarm([at(10, 2), at(20)]) == [1_800_000_000.0]  # 3
    assert budget_alarm().periods_in_alarm([at(10, name="CreditsExhausted")]) == []
    assert budget_alarm().periods_in_alarm([at(10, dims=(("service", "other"),))]) == []


def test_several_periods_and_datapoints_to_alarm_are_honoured() -> None:
    alarm = budget_alarm(EvaluationPeriods=3, DatapointsToAlarm=2)
    assert alarm.periods_in_alarm([at(10)]) == []  # one breaching period of three
    assert alarm.periods_in_alarm([at(10), at(610)]) == [1_800_000_600.0]  # two of three


def test_missing_data_treated_as_breaching_keeps_an_alarm_in_alarm() -> None:
    alarm = budget_alarm(TreatMissingData="breaching", EvaluationPeriods=2)
    # Missing periods breach: ALARM from the first period on, never OK in between.
    assert alarm.periods_in_alarm([at(10), at(1500)]) == [1_800_000_000.0]


def test_alarms_it_cannot_evaluate_are_left_out() -> None:
    base = {"AlarmName": "a", "EvaluationPeriods": 1, "ComparisonOperator": "GreaterThanThreshold"}
    assert MetricAlarm.from_description(base | {"Metrics": [{"Id": "m1"}]}) is None  # metric math
    assert MetricAlarm.from_description(base | {"MetricName": "x", "ExtendedStatistic": "p99"}) is None
