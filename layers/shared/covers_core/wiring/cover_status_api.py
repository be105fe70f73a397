"""CoverStatusApiFunction's objects."""

from __future__ import annotations

from covers_core.adapters import aws
from covers_core.adapters.records import CoverStore
from covers_core.domain.events import DeliveryUrls
from covers_core.logic.status import CoverStatusReader
from covers_core.settings import StatusApiSettings
from covers_core.wiring import per_container


@per_container
def reader() -> CoverStatusReader:
    s = StatusApiSettings.from_env()
    return CoverStatusReader(CoverStore(aws.table(s.table_name)), DeliveryUrls(s.delivery_base_url))
