"""The status API's entry point: one music task's cover, as applications see it (``public_view``), its
archived images' URLs presigned on request (docs/contracts.md, "Status API")."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from covers_core.domain.delivery import PRESIGNED, archive_key, query_problem
from covers_core.domain.events import NO_DELIVERY, DeliveryUrls, public_view
from covers_core.domain.model import iso
from covers_core.domain.requests import request_from_mapping
from covers_core.errors import BadRequestError
from covers_core.logic import HttpAnswer
from covers_core.logic.ports import RecordStore, UrlSigner

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Presigning:
    """Presigned URLs for the objects of ``bucket``, good for ``seconds``. Only without a distribution: with
    one, the images' URLs are permanent already."""

    signer: UrlSigner
    bucket: str
    seconds: int


class CoverStatusReader:
    """Answers ``GET /covers/{musicTaskId}``: 200 with the public view, 404 unknown, 400 malformed id or
    query. ``presigning`` None (no archive, or a distribution): ``?urls=presigned`` changes nothing."""

    def __init__(
        self, records: RecordStore, presigning: Presigning | None = None, urls: DeliveryUrls = NO_DELIVERY
    ) -> None:
        self.records = records
        self.presigning = presigning
        self.urls = urls  # where archived images are served from (DELIVERY_BASE_URL)

    def answer(self, music_task_id: object, query: Mapping[str, str] | None = None) -> HttpAnswer:
        """Never raises for bad input; an AWS failure propagates (a 5xx: the caller should retry)."""
        try:
            # The queue contract's id rules: a string of printable ASCII, no spaces, at most 256 chars.
            music_task_id = request_from_mapping({"musicTaskId": music_task_id}).music_task_id
        except BadRequestError as exc:
            log.info("status request refused: %s", exc.message)
            return HttpAnswer(400, {"error": f"invalid music task id: {exc.message}"})
        query = query or {}
        problem = query_problem(query)
        if problem:
            log.info("status request refused: %s", problem)
            return HttpAnswer(400, {"error": problem})
        record = self.records.get(music_task_id)
        if record is None:
            return HttpAnswer(404, {"error": f"no cover request for music task {music_task_id}"})
        view = public_view(record, self.urls)
        if query.get("urls") == PRESIGNED and self.presigning is not None:
            view["images"] = [presigned_image(image, self.presigning) for image in view["images"]]
        return HttpAnswer(200, view)


def presigned_image(image: dict[str, Any], presigning: Presigning) -> dict[str, Any]:
    """``image`` (an entry of the view's ``images``) with its archived copy's presigned URL as ``url`` (the
    vendor's kept as ``sourceUrl``) and ``urlExpiresAt``, and its thumbnail's likewise. What is not archived
    in the bucket is left as it is."""
    image = dict(image)
    key = archive_key(image.get("s3Uri"), presigning.bucket)
    if key is not None:
        signed = presigning.signer.presign_get(presigning.bucket, key, presigning.seconds)
        image.setdefault("sourceUrl", image["url"])
        image.update(url=signed.url, urlExpiresAt=iso(signed.expires_at))
    thumbnail = image.get("thumbnail")
    if isinstance(thumbnail, dict):
        key = archive_key(thumbnail.get("s3Uri"), presigning.bucket)
        if key is not None:
            signed = presigning.signer.presign_get(presigning.bucket, key, presigning.seconds)
            image["thumbnail"] = {**thumbnail, "url": signed.url, "urlExpiresAt": iso(signed.expires_at)}
    return image
