"""``covers report``: what a deployed stack's covers cost and how long they took (docs/operations.md, "Cost
per cover"), from the cover records alone: covers by outcome, vendor credits, the estimated AWS cost (the
``cost`` each record's terminal write keeps), p50/p95 time to cover and detection delay, top failure codes;
for the whole stack or per tenant (``--by tenant``); as text, ``--json`` or ``--csv`` on stdout, progress
on stderr. Registered by ``covers_ops/cli.py``.

The covers are those created at or after ``--since``: one Scan of the covers table with a filter on
``createdAt`` (no index holds every record by time: the ``byOpen`` index drops a record once it ends). A
Scan reads (and bills) the whole table, filter or not: about one read unit per 8 KB of table (eventually
consistent reads).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from covers_core.adapters.records import A, record_from_item
from covers_core.domain.budget import tenant_of
from covers_core.domain.model import CoverRecord, Status, iso, parse_iso

from covers_ops import deployed
from covers_ops.deployed import CommandError

#: ``--since`` as a span back from now: a number and a unit.
SPAN = re.compile(r"^(\d+)([mhd])$")
UNITS = {"m": "minutes", "h": "hours", "d": "days"}
#: The stack parameter naming the tenant field (``--by tenant`` groups by it).
TENANT_PARAMETER = "FirstWaitTenantField"
DEFAULT_TENANT_FIELD = "tenant"
#: The group of covers without a tenant (``--by tenant``), and of every cover (no ``--by``).
NO_TENANT, ALL = "(none)", "all"
TOP_FAILURES = 5
PROGRESS_EVERY_PAGES = 10
#: The attributes the report reads (a projection: less to send, the same read units).
READ = (
    A.MUSIC_TASK_ID,
    A.STATUS,
    A.CREATED_AT,
    A.COMPLETED_AT,
    A.COVER_TASK_ID,
    A.ERROR,
    A.METADATA,
    A.COST,
    A.POLL_COUNT,
)


def since(text: str, now: datetime | None = None) -> datetime:
    """An argparse ``type`` for ``--since``: ``7d``, ``24h``, ``30m`` back from now, or an ISO 8601 date or
    time (UTC unless it says otherwise)."""
    now = now or datetime.now(UTC)
    span = SPAN.match(text.strip())
    if span:
        amount, unit = int(span.group(1)), span.group(2)
        if amount == 0:
            raise argparse.ArgumentTypeError(f"an empty span: {text!r} (e.g. 7d, 24h, 30m)")
        return now - timedelta(**{UNITS[unit]: amount})
    try:
        moment = parse_iso(text.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"not a span (7d, 24h, 30m) nor an ISO date or time (2026-11-01, 2026-11-01T12:00:00Z): {text!r}"
        ) from exc
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if moment > now:
        raise argparse.ArgumentTypeError(f"{text!r} is in the future")
    return moment


def percentile(values: list[float], p: float) -> float | None:
    """The nearest-rank percentile (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


@dataclass
class Group:
    """The covers of one group (the stack, or one tenant) and what they add up to."""

    name: str
    by_status: Counter[str] = field(default_factory=Counter)
    credits: int = 0
    costed: int = 0  # covers whose record carries a cost
    usd: float = 0.0
    times: list[float] = field(default_factory=list)  # createdAt -> completedAt, seconds
    delays: list[float] = field(default_factory=list)  # detection delay, seconds
    failures: Counter[str] = field(default_factory=Counter)

    @property
    def covers(self) -> int:
        return sum(self.by_status.values())

    def add(self, record: CoverRecord) -> None:
        self.by_status[record.status.value] += 1
        cost = record.cost
        if cost is not None:
            self.credits += cost.credits
            self.costed += 1
            self.usd += cost.estimated_usd
            if cost.detection_delay_seconds is not None:
                self.delays.append(cost.detection_delay_seconds)
        elif record.cover_task_id:  # no cost yet (still running) or none kept (written before): it paid one
            self.credits += 1
        if record.terminal and record.created_at and record.completed_at:
            seconds = (parse_iso(record.completed_at) - parse_iso(record.created_at)).total_seconds()
            self.times.append(max(0.0, seconds))
        if record.terminal and record.status is not Status.SUCCEEDED and record.error is not None:
            self.failures[record.error.code] += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "group": self.name,
            "covers": self.covers,
            "byStatus": dict(sorted(self.by_status.items())),
            "credits": self.credits,
            "estimatedUsd": round(self.usd, 9),
            "usdPerCover": round(self.usd / self.costed, 9) if self.costed else None,
            "coversWithoutCost": self.covers - self.costed,
            "timeToCoverSeconds": _spread(self.times),
            "detectionDelaySeconds": _spread(self.delays),
            "topFailureCodes": dict(self.failures.most_common(TOP_FAILURES)),
        }


