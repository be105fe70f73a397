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
"""
