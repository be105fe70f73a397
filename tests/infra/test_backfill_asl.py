"""``statemachine/backfill.asl.json`` (the in-account catalogue backfill, docs/operations.md) against the
template that deploys it and the command that starts it: its shape (a Distributed Map over a CSV manifest,
batches of SendMessageBatch's size, a pace and a concurrency from the input), its states (every one
reachable, every transition to a state that exists), its retries, its substitutions, and the grants of
its role against what it calls. ``make lint`` runs asl-validator on it; tests/integration/test_backfill_map.py
runs it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from covers_local.stack import load_template
from covers_ops import backfill_map, deployed
from tests.support.paths import ROOT

PATH = ROOT / "statemachine" / "backfill.asl.json"
TEXT = PATH.read_text(encoding="utf-8")
ASL = json.loads(TEXT)
TEMPLATE = load_template(ROOT / "template.yaml")
MACHINE = TEMPLATE["Resources"]["CoverBackfill"]
(MAP,) = ASL["States"].values()
CHILD = MAP["ItemProcessor"]


def machines(machine: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The machine and each nested one (Map item processors)."""
    yield machine
    for state in machine["States"].values():
        if "ItemProcessor" in state:
            yield from machines(state["ItemProcessor"])


def targets(state: dict[str, Any]) -> set[str]:
    found = {state[k] for k in ("Next", "Default") if k in state}
    found |= {c["Next"] for c in state.get("Choices", []) + state.get("Catch", [])}
    return found


@pytest.mark.parametrize("machine", list(machines(ASL)), ids=lambda m: m["StartAt"])
def test_every_state_is_reachable_and_every_transition_lands_on_a_state(machine: dict[str, Any]) -> None:
    states = machine["States"]
    seen, todo = set(), [machine["StartAt"]]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        assert name in states, name
        seen.add(name)
        state = states[name]
        ends = state["Type"] in {"Succeed", "Fail"} or state.get("End") is True
        assert ends or targets(state), f"{name} neither ends nor goes on"
        todo.extend(targets(state))
    assert seen == set(states)


def test_a_distributed_map_reads_the_csv_manifest_from_the_backfill_bucket_in_batches_of_ten() -> None:
    assert MACHINE["Properties"]["Type"] == "STANDARD"  # a Map Run needs a STANDARD parent
    assert CHILD["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"}
    reader = MAP["ItemReader"]
    assert reader["Resource"] == "arn:aws:states:::s3:getObject"
    assert reader["ReaderConfig"] == {"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW"}
    assert reader["Parameters"] == {"Bucket": "${BackfillBucket}", "Key.$": "$.manifestKey"}
    assert MAP["ItemBatcher"]["MaxItemsPerBatch"] == deployed.SEND_BATCH_SIZE == 10
    # What `covers backfill --manifest` sets (covers_ops/backfill_map.py) is what the definition reads.
    assert MAP["MaxConcurrencyPath"] == "$.maxConcurrency"
    assert MAP["ItemBatcher"]["BatchInput"] == {"waitSeconds.$": "$.waitSeconds"}
    assert set(backfill_map.execution_input("manifests/x.csv", backfill_map.Pace(2, 1))) == {
        "manifestKey",
        "maxConcurrency",
        "waitSeconds",
    }
    assert MAP["ResultWriter"]["Parameters"] == {"Bucket": "${BackfillBucket}", "Prefix": "results"}
    assert 0 < MAP["ToleratedFailurePercentage"] < 100
    assert ASL["TimeoutSeconds"] == backfill_map.RUN_TIMEOUT_SECONDS  # the command refuses longer runs


def test_each_batch_waits_its_pace_then_sends_once_and_fails_if_sqs_did_not_take_every_message() -> None:
    states = CHILD["States"]
    assert CHILD["StartAt"] == "Pace" and states["Pace"]["SecondsPath"] == "$.BatchInput.waitSeconds"
    send = states["Send"]
    assert send["Resource"] == "arn:aws:states:::aws-sdk:sqs:sendMessageBatch"
    assert send["Parameters"] == {"QueueUrl": "${CoverRequestsQueueUrl}", "Entries.$": "$.Entries"}
    (check,) = states["AllQueued"]["Choices"]
    assert check == {"Variable": "$.sent.Failed[0]", "IsPresent": True, "Next": "NotAllQueued"}
    assert states["NotAllQueued"]["Type"] == "Fail"  # reported by the ResultWriter, counted by the Map Run


def test_sends_retry_throttling_and_service_errors_with_backoff_jitter_and_a_cap_only() -> None:
    for machine in machines(ASL):
        for name, state in machine["States"].items():
            for block in state.get("Retry", []):
                assert not {"States.ALL", "States.TaskFailed"} & set(block["ErrorEquals"]), name
                assert block["JitterStrategy"] == "FULL" and block["BackoffRate"] >= 2, name
                assert 0 < block["MaxDelaySeconds"] <= 300, name
    (block,) = CHILD["States"]["Send"]["Retry"]
    assert "Sqs.RequestThrottledException" in block["ErrorEquals"]


def test_the_substitutions_are_exactly_the_ones_the_template_gives() -> None:
    used = set(re.findall(r"\$\{(\w+)\}", TEXT))
    given = MACHINE["Properties"]["DefinitionSubstitutions"]
    assert used == set(given) == {"BackfillBucket", "CoverRequestsQueueUrl"}
    assert given == {
        "BackfillBucket": {"Ref": "BackfillBucket"},
        "CoverRequestsQueueUrl": {"Ref": "CoverRequestsQueue"},
    }
    assert MACHINE["Properties"]["DefinitionUri"] == "statemachine/backfill.asl.json"


def statements() -> list[dict[str, Any]]:
    return [s for policy in MACHINE["Properties"]["Policies"] for s in policy["Statement"]]


def test_the_role_grants_what_the_definition_calls_on_the_prefixes_the_command_uses() -> None:
    by_sid = {s.get("Sid"): s for s in statements()}
    manifests = by_sid["ReadManifests"]["Resource"]["Fn::Sub"]
    results = by_sid["WriteResults"]["Resource"]["Fn::Sub"]
    # ItemReader (s3:getObject) on the manifests the command writes and reads; ResultWriter under its prefix
    assert manifests == "${BackfillBucket.Arn}/" + backfill_map.MANIFEST_PREFIX + "*"
    assert results == "${BackfillBucket.Arn}/" + MAP["ResultWriter"]["Parameters"]["Prefix"] + "/*"
    # sqs:sendMessageBatch is authorised as sqs:SendMessage, on the requests queue only
    assert by_sid["QueueRequests"] == {
        "Sid": "QueueRequests",
        "Effect": "Allow",
        "Action": "sqs:SendMessage",
        "Resource": {"Fn::GetAtt": ["CoverRequestsQueue", "Arn"]},
    }
    # its own child executions, by the name the template gives the machine
    name = MACHINE["Properties"]["Name"]["Fn::Sub"]
    assert by_sid["StartChildExecutions"]["Resource"]["Fn::Sub"].endswith(":stateMachine:" + name)
    assert by_sid["FollowChildExecutions"]["Resource"]["Fn::Sub"].endswith(":execution:" + name + ":*")
    assert MACHINE["Condition"] == "BackfillEnabled"
