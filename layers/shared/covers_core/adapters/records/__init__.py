"""The cover records in DynamoDB (one item per music task): how they are stored (``items``), read
(``listing``) and changed (``store``). This package alone knows the table's attribute names."""

from covers_core.adapters.records.items import (
    OPEN_INDEX,
    A,
    item_view,
    metadata_item,
    open_shard,
    plain,
    record_from_item,
)
from covers_core.adapters.records.store import CoverStore

__all__ = [
    "OPEN_INDEX",
    "A",
    "CoverStore",
    "item_view",
    "metadata_item",
    "open_shard",
    "plain",
    "record_from_item",
]
