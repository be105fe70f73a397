"""CheckCoverStatusFunction's objects."""

from __future__ import annotations

from covers_core.adapters.secrets import api_key_reader
from covers_core.adapters.vendor import VendorClient, new_session
from covers_core.logic.check import CoverChecker
from covers_core.settings import CheckSettings
from covers_core.wiring import per_container


@per_container
def checker() -> CoverChecker:
    s = CheckSettings.from_env()
    vendor = VendorClient(
        s.vendor.base_url,
        api_key_reader(s.vendor.api_key_secret, s.vendor.secret_cache_seconds),
        timeout=s.vendor.timeout,
        session=new_session(),
    )
    return CoverChecker(
        vendor,
        deadline=s.deadline,
        max_polls=s.max_polls,
        polling=s.polling,
        call_seconds=s.vendor.longest_call_seconds,
    )
