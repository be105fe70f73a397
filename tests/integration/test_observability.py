"""What operators see: structured log lines per music task, metrics once per batch, and no secret anywhere."""

from __future__ import annotations

import io
import json
import logging
import sys

import pytest

from covers_local.emulator import VendorEmulator
from tests.support.harness import Aws, handler, invoke, sqs_event
from tests.support.paths import API_KEY


def test_log_lines_name_the_music_task_and_never_the_api_key(aws: Aws, emulator: VendorEmulator) -> None:
    emulator.credits = 0
    stream = io.StringIO()
    handler("start_cover")
    module = sys.modules["covers_fn_start_cover"]
    # The handler's JSON log handler, wherever Powertools copied it (covers_core's loggers included).
    handlers = {module.logger.registered_handler} | {
        h
        for name in list(logging.root.manager.loggerDict)
        if name.startswith("covers_core")
        for h in logging.getLogger(name).handlers
        if isinstance(h, logging.StreamHandler)
    }
    previous = {h: h.stream for h in handlers}  # (stdout, or the local runs' function log)
    for h in handlers:
        h.stream = stream
    module.logger.setLevel(logging.DEBUG)
    try:
        invoke("start_cover", sqs_event({"musicTaskId": "t1", "correlationId": "order-7"}, "not json"))
    finally:
        for h, old in previous.items():
            h.stream = old
        module.logger.setLevel(logging.INFO)
    text = stream.getvalue()
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    refused = next(line for line in lines if line["message"].startswith("vendor refused"))
    assert (refused["musicTaskId"], refused["correlation_id"], refused["level"]) == ("t1", "order-7", "ERROR")
    rejected = next(line for line in lines if line["message"].startswith("rejected message"))
    assert "musicTaskId" not in rejected  # the previous record's id does not leak onto the next one
    assert rejected["reason"].startswith("message body is not valid JSON")
    assert API_KEY not in text


def test_credits_exhausted_is_one_metric_per_batch(
    aws: Aws, emulator: VendorEmulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED")
    handler("start_cover")
    sys.modules["covers_fn_start_cover"].metrics.clear_metrics()  # values buffered by earlier tests
    emulator.credits = 0
    invoke("start_cover", sqs_event(*({"musicTaskId": f"t{i}"} for i in range(6))))
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    values = {
        m["Name"]: blob[m["Name"]]
        for blob in emf
        for d in blob["_aws"]["CloudWatchMetrics"]
        for m in d["Metrics"]
    }
    as_list = {name: value if isinstance(value, list) else [value] for name, value in values.items()}
    assert as_list["CreditsExhausted"] == [1.0]  # not 6: one alert per batch
    assert as_list["CoversRequested"] == [0.0]
    assert emf[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "CoverPipeline"


def test_covers_the_start_function_ends_count_towards_the_outcome_metrics_the_alarms_watch(
    aws: Aws, emulator: VendorEmulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """NeedsAttentionAlarm watches CoversNeedingAttention: a cover the start function itself ends
    NEEDS_ATTENTION (its generate answer lost, then "cover exists") counts, as a REJECTED one counts as
    CoversFailed."""
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED")
    handler("start_cover")
    sys.modules["covers_fn_start_cover"].metrics.clear_metrics()
    event = sqs_event({"musicTaskId": "lost-m1"}, {"musicTaskId": "hascover-m2"})
    for _ in range(3):  # the lost answer is retried through the queue until the vendor says it exists
        invoke("start_cover", event)
        if aws.record("lost-m1").status == "NEEDS_ATTENTION":
            break
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    totals: dict[str, float] = {}
    for blob in emf:
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                value = blob[metric["Name"]]
                totals[metric["Name"]] = totals.get(metric["Name"], 0.0) + sum(
                    value if isinstance(value, list) else [value]
                )
    assert aws.record("lost-m1").status == "NEEDS_ATTENTION"
    assert totals.get("CoversNeedingAttention") == 1.0
    assert totals.get("CoversFailed") == 1.0  # hascover-m2: REJECTED
