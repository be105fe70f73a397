"""The webhook function's entry point: a signed upstream request, verified, then queued."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from covers_core.domain.requests import MAX_BODY_BYTES, parse_request
from covers_core.domain.signature import WebhookAuthError, verify
from covers_core.errors import BadRequestError, DeadLetterTooLargeError
from covers_core.logic import HttpAnswer
from covers_core.logic.ports import DeadLetterSink, RequestSink

log = logging.getLogger(__name__)


def is_json(content_type: str | None) -> bool:
    """``application/json`` or a ``+json`` type, with any parameters (``; charset=utf-8``)."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


class WebhookIntake:
    """Verifies a webhook request and queues the cover request it carries."""

    def __init__(
        self,
        requests: RequestSink,
        dead_letters: DeadLetterSink,
        secrets: Callable[[], Sequence[str]],
        *,
        tolerance: int,
        clock: Callable[[], float],
    ) -> None:
        self.requests = requests
        self.dead_letters = dead_letters
        self.secrets = secrets
        self.tolerance = tolerance
        self.clock = clock

    def handle(
        self, body: bytes, signature: str | None, content_type: str | None, request_id: str
    ) -> HttpAnswer:
        """Always an answer: 202 queued, 400 unusable (kept in the DLQ), 401, 413 or 415."""
        if len(body) > MAX_BODY_BYTES:
            log.error("webhook %s: body of %d bytes refused", request_id, len(body))
            return HttpAnswer(413, {"error": f"body is over {MAX_BODY_BYTES} bytes"})
        try:
            verify(self.secrets(), body, signature, self.clock(), self.tolerance)
        except WebhookAuthError as exc:
            log.warning("webhook %s refused: %s", request_id, exc.message)
            return HttpAnswer(401, {"error": "invalid or missing signature"})
        if not is_json(content_type):
            log.warning("webhook %s: content type %.60r refused", request_id, content_type)
            return HttpAnswer(415, {"error": "Content-Type must be application/json"})
        try:
            request = parse_request(body)
        except BadRequestError as exc:
            # Authentic but unusable: keep it where an operator will see it, and tell the sender why.
            log.error("webhook %s: rejected body: %s", request_id, exc.message)
            try:  # the bytes as they came (the DLQ copy is base64 when SQS would refuse them as text)
                self.dead_letters.send(body, exc.message, request_id)
            except DeadLetterTooLargeError as lost:  # the sender still has it, and is told why
                log.error("webhook %s: not kept in the DLQ: %s", request_id, lost.message)
            return HttpAnswer(400, {"error": exc.message})
        message_id = self.requests.send(request)
        return HttpAnswer(202, {"musicTaskId": request.music_task_id, "messageId": message_id})
