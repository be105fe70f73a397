"""Local tooling for the cover pipeline: the ``covers`` CLI, the vendor emulator and the local runner.

Never shipped to Lambda (the functions only get ``covers_core`` from the layer)."""
