"""The simulated stack: configuration, the covers in flight, and the shared fakes (DynamoDB, vendor,
Lambda, queue) that the functions' handlers use. Each function's settings are what the REAL
``covers_core.settings`` reads from its environment in template.yaml, resolved for the template's parameter
defaults and the run's overrides (``bench.load.settings``), as such a deployment has them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from covers_core.settings import CheckSettings, FinalizeSettings, StartSettings

from bench.load import asl
from bench.load.dynamo import SimBudgets, SimCoverStore, SimPollStatsTable, Usage, table_indexes
from bench.load.engine import Sim
from bench.load.lambdas import Container, Invocation, LambdaService, template_functions
from bench.load.learners import LearnedSchedule, Learner
from bench.load.mixes import Mix
from bench.load.settings import Resolver
from bench.load.sqs import RequestQueue
from bench.load.vendor import RateLimit, Vendor
from covers_local.template import DELIVERY_DEFAULTS, load_template, parameter_defaults, project_root

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
START, CHECK, FINALIZE = "StartCoverFunction", "CheckCoverStatusFunction", "FinalizeCoverFunction"
#: The longest an EXPRESS execution may run ("Express Workflows can run for up to five minutes",
#: https://docs.aws.amazon.com/step-functions/latest/dg/choosing-workflow-type.html, read 2026-05).
EXPRESS_MAX_SECONDS = 300.0
TaskHandler = Callable[[Any, Invocation], Any]


@dataclass(frozen=True)
class Latencies:
    """Modelled service times, in seconds ((low, high): uniform between)."""

    dynamodb: tuple[float, float] = (0.005, 0.010)
    status_call: tuple[float, float] = (0.15, 0.35)  # one GET /v2/cover/status
    generate_call: tuple[float, float] = (0.2, 0.4)  # one POST /v2/cover/generate
    start_execution: float = 0.03
    put_events: float = 0.02
    secrets: float = 0.02
    cold_start: float = 0.8  # INIT, billed since 2025-08 (aws.amazon.com/blogs/compute, INIT billing)
    archive_image: float = 0.5  # download + PutObject, per image


def _learned(stack: Stack) -> Learner:
    first_wait = stack.start_settings.first_wait
    return LearnedSchedule(
        first_wait.policy,
        first_wait.learning.tenant_field,
        stack.stats_table,
        clock=stack.clock,
        monotonic=lambda: stack.sim.now,
    )


@dataclass
class Config:
    """One run's knobs. ``learner`` and ``tasks`` build the pluggable parts from the stack."""

    duration: float = 1200.0  # measured arrivals for this long (virtual s), unless max_covers is reached
    warmup: float = 300.0  # figures are read from covers that arrived between warmup and duration
    #: Arrivals go on this long after ``duration``, so the measured covers live their whole life under
    #: the same load (at 116/s the last 3 minutes' covers would otherwise see the system drain).
    tail: float = 240.0
    #: Bounds a run's wall time at high rates (about 0.8 ms of CPU per cover): the measured window (after the
    #: whole warmup, which the learner needs: its first counts, a minute's cache, two complete minutes for
    #: the stack's rate) shrinks to max_covers / rate, but never under min_window.
    max_covers: int | None = 20_000
    min_window: float = 120.0
    drain: float = 6 * 3600.0  # then run until every execution ended, at most this long
    seed: int = 42
    account_limit: int = 1000
    reserved: Mapping[str, int] = field(default_factory=dict)
    #: Template parameter overrides (e.g. WorkflowType=EXPRESS), refused as CloudFormation would refuse them.
    parameters: Mapping[str, Any] = field(default_factory=dict)
    latencies: Latencies = field(default_factory=Latencies)
    archive: bool = False  # ArchiveImages=true (as a parameter): finalize downloads each image, puts it in S3
    vendor_limit: RateLimit | None = None  # for every mix (a mix may set its own)
    images_per_cover: int = 1
    learner: Callable[[Stack], Learner] = _learned
    #: Handlers of the ASL's Task states by function logical id, over the defaults (the real check and
    #: finalize logic, bench.load.functions): a new check behaviour, or a function a new ASL calls.
    tasks: Mapping[str, Callable[[Stack], TaskHandler]] = field(default_factory=dict)
    asl_path: Path = field(
        default_factory=lambda: project_root() / "statemachine" / "cover_workflow.asl.json"
    )


@dataclass(slots=True)
class Cover:
    """One music task's path through the pipeline (virtual seconds)."""

    task: str
    arrived: float
    tenant: str | None = None
    latency: float | None = None  # generate -> ready, when the workload gives it (else the mix draws it)
    generated: float | None = None
    ready_at: float | None = None
    first_wait: int | None = None  # the plan the start function gave its execution
    poll_interval: int | None = None
    in_lambda: bool | None = None
    detected: float | None = None  # the status call that first saw SUCCESS
    finalized: float | None = None
    status: str | None = None  # the record's status after finalize
    execution: str | None = None  # SUCCEEDED / FAILED / TIMED_OUT (None: still running)
    execution_error: str | None = None
    execution_seconds: float = 0.0
    transitions: int = 0
    retries: int = 0
    learned: bool | None = None  # True: the learner stored its lesson; False: not; None: nothing to learn
    poll_count: int | None = None  # the record's, after finalize
    status_calls: int = 0
    rate_limited: int = 0
    check_errors: int = 0  # check invocations that ended in an error (not ready, vendor errors)
    #: Billed seconds and invocations, by function (a start batch's shared evenly by its messages).
    seconds: dict[str, float] = field(default_factory=dict)
    requests: dict[str, float] = field(default_factory=dict)

    def bill(self, function: str, seconds: float, requests: float = 1.0) -> None:
        self.seconds[function] = self.seconds.get(function, 0.0) + seconds
        self.requests[function] = self.requests.get(function, 0.0) + requests


