"""The vendor emulator answers as the vendor document says (same paths, auth, bodies and keys)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests

from covers_local.emulator import EmulatorConfig, VendorEmulator

KEY = "doc-key"


@pytest.fixture
def vendor() -> Iterator[VendorEmulator]:
    with VendorEmulator(EmulatorConfig(api_key=KEY, credits=2, ready_after=(0.3, 0.3))) as emu:
        yield emu


def generate(vendor: VendorEmulator, task: str, key: str | None = KEY) -> requests.Response:
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    return requests.post(
        f"{vendor.base_url}/v2/cover/generate", json={"taskId": task}, headers=headers, timeout=5
    )


def status(vendor: VendorEmulator, task_id: str) -> requests.Response:
    return requests.get(
        f"{vendor.base_url}/v2/cover/status",
        params={"task_id": task_id},
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=5,
    )


def test_generate_then_poll_follows_the_document(vendor: VendorEmulator) -> None:
    created = generate(vendor, "gen123213213213123bksv")
    assert created.status_code == 200
    body = created.json()
    assert (body["code"], body["msg"], set(body["data"])) == (200, "success", {"taskId"})
    task_id = body["data"]["taskId"]
    running = status(vendor, task_id).json()
    assert running["data"] | {"created_at": "x"} == {
        "taskId": task_id,
        "status": "IN_PROGRESS",
        "images": None,
        "created_at": "x",
    }
    time.sleep(0.4)
    done = status(vendor, task_id).json()["data"]
    assert done["status"] == "SUCCESS" and len(done["images"]) == 2
    image = requests.get(done["images"][0], timeout=5)
    assert image.headers["Content-Type"] == "image/png" and image.content.startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("key", "message"), [(None, "No API key provided in Authorization header"), ("wrong", "Invalid API key")]
)
def test_auth_errors_use_message(vendor: VendorEmulator, key: str | None, message: str) -> None:
    answer = generate(vendor, "gen1", key)
    assert (answer.status_code, answer.json()) == (401, {"code": 401, "message": message})


def test_once_per_task_credits_and_unknown_tasks_answer_with_the_documented_bodies(
    vendor: VendorEmulator,
) -> None:
    assert generate(vendor, "a").status_code == 200
    assert generate(vendor, "a").json() == {"code": 400, "msg": "Cover already exists for this task"}
    assert generate(vendor, "b").status_code == 200
    assert generate(vendor, "c").json() == {"code": 402, "message": "Insufficient balance, please recharge"}
    assert generate(vendor, "unknown-x").json() == {
        "code": 404,
        "message": "Original music task not found, please check your task id",
    }
    assert status(vendor, "nope").json() == {"code": 404, "msg": "Cover task not found", "data": None}
    assert vendor.stats.credits_charged == {"a": 1, "b": 1}


def test_failed_covers_carry_an_error(vendor: VendorEmulator) -> None:
    task_id = generate(vendor, "fail-1").json()["data"]["taskId"]
    time.sleep(0.4)
    data = status(vendor, task_id).json()["data"]
    assert (data["status"], data["error"], data["images"]) == ("FAILED", "Cover generation failed", None)


def test_429_carries_retry_after(vendor: VendorEmulator) -> None:
    vendor.inject("http_429")
    answer = generate(vendor, "t")
    assert (answer.status_code, answer.headers["Retry-After"]) == (429, "1")
    assert vendor.stats.credits_charged["t"] == 0


def test_ready_after_for_gives_each_task_its_own_ready_time_and_status_answers_are_logged() -> None:
    chosen = {"now": 0.0, "later": 3600.0}
    config = EmulatorConfig(api_key=KEY, ready_after=(0.0, 0.0), ready_after_for=chosen.get)
    with VendorEmulator(config) as emu:
        ids = {task: generate(emu, task).json()["data"]["taskId"] for task in ("now", "later", "drawn")}
        answers = {task: status(emu, ids[task]).json()["data"]["status"] for task in ids}

    assert answers == {"now": "SUCCESS", "later": "IN_PROGRESS", "drawn": "SUCCESS"}  # None: ready_after
    later = emu.covers[ids["later"]]
    assert later.ready_at - later.created == 3600.0
    assert emu.covers[ids["now"]].ready_at == emu.covers[ids["now"]].created
    (seen_at, seen), *more = emu.stats.status_answers["now"]
    assert seen == "SUCCESS" and seen_at >= emu.covers[ids["now"]].ready_at and not more
    assert [s for _, s in emu.stats.status_answers["later"]] == ["IN_PROGRESS"]
