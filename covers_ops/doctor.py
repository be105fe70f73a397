"""``covers doctor``: a deployed stack checked the way an on-call engineer would (docs/operations.md,
"covers doctor"). Each check gives one :class:`Finding`: OK, WARN (look at it; the stack works) or FAIL
(something is broken or waiting for a person), with the fix. A check that cannot read what it needs says so
as a WARN; it never stops the others.

Every AWS read goes through :mod:`covers_ops.deployed`; the secret's value never leaves it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from covers_core.domain.model import Status, parse_iso
from covers_core.domain.reconcile import Timing

from covers_ops import deployed
from covers_ops.deployed import CommandError, StackInfo


class Level(StrEnum):
    OK = "OK"
    WARN = "WARN"
    FAIL = "FAIL"


@dataclass(frozen=True)
class Finding:
    name: str
    level: Level
    detail: str
    fix: str | None = None

    def line(self) -> str:
        fix = f" — fix: {self.fix}" if self.fix and self.level is not Level.OK else ""
        return f"{self.level.value:<4} {self.name}: {self.detail}{fix}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"level": self.level.value}


#: The checks, in the order they are printed.
CHECKS = (
    "api-key",
    "alarm-subscription",
    "dead-letters",
    "overdue-covers",
    "lambda-concurrency",
    "step-functions-quotas",
    "reconciler",
)

#: A cover this long past its deadline is not just finishing its last check and finalize.
FINISHING_SECONDS = 60
#: Shown by name in a finding; the rest are counted.
SHOWN = 3


def diagnose(stack: StackInfo, now: datetime | None = None) -> list[Finding]:
    """Every check of ``stack``, in :data:`CHECKS` order."""
    now = now or datetime.now(UTC)
    checks: dict[str, Callable[[StackInfo, datetime], Finding]] = {
        "api-key": check_api_key,
        "alarm-subscription": check_alarm_subscription,
        "dead-letters": check_dead_letters,
        "overdue-covers": check_overdue_covers,
        "lambda-concurrency": check_lambda_concurrency,
        "step-functions-quotas": check_step_functions_quotas,
        "reconciler": check_reconciler,
    }
    found = []
    for name in CHECKS:
        try:
            found.append(checks[name](stack, now))
        except CommandError as exc:
            found.append(
                Finding(
                    name,
                    Level.WARN,
                    f"could not check: {exc}",
                    'rerun with credentials that may read it (docs/operations.md, "covers doctor")',
                )
            )
    return found


def check_api_key(stack: StackInfo, now: datetime) -> Finding:
    name = "api-key"
    secret = stack.outputs.get("VendorApiKeySecretArn")
    if not secret:
        return Finding(
            name, Level.WARN, "the stack has no VendorApiKeySecretArn output", "redeploy the stack"
        )
    put = f"aws secretsmanager put-secret-value --secret-id {secret} --secret-string <key> (docs/deploy.md)"
    state = deployed.api_key_state(stack.region, secret)
    if state == deployed.KEY_SET:
        return Finding(name, Level.OK, "the vendor API key secret holds a key (not the placeholder)")
    why = {
        deployed.KEY_PLACEHOLDER: "the vendor API key secret holds the placeholder: every generate fails",
        deployed.KEY_EMPTY: "the vendor API key secret is empty: every generate fails",
        deployed.KEY_NO_API_KEY: 'the vendor API key secret is JSON without an "apiKey" string',
    }[state]
    return Finding(name, Level.FAIL, why, f"{put}; then `covers redrive --stack {stack.name}`")


def check_alarm_subscription(stack: StackInfo, now: datetime) -> Finding:
    name = "alarm-subscription"
    topic = stack.outputs.get("AlarmTopicArn")
    if not topic:
        return Finding(name, Level.WARN, "the stack has no AlarmTopicArn output", "redeploy the stack")
    subscriptions = deployed.topic_subscriptions(stack.region, topic)
    confirmed = [s for s in subscriptions if s.get("SubscriptionArn", "").startswith("arn:")]
    if confirmed:
        endpoints = ", ".join(f"{s.get('Protocol')}:{s.get('Endpoint')}" for s in confirmed[:SHOWN])
        return Finding(name, Level.OK, f"{len(confirmed)} confirmed subscription(s) ({endpoints})")
    subscribe = (
        f"deploy with AlarmEmail=<address> or `aws sns subscribe --topic-arn {topic} --protocol email "
        "--notification-endpoint <address>`, then confirm the e-mail AWS sends"
    )
    if not subscriptions:
        return Finding(
            name, Level.WARN, "the alarm topic has no subscription: alarms reach nobody", subscribe
        )
    pending = ", ".join(str(s.get("Endpoint")) for s in subscriptions[:SHOWN])
    return Finding(
        name,
        Level.WARN,
        f"no confirmed subscription, {len(subscriptions)} pending ({pending}): alarms reach nobody",
        "open the confirmation e-mail AWS sent and confirm it (it expires after 3 days; then subscribe "
        f"again: {subscribe})",
    )


def check_dead_letters(stack: StackInfo, now: datetime) -> Finding:
    name = "dead-letters"
    queues = {
        logical: physical
        for logical, (kind, physical) in sorted(stack.resources.items())
        if kind == "AWS::SQS::Queue" and "DeadLetter" in logical and physical
    }
    if not queues:
        return Finding(name, Level.WARN, "the stack has no dead-letter queue", "redeploy the stack")
    counts = {logical: sum(deployed.queue_messages(stack.region, url)) for logical, url in queues.items()}
    detail = ", ".join(f"{logical} {n}" for logical, n in counts.items())
    if not any(counts.values()):
        return Finding(name, Level.OK, f"no message waiting ({detail})")
    fixes = []
    if counts.get("CoverRequestsDeadLetterQueue"):
        fixes.append(
            'read their rejectReason (docs/operations.md, "Dead letters"), fix the cause, '
            f"`covers redrive --stack {stack.name}`"
        )
    if any(n for logical, n in counts.items() if logical != "CoverRequestsDeadLetterQueue"):
        fixes.append(
            'upstream events: send each body to CoverRequestsQueueUrl (docs/operations.md, "Alarms")'
        )
    return Finding(name, Level.FAIL, f"messages waiting: {detail}", "; ".join(fixes))


def check_overdue_covers(stack: StackInfo, now: datetime) -> Finding:
    """IN_PROGRESS records past their deadline (``PollMaxWaitSeconds`` after generation). The reconciler
    resumes those whose workflow ended once ``grace`` past it (docs/operations.md, "The reconciler"): one
    still open a couple of runs after that is stuck."""
    name = "overdue-covers"
    deadline = stack.number("PollMaxWaitSeconds", 900)
    interval = stack.number("ReconcileIntervalMinutes", 5) * 60
    grace = Timing(redelivery_seconds=0, deadline_seconds=deadline).grace_seconds
    stuck_after = deadline + grace + 2 * interval
    late: list[tuple[float, str]] = []
    for record in deployed.open_records(stack.target(), now - timedelta(seconds=deadline)):
        started = record.generated_at or record.created_at
        if record.status is not Status.IN_PROGRESS or not started:
            continue
        age = (now - parse_iso(started)).total_seconds()
        if age > deadline + FINISHING_SECONDS:
            late.append((age, record.music_task_id))
    if not late:
        return Finding(name, Level.OK, f"no cover IN_PROGRESS past its deadline ({_span(deadline)})")
    late.sort(reverse=True)
    stuck = [(age, task) for age, task in late if age > stuck_after]
    shown = ", ".join(f"{task} ({_span(age - deadline)} over)" for age, task in (stuck or late)[:SHOWN])
    more = f" and {len(stuck or late) - SHOWN} more" if len(stuck or late) > SHOWN else ""
    if stuck:
        return Finding(
            name,
            Level.FAIL,
            f"{len(stuck)} cover(s) IN_PROGRESS long past their deadline ({_span(deadline)}), not repaired "
            f"by the reconciler: {shown}{more}",
            f"`covers resume --stack {stack.name} <musicTaskId>` for each "
            '(docs/operations.md, "Stranded IN_PROGRESS"); see the reconciler check',
        )
    return Finding(
        name,
        Level.WARN,
        f"{len(late)} cover(s) IN_PROGRESS past their deadline ({_span(deadline)}): {shown}{more}",
        f"none needed yet: the reconciler resumes them once {_span(grace)} past it; still there after "
        f"{_span(stuck_after)}: `covers resume --stack {stack.name} <musicTaskId>`",
    )


def check_lambda_concurrency(stack: StackInfo, now: datetime) -> Finding:
    """The account's Lambda concurrency against what this stack is configured to use (docs/operations.md,
    "Throttling"): the functions' reservations, and in the unreserved pool the check target (unless the
    check function has its own reservation) and the start function's ``QueueMaxConcurrency``."""
    name = "lambda-concurrency"
    target = stack.number("CheckConcurrencyTarget", 300)
    check_reserved = stack.number("CheckReservedConcurrency")
    reserved = stack.number("FinalizeReservedConcurrency", 25) + check_reserved + 1  # + the reconciler's 1
    unreserved_need = (0 if check_reserved else target) + stack.number("QueueMaxConcurrency", 5)
    need = reserved + unreserved_need
    increase = 'request a Lambda "Concurrent executions" increase (Service Quotas)'
    try:
        limit = deployed.lambda_account_limit(stack.region)
        total, unreserved = int(limit["ConcurrentExecutions"]), int(limit["UnreservedConcurrentExecutions"])
    except (CommandError, KeyError, ValueError, TypeError) as exc:
        return Finding(
            name,
            Level.WARN,
            f"could not read the account's Lambda concurrency ({exc}); this stack needs about {need}",
            "check it in the Lambda console (Account settings) or the Service Quotas console",
        )
    configured = (
        f"this stack needs about {need} (CheckConcurrencyTarget {target}"
        + (f" in CheckReservedConcurrency {check_reserved}" if check_reserved else "")
        + f", QueueMaxConcurrency {stack.number('QueueMaxConcurrency', 5)}, reserved {reserved})"
    )
    problems = []
    if total < need:
        problems.append(f"the account's limit is {total}, {configured}")
    if unreserved < unreserved_need:
        problems.append(f"{unreserved} unreserved, below the {unreserved_need} the unreserved functions need")
    if check_reserved and target > check_reserved:
        problems.append(f"CheckConcurrencyTarget {target} is above CheckReservedConcurrency {check_reserved}")
    if problems:
        room = max(0, min(total - (need - target), unreserved - (unreserved_need - target)))
        lower = (
            f"lower CheckConcurrencyTarget to {room} or less"
            if not check_reserved
            else (f"keep CheckConcurrencyTarget under CheckReservedConcurrency ({check_reserved})")
        )
        return Finding(
            name,
            Level.WARN,
            "; ".join(problems) + ": covers will be throttled (late, not lost)",
            f'{increase}, or {lower} (docs/operations.md, "Throttling")',
        )
    return Finding(name, Level.OK, f"account limit {total}, {unreserved} unreserved; {configured}")


