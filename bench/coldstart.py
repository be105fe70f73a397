"""Cold start of each function, each in a fresh python3.13 process (the Lambda runtime's version; python3.11
when no 3.13 is found), all ratios measured in one run:

* **import**: importing the handler next to a bare ``import boto3; boto3.client("sqs")``;
* **import + first invocation**: importing the handler as Lambda does, then its first invocation on its
  sample event (``events/<function>.json``), next to a minimal handler (``bench/minimal/``: plain boto3 and
  requests) that makes the same AWS and HTTP calls. Both run with the variables the deployed function gets
  (the ``--env-vars`` file ``covers local-stack`` writes) against the same servers: the stack deployed into
  moto's server and the vendor emulator (``covers_local.local_stack.LocalStack``, served in this process).
  Every invocation gets its own copy of the samples' world (music and cover task ids suffixed, the record
  and the emulator's cover task seeded as ``covers local-stack`` seeds them), cleared after it, so every
  round repeats the same first invocation. Before timing, one recorded run per side lists the AWS calls
  (endpoint, IAM action, resource: ``covers_local.aws_calls``' rules) and the HTTP requests: the section
  fails if the two sides differ. Each round runs both sides back to back; the ratio is the median of the
  rounds' ratios (wall time; the processes' CPU time is reported too).

The handlers import from the shared layer as built for Lambda (bytecode included when a python3.13 built
it); boto3, which the Lambda runtime provides, comes from this environment, copied and compiled for the same
interpreter, so neither side compiles library source during the measurement. Each process also reports the
modules it loaded: none of what the layer leaves out may be among them."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3

ROOT = Path(__file__).resolve().parents[1]
MINIMAL = Path(__file__).resolve().parent / "minimal"
FUNCTIONS = (
    "start_cover",
    "check_cover_status",
    "finalize_cover",
    "music_webhook",
    "cover_status_api",
    "reconcile",
)
#: Packages the Lambda runtime provides (boto3 and what it needs), taken from this environment.
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "dateutil", "six.py", "jmespath", "urllib3")
ROUNDS = 5
FIRST_CALL_ROUNDS = 9
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
#: The ids the samples name (events/README.md): each invocation gets its own copies (suffixed).
SAMPLE_IDS = (
    "gen123213213213123bksv",  # the seeded music task (check, finalize, status API, the start batch's first)
    "cover123123213213b880d2",  # its cover task
    "gen998877665544332211",  # the start batch's EventBridge request
    "gen555444333222111000",  # the start batch's taskId request
)
#: What the Lambda runtime sets besides the function's own variables (and its name).
_RUNTIME_ENV = {
    "AWS_ACCESS_KEY_ID": "x",
    "AWS_SECRET_ACCESS_KEY": "x",
    "AWS_SESSION_TOKEN": "x",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "TZ": ":UTC",
    "LANG": "en_US.UTF-8",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PATH": "/usr/bin:/bin",
}
#: One invocation, as the Lambda runtime makes it: the context object and the event exist before the
#: handler module is imported; the clock runs from the import to the end of the first invocation.
_FIRST_CALL = """import importlib.util, json, sys, time
{recording}
class Context:
    function_name = {name!r}
    function_version = "$LATEST"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:" + function_name
    aws_request_id = "00000000-0000-4000-8000-000000000000"
    log_group_name = "/aws/lambda/" + function_name
    log_stream_name = "bench"
    def get_remaining_time_in_millis(self):
        return 60000
with open({event!r}, encoding="utf-8") as f:
    event = json.load(f)
