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


def test_the_layer_is_built_for_the_lambda_platform() -> None:
    wheels = {p.name for p in (BUILD / "SharedLayer" / "python").iterdir()}
    assert any(n.startswith("aws_lambda_powertools-3.37.0") for n in wheels)
    assert any(n.startswith("requests-2.34.2") for n in wheels)
    assert any(n.startswith("pillow-12.2.0") for n in wheels)
    compiled = [p for p in (BUILD / "SharedLayer" / "python").rglob("*.so*") if p.is_file()]
    assert any(p.parent.name == "pillow.libs" for p in compiled)  # Pillow's codecs (libwebp, libjpeg, ...)
    # Every shared object is an ELF file for arm64 (e_machine 183, AArch64), named so or not.
    machines = {p.name: int.from_bytes(p.read_bytes()[18:20], "little") for p in compiled}
    assert set(machines.values()) == {183}, machines
