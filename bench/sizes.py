"""Artifact sizes: each layer (SharedLayer, every function's; ImagingLayer, finalize's: Pillow) and each
function, zipped as Lambda gets them. From `sam build`'s output when present (.aws-sam/build), else the
layers built with their Makefiles into a temporary folder."""

from __future__ import annotations

import io
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from bench.coldstart import FUNCTIONS, ROOT
from covers_local.template import functions as template_functions
from covers_local.template import load_template

BUILD = ROOT / ".aws-sam" / "build"
#: Each layer's logical id in template.yaml -> its folder (layers/<folder>/Makefile builds it).
LAYERS = {"SharedLayer": "shared", "ImagingLayer": "imaging"}


def logical_ids() -> dict[str, str]:
    """Each function folder's logical id in template.yaml (``CodeUri: functions/<folder>/``)."""
    found = {}
    for logical_id, spec in template_functions(load_template(ROOT / "template.yaml")).items():
        folder = str(spec["Properties"]["CodeUri"]).rstrip("/").rsplit("/", 1)[-1]
        found[folder] = logical_id
    return found


def zipped_bytes(folder: Path) -> int:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            archive.write(path, path.relative_to(folder).as_posix())
    return buffer.tell()


def unzipped_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="covers-sizes-") as tmp:
        if all((BUILD / name).is_dir() for name in LAYERS):
            source, layers = "sam build (.aws-sam/build)", {name: BUILD / name for name in LAYERS}
            ids = logical_ids()
            functions = {f: BUILD / ids[f] for f in FUNCTIONS}
        else:
            source, layers = "layer Makefiles (no .aws-sam/build)", {}
            for name, layer_folder in LAYERS.items():
                layers[name] = Path(tmp) / name
                subprocess.run(
                    [
                        "make",
                        "-s",
                        f"build-{name}",
                        f"ARTIFACTS_DIR={layers[name]}",
                        f"PYTHON={sys.executable}",
                    ],
                    cwd=ROOT / "layers" / layer_folder,
                    check=True,
                    capture_output=True,
                )
            functions = {f: ROOT / "functions" / f for f in FUNCTIONS}
        sizes = {
            name: {"zipped": zipped_bytes(p), "unzipped": unzipped_bytes(p)} for name, p in layers.items()
        }
        for name, folder in functions.items():
            code = {p.name: p for p in folder.glob("*.py")}  # what the function's Makefile ships
            with tempfile.TemporaryDirectory() as only:
                for file_name, path in code.items():
                    (Path(only) / file_name).write_bytes(path.read_bytes())
                sizes[name] = {"zipped": zipped_bytes(Path(only)), "unzipped": unzipped_bytes(Path(only))}
    return {"source": source, "bytes": sizes}
