"""ReconcileFunction's objects."""

from __future__ import annotations

from covers_core.adapters import aws
from covers_core.adapters.eventbus import EventPublisher
from covers_core.adapters.queues import RequestQueue
from covers_core.adapters.records import CoverStore
from covers_core.adapters.workflow import WorkflowStarter
from covers_core.logic.finalize import Finalizer
from covers_core.logic.reconcile import Reconciler
from covers_core.settings import ReconcileSettings
from covers_core.wiring import OnFirstUse, budget_gate, per_container


@per_container
def reconciler() -> Reconciler:
    s = ReconcileSettings.from_env()
    store = CoverStore(aws.table(s.records.table_name))
    # Most runs find nothing to repair: the clients only repairs use are created when one does.
    publisher = EventPublisher(OnFirstUse("events"), s.records.bus_name, s.records.event_source)
    return Reconciler(
        store,
        WorkflowStarter(OnFirstUse("stepfunctions"), s.state_machine_arn),
        Finalizer(store, publisher),  # publishes and settles; archives nothing
        RequestQueue(OnFirstUse("sqs"), s.queue_url),
        timing=s.timing,
        interval_seconds=s.interval_seconds,
        limit=s.limit,
        budget=budget_gate(s.budget),
    )
