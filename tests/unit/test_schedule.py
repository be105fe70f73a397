"""The poll schedule: in-invocation polling bounds and the adaptive first wait (its stored form:
tests/integration/test_schedule_stored.py)."""

from __future__ import annotations

import math
import random

import pytest
from covers_core.adapters.poll_stats import CachedFirstWait
from covers_core.domain.schedule import FirstWaitPolicy, InvocationPolling, LearnedWait
from covers_core.errors import AwsTransientError

POLICY = FirstWaitPolicy(fallback=20, minimum=5, maximum=120, percentile=10)


def test_invocation_polling_stays_inside_its_budget() -> None:
    polling = InvocationPolling(budget=30, interval=3)
    assert polling.may_poll_again(27) and not polling.may_poll_again(27.1)
    assert not InvocationPolling(budget=0, interval=3).may_poll_again(0)  # one call per invocation
    with pytest.raises(ValueError):
        InvocationPolling(budget=-1, interval=3)


def test_with_no_history_the_first_wait_is_the_templates_and_stays_in_bounds() -> None:
    assert POLICY.first_wait(None) == 20
    assert POLICY.first_wait(LearnedWait(500.0, 40)) == 120
    assert POLICY.first_wait(LearnedWait(1.0, 40)) == 5
    with pytest.raises(ValueError):
        FirstWaitPolicy(fallback=20, minimum=50, maximum=10, percentile=10)


def learn(learned: LearnedWait | None, median: float, covers: int, rng: random.Random) -> LearnedWait | None:
    for _ in range(covers):
        ready = median * math.exp(rng.gauss(0.0, 0.3))
        ready_at_first_check = ready <= POLICY.first_wait(learned)
        learned = POLICY.observe(learned, ready_at_first_check=ready_at_first_check)
    return learned


def test_the_first_wait_tracks_the_10th_percentile_through_a_shift_from_20_to_90_seconds() -> None:
    rng = random.Random(1)
    # 10th percentile of lognormal(median, 0.3): median * exp(-1.2816 * 0.3) = median * 0.68
    learned = learn(None, 20, 300, rng)
    assert learned is not None and 9 <= POLICY.first_wait(learned) <= 18  # ~13.6 s (the tracker jitters)
    learned = learn(learned, 90, 300, rng)
    assert learned is not None and 45 <= POLICY.first_wait(learned) <= 80  # ~61 s
    assert learned.count == 600


def test_a_cover_ready_at_the_first_check_shortens_the_wait_and_one_not_ready_lengthens_it() -> None:
    start = LearnedWait(40.0, 10)
    assert POLICY.observe(start, ready_at_first_check=True).seconds < 40
    assert POLICY.observe(start, ready_at_first_check=False).seconds > 40


class FlakyStore:
    def __init__(self) -> None:
        self.reads, self.fail = 0, False

    def get(self) -> LearnedWait | None:
        self.reads += 1
        if self.fail:
            raise AwsTransientError("DynamoDB GetItem failed: throttled")
        return LearnedWait(33.0, 50)


def test_the_start_function_reads_the_learned_wait_once_a_minute_and_falls_back_on_errors() -> None:
    now = [0.0]
    store = FlakyStore()
    first_wait = CachedFirstWait(store, POLICY, monotonic=lambda: now[0])  # type: ignore[arg-type]
    assert (first_wait(), first_wait(), store.reads) == (33, 33, 1)
    now[0], store.fail = 61.0, True
    assert first_wait() == 20  # the template's fixed first wait
