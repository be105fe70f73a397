"""The `sam build` output (make build) runs: each function imported from .aws-sam/build, with the shared
layer's packages, on its sample event. A packaging mistake fails here, not in AWS."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.paths import ROOT

pytestmark = pytest.mark.build
BUILD = ROOT / ".aws-sam" / "build"


def test_built_functions_run_on_their_sample_events() -> None:
    assert (BUILD / "template.yaml").exists(), "no sam build output: run `make build` (make test does)"
    for name in (
        "StartCoverFunction",
        "CheckCoverStatusFunction",
        "FinalizeCoverFunction",
        "MusicWebhookFunction",
        "CoverStatusApiFunction",
    ):
        assert (BUILD / name / "app.py").exists(), name
        assert not (BUILD / name / "covers_core").exists(), "covers_core belongs in the layer only"
    assert (BUILD / "SharedLayer" / "python" / "covers_core" / "adapters" / "vendor.py").exists()
    result = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "support" / "build_smoke.py"), str(BUILD)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd="/",
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "build output OK" in result.stdout


def shared_objects(layer: str) -> dict[str, int]:
    """Every shared object of a built layer (named so or not) -> its ELF e_machine (183: AArch64)."""
    compiled = [p for p in (BUILD / layer / "python").rglob("*.so*") if p.is_file()]
    return {
        p.relative_to(BUILD).as_posix(): int.from_bytes(p.read_bytes()[18:20], "little") for p in compiled
    }


def test_the_shared_layer_is_built_for_the_lambda_platform_without_pillow() -> None:
    layer = BUILD / "SharedLayer" / "python"
    wheels = {p.name for p in layer.iterdir()}
    assert any(n.startswith("aws_lambda_powertools-3.37.0") for n in wheels)
    assert any(n.startswith("requests-2.34.2") for n in wheels)
    # Pillow is finalize's alone (ImagingLayer): the other functions do not carry it.
    assert not {n for n in wheels if n.lower().startswith(("pil", "pillow"))}, wheels
    assert set(shared_objects("SharedLayer").values()) <= {183}, shared_objects("SharedLayer")


def test_the_imaging_layer_is_pillow_built_for_the_lambda_platform() -> None:
    layer = BUILD / "ImagingLayer" / "python"
    assert {p.name for p in layer.iterdir()} == {"PIL", "pillow-12.2.0.dist-info", "pillow.libs"}
    machines = shared_objects("ImagingLayer")
    assert any("/pillow.libs/" in p for p in machines)  # Pillow's codecs (libwebp, libjpeg, ...)
    assert any(p.startswith("ImagingLayer/python/PIL/_imaging.") for p in machines)
    assert set(machines.values()) == {183}, machines
