"""FinalizeCoverFunction's objects."""

from __future__ import annotations

from covers_core.adapters import aws
from covers_core.adapters.eventbus import EventPublisher
from covers_core.adapters.poll_stats import LearnedWaitStore
from covers_core.adapters.records import CoverStore
from covers_core.domain.events import DeliveryUrls
from covers_core.logic.finalize import Finalizer
from covers_core.logic.learning import Teacher
from covers_core.logic.ports import Archiver
from covers_core.settings import FinalizeSettings
from covers_core.wiring import per_container


@per_container
def finalizer() -> Finalizer:
    s = settings()
    archiver: Archiver | None = None
    if s.archive_bucket:
        # requests, and Pillow (imported at the first image, adapters/thumbnails.py): only when archiving
        from covers_core.adapters.archive import ImageArchiver
        from covers_core.adapters.image_fetch import FetchSettings, ImageFetcher

        fetcher = ImageFetcher(
            FetchSettings(max_bytes=s.archive_max_bytes, allow_loopback=s.archive_allow_loopback)
        )
        archiver = ImageArchiver(aws.client("s3"), s.archive_bucket, fetcher, thumbnail_size=s.thumbnail_size)
    urls = DeliveryUrls(s.delivery_base_url)
    publisher = EventPublisher(aws.client("events"), s.records.bus_name, s.records.event_source, urls)
    teacher = Teacher(LearnedWaitStore(aws.table(s.learning.table_name)), s.learning.tenant_field)
    return Finalizer(
        CoverStore(aws.table(s.records.table_name)),
        publisher,
        archiver=archiver,
        learn=teacher.learn,
        workflow_type=s.workflow_type,
    )


@per_container
def settings() -> FinalizeSettings:
    return FinalizeSettings.from_env()
