"""The shared layer builds reproducibly: every package pinned with a hash, and two builds give the same
files, byte for byte, with nothing in them that depends on the machine that built them."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "shared"


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked() -> dict[str, str]:
    lock = (LAYER / "requirements.lock").read_text()
    entries = re.findall(r"^([A-Za-z0-9_.-]+)==(\S+) \\\n +--hash=sha256:[0-9a-f]{64}$", lock, re.MULTILINE)
    requirement_lines = [line for line in lock.splitlines() if line and not line.startswith(("#", " "))]
    assert len(entries) == len(requirement_lines), "every requirement in the lock carries a sha256 hash"
    return {normalise(name): version for name, version in entries}


def test_the_lock_pins_the_requirements_and_everything_they_need() -> None:
    pins = locked()
    requirements = (LAYER / "requirements.txt").read_text()
    for name, version in re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)$", requirements, re.MULTILINE):
        assert pins.get(normalise(name)) == version, name
    assert {"urllib3", "certifi", "idna", "charset-normalizer", "typing-extensions", "jmespath"} <= set(pins)
    assert "--require-hashes -r requirements.lock" in (LAYER / "Makefile").read_text()


def build(artifacts: Path) -> dict[str, str]:
    """`make build-SharedLayer` as sam build runs it; returns {relative path: sha256 and mode}."""
    subprocess.run(
        ["make", "-s", "build-SharedLayer", f"ARTIFACTS_DIR={artifacts}", f"PYTHON={sys.executable}"],
        cwd=LAYER,
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


@pytest.mark.build
def test_two_builds_of_the_layer_are_identical(tmp_path: Path) -> None:
    first, second = build(tmp_path / "one"), build(tmp_path / "two")
    assert first == second
    assert "python/covers_core/adapters/vendor.py" in first
    assert "python/covers_core/adapters/image_fetch/fetcher.py" in first  # packages are shipped whole
    assert not any(p.startswith("python/aws_lambda_powertools/event_handler") for p in first)  # unused
    # Bytecode for the runtime's python3.13 only, next to each source (none when no 3.13 built it).
    bytecode = {p for p in first if p.endswith(".pyc")}
    assert all(".cpython-313.pyc" in p and "/__pycache__/" in p for p in bytecode)
    sources = {p for p in first if p.endswith(".py")}
    assert {p.replace("/__pycache__/", "/").replace(".cpython-313.pyc", ".py") for p in bytecode} <= sources
    if bytecode:
        assert "python/covers_core/adapters/__pycache__/vendor.cpython-313.pyc" in bytecode
    assert not any(p.startswith("python/bin/") for p in first), "console scripts carry the builder's path"
    builder = os.fsencode(Path(sys.executable).parent)
    for relative in first:
        if not relative.endswith("/"):
            assert builder not in (tmp_path / "one" / relative).read_bytes(), relative
    shipped = {
        normalise(p.name.split("-")[0]): p.name.removesuffix(".dist-info").split("-", 1)[1]
        for p in (tmp_path / "one" / "python").glob("*.dist-info")
    }
    assert shipped == locked(), "the layer ships exactly the locked packages"