c0, t0 = time.process_time(), time.perf_counter()
spec = importlib.util.spec_from_file_location("app", {app!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
t1 = time.perf_counter()
result = module.lambda_handler(event, Context())
t2, c2 = time.perf_counter(), time.process_time()
print(json.dumps({{"import": t1 - t0, "seconds": t2 - t0, "cpu": c2 - c0, "result": result, "calls": calls,
                  "modules": sorted(sys.modules)}}))
"""
#: Check runs only: every AWS call (the client's endpoint, the IAM action and resource ARNs by
#: ``covers_local.aws_calls``' rules) and every HTTP request, counted. (Not ``Recorder`` itself: it
#: attributes calls through a context variable, which the minimal handler's pool threads do not inherit.)
_RECORDING = """from collections import Counter
from botocore.client import BaseClient
from urllib3.connectionpool import HTTPConnectionPool
from covers_local.aws_calls import iam_action, resources
calls = Counter()
def _aws(original):
    def call(client, operation, params):
        service = client.meta.service_model.endpoint_prefix
        for arn in resources(service, params, client.meta.region_name):
            calls[f"{client.meta.endpoint_url} {iam_action(service, operation)} {arn}"] += 1
        return original(client, operation, params)
    return call
def _http(original):
    def urlopen(pool, method, url, *args, **kwargs):
        calls[f"HTTP {method} {pool.host}:{pool.port}{url.split('?')[0]}"] += 1
        return original(pool, method, url, *args, **kwargs)
    return urlopen
BaseClient._make_api_call = _aws(BaseClient._make_api_call)
HTTPConnectionPool.urlopen = _http(HTTPConnectionPool.urlopen)"""


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


# --- import + first invocation ----------------------------------------------------------------------

SIDES = ("handler", "minimal")


class FirstCalls:
    """The local stack (:meth:`serving`), and one invocation at a time against it, in a fresh process
    (:meth:`invoke`)."""

    def __init__(self, python: str, work: Path, path: list[Path]) -> None:
        self.python = python
        self.work = work
        self.path = path

    @contextmanager
    def serving(self) -> Iterator[FirstCalls]:
        # (imported here: only this part needs moto and the local stack)
        from covers_local.local_stack import LocalStack, LocalStackOptions

        options = LocalStackOptions(
            env_file=self.work / "env.json",
            advertise_host="127.0.0.1",
            host="127.0.0.1",
            aws_port=0,
            vendor_port=0,
            api_port=0,
            # Each invocation seeds its own copy: a record older than a minute is the reconciler's
            # business and would change its calls from round to round.
            seed_samples=False,
            # As the template's default (ArchiveImages=false): finalize's minimal twin does not archive.
            archive=False,
        )
        with LocalStack(options) as stack:
            assert stack.pipeline is not None
            self.stack, self.pipeline = stack, stack.pipeline
            self.sfn = boto3.client("stepfunctions", region_name="us-east-1")  # (moto in this process)
            self.env = json.loads(options.env_file.read_text())
            self.functions = {f.code_dir.name: f for f in self.pipeline.stack.functions.values()}
            yield self

    def invoke(self, folder: str, side: str, tag: str, *, record: bool = False) -> dict[str, Any]:
        """``side`` (``handler`` or ``minimal``) of ``folder``'s function, imported and invoked once on a
        copy of its sample whose ids end in ``-<tag>``, in a fresh process."""
        from covers_local.local_stack import seed_cover

        def tagged(name: str) -> str:
            text = (ROOT / "events" / name).read_text(encoding="utf-8")
            for sample_id in SAMPLE_IDS:
                text = text.replace(sample_id, f"{sample_id}-{tag}")
            return text

        event = self.work / f"{folder}-{tag}.json"
        event.write_text(tagged(f"{folder}.json"), encoding="utf-8")
        # The world `covers local-stack` seeds for the samples (the check sample names it).
        seed_cover(self.pipeline, self.stack.emulator, json.loads(tagged("check_cover_status.json")))
        function = self.functions[folder]
        app = ROOT / "functions" / folder / "app.py" if side == "handler" else MINIMAL / f"{folder}.py"
        path = [*self.path, ROOT] if record else self.path  # (covers_local.aws_calls: check runs only)
        code = _FIRST_CALL.format(
            recording=_RECORDING if record else "calls = None",
            name=function.name,
            event=str(event),
            app=str(app),
        )
        env = _RUNTIME_ENV | {"AWS_LAMBDA_FUNCTION_NAME": function.name} | self.env[function.logical_id]
        env |= {"HOME": str(self.work), "PYTHONPATH": os.pathsep.join(map(str, path))}
        try:
            done = subprocess.run(
                [self.python, "-c", code], capture_output=True, text=True, env=env, check=False, timeout=120
            )
        finally:
            self._clear(tag)
        if done.returncode:
            raise RuntimeError(f"the {side} of {folder} failed: {done.stderr[-3000:]}")
        return json.loads(done.stdout.splitlines()[-1])

    def _clear(self, tag: str) -> None:
        """Stop the workflows the invocation started and delete its records: the next invocation finds
        the world as this one did."""
        for execution in self.pipeline.stack.executions("RUNNING"):
            self.sfn.stop_execution(executionArn=execution["executionArn"], cause="bench: invocation done")
        for sample_id in SAMPLE_IDS:
            self.pipeline.stack.table.delete_item(Key={"musicTaskId": f"{sample_id}-{tag}"})

    def same_calls(self, folder: str) -> dict[str, int]:
        """The calls both sides make (one recorded run each); raises if they differ."""
        recorded = {side: self.invoke(folder, side, f"calls-{side}", record=True) for side in SIDES}
        env = self.env[self.functions[folder].logical_id]
        aws, vendor = env["COVERS_AWS_ENDPOINT_URL"], env.get("VENDOR_BASE_URL")
        calls = {side: _named(r["calls"], aws, vendor) for side, r in recorded.items()}
        if calls["handler"] != calls["minimal"] or not calls["handler"]:
            raise RuntimeError(
                f"{folder}: the minimal handler does not make the same calls as the real one, so their times "
                f"do not compare: {json.dumps(calls, indent=2, sort_keys=True)}"
            )
        return dict(sorted(calls["handler"].items()))


def _named(calls: dict[str, int], aws: str, vendor: str | None) -> dict[str, int]:
    """Calls as the report shows them: the servers by role, resources by their last name."""
    named: dict[str, int] = {}
    for key, count in calls.items():
        text = key.replace(aws, "aws").replace(aws.removeprefix("http://"), "aws")
        if vendor:
            text = text.replace(vendor.removeprefix("http://").split("/", 1)[0], "vendor")
        words = [w.rsplit(":", 1)[-1] if w.startswith("arn:") else w for w in text.split(" ")]
        named[" ".join(words)] = named.get(" ".join(words), 0) + count
    return named


def first_calls(python: str, work: Path, path: list[Path]) -> dict[str, Any]:
    """Import + first invocation of every function next to its minimal handler (module docstring)."""
    runner = FirstCalls(python, work, path)
    samples: dict[str, dict[str, list[float]]] = {f: {"handler": [], "minimal": []} for f in FUNCTIONS}
    imports: dict[str, dict[str, list[float]]] = {f: {"handler": [], "minimal": []} for f in FUNCTIONS}
    cpu: dict[str, dict[str, list[float]]] = {f: {"handler": [], "minimal": []} for f in FUNCTIONS}
    loaded: dict[str, set[str]] = {f: set() for f in FUNCTIONS}
    with runner.serving():
        calls = {folder: runner.same_calls(folder) for folder in FUNCTIONS}  # (also warms moto's server)
        for n in range(FIRST_CALL_ROUNDS):  # interleaved, each side first every other round
            for folder in FUNCTIONS:
                for side in SIDES if n % 2 == 0 else SIDES[::-1]:
                    result = runner.invoke(folder, side, f"r{n}-{side}")
                    samples[folder][side].append(result["seconds"])
                    imports[folder][side].append(result["import"])
                    cpu[folder][side].append(result["cpu"])
                    if side == "handler":
                        loaded[folder] |= set(result["modules"])

    def medians(by_side: dict[str, dict[str, list[float]]]) -> dict[str, dict[str, float]]:
        return {
            f: {side: round(statistics.median(v), 4) for side, v in s.items()} for f, s in by_side.items()
        }

    def ratios(by_side: dict[str, dict[str, list[float]]]) -> dict[str, float]:
        # Each round runs the two sides back to back: the median of the rounds' ratios is steadier on a
        # shared machine than the ratio of the medians (a busy minute slows both sides of its round).
        return {
            f: round(statistics.median(h / m for h, m in zip(s["handler"], s["minimal"], strict=True)), 2)
            for f, s in by_side.items()
        }

    return {
        "rounds": FIRST_CALL_ROUNDS,
        "median_seconds": medians(samples),
        "median_import_seconds": medians(imports),
        "ratio_to_minimal": ratios(samples),
        # The process's CPU time alone (no waiting on the servers): where the difference comes from.
        "median_cpu_seconds": medians(cpu),
        "cpu_ratio_to_minimal": ratios(cpu),
        "seconds": {f: {side: [round(x, 4) for x in v] for side, v in s.items()} for f, s in samples.items()},
        "calls": calls,
        "loaded": loaded,
    }


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
        (Path(tmp) / "first").mkdir()
        first = first_calls(python, Path(tmp) / "first", [layer, runtime])
    excluded = left_out(layer)
    baseline = statistics.median(samples["boto3 client (baseline)"])
    return {
        "python": version,
        "python_is_lambda_version": version.startswith("3.13."),
        "layer_bytecode": has_bytecode,
        "rounds": ROUNDS,
        "median_seconds": {name: round(statistics.median(s), 4) for name, s in samples.items()},
        "ratio_to_baseline": {f: round(statistics.median(samples[f]) / baseline, 2) for f in FUNCTIONS},
        "first_call": {k: v for k, v in first.items() if k != "loaded"},
        "left_out_but_loaded": {
            f: sorted(
                m
                for m in loaded[f] | first["loaded"][f]
                if any(m == p or m.startswith(p + ".") for p in excluded)
            )
            for f in FUNCTIONS
        },
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
