"""The three pipeline functions as simulated Lambda handlers, each running the project's REAL logic with
the sim's clock, sleep and fakes, built once per container as ``covers_core.wiring`` builds them:

* start: ``CoverStarter`` per message of a batch (the batch's messages in parallel, StartConcurrency at
  once, as ``StartBatch`` runs them), its ``plan`` (first wait, poll interval) from the learner, the
  workflow started as a process;
* check: ``CoverChecker.check`` (what functions/check_cover_status/app.py does: a result when done, a
  not-ready error the state machine's Retry blocks turn into the poll loop);
* finalize: ``Finalizer.finish_workflow`` (functions/finalize_cover/app.py), with the learner's ``learn``
  as its ``learn`` hook.

A new check behaviour is a new handler with the same call signature, passed as ``Config.tasks``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, cast

from covers_core.adapters.vendor import VendorClient
from covers_core.domain.budget import Caps
from covers_core.domain.model import CheckResult, CoverRecord, ImageCopy, WorkflowInput
from covers_core.domain.requests import parse_request
from covers_core.errors import CoverPipelineError
from covers_core.logic.budget import BudgetGate
from covers_core.logic.check import CheckInput, CoverChecker
from covers_core.logic.finalize import Finalizer
from covers_core.logic.start import CoverStarter, Metering

from bench.load import asl
from bench.load.lambdas import Container, Invocation
from bench.load.sqs import Message
from bench.load.stack import CHECK, FINALIZE, START, Cover, Stack, TaskHandler

if TYPE_CHECKING:
    from covers_core.adapters.eventbus import EventPublisher
    from covers_core.adapters.records import CoverStore
    from covers_core.adapters.workflow import WorkflowStarter

VENDOR_URL = "https://vendor.sim/api"


# The sim's fakes stand in for the real adapters by duck typing (the methods the logic calls).
def store(stack: Stack) -> CoverStore:
    return cast("CoverStore", stack.store)


def publisher(stack: Stack) -> EventPublisher:
    return cast("EventPublisher", Publisher(stack))


def vendor_client(stack: Stack, container: Container) -> VendorClient:
    timeout = stack.check_settings.vendor.timeout
    return VendorClient(VENDOR_URL, stack.api_key(container), timeout=timeout, session=stack.vendor.session())


class Publisher:
    """EventBridge PutEvents: one event per terminal record."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack

    def publish(self, record: CoverRecord) -> str:
        self.stack.sim.sleep(self.stack.config.latencies.put_events)
        self.stack.events_published += 1
        return f"event-{record.music_task_id}"


