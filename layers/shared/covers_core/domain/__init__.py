"""The pipeline's decisions as plain typed Python: models, the request contract, the claim policy, the
poll schedule, outcomes and events. No I/O and no AWS here."""
