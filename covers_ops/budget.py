"""``covers budget``: a deployed stack's credit budgets (docs/operations.md, "Credit budgets"): usage and caps
per window, and an operator's caps (``--set-day``, ``--set-month``; per tenant with ``--tenant``), which the
functions read at run time (within a minute, no redeploy). Registered by ``covers_ops/cli.py``."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

import boto3
from covers_core.adapters.budgets import BudgetStore
from covers_core.domain import budget
from covers_core.domain.budget import STACK, Caps, Window
from covers_core.errors import AwsTransientError

from covers_ops import deployed
from covers_ops.deployed import CommandError

#: The stack's outputs and parameters ``covers budget`` reads.
TABLE_OUTPUT = "BudgetsTableName"
DEFAULT_PARAMETERS = {"day": "CreditBudgetPerDay", "month": "CreditBudgetPerMonth"}


def add_command(sub: Any) -> None:
    examples = [
        "covers budget --stack covers",
        "covers budget --stack covers --set-day 500 --set-month 10000",
        "covers budget --stack covers --tenant acme --set-day 50 --json",
    ]
    p = sub.add_parser(
        "budget",
        help="show a deployed stack's credit budgets (usage, caps) or set a cap",
        description="Show the credits a deployed stack (or one tenant) spent today and this month (UTC) "
        "against its caps, or store a cap (--set-day, --set-month; 0 removes it) that the functions apply "
        "within a minute, without a redeploy. Requests over a cap wait as BUDGET_EXCEEDED and start by "
        "themselves once the window rolls over or the cap is raised.",
        epilog="examples:\n  " + "\n  ".join(examples),
    )
    p.add_argument("--stack", required=True, help="CloudFormation stack name (reads its outputs)")
    p.add_argument("--region", help="AWS region (default: your AWS configuration)")
    p.add_argument(
        "--tenant", type=_tenant, help="the tenant's budget (the metadata field FirstWaitTenantField names)"
    )
    p.add_argument("--set-day", type=_count, metavar="N", help="cap per UTC day (0: none)")
    p.add_argument("--set-month", type=_count, metavar="N", help="cap per UTC month (0: none)")
    p.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    p.set_defaults(func=cmd_budget)


def _tenant(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("empty: name a tenant, or leave out --tenant for the stack's budget")
    return text


#: A cap as ``--set-day`` / ``--set-month`` take it.
_count = deployed.whole_number("a cap", 0, bounds="0 (none) or more")


def cmd_budget(args: argparse.Namespace) -> int:
    region = deployed.region(args.region)
    store, defaults = stack_budgets(args.stack, region)
    scope = budget.tenant_scope(args.tenant) if args.tenant is not None else STACK
    try:
        if args.set_day is not None or args.set_month is not None:
            store.set_caps(scope, day=args.set_day, month=args.set_month)
            print(f"stored the caps of {_who(scope)} (applied within a minute)", file=sys.stderr)
        report = budget_report(store, scope, defaults if scope == STACK else Caps(), datetime.now(UTC))
    except AwsTransientError as exc:
        raise CommandError(exc.message) from exc
    if args.json:
        json.dump({"stack": args.stack, "region": region} | report, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    for row in report["windows"]:
        cap = row["cap"] or "none"
        print(f"{_who(scope)} {row['window']} {row['key']}: used {row['used']} of {cap}", file=sys.stderr)
    return 0


def budget_report(store: BudgetStore, scope: str, default: Caps, now: datetime) -> dict[str, Any]:
    """Usage and caps of ``scope``'s current day and month."""
    caps = budget.effective(store.override(scope), default)
    (counter,) = budget.counters([scope], now)
    usage = store.usage(counter)
    keys = {Window.DAY: now.astimezone(UTC).strftime("%Y-%m-%d"), Window.MONTH: counter.month}
    return {
        "scope": scope,
        "windows": [
            {"window": w.value, "key": keys[w], "used": usage.of(w), "cap": caps.of(w) or None}
            for w in (Window.DAY, Window.MONTH)
        ],
    }


def _who(scope: str) -> str:
    return "the stack" if scope == STACK else f"tenant {scope.removeprefix('tenant=')}"


def stack_budgets(stack: str, region: str | None) -> tuple[BudgetStore, Caps]:
    """The stack's budgets store and its template caps (its parameters)."""
    described = deployed.described(boto3.client("cloudformation", region_name=region), stack, region)
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    if TABLE_OUTPUT not in outputs:
        raise CommandError(f"stack {stack} has no output {TABLE_OUTPUT} (deployed before credit budgets?)")
    parameters = {p["ParameterKey"]: p.get("ParameterValue") for p in described.get("Parameters", [])}
    defaults = Caps(**{w: int(parameters.get(name) or 0) for w, name in DEFAULT_PARAMETERS.items()})
    table = boto3.resource("dynamodb", region_name=region).Table(outputs[TABLE_OUTPUT])
    return BudgetStore(table), defaults