class Archiver:
    """S3 archiving (``ArchiveImages=true``): one download + PutObject per image."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack

    def archive_all(self, music_task_id: str, urls: tuple[str, ...]) -> tuple[ImageCopy, ...]:
        copies = []
        for i, url in enumerate(urls):
            self.stack.sim.sleep(self.stack.config.latencies.archive_image)
            self.stack.s3_puts += 1
            uri = f"s3://archive/covers/{music_task_id}/{i}.png"
            copies.append(
                ImageCopy(url=url, s3_uri=uri, size=1_500_000, sha256="0" * 64, content_type="image/png")
            )
        return tuple(copies)


class Workflow:
    """``WorkflowStarter``: StartExecution runs the REAL state machine as a process of its own."""

    def __init__(self, stack: Stack, tasks: dict[str, TaskHandler]) -> None:
        self.stack = stack
        self.tasks = tasks

    def start(self, workflow_input: WorkflowInput) -> str:
        stack = self.stack
        stack.sim.sleep(stack.config.latencies.start_execution)
        cover = stack.covers[workflow_input.music_task_id]
        cover.first_wait = workflow_input.first_wait_seconds
        cover.poll_interval = workflow_input.poll_interval_seconds
        cover.in_lambda = workflow_input.poll_in_lambda
        stack.executions_started += 1
        stack.sim.spawn(self._execute, cover, workflow_input.to_state())
        return f"arn:sim:execution:{workflow_input.music_task_id}"

    def _execute(self, cover: Cover, data: dict[str, Any]) -> None:
        stack = self.stack

        def invoke(function: str, payload: Any) -> Any:
            began, admitted = stack.sim.now, False

            def handler(data: Any, invocation: Invocation) -> Any:
                nonlocal admitted
                admitted = True
                return self.tasks[function](data, invocation)

            try:
                return stack.lambdas.invoke(function, handler, payload)
            finally:
                if admitted:  # a throttled call costs nothing
                    cover.bill(function, stack.sim.now - began)

        ended = asl.run(stack.machine, data, invoke, _Clock(stack), max_seconds=stack.max_execution_seconds)
        cover.execution, cover.execution_error = ended.status, ended.error
        cover.transitions, cover.retries = ended.transitions, ended.retries
        cover.execution_seconds = ended.seconds


class _Clock:
    """What the ASL interpreter needs of the sim (its jitter draws from the seeded RNG)."""

    def __init__(self, stack: Stack) -> None:
        self.sim = stack.sim

    @property
    def now(self) -> float:
        return self.sim.now

    def sleep(self, seconds: float) -> None:
        self.sim.sleep(seconds)

    def uniform(self, low: float, high: float) -> float:
        return self.sim.rng.uniform(low, high)


class StartFunction:
    """The SQS batch handler: returns the ids of the messages to leave on the queue."""

    def __init__(self, stack: Stack, workflow: Workflow) -> None:
        self.stack = stack
        self.workflow = workflow
        self.concurrency = stack.start_settings.concurrency

    def _starter(self, container: Container) -> CoverStarter:
        starter = container.state.get("starter")
        if starter is None:
            stack = self.stack
            settings = stack.start_settings
            finalizer = Finalizer(store(stack), publisher(stack), clock=stack.clock)
            starter = container.state["starter"] = CoverStarter(
                store(stack),
                vendor_client(stack, container),
                cast("WorkflowStarter", self.workflow),
                finalizer,
                claim_lease_seconds=settings.claim_lease_seconds,
                not_found_attempts=settings.not_found_attempts,
                plan=lambda metadata: stack.learner.plan(container, metadata),
                clock=stack.clock,
                budget=BudgetGate(
                    stack.budgets,
                    Caps(settings.budget.per_day, settings.budget.per_month),
                    settings.budget.tenant_field,
                    clock=stack.clock,
                ),
            )
        return starter

    def __call__(self, batch: list[Message], invocation: Invocation) -> list[str]:
        starter = self._starter(invocation.container)
        failed: list[str] = []
        pending = list(batch)
        memory = self.stack.lambdas.specs[START].memory_mb  # what the function's context says
        metering = Metering(memory, min(self.concurrency, len(batch)), len(batch))

        def worker() -> None:
            while pending:
                message = pending.pop(0)
                try:
                    starter.start(parse_request(message.body), metering=metering)
                except CoverPipelineError:
                    failed.append(message.id)

        sim = self.stack.sim
        for proc in [sim.spawn(worker) for _ in range(min(self.concurrency, len(batch)))]:
            sim.wait(proc)
        share = (sim.now - invocation.started) / len(batch)
        for message in batch:
            self.stack.covers[message.id].bill(START, share, 1 / len(batch))
        return failed


class CheckFunction:
    """functions/check_cover_status/app.py: the REAL ``CoverChecker`` on the sim's clock and sleep; its
    not-ready errors leave the handler, as they leave the Lambda function, for the state machine's Retry."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack

    def __call__(self, payload: dict[str, Any], invocation: Invocation) -> dict[str, Any]:
        container = invocation.container
        checker = container.state.get("checker")
        stack = self.stack
        if checker is None:
            settings = stack.check_settings
            checker = container.state["checker"] = CoverChecker(
                vendor_client(stack, container),
                deadline=settings.deadline,
                max_polls=settings.max_polls,
                polling=settings.polling,
                call_seconds=settings.vendor.longest_call_seconds,
                clock=stack.clock,
                sleep=stack.sim.sleep,
            )
        state = CheckInput.from_state(payload)
        try:
            memory = stack.lambdas.specs[CHECK].memory_mb
            return checker.check(state, time_left=invocation.time_left, memory_mb=memory).to_state()
        except Exception:
            stack.covers[state.music_task_id].check_errors += 1
            raise


class FinalizeFunction:
    """functions/finalize_cover/app.py: the REAL ``Finalizer.finish_workflow``, with the learner's ``learn``
    as its hook (``covers_core.wiring.finalize_cover`` passes the REAL ``Teacher.learn``)."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack

    def __call__(self, payload: dict[str, Any], invocation: Invocation) -> dict[str, Any]:
        stack = self.stack
        container = invocation.container
        finalizer = container.state.get("finalizer")
        if finalizer is None:
            finalizer = container.state["finalizer"] = Finalizer(
                store(stack),
                publisher(stack),
                archiver=Archiver(stack) if stack.finalize_settings.archive_bucket else None,
                learn=self._learn,
                clock=stack.clock,
                workflow_type=stack.finalize_settings.workflow_type,
            )
        record = finalizer.finish_workflow(payload, memory_mb=stack.lambdas.specs[FINALIZE].memory_mb)
        cover = stack.covers[record.music_task_id]
        cover.status, cover.finalized = record.status.value, stack.sim.now
        cover.poll_count = record.poll_count
        error = record.error.as_dict() if record.error else None
        return {
            "musicTaskId": record.music_task_id,
            "status": record.status,
            "images": list(record.images),
            "error": error,
        }

    def _learn(self, record: CoverRecord, check: CheckResult | None) -> None:
        cover = self.stack.covers[record.music_task_id]
        cover.learned = self.stack.learner.learn(record, check)


def task_handlers(stack: Stack) -> dict[str, TaskHandler]:
    """The Task states' functions (by logical id): the real ones, then ``Config.tasks`` over them. Every
    function the ASL names must have one."""
    handlers: dict[str, TaskHandler] = {CHECK: CheckFunction(stack), FINALIZE: FinalizeFunction(stack)}
    handlers.update({name: build(stack) for name, build in stack.config.tasks.items()})
    missing = {s.resource for s in stack.machine.states.values() if s.resource} - set(handlers)
    if missing:
        raise ValueError(f"no handler for the ASL's functions {sorted(missing)} (Config.tasks)")
    return handlers


def request_body(task: str, tenant: str | None) -> str:
    body: dict[str, Any] = {"musicTaskId": task}
    if tenant:
        body["metadata"] = {"tenant": tenant}
    return json.dumps(body)