def _spread(values: list[float]) -> dict[str, float | None]:
    return {name: _round(percentile(values, p)) for name, p in (("p50", 50), ("p95", 95))}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def summarize(
    records: Iterable[CoverRecord], *, by_tenant: bool = False, tenant_field: str | None = None
) -> list[Group]:
    """The covers grouped (one group ``all``; per tenant with ``by_tenant``, largest first)."""
    groups: dict[str, Group] = {}
    for record in records:
        name = ALL
        if by_tenant:
            name = tenant_of(record.metadata, tenant_field) or NO_TENANT
        groups.setdefault(name, Group(name)).add(record)
    return sorted(groups.values(), key=lambda g: (-g.covers, g.name))


def scan(
    table: Any, created_since: datetime, progress: Callable[[int, int], None] = lambda pages, n: None
) -> Iterator[CoverRecord]:
    """The records created at or after ``created_since``: the pages of one filtered Scan."""
    names = {f"#a{i}": name for i, name in enumerate(READ)}
    kwargs: dict[str, Any] = {
        "FilterExpression": f"#a{READ.index(A.CREATED_AT)} >= :since",
        "ProjectionExpression": ", ".join(names),
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": {":since": iso(created_since)},
    }
    pages = found = 0
    while True:
        try:
            page = table.scan(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise CommandError(f"cannot scan the covers table: {exc}") from exc
        pages += 1
        for item in page.get("Items", []):
            found += 1
            yield record_from_item(item)
        if pages % PROGRESS_EVERY_PAGES == 0:
            progress(pages, found)
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def add_command(sub: Any) -> None:
    examples = [
        "covers report --stack covers",
        "covers report --stack covers --since 24h --by tenant",
        "covers report --stack covers --since 2026-11-01 --csv > november.csv",
        "AWS_ENDPOINT_URL=http://127.0.0.1:5050 AWS_DEFAULT_REGION=us-east-1 "
        "covers report --stack covers-local",
    ]
    p = sub.add_parser(
        "report",
        help="what a deployed stack's covers cost and how long they took",
        description="Report the covers a deployed stack created since --since (default 7d): covers by "
        "outcome, vendor credits, the estimated AWS cost (sum and per cover, from each record's cost), "
        "p50/p95 time to cover (created to completed) and detection delay, the top failure codes; for the "
        "stack or per tenant (--by tenant). One Scan of the covers table (progress on stderr).",
        epilog="examples:\n  " + "\n  ".join(examples),
    )
    deployed.add_target_arguments(p, ("table",))
    p.add_argument(
        "--since",
        type=since,
        default="7d",
        help="covers created at or after: a span back from now (7d, 24h, 30m) or an ISO date or time "
        "(default 7d)",
    )
    p.add_argument("--by", choices=("tenant",), help="one group per tenant")
    p.add_argument(
        "--tenant-field",
        help=f"the metadata field naming a tenant (default: the stack's {TENANT_PARAMETER}, else "
        f"{DEFAULT_TENANT_FIELD!r})",
    )
    form = p.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="print the report as one JSON object on stdout")
    form.add_argument("--csv", action="store_true", help="print one CSV row per group on stdout")
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    args.region = deployed.region(args.region)
    target = deployed.resolve(args)
    table = boto3.resource("dynamodb", region_name=target.region).Table(target.need("table"))
    tenant_field = args.tenant_field or _tenant_field(args.stack, args.region)

    def progress(pages: int, found: int) -> None:
        print(f"read {pages} page(s), {found} cover(s)...", file=sys.stderr, flush=True)

    groups = summarize(
        scan(table, args.since, progress), by_tenant=args.by == "tenant", tenant_field=tenant_field
    )
    header = {
        "stack": args.stack,
        "table": target.table,
        "since": iso(args.since),
        "by": args.by,
        "tenantField": tenant_field if args.by else None,
    }
    if args.json:
        json.dump(header | {"groups": [g.as_dict() for g in groups]}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif args.csv:
        write_csv(groups, sys.stdout)
    else:
        print(f"covers created since {header['since']} in {args.stack or target.table}:")
        for group in groups:
            print("\n".join(text_lines(group)))
        if not groups:
            print("  no covers")
    return 0


def _tenant_field(stack: str | None, region: str | None) -> str:
    if not stack:
        return DEFAULT_TENANT_FIELD
    found = deployed.described(boto3.client("cloudformation", region_name=region), stack, region)
    parameters = {p["ParameterKey"]: p.get("ParameterValue") for p in found.get("Parameters", [])}
    return str(parameters.get(TENANT_PARAMETER) or DEFAULT_TENANT_FIELD)


CSV_COLUMNS = (
    "group",
    "covers",
    *(s.value for s in Status if s.terminal),
    "other_statuses",
    "credits",
    "estimated_usd",
    "usd_per_cover",
    "covers_without_cost",
    "time_to_cover_p50_s",
    "time_to_cover_p95_s",
    "detection_delay_p50_s",
    "detection_delay_p95_s",
    "top_failure_codes",
)


SPREADS = ("timeToCoverSeconds", "detectionDelaySeconds")


def write_csv(groups: list[Group], out: Any) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for group in groups:
        data = group.as_dict()
        terminal = [s.value for s in Status if s.terminal]
        others = sum(n for s, n in group.by_status.items() if s not in terminal)
        writer.writerow(
            [
                group.name,
                group.covers,
                *(group.by_status.get(s, 0) for s in terminal),
                others,
                group.credits,
                data["estimatedUsd"],
                _blank(data["usdPerCover"]),
                data["coversWithoutCost"],
                *(
                    _blank(data[k][p])
                    for k in ("timeToCoverSeconds", "detectionDelaySeconds")
                    for p in ("p50", "p95")
                ),
                ";".join(f"{code}:{n}" for code, n in data["topFailureCodes"].items()),
            ]
        )


def _blank(value: Any) -> Any:
    return "" if value is None else value


def text_lines(group: Group) -> list[str]:
    data = group.as_dict()
    statuses = ", ".join(f"{s} {n}" for s, n in data["byStatus"].items()) or "none"
    per_cover = f"${data['usdPerCover']:.7f} per cover" if data["usdPerCover"] is not None else "no cost kept"
    without = f"; {data['coversWithoutCost']} without a cost" if data["coversWithoutCost"] else ""
    failures = ", ".join(f"{code} {n}" for code, n in data["topFailureCodes"].items()) or "none"
    return [
        f"{group.name}: {group.covers} cover(s): {statuses}",
        f"  credits             {group.credits}",
        f"  estimated AWS cost  ${data['estimatedUsd']:.6f} ({per_cover}{without})",
        f"  time to cover       {_p(data['timeToCoverSeconds'])}",
        f"  detection delay     {_p(data['detectionDelaySeconds'])}",
        f"  top failure codes   {failures}",
    ]


def _p(spread: dict[str, float | None]) -> str:
    if spread["p50"] is None:
        return "-"
    return f"p50 {spread['p50']:.1f} s, p95 {spread['p95']:.1f} s"
