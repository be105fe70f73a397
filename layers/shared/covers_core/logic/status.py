"""The status API's entry point: one music task's cover, as applications see it (``public_view``)."""

from __future__ import annotations

import logging

from covers_core.domain.events import NO_DELIVERY, DeliveryUrls, public_view
from covers_core.domain.requests import request_from_mapping
from covers_core.errors import BadRequestError
from covers_core.logic import HttpAnswer
from covers_core.logic.ports import RecordStore

log = logging.getLogger(__name__)


class CoverStatusReader:
    """Answers ``GET /covers/{musicTaskId}``: 200 with the public view, 404 unknown, 400 malformed id."""

    def __init__(self, records: RecordStore, urls: DeliveryUrls = NO_DELIVERY) -> None:
        self.records = records
        self.urls = urls  # where archived images are served from (DELIVERY_BASE_URL)

    def answer(self, music_task_id: object) -> HttpAnswer:
        """Never raises for bad input; an AWS failure propagates (a 5xx: the caller should retry)."""
        try:
            # The queue contract's id rules: a string of printable ASCII, no spaces, at most 256 chars.
            music_task_id = request_from_mapping({"musicTaskId": music_task_id}).music_task_id
        except BadRequestError as exc:
            log.info("status request refused: %s", exc.message)
            return HttpAnswer(400, {"error": f"invalid music task id: {exc.message}"})
        record = self.records.get(music_task_id)
        if record is None:
            return HttpAnswer(404, {"error": f"no cover request for music task {music_task_id}"})
        return HttpAnswer(200, public_view(record, self.urls))
