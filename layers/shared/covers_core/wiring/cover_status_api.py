"""CoverStatusApiFunction's objects."""

from __future__ import annotations

from covers_core.adapters import aws
from covers_core.adapters.presign import S3UrlSigner
from covers_core.adapters.records import CoverStore
from covers_core.domain.events import DeliveryUrls
from covers_core.logic.status import CoverStatusReader, Presigning
from covers_core.settings import StatusApiSettings
from covers_core.wiring import OnFirstUse, per_container


@per_container
def reader() -> CoverStatusReader:
    s = StatusApiSettings.from_env()
    presigning = None
    if s.archive_bucket and not s.delivery_base_url:  # with a distribution the URLs are permanent already
        # ?urls=presigned only: a plain status read does not pay for the S3 client at a cold start.
        signer = S3UrlSigner(OnFirstUse("s3", aws.signing_s3))
        presigning = Presigning(signer, s.archive_bucket, s.presign_seconds)
    return CoverStatusReader(
        CoverStore(aws.table(s.table_name)), presigning, DeliveryUrls(s.delivery_base_url)
    )
