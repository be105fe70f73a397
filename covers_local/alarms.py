"""The stack's metric alarms, evaluated locally the way CloudWatch evaluates them, from the metrics the
functions emit (Embedded Metric Format documents, the lines Powertools prints at the end of each
invocation). moto stores alarms but never evaluates them; a local run that turns metrics on
(:class:`covers_local.runner.LocalSettings` ``metrics``) can say which alarms would have fired, and how
many times (each time is one notification to the alarm topic: CloudWatch notifies on a change of state,
not on every breaching period). docs/operations.md, "Alarms", lists what each alarm means.

Covered: single-metric alarms (``MetricName``, ``Namespace``, ``Dimensions``, a ``Statistic``), periods
aligned to the clock as CloudWatch aligns them, ``EvaluationPeriods``, ``DatapointsToAlarm`` and
``TreatMissingData``. Alarms on AWS's own metrics (SQS queue depth, Step Functions executions) have no data
in a local run and never fire here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Dimensions = tuple[tuple[str, str], ...]

_STATISTICS: dict[str, Callable[[list[float]], float]] = {
    "Sum": sum,
    "Maximum": max,
    "Minimum": min,
    "Average": lambda values: sum(values) / len(values),
    "SampleCount": len,
}
_COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanOrEqualToThreshold": lambda value, threshold: value >= threshold,
    "GreaterThanThreshold": lambda value, threshold: value > threshold,
    "LessThanThreshold": lambda value, threshold: value < threshold,
    "LessThanOrEqualToThreshold": lambda value, threshold: value <= threshold,
}


@dataclass(frozen=True)
class Point:
    """One value of one metric, as CloudWatch stores it from an EMF document."""

    namespace: str
    name: str
    dimensions: Dimensions
    timestamp: float  # seconds since the epoch
    value: float


def points_from_emf(line: str) -> list[Point]:
    """The metric values of one printed line: [] unless it is an EMF document."""
    try:
        document = json.loads(line)
        directives = document["_aws"]["CloudWatchMetrics"]
        timestamp = float(document["_aws"]["Timestamp"]) / 1000
    except (ValueError, TypeError, KeyError):
        return []
    points = []
    for directive in directives:
        for names in directive.get("Dimensions") or [[]]:
            dimensions = tuple(sorted((name, str(document[name])) for name in names))
            for metric in directive.get("Metrics", []):
                raw = document.get(metric["Name"])
                for value in raw if isinstance(raw, list) else [raw]:
                    if isinstance(value, int | float):
                        points.append(
                            Point(directive["Namespace"], metric["Name"], dimensions, timestamp, value)
                        )
    return points


@dataclass(frozen=True)
class MetricAlarm:
    """A single-metric alarm's definition, as ``describe_alarms`` answers it."""

    name: str
    namespace: str
    metric: str
    dimensions: Dimensions
    statistic: str
    period: int
    evaluation_periods: int
    datapoints_to_alarm: int
    threshold: float
    comparison: str
    treat_missing: str

    @classmethod
    def from_description(cls, alarm: Mapping[str, Any]) -> MetricAlarm | None:
        """None for an alarm this evaluator does not cover (metric math, extended statistics)."""
        statistic = alarm.get("Statistic")
        if not alarm.get("MetricName") or statistic not in _STATISTICS:
            return None
        if alarm.get("ComparisonOperator") not in _COMPARISONS:
            return None
        evaluation_periods = int(alarm["EvaluationPeriods"])
        return cls(
            name=alarm["AlarmName"],
            namespace=alarm["Namespace"],
            metric=alarm["MetricName"],
            dimensions=tuple(sorted((d["Name"], d["Value"]) for d in alarm.get("Dimensions") or [])),
            statistic=statistic,
            period=int(alarm["Period"]),
            evaluation_periods=evaluation_periods,
            datapoints_to_alarm=int(alarm.get("DatapointsToAlarm") or evaluation_periods),
            threshold=float(alarm["Threshold"]),
            comparison=alarm["ComparisonOperator"],
            treat_missing=alarm.get("TreatMissingData") or "missing",
        )

    @property
    def _metric(self) -> tuple[str, str, Dimensions]:
        return self.namespace, self.metric, self.dimensions

    def periods_in_alarm(self, points: Iterable[Point]) -> list[float]:
        """The start of each period at whose end the alarm went into ALARM (one notification each)."""
        values: dict[int, list[float]] = {}
        for point in points:
            if (point.namespace, point.name, point.dimensions) == self._metric:
                values.setdefault(math.floor(point.timestamp / self.period), []).append(point.value)
        if not values:
            return []
        state, fired = "INSUFFICIENT_DATA", []
        first, last = min(values), max(values) + self.evaluation_periods
        for end in range(first, last + 1):
            window = [values.get(p) for p in range(end - self.evaluation_periods + 1, end + 1)]
            new_state = self._state(window)
            if new_state is not None and new_state != state:
                if new_state == "ALARM":
                    fired.append(float(end * self.period))
                state = new_state
        return fired

    def _state(self, window: Sequence[list[float] | None]) -> str | None:
        """The state the last ``evaluation_periods`` periods give (None: keep the current one)."""
        breaching = 0
        known = 0
        for values in window:
            if values is None:
                if self.treat_missing == "breaching":
                    breaching, known = breaching + 1, known + 1
                elif self.treat_missing == "notBreaching":
                    known += 1
                continue
            known += 1
            statistic = _STATISTICS[self.statistic](values)
            breaching += _COMPARISONS[self.comparison](statistic, self.threshold)
        if breaching >= self.datapoints_to_alarm:
            return "ALARM"
        if known == 0:
            return None if self.treat_missing == "ignore" else "INSUFFICIENT_DATA"
        return "OK"


def alarms_fired(alarms: Iterable[MetricAlarm], points: Sequence[Point]) -> dict[str, int]:
    """Each alarm that went into ALARM at least once -> how many times (notifications sent)."""
    counts = {alarm.name: len(alarm.periods_in_alarm(points)) for alarm in alarms}
    return {name: count for name, count in counts.items() if count}
