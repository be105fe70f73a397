"""The record's one field table: every field of a CoverRecord is stored under one attribute, and a record
written as an item reads back the same."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from covers_core.adapters.records.items import RECORD_FIELDS, A, record_from_item, record_to_item
from covers_core.domain.cost import CoverCost, LambdaShare
from covers_core.domain.model import CoverError, CoverRecord, ImageCopy, Status


def test_the_field_table_covers_every_field_of_the_record_once() -> None:
    assert set(RECORD_FIELDS) == {f.name for f in dataclasses.fields(CoverRecord)}
    attributes = [f.attribute for f in RECORD_FIELDS.values()]
    assert len(set(attributes)) == len(attributes)
    assert set(attributes) | {A.OPEN_SHARD} == {v for k, v in vars(A).items() if k.isupper()}


def test_a_record_written_as_an_item_reads_back_the_same() -> None:
    record = CoverRecord(
        music_task_id="t1",
        status=Status.SUCCEEDED,
        cover_task_id="c1",
        images=("u1", "u2"),
        images_expire_at="2026-12-14T00:00:00.000Z",
        archived_images=(ImageCopy("u1", s3_uri="s3://b/k", size=3, sha256="ab", content_type="image/png"),),
        error=CoverError("VENDOR_FAILED", "no"),
        poll_count=3,
        metadata={"bpm": Decimal("120.50"), "": [1, None]},
        generate_uncertain=True,
        claim_expires_at=5,
        resume_count=2,
        start_lambda=LambdaShare(41, 256, 0.25),
        cost=CoverCost(1, 3, 4, 2.25, 2100, 0.2625, 1, 0.000123456, detection_delay_seconds=1.5),
    )
    item = record_to_item(record, open_record=True)
    assert item[A.METADATA] == '{"bpm":120.50,"":[1,null]}' and A.OPEN_SHARD in item
    assert record_from_item(item) == record


def test_the_cost_is_stored_as_a_few_bytes_of_numbers_and_reads_back() -> None:
    cost = CoverCost(1, 12, 5, 3.1, 31_250, 3.9375, 2, 0.000152345, detection_delay_seconds=2.25)
    share = LambdaShare(125, 256, 0.1)
    item = record_to_item(CoverRecord("t", Status.SUCCEEDED, cost=cost, start_lambda=share))
    # a write is billed per KB of the item: the cost and the start's share add under 80 bytes
    assert len(A.COST + item[A.COST] + A.START_LAMBDA + item[A.START_LAMBDA]) < 80
    back = record_from_item(item)
    assert (back.cost, back.start_lambda) == (cost, share)
    # a map (as a hand-written item may hold it) reads the same
    as_map = {k: Decimal(str(v)) for k, v in cost.as_dict().items()}
    assert record_from_item({A.MUSIC_TASK_ID: "t", A.STATUS: "SUCCEEDED", A.COST: as_map}).cost == cost
