"""Operating a deployed stack (AWS): submit requests, read and list records, resume covers, redrive the
dead-letter queue; the ``covers`` subcommands that do it. Needs covers_core and boto3 only, never the local
tooling (covers_local)."""
