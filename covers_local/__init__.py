"""Local tooling for the cover pipeline: the ``covers`` CLI (its local commands; those that operate a deployed
stack are ``covers_ops``), the vendor emulator and the local runner.

Never shipped to Lambda (the functions only get ``covers_core`` from the layer)."""
