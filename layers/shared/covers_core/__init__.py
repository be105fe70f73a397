"""Domain code of the cover pipeline, shipped to Lambda in the shared layer.

Plain Python: nothing here reads the environment at import time or creates AWS clients on its own;
the handlers in ``functions/`` wire settings and clients in (see ``covers_core.wiring``).
"""

__all__ = ["__version__"]
__version__ = "0.1.0"
