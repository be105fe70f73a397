"""StartCoverFunction's objects."""

from __future__ import annotations

from covers_core.adapters import aws
from covers_core.adapters.eventbus import EventPublisher
from covers_core.adapters.poll_stats import LearnedWaitStore
from covers_core.adapters.queues import DeadLetters, RequestQueue
from covers_core.adapters.records import CoverStore
from covers_core.adapters.secrets import api_key_reader
from covers_core.adapters.vendor import VendorClient, new_session
from covers_core.adapters.workflow import WorkflowStarter
from covers_core.logic.batch import StartBatch
from covers_core.logic.finalize import Finalizer
from covers_core.logic.learning import Planner
from covers_core.logic.start import CoverStarter
from covers_core.settings import StartSettings
from covers_core.wiring import OnFirstUse, budget_gate, one_at_a_time, per_container


@per_container
def settings() -> StartSettings:
    return StartSettings.from_env()


@per_container
def starter() -> CoverStarter:
    s = settings()
    store = CoverStore(aws.table(s.records.table_name))
    vendor = VendorClient(
        s.vendor.base_url,
        # The batch's workers share one read of the key (and one Secrets Manager client).
        one_at_a_time(api_key_reader(s.vendor.api_key_secret, s.vendor.secret_cache_seconds)),
        timeout=s.vendor.timeout,
        session=new_session(),
    )
    # Only a start that finishes early (refused, settled before) publishes: its client comes on first use.
    publisher = EventPublisher(OnFirstUse("events"), s.records.bus_name, s.records.event_source)
    return CoverStarter(
        store,
        vendor,
        WorkflowStarter(aws.client("stepfunctions"), s.state_machine_arn),
        Finalizer(store, publisher),  # the start function's outcomes have no images to archive
        claim_lease_seconds=s.claim_lease_seconds,
        not_found_attempts=s.not_found_attempts,
        plan=Planner(
            LearnedWaitStore(aws.table(s.first_wait.learning.table_name)),
            s.first_wait.policy,
            s.first_wait.learning.tenant_field,
        ).plan,
        budget=budget_gate(s.budget),
    )


@per_container
def batch() -> StartBatch:
    s = settings()
    return StartBatch(
        starter(),
        DeadLetters(OnFirstUse("sqs"), s.dead_letter_queue_url),  # bad messages and requeues only
        reserve_seconds=s.vendor.longest_call_seconds,
        concurrency=s.concurrency,
        requests=RequestQueue(OnFirstUse("sqs"), s.queue_url),
        max_receives=s.max_receive_count,
    )
