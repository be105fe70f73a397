"""A concurrent load simulation of the pipeline in virtual time (``python -m bench.load``).

Poisson arrivals of cover requests go through the SQS event source into the start function, each cover's
workflow follows the REAL state machine (statemachine/cover_workflow.asl.json, parsed by ``asl``), and the
Lambda handlers run the project's REAL logic (``CoverStarter``, ``CoverChecker``, ``Finalizer``, the poll
schedule's ``Planner`` and ``Teacher`` over ``LearnedWaitStore``) against in-memory fakes of DynamoDB, the
vendor, EventBridge and Secrets Manager, all on one virtual clock with a shared Lambda concurrency limit.
Each function's settings are the REAL ``covers_core.settings`` read from its environment in template.yaml,
resolved for the run's parameters (``settings``): a variant such as ``WorkflowType=EXPRESS`` is simulated as
that deployment behaves, not priced after the fact.

Modules: ``engine`` (event loop, processes), ``asl`` (the state machine), ``lambdas`` (concurrency,
containers), ``sqs`` (queue and event source), ``dynamo`` (tables and capacity units), ``vendor`` (ready
times, 429s), ``mixes`` (latency scenarios, tenants), ``learners`` (the pluggable poll-schedule learner),
``functions`` (the handlers: the pluggable check behaviour), ``settings`` (the template's variables per
function), ``stack`` (configuration and shared state), ``pipeline`` (one run), ``report`` (figures and
cost), ``run`` (variants x mixes x rates), ``__main__`` (the CLI).

To try a redesign (``bench.load.stack.Config``):

* a new poll-schedule learner: ``Config(learner=lambda stack: MyLearner(...))``, implementing
  ``learners.Learner`` (``plan(container, metadata)`` -> first wait and poll interval, ``learn(record,
  check)``); give it a store on ``dynamo.SimPollStatsTable`` (or a table of its own) to have its calls take
  time and capacity; ``learners.FixedSchedule`` is the no-learning baseline;
* a new deployment: ``Config(parameters={...})`` (template parameters, refused as CloudFormation refuses
  them), or a ``run.Variant`` in the default plan;
* a new check behaviour: ``Config(tasks={"CheckCoverStatusFunction": lambda stack: MyCheck(stack)})``, a
  callable ``(payload, invocation) -> result`` that raises the exceptions the ASL's Retry/Catch match;
* a new state machine: ``Config(asl_path=...)``; its Task resources are named as template.yaml's
  ``DefinitionSubstitutions`` name them, each needing a handler (``Config.tasks`` for a new function).
"""
