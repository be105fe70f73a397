"""The unit prices the benches use: re-exported from the one home of prices, the layer's
``covers_core.domain.prices`` (the runtime's per-cover cost estimate uses the same table:
docs/operations.md, "Cost per cover")."""

from __future__ import annotations

from covers_core.domain.prices import DYNAMODB, LAMBDA, PRICES, READ, SFN, Price, usd

__all__ = ["DYNAMODB", "LAMBDA", "PRICES", "READ", "SFN", "Price", "usd"]
