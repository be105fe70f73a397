"""A concurrent load simulation of the pipeline in virtual time (``python -m bench.load``).

Poisson arrivals of cover requests go through the SQS event source into the start function, each cover's
workflow follows the REAL state machine (statemachine/cover_workflow.asl.json, parsed by ``asl``), and the
Lambda handlers run the project's REAL logic (``CoverStarter``, ``CoverChecker``, ``Finalizer``, the
first-wait learner) against in-memory fakes of DynamoDB, the vendor, EventBridge and Secrets Manager, all
on one virtual clock with a shared Lambda concurrency limit.

Modules: ``engine`` (event loop, processes), ``asl`` (the state machine), ``lambdas`` (concurrency,
containers), ``sqs`` (queue and event source), ``dynamo`` (tables and capacity units), ``vendor`` (ready
times, 429s), ``mixes`` (latency scenarios), ``learners`` (the pluggable first-wait learner),
``functions`` (the handlers: the pluggable check behaviour), ``stack`` (configuration and shared state),
``pipeline`` (one run), ``report`` (figures and cost), ``run`` (many runs), ``__main__`` (the CLI).

To try a redesign (``bench.load.stack.Config``):

* a new first-wait learner: ``Config(learner=lambda stack: MyLearner(...))``, implementing
  ``learners.Learner`` (``first_wait(container, now)``, ``observe(outcome, now)``); give it a store on
  ``dynamo.SimStatsTable`` (or a table of its own) to have its writes take time and lose to each other;
* a new check behaviour: ``Config(tasks={"CheckCoverStatusFunction": lambda stack: MyCheck(stack)})``, a
  callable ``(payload, invocation) -> result`` that raises the exceptions the ASL's Retry/Catch match;
* a new state machine: ``Config(asl_path=...)``; its Task resources are named as template.yaml's
  ``DefinitionSubstitutions`` name them, each needing a handler (``Config.tasks`` for a new function).
"""
