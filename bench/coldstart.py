"""Cold import of each handler next to a bare ``import boto3; boto3.client("sqs")``, each in a fresh
python3.13 process (the Lambda runtime's version; python3.11 when no 3.13 is found), in one run.

The handlers import from the shared layer as built for Lambda (bytecode included when a python3.13
built it); boto3, which the Lambda runtime provides, comes from this environment, copied and compiled
for the same interpreter, so neither side compiles source during the measurement. Each process also
reports the modules it loaded: none of what the layer leaves out may be among them."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import boto3

ROOT = Path(__file__).resolve().parents[1]
FUNCTIONS = ("start_cover", "check_cover_status", "finalize_cover", "music_webhook")
#: Packages the Lambda runtime provides (boto3 and what it needs), taken from this environment.
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "dateutil", "six.py", "jmespath", "urllib3")
ROUNDS = 5
ENV = {
    "AWS_ACCESS_KEY_ID": "x",
    "AWS_SECRET_ACCESS_KEY": "x",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_SERVICE_NAME": "covers",
    "POWERTOOLS_METRICS_NAMESPACE": "CoverPipeline",
    "PYTHONDONTWRITEBYTECODE": "1",  # every process starts from the same files
    "PATH": "/usr/bin:/bin",
}
_BASELINE = "import boto3; boto3.client('sqs')"
_HANDLER = (
    "import importlib.util as u; s = u.spec_from_file_location('app', {app!r}); "
    "s.loader.exec_module(u.module_from_spec(s))"
)
_PROBE = """import json, sys, time
t0 = time.perf_counter()
{code}
elapsed = time.perf_counter() - t0
print(json.dumps({{"seconds": elapsed, "modules": sorted(sys.modules)}}))
"""


def find_python313() -> str | None:
    candidates = [
        shutil.which("python3.13"),
        *sorted(map(str, Path.home().glob(".pyenv/versions/3.13*/bin/python3.13"))),
    ]
    for candidate in filter(None, candidates):
        ok = subprocess.run(
            [candidate, "-c", "import sys; sys.exit(sys.version_info[:2] != (3, 13))"],
            capture_output=True,
            check=False,
        )
        if ok.returncode == 0:
            return candidate
    return None


def build_layer(target: Path) -> Path:
    """The shared layer as ``sam build`` makes it: .aws-sam's when present, else built into ``target``."""
    built = ROOT / ".aws-sam" / "build" / "SharedLayer" / "python"
    if built.is_dir():
        return built
    subprocess.run(
        ["make", "-s", "build-SharedLayer", f"ARTIFACTS_DIR={target}", f"PYTHON={sys.executable}"],
        cwd=ROOT / "layers" / "shared",
        check=True,
        capture_output=True,
    )
    return target / "python"


def runtime_packages(python: str, target: Path) -> Path:
    """boto3 and its dependencies, copied (botocore's data linked) and compiled for ``python``."""
    site = Path(boto3.__file__).resolve().parents[1]
    target.mkdir(parents=True)
    for name in RUNTIME_PACKAGES:
        source = site / name
        if source.is_file():
            shutil.copy2(source, target / name)
            continue
        shutil.copytree(
            source, target / name, ignore=shutil.ignore_patterns("__pycache__", "data"), symlinks=True
        )
        if (source / "data").is_dir():
            (target / name / "data").symlink_to(source / "data")
    subprocess.run(
        [python, "-m", "compileall", "-q", "-j", "0", str(target)], check=True, capture_output=True
    )
    return target


def probe(python: str, code: str, path: list[Path]) -> dict[str, Any]:
    env = ENV | {"PYTHONPATH": os.pathsep.join(map(str, path))}
    result = subprocess.run(
        [python, "-c", _PROBE.format(code=code)], capture_output=True, text=True, env=env, check=False
    )
    if result.returncode:
        raise RuntimeError(f"{code!r} failed on {python}: {result.stderr[-2000:]}")
    return json.loads(result.stdout.splitlines()[-1])


def left_out(layer: Path) -> list[str]:
    """Module prefixes of what the layer Makefile's UNUSED leaves out."""
    makefile = (ROOT / "layers" / "shared" / "Makefile").read_text()
    block = makefile.split("UNUSED =", 1)[1].split("\n\n", 1)[0].replace("\\\n", " ")
    return [p.removesuffix(".py").replace("/", ".") for p in block.split()]


def run() -> dict[str, Any]:
    python = find_python313() or sys.executable
    version = subprocess.run(
        [python, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="covers-bench-") as tmp:
        layer = build_layer(Path(tmp) / "layer")
        has_bytecode = any(layer.rglob("*.cpython-313.pyc"))
        runtime = runtime_packages(python, Path(tmp) / "runtime")
        samples: dict[str, list[float]] = {"boto3 client (baseline)": []}
        loaded: dict[str, set[str]] = {}
        for _ in range(ROUNDS):  # interleaved, so machine noise hits every subject alike
            samples["boto3 client (baseline)"].append(probe(python, _BASELINE, [runtime])["seconds"])
            for folder in FUNCTIONS:
                app = ROOT / "functions" / folder / "app.py"
                result = probe(python, _HANDLER.format(app=str(app)), [layer, runtime])
                samples.setdefault(folder, []).append(result["seconds"])
                loaded[folder] = set(result["modules"])
    excluded = left_out(layer)
    baseline = statistics.median(samples["boto3 client (baseline)"])
    return {
        "python": version,
        "python_is_lambda_version": version.startswith("3.13."),
        "layer_bytecode": has_bytecode,
        "rounds": ROUNDS,
        "median_seconds": {name: round(statistics.median(s), 4) for name, s in samples.items()},
        "ratio_to_baseline": {f: round(statistics.median(samples[f]) / baseline, 2) for f in FUNCTIONS},
        "left_out_but_loaded": {
            f: sorted(m for m in loaded[f] if any(m == p or m.startswith(p + ".") for p in excluded))
            for f in FUNCTIONS
        },
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