#: Step Functions' documented default quotas (docs/performance.md, "Capacity"): state transitions and
#: StartExecution per second, in the regions with the higher ones and elsewhere.
HIGH_QUOTA_REGIONS = ("us-east-1", "us-west-2", "eu-west-1")
DEFAULT_TRANSITIONS = (1500, 500)
DEFAULT_STARTS = (300, 150)
#: State transitions per cover at the highest rate measured (docs/performance.md, "Capacity").
TRANSITIONS_PER_COVER = 8.4


def check_step_functions_quotas(stack: StackInfo, now: datetime) -> Finding:
    name = "step-functions-quotas"
    high = (stack.region or "") in HIGH_QUOTA_REGIONS
    default_transitions = DEFAULT_TRANSITIONS[0 if high else 1]
    default_starts = DEFAULT_STARTS[0 if high else 1]
    increase = (
        'Service Quotas console, AWS Step Functions: request an increase (docs/performance.md, "Capacity")'
    )
    try:
        quotas = deployed.service_quotas(stack.region, "states")
    except CommandError as exc:
        quotas, why = [], str(exc)
    else:
        why = "Service Quotas lists no state transition or StartExecution refill rate"
    transitions = _quota(quotas, "statetransition")
    starts = _quota(quotas, "startexecution")
    if transitions is None or starts is None:
        return Finding(
            name,
            Level.WARN,
            f"could not read, assuming {default_transitions} state transitions/s and {default_starts} "
            f"StartExecution/s, the documented defaults in {stack.region} (new accounts get less): {why}",
            f"check them in the {increase}",
        )
    carried = f"about {transitions / TRANSITIONS_PER_COVER:.0f} covers/s at {TRANSITIONS_PER_COVER} each"
    detail = f"{transitions:.0f} state transitions/s ({carried}), {starts:.0f} StartExecution/s"
    if transitions < default_transitions or starts < default_starts:
        return Finding(
            name,
            Level.WARN,
            f"{detail}: below the defaults the capacity table assumes ({default_transitions}/s, "
            f"{default_starts}/s)",
            increase,
        )
    return Finding(name, Level.OK, detail)


