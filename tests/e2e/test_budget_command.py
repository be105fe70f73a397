"""`covers budget` on a stack (docs/operations.md, "Credit budgets"): usage and caps per window, an override
the start function applies with no redeploy, a tenant's caps; `covers list` shows who waits."""

from __future__ import annotations

import json
from typing import Any

import pytest

from covers_local import cli
from covers_local.stack import Stack
from tests.support.harness import invoke, sqs_event


def covers_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> Any:
    assert cli.main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def windows(report: dict[str, Any]) -> dict[str, tuple[int, int | None]]:
    return {w["window"]: (w["used"], w["cap"]) for w in report["windows"]}


def test_budget_shows_usage_and_caps_and_an_override_parks_what_is_over_it(
    aws: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    budget = ["budget", "--stack", aws.name]
    assert windows(covers_json(budget, capsys)) == {"day": (0, None), "month": (0, None)}  # defaults: none

    report = covers_json([*budget, "--set-day", "2"], capsys)
    assert windows(report) == {"day": (0, 2), "month": (0, None)} and report["scope"] == "*"
    assert (report["stack"], report["region"]) == (aws.name, "us-east-1")  # as `covers doctor --json`
    invoke(
        "start_cover",
        sqs_event(*({"musicTaskId": f"b{i}", "metadata": {"tenant": "acme"}} for i in range(3))),
    )
    capsys.readouterr()  # the function's log lines

    assert windows(covers_json(budget, capsys)) == {"day": (2, 2), "month": (2, None)}
    tenant = covers_json([*budget, "--tenant", "acme", "--set-month", "7"], capsys)
    assert tenant["scope"] == "tenant=acme" and windows(tenant) == {"day": (2, None), "month": (2, 7)}
    waiting = covers_json(["list", "--stack", aws.name, "--status", "BUDGET_EXCEEDED"], capsys)
    assert [(r["musicTaskId"], r["status"]) for r in waiting] in (
        [(f"b{i}", "BUDGET_EXCEEDED")] for i in range(3)
    )


def test_a_negative_or_odd_cap_is_refused(aws: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    for bad in ("-1", "ten"):
        with pytest.raises(SystemExit) as caught:
            cli.main(["budget", "--stack", aws.name, "--set-day", bad])
        assert caught.value.code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"a cap is a whole number, 0 (none) or more, got '{bad}'" in err


def test_an_empty_tenant_is_refused_not_read_as_the_stack(
    aws: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    for empty in ("", " "):
        with pytest.raises(SystemExit) as caught:
            cli.main(["budget", "--stack", aws.name, "--tenant", empty, "--set-day", "1"])
        assert caught.value.code == 2
        (line,) = capsys.readouterr().err.splitlines()
        assert line.startswith("covers budget: error: argument --tenant: empty")
    assert windows(covers_json(["budget", "--stack", aws.name], capsys))["day"] == (0, None)  # nothing stored
