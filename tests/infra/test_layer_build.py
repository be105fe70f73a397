"""The layers build reproducibly: every package pinned with a hash, and two builds give the same files, byte
for byte, with nothing in them that depends on the machine that built them."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ROOT / "layers"
#: Each layer's folder -> its logical id in template.yaml (the Makefile's target is build-<logical id>).
LOGICAL_IDS = {"shared": "SharedLayer", "imaging": "ImagingLayer"}


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked(folder: str) -> dict[str, str]:
    lock = (LAYERS / folder / "requirements.lock").read_text()
    entries = re.findall(r"^([A-Za-z0-9_.-]+)==(\S+) \\\n +--hash=sha256:[0-9a-f]{64}$", lock, re.MULTILINE)
    requirement_lines = [line for line in lock.splitlines() if line and not line.startswith(("#", " "))]
    assert len(entries) == len(requirement_lines), "every requirement in the lock carries a sha256 hash"
    return {normalise(name): version for name, version in entries}


def test_every_layer_folder_is_a_layer_of_the_template() -> None:
    assert {p.parent.name for p in LAYERS.glob("*/Makefile")} == set(LOGICAL_IDS)
    template = (ROOT / "template.yaml").read_text()
    for folder, logical_id in LOGICAL_IDS.items():
        assert f"  {logical_id}:\n    Type: AWS::Serverless::LayerVersion" in template
        assert f"ContentUri: layers/{folder}/" in template


@pytest.mark.parametrize("folder", sorted(LOGICAL_IDS))
def test_the_lock_pins_the_requirements_and_everything_they_need(folder: str) -> None:
    pins = locked(folder)
    requirements = (LAYERS / folder / "requirements.txt").read_text()
    names = re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)$", requirements, re.MULTILINE)
    assert names
    for name, version in names:
        assert pins.get(normalise(name)) == version, name
    if folder == "shared":
        assert {"urllib3", "certifi", "idna", "charset-normalizer", "typing-extensions", "jmespath"} <= set(
            pins
        )
    assert "$(install-locked)" in (LAYERS / folder / "Makefile").read_text()
    assert "--require-hashes -r requirements.lock" in (LAYERS / "layer.mk").read_text()


@pytest.mark.parametrize("folder", sorted(LOGICAL_IDS))
def test_local_runs_get_the_versions_the_layer_ships(folder: str) -> None:
    """pyproject.toml pins each layer requirement too (tests and local runs use them from .venv)."""
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = {normalise(name): version for name, version in (d.split("==", 1) for d in declared if "==" in d)}
    requirements = (LAYERS / folder / "requirements.txt").read_text()
    for name, version in re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)$", requirements, re.MULTILINE):
        assert pins.get(normalise(name)) == version, name


def test_pillow_is_in_the_imaging_layer_only_and_no_package_is_in_two_layers() -> None:
    """Layers are laid out in one /opt/python: a package in two would ship twice, maybe in two versions."""
    shared, imaging = locked("shared"), locked("imaging")
    assert imaging == {"pillow": "12.2.0"}
    assert not set(shared) & set(imaging)


def build(artifacts: Path, folder: str = "shared") -> dict[str, str]:
    """`make build-<LogicalId>` as sam build runs it; returns {relative path: sha256 and mode}."""
    subprocess.run(
        [
            "make",
            "-s",
            f"build-{LOGICAL_IDS[folder]}",
            f"ARTIFACTS_DIR={artifacts}",
            f"PYTHON={sys.executable}",
        ],
        cwd=LAYERS / folder,
        check=True,
        capture_output=True,
        timeout=300,
    )
    tree = {}
    for path in sorted(artifacts.rglob("*")):
        relative = path.relative_to(artifacts).as_posix()
        if path.is_file():
            tree[relative] = f"{hashlib.sha256(path.read_bytes()).hexdigest()} {oct(path.stat().st_mode)}"
        else:
            tree[relative + "/"] = oct(path.stat().st_mode)
    return tree


def assert_reproducible(tmp_path: Path, first: dict[str, str], second: dict[str, str], folder: str) -> None:
    assert first == second
    # Bytecode for the runtime's python3.13 only, next to each source (none when no 3.13 built it).
    bytecode = {p for p in first if p.endswith(".pyc")}
    assert all(".cpython-313.pyc" in p and "/__pycache__/" in p for p in bytecode)
    sources = {p for p in first if p.endswith(".py")}
    assert {p.replace("/__pycache__/", "/").replace(".cpython-313.pyc", ".py") for p in bytecode} <= sources
    assert not any(p.startswith("python/bin/") for p in first), "console scripts carry the builder's path"
    builder = os.fsencode(Path(sys.executable).parent)
    for relative in first:
        if not relative.endswith("/"):
            assert builder not in (tmp_path / "one" / relative).read_bytes(), relative
    shipped = {
        normalise(p.name.split("-")[0]): p.name.removesuffix(".dist-info").split("-", 1)[1]
        for p in (tmp_path / "one" / "python").glob("*.dist-info")
    }
    assert shipped == locked(folder), "the layer ships exactly the locked packages"


@pytest.mark.build
def test_two_builds_of_the_shared_layer_are_identical(tmp_path: Path) -> None:
    first, second = build(tmp_path / "one"), build(tmp_path / "two")
    assert_reproducible(tmp_path, first, second, "shared")
    assert "python/covers_core/adapters/vendor.py" in first
    assert "python/covers_core/adapters/image_fetch/fetcher.py" in first  # packages are shipped whole
    assert not any(p.startswith("python/aws_lambda_powertools/event_handler") for p in first)  # unused
    if any(p.endswith(".pyc") for p in first):
        assert "python/covers_core/adapters/__pycache__/vendor.cpython-313.pyc" in first
    assert not any(p.startswith(("python/PIL/", "python/pillow")) for p in first)  # ImagingLayer's


@pytest.mark.build
def test_two_builds_of_the_imaging_layer_are_identical(tmp_path: Path) -> None:
    first, second = build(tmp_path / "one", "imaging"), build(tmp_path / "two", "imaging")
    assert_reproducible(tmp_path, first, second, "imaging")
    assert "python/PIL/Image.py" in first
    assert any(p.startswith("python/pillow.libs/") for p in first)
    if any(p.endswith(".pyc") for p in first):
        assert "python/PIL/__pycache__/Image.cpython-313.pyc" in first