def _quota(quotas: list[dict[str, Any]], api: str) -> float | None:
    for quota in quotas:
        label = str(quota.get("QuotaName", "")).lower().replace(" ", "")
        if api in label and "refill" in label and quota.get("Value") is not None:
            return float(quota["Value"])
    return None


def check_reconciler(stack: StackInfo, now: datetime) -> Finding:
    """The reconciler's last run, from its Lambda metrics (``AWS/Lambda`` ``Invocations`` and ``Errors``
    of ReconcileFunction, per minute, over the last three intervals)."""
    name = "reconciler"
    interval = stack.number("ReconcileIntervalMinutes", 5)
    function = stack.resources.get("ReconcileFunction", ("", ""))[1]
    if not function:
        return Finding(name, Level.WARN, "the stack has no ReconcileFunction", "redeploy the stack")
    window = timedelta(minutes=3 * interval + 5)  # + CloudWatch's delay in publishing a minute
    dimensions = {"FunctionName": function}
    runs = deployed.metric_sums(
        stack.region, "AWS/Lambda", "Invocations", dimensions, start=now - window, end=now
    )
    errors = deployed.metric_sums(
        stack.region, "AWS/Lambda", "Errors", dimensions, start=now - window, end=now
    )
    logs = f"`sam logs -n ReconcileFunction --stack-name {stack.name} -s '1h ago'`"
    ran = sorted(minute for minute, count in runs.items() if count > 0)
    if not ran:
        age = now - stack.created
        if age < window:
            return Finding(
                name,
                Level.OK,
                f"no run yet (the stack is {_span(age.total_seconds())} old; it runs every {interval} min)",
            )
        return Finding(
            name,
            Level.WARN,
            f"no run in the last {_span(window.total_seconds())} (it runs every {interval} min): nothing "
            "repairs what a crash leaves",
            f"check that the schedule {stack.name}-reconcile is ENABLED (`aws scheduler get-schedule --name "
            f"{stack.name}-reconcile`) and ReconcileThrottlesAlarm; {logs}",
        )
    last = ran[-1]
    when = f"{last.astimezone(UTC):%Y-%m-%dT%H:%MZ} ({_span((now - last).total_seconds())} ago)"
    if errors.get(last, 0) > 0:
        return Finding(
            name,
            Level.FAIL,
            f"the last run, at {when}, failed",
            f"read its logs: {logs} (ReconcileErrorsAlarm)",
        )
    failed = sum(1 for minute in ran if errors.get(minute, 0) > 0)
    earlier = (
        f"; {failed} of the {len(ran)} runs in the last {_span(window.total_seconds())} failed"
        if failed
        else ""
    )
    succeeded = f"the last run, at {when}, succeeded{earlier}"
    if failed:
        return Finding(name, Level.WARN, succeeded, f"read the failed runs' logs: {logs}")
    return Finding(name, Level.OK, succeeded)


def _span(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 2 * 3600:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"


def worst(findings: list[Finding]) -> Level:
    levels = {f.level for f in findings}
    return Level.FAIL if Level.FAIL in levels else Level.WARN if Level.WARN in levels else Level.OK