class Stack:
    def __init__(self, mix: Mix, rate: float, config: Config) -> None:
        self.mix, self.rate, self.config = mix, rate, config
        self.sim = Sim(config.seed)
        overrides = {**config.parameters, **({"ArchiveImages": "true"} if config.archive else {})}
        self.params = {**parameter_defaults(), **overrides}
        template = load_template()
        resolver = Resolver(template, self.params)
        resolver.check()
        self.start_settings = StartSettings.from_env(resolver.environment(START))
        self.check_settings = CheckSettings.from_env(resolver.environment(CHECK))
        self.finalize_settings = FinalizeSettings.from_env(DELIVERY_DEFAULTS | resolver.environment(FINALIZE))
        self.workflow_type = str(resolver.value(template["Resources"]["CoverWorkflow"]["Properties"]["Type"]))
        self.max_execution_seconds = EXPRESS_MAX_SECONDS if self.workflow_type == "EXPRESS" else None
        self.lambdas = LambdaService(
            self.sim,
            template_functions(),
            account_limit=config.account_limit,
            reserved=config.reserved,
            cold_start_seconds=config.latencies.cold_start,
        )
        self.usage = Usage()
        self.store = SimCoverStore(self.ddb, table_indexes(), self.usage)
        self.stats_table = SimPollStatsTable(self.ddb, self.usage)
        self.budgets = SimBudgets(self.ddb, self.usage)
        lat = config.latencies
        self.vendor = Vendor(
            self.sim,
            on_generate=self._generated,
            on_status=self._status_answered,
            status_seconds=lambda: self.sim.rng.uniform(*lat.status_call),
            generate_seconds=lambda: self.sim.rng.uniform(*lat.generate_call),
            limit=config.vendor_limit or mix.vendor_limit,
        )
        self.learner = config.learner(self)
        substitutions = template["Resources"]["CoverWorkflow"]["Properties"]["DefinitionSubstitutions"]
        self.machine = asl.StateMachine.load(config.asl_path, _functions_of(substitutions))
        queue = resolver.value(template["Resources"]["CoverRequestsQueue"]["Properties"])
        self.queue = RequestQueue(
            self.sim,
            visibility_timeout=float(queue["VisibilityTimeout"]),
            max_receives=int(queue["RedrivePolicy"]["maxReceiveCount"]),
        )
        mapping = resolver.value(template["Resources"][START]["Properties"]["Events"]["CoverRequests"])
        mapping = mapping["Properties"]
        self.batching_window = float(mapping.get("MaximumBatchingWindowInSeconds", 0))
        self.batch_size = int(mapping["BatchSize"])
        self.pollers = int(mapping["ScalingConfig"]["MaximumConcurrency"])
        self.covers: dict[str, Cover] = {}
        self.by_cover_task: dict[str, Cover] = {}
        self.secrets_calls = 0
        self.events_published = 0
        self.s3_puts = 0
        self.executions_started = 0
        self.window_concurrency: dict[str, float] = {}

    # --- shared services -------------------------------------------------------------------------

    def clock(self) -> datetime:
        return EPOCH + timedelta(seconds=self.sim.now)

    def ddb(self) -> None:
        self.sim.sleep(self.sim.rng.uniform(*self.config.latencies.dynamodb))

    def api_key(self, container: Container) -> Callable[[], str]:
        """The container's API key read, cached SecretCacheSeconds as ``api_key_reader`` does."""
        ttl = float(self.check_settings.vendor.secret_cache_seconds)

        def read() -> str:
            at = container.state.get("secret_read_at")
            if at is None or self.sim.now - at >= ttl:
                self.secrets_calls += 1
                self.sim.sleep(self.config.latencies.secrets)
                container.state["secret_read_at"] = self.sim.now
            return "sim-api-key"

        return read

    # --- the vendor's hooks ------------------------------------------------------------------------

    def _generated(self, music_task_id: str, now: float) -> tuple[str, float]:
        cover = self.covers[music_task_id]
        cover.generated = now
        latency = cover.latency
        if latency is None:
            latency = self.mix.latency(self.sim.rng, now, cover.tenant)
        cover.ready_at = now + latency
        cover_task_id = "ct-" + music_task_id
        self.by_cover_task[cover_task_id] = cover
        return cover_task_id, cover.ready_at

    def _status_answered(self, cover_task_id: str, now: float, ready: bool | None) -> None:
        cover = self.by_cover_task[cover_task_id]
        cover.status_calls += 1
        if ready is None:
            cover.rate_limited += 1
        elif ready and cover.detected is None:
            cover.detected = now


def _functions_of(substitutions: Mapping[str, Any]) -> dict[str, str]:
    """DefinitionSubstitutions (``!Ref Fn.Version``, ``!GetAtt Fn.Arn``) -> function logical ids."""
    out = {}
    for name, value in substitutions.items():
        ref = value.get("Ref") or value.get("Fn::GetAtt") if isinstance(value, Mapping) else value
        if isinstance(ref, list):
            ref = ref[0]
        out[name] = str(ref).split(".")[0]
    return out
