"""Runs every bench section, prints one table and writes the figures to bench/results/<UTC time>.json."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import platform
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import local_scale
from bench.results import save


def table(results: dict[str, Any]) -> list[str]:
    rows: list[tuple[str, str, str]] = []
    cold = results.get("coldstart")
    if cold:
        base = cold["median_seconds"]["boto3 client (baseline)"]
        rows.append(
            (f"cold import, python {cold['python']}: boto3 client (baseline)", f"{base:.3f} s", "1.00")
        )
        for name, ratio in cold["ratio_to_baseline"].items():
            rows.append(
                (f"cold import: {name}", f"{cold['median_seconds'][name]:.3f} s", f"{ratio:.2f} (<= 1.3)")
            )
        first = cold.get("first_call")
        for name, ratio in (first or {}).get("ratio_to_minimal", {}).items():
            seconds = first["median_seconds"][name]
            calls = sum(n for call, n in first["calls"][name].items() if not call.startswith("HTTP "))
            plural = "" if calls == 1 else "s"
            label = (
                f"import + first call: {name} ({calls} AWS call{plural}; minimal {seconds['minimal']:.3f} s)"
            )
            rows.append((label, f"{seconds['handler']:.3f} s", f"{ratio:.2f} (<= 1.3)"))
    begin = results.get("start")
    if begin:
        for label, seconds in begin["median_seconds"].items():
            rows.append((f"start function, 300 ms vendor: {label}", f"{seconds:.3f} s", ""))
        rows.append(
            ("  parallel batch of 10 / one record", "", f"{begin['parallel_batch_vs_one_record']:.2f}")
        )
        rows.append(
            ("  sequential batch / parallel batch", "", f"{begin['sequential_vs_parallel_batch']:.2f}")
        )
    size = results.get("sizes")
    if size:
        for name, measured in size["bytes"].items():
            rows.append((f"artifact zipped: {name}", f"{measured['zipped'] / 1024:.0f} KiB", ""))
    scale = results.get("local_scale")
    if scale:
        small, large = scale["tasks"]
        for count in (small, large):
            rows.append(
                (
                    f"local runner, {count} tasks: per task",
                    f"{scale['seconds_per_task'][str(count)]:.3f} s",
                    "",
                )
            )
        rows.append((f"  {large} / {small} tasks, per task", "", f"{scale['ratio']:.2f} (<= 1.2)"))
    thumbs = results.get("thumbnails")
    if thumbs:
        ms = thumbs["finalize_ms"]
        rows.append(
            ("finalize, 2 images of 1024x1024: no thumbnails", f"{ms['without_thumbnails']:.0f} ms", "")
        )
        rows.append(
            (
                f"finalize, same: thumbnails ({thumbs['thumbnail_size']} px)",
                f"{ms['with_thumbnails']:.0f} ms",
                f"{thumbs['ratio']:.2f}",
            )
        )
        rows.append(("import Pillow (PIL.Image)", f"{thumbs['pillow']['import_ms']:.0f} ms", ""))
    width = max(len(r[0]) for r in rows)
    lines = [f"{'measure':<{width}}  {'median':>10}  ratio", "-" * (width + 26)]
    lines += [f"{name:<{width}}  {value:>10}  {ratio}" for name, value, ratio in rows]
    return lines


def _module(name: str) -> Any:
    return importlib.import_module(f"bench.{name}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--large", type=int, default=local_scale.LARGE, help="tasks in the large local run")
    parser.add_argument("--only", nargs="*", help="sections to run (default: all)")
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)
    warnings.simplefilter("ignore")
    # Each section's module is imported only when it runs (`--only coldstart` needs none of the others).
    sections: dict[str, Callable[[], dict[str, Any]]] = {
        "coldstart": lambda: _module("coldstart").run(),
        "start": lambda: _module("start").run(),
        "sizes": lambda: _module("sizes").run(),
        "local_scale": lambda: local_scale.run(args.large),
        # finalize with and without thumbnails (also written to docs/figures/thumbnails.json)
        "thumbnails": lambda: _module("thumbnails").run(),
        # the concurrent simulation (bench/load): about 4 minutes on 2 cores
        "load": lambda: _module("load.run").run(),
        # the load simulation against the local pipeline on one workload: about 5 minutes of real time
        "crosscheck": lambda: _module("crosscheck").run(),
    }
    results: dict[str, Any] = {"machine": f"{platform.machine()}, {platform.python_version()}"}
    began = time.perf_counter()
    for name, section in sections.items():
        if args.only and name not in args.only:
            continue
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(None):  # handlers print their JSON logs
            results[name] = section()
        results[name]["section_seconds"] = round(time.perf_counter() - t0, 1)
    results["total_seconds"] = round(time.perf_counter() - began, 1)
    path = save(results, indent=2)
    if any(k in results for k in sections if k not in ("load", "crosscheck")):
        print("\n".join(table(results)))
    if "load" in results:  # one table per variant and mix, rows = rates
        print()
        _module("load.__main__").print_tables(results["load"])
    if "crosscheck" in results:  # real vs simulated, one row per measure
        print()
        _module("crosscheck").print_table(results["crosscheck"])
    shown = path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path
    print(f"\n{results['total_seconds']:.0f} s; figures in {shown}")


if __name__ == "__main__":
    main()
