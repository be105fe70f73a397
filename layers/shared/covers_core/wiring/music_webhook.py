"""MusicWebhookFunction's objects."""

from __future__ import annotations

import time

from covers_core.adapters import aws
from covers_core.adapters.queues import DeadLetters, RequestQueue
from covers_core.adapters.secrets import SigningKeys
from covers_core.logic.intake import WebhookIntake
from covers_core.settings import WebhookSettings
from covers_core.wiring import per_container


@per_container
def intake() -> WebhookIntake:
    s = WebhookSettings.from_env()
    return WebhookIntake(
        RequestQueue(aws.client("sqs"), s.queue_url),
        DeadLetters(aws.client("sqs"), s.dead_letter_queue_url),
        SigningKeys(s.secret, s.secret_cache_seconds),
        tolerance=s.tolerance_seconds,
        clock=time.time,
    )
