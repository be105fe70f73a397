"""What thumbnails cost finalize: the real finalize handler on moto archiving a cover of two images, with
THUMBNAIL_SIZE=0 (each image decoded and checked, no thumbnail) and THUMBNAIL_SIZE=256 (the same, plus a
WebP thumbnail each), interleaved rounds, medians; and what importing Pillow costs a cold start.

The images: the vendor's document gives no size (it says "usually 2 different style images"); AI cover
generators make 1024 x 1024 pictures, so each is a 1024 x 1024 RGB PNG with a gradient under noise (about
the size such a PNG has: ~2 MB). They are served over HTTP on loopback, so the download is in the figures
too, as it is in finalize. Written to docs/figures/thumbnails.json (docs/performance.md, "Thumbnails",
quotes it) and to bench/results/thumbnails-<UTC time>.json. Run alone: ``python -m bench.thumbnails``."""

from __future__ import annotations

import io
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import Any
from unittest import mock

import boto3
from covers_core import wiring
from moto import mock_aws

from bench.results import save
from bench.start import QUIET_LAMBDA_ENV
from covers_local import moto_patches
from covers_local.lambda_events import LambdaContext
from covers_local.runner import load_handler
from covers_local.stack import deploy

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "docs" / "figures" / "thumbnails.json"
SIDE = 1024
IMAGES = 2
ROUNDS = 7
THUMBNAIL_SIZE = 256
IMPORT_RUNS = 7


def cover_png(seed: int) -> bytes:
    from PIL import Image

    gradient = Image.linear_gradient("L").resize((SIDE, SIDE))
    noise = Image.effect_noise((SIDE, SIDE), 48 + seed)
    bands = (gradient, noise, Image.blend(gradient, noise, 0.5))
    out = io.BytesIO()
    Image.merge("RGB", bands).save(out, "PNG")
    return out.getvalue()


def serve(bodies: dict[str, bytes]) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            body = bodies.get(self.path)
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def finalize_seconds() -> dict[str, Any]:
    bodies = {f"/s/{i}.png": cover_png(i) for i in range(IMAGES)}
    server, base = serve(bodies)
    env = QUIET_LAMBDA_ENV | {"ARCHIVE_ALLOW_LOOPBACK": "true", "DELIVERY_BASE_URL": ""}
    try:
        with mock.patch.dict(os.environ, env), mock_aws(), moto_patches.cloudformation():
            stack = deploy("covers-bench-thumbs", {"VendorBaseUrl": base, "ArchiveImages": "true"})
            os.environ.update(stack.process_env() | env)
            bucket = stack.outputs["ArchiveBucketName"]
            finalize = load_handler(ROOT / "functions" / "finalize_cover", "covers_fn_finalize_cover")
            state = json.loads((ROOT / "events" / "finalize_cover.json").read_text())
            state["check"]["images"] = [base + path for path in bodies]
            samples: dict[int, list[float]] = {0: [], THUMBNAIL_SIZE: []}

            def timed(size: int, key: str) -> None:
                os.environ["THUMBNAIL_SIZE"] = str(size)
                wiring.reset()
                finalize({**state, "musicTaskId": f"warm-{key}"}, LambdaContext("warm"))  # Pillow, clients
                t0 = time.perf_counter()
                result = finalize({**state, "musicTaskId": key}, LambdaContext("bench"))
                samples[size].append(time.perf_counter() - t0)
                assert result["status"] == "SUCCEEDED", result

            for r in range(ROUNDS):  # interleaved, so machine noise hits both alike
                timed(0, f"plain-{r}")
                timed(THUMBNAIL_SIZE, f"thumbs-{r}")
            objects = boto3.client("s3").list_objects_v2(Bucket=bucket)["KeyCount"]
            # per round and mode, a warm-up cover and a measured one: 2 images, plus 2 thumbnails with them
            assert objects == ROUNDS * 2 * (IMAGES + IMAGES * 2), objects
    finally:
        server.shutdown()
        server.server_close()
    medians = {size: statistics.median(s) for size, s in samples.items()}
    return {
        "images": f"{IMAGES} PNG, {SIDE}x{SIDE} RGB, {sum(map(len, bodies.values())) // IMAGES} bytes each",
        "rounds": ROUNDS,
        "finalize_ms": {
            "without_thumbnails": round(medians[0] * 1000, 1),
            "with_thumbnails": round(medians[THUMBNAIL_SIZE] * 1000, 1),
        },
        "thumbnails_ms": round((medians[THUMBNAIL_SIZE] - medians[0]) * 1000, 1),
        "ratio": round(medians[THUMBNAIL_SIZE] / medians[0], 2),
    }


_IMPORT = """
import time
t0 = time.perf_counter()
from PIL import Image
t1 = time.perf_counter()
from covers_core.adapters.thumbnails import PillowImages
import io
out = io.BytesIO(); Image.new("RGB", (8, 8)).save(out, "PNG")
images = PillowImages(); images.thumbnail(images.decode(out.getvalue(), "image/png"), 4)
t2 = time.perf_counter()
print(t1 - t0, t2 - t0)
"""


def import_seconds() -> dict[str, Any]:
    """Pillow's import, and its import plus a first decode and WebP encode (the codecs' first use), each in
    a fresh interpreter: what a cold finalize pays once, at its first image."""
    runs = []
    layer = ROOT / "layers" / "shared"
    for _ in range(IMPORT_RUNS):
        out = subprocess.run(
            [sys.executable, "-c", _IMPORT],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONPATH": str(layer), "PATH": os.environ.get("PATH", "")},
        )
        runs.append([float(v) for v in out.stdout.split()])
    return {
        "import_ms": round(statistics.median(r[0] for r in runs) * 1000, 1),
        "import_and_first_thumbnail_ms": round(statistics.median(r[1] for r in runs) * 1000, 1),
    }


def per_image_ms() -> dict[str, float]:
    """In process, one image: the decode (the check every archived image gets) and the thumbnail."""
    from covers_core.adapters.thumbnails import PillowImages

    images, body = PillowImages(), cover_png(0)
    decode, thumbnail = [], []
    for _ in range(ROUNDS):
        t0 = time.perf_counter()
        decoded = images.decode(body, "image/png")
        t1 = time.perf_counter()
        images.thumbnail(decoded, THUMBNAIL_SIZE)
        thumbnail.append(time.perf_counter() - t1)
        decode.append(t1 - t0)
    return {
        "decode_ms": round(statistics.median(decode) * 1000, 1),
        "thumbnail_ms": round(statistics.median(thumbnail) * 1000, 1),
    }


def run() -> dict[str, Any]:
    """Measure, and write docs/figures/thumbnails.json (what `make bench` runs as its thumbnails section)."""
    from PIL import __version__ as pillow_version

    result = {
        "machine": f"{platform.machine()}, python {platform.python_version()}, Pillow {pillow_version}",
        "thumbnail_size": THUMBNAIL_SIZE,
        **finalize_seconds(),
        "per_image": per_image_ms(),
        "pillow": import_seconds(),
    }
    save(result, path=FIGURES, indent=2)
    return result


def main() -> None:
    result = run()
    path = save(result, prefix="thumbnails-", indent=2)
    print(json.dumps(result, indent=2))
    print(f"written to {FIGURES.relative_to(ROOT)} and {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
