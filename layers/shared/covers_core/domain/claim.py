"""The claim: who may make the one paid generate call for a music task, decided from the record.

Only the holder of a live claim may call the vendor. A claim whose lease ran out without being released
means its holder crashed part way, so the next holder must assume a credit may already be spent
(``uncertain``): a later 400 "cover exists" then means NEEDS_ATTENTION, not REJECTED."""

from __future__ import annotations

from dataclasses import dataclass

from covers_core.domain.model import CoverRecord, Status


@dataclass(frozen=True)
class Claim:
    """The caller now holds the right to call generate for this music task."""

    token: str
    uncertain: bool  # an earlier attempt may already have spent the credit
    #: Budget units an earlier attempt took and kept (``CoverRecord.budget_charged``): not taken again.
    budget_charged: tuple[str, ...] = ()


@dataclass(frozen=True)
class Busy:
    """Another invocation holds a live claim until ``until`` (epoch seconds): retry later."""

    until: int


@dataclass(frozen=True)
class TakeOver:
    """The record may be claimed from its current state; ``uncertain`` carries over to the new claim."""

    uncertain: bool
    budget_charged: tuple[str, ...] = ()


@dataclass(frozen=True)
class Settled:
    """Generation is past the claim (IN_PROGRESS or terminal): nothing to claim."""

    record: CoverRecord


def decide(record: CoverRecord, now: int) -> Busy | TakeOver | Settled:
    """What a new delivery may do with an existing record."""
    if record.status == Status.GENERATING:
        expires = record.claim_expires_at or 0
        if expires > now:
            return Busy(expires)
        # A released claim (0) carries its own verdict; a lapsed one means its holder crashed.
        return TakeOver(record.generate_uncertain or expires != 0, record.budget_charged)
    if record.status in (Status.BLOCKED, Status.BUDGET_EXCEEDED):
        return TakeOver(record.generate_uncertain, record.budget_charged)
    return Settled(record)
