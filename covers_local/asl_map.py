"""Runs ``statemachine/backfill.asl.json`` (the in-account catalogue backfill, docs/operations.md,
"Backfilling a catalogue") against moto's S3 and SQS, because moto's Step Functions engine does not run a
Distributed Map.

An interpreter of the parts of the Amazon States Language that definition uses, and no more: a
Distributed Map with an S3 ``ItemReader`` on CSV (``FIRST_ROW``), ``ItemBatcher`` (``MaxItemsPerBatch``,
``BatchInput``), ``MaxConcurrency``/``MaxConcurrencyPath``, ``ToleratedFailurePercentage`` and a
``ResultWriter`` to S3; inline Maps with ``ItemsPath``/``ItemSelector``; Pass (``Parameters``), Choice
(``And``, ``Not``, ``IsPresent``, ``StringEquals``), Wait (``Seconds``/``SecondsPath``, on a virtual clock:
nothing sleeps), Fail (``Error``, ``Cause``/``CausePath``), Succeed; Task on ``aws-sdk:<service>:<action>``
(a boto3 call, errors named ``<Service>.<Exception>`` as Step Functions names them) with ``Retry``
(:class:`covers_local.asl.TaskErrors`), ``ResultSelector``, ``ResultPath``; the intrinsics
``States.Format``, ``States.JsonToString``, ``States.StringToJson``. Anything else raises
:class:`Unsupported`, so a change to the definition that this cannot run fails its test instead of being
skipped.

The child executions of the Distributed Map run one after another; the clock counts what the map would take
with ``MaxConcurrency`` children at once (waves of children, each its waits plus ``send_seconds`` per Task).
"""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from covers_local.asl import Catch, Fail, Retry, TaskErrors

DEFINITION = Path(__file__).resolve().parent.parent / "statemachine" / "backfill.asl.json"


class Unsupported(Exception):
    """The definition uses ASL this interpreter does not implement."""


class StateFailed(Exception):
    """A state failed with a Step Functions error name and cause."""

    def __init__(self, error: str, cause: str = "") -> None:
        super().__init__(f"{error}: {cause}")
        self.error, self.cause = error, cause


def load_definition(substitutions: dict[str, str], path: Path = DEFINITION) -> dict[str, Any]:
    """The definition with its ``${Name}`` substitutions made (as the template's DefinitionSubstitutions
    make them); a name left unsubstituted is an error."""
    text = path.read_text(encoding="utf-8")
    for name, value in substitutions.items():
        text = text.replace("${" + name + "}", value)
    left = re.findall(r"\$\{(\w+)\}", text)
    if left:
        raise Unsupported(f"no value for the substitution(s) {sorted(set(left))}")
    return dict(json.loads(text))


# --- paths and intrinsics --------------------------------------------------------------------------------

_MISSING = object()
_STEP = re.compile(r"\.([A-Za-z_][\w-]*)|\[(\d+)\]")


def path_get(path: str, data: Any, context: dict[str, Any]) -> Any:
    """The value at a JSONPath (``$.a.b[0]``; ``$$.`` reads the context object), :data:`_MISSING` if
    absent."""
    if path.startswith("$$"):
        data, path = context, path[1:]
    if not path.startswith("$"):
        raise Unsupported(f"path {path!r}")
    value, rest = data, path[1:]
    while rest:
        step = _STEP.match(rest)
        if not step:
            raise Unsupported(f"path {path!r}")
        key, index = step.groups()
        if key is not None:
            if not isinstance(value, dict) or key not in value:
                return _MISSING
            value = value[key]
        else:
            if not isinstance(value, list) or int(index) >= len(value):
                return _MISSING
            value = value[int(index)]
        rest = rest[step.end() :]
    return value


def _required(path: str, data: Any, context: dict[str, Any]) -> Any:
    value = path_get(path, data, context)
    if value is _MISSING:
        raise StateFailed("States.Runtime", f"the JSONPath {path} could not be found in the input")
    return value


def _split_arguments(text: str) -> list[str]:
    parts, depth, quoted, current = [], 0, False, ""
    for i, char in enumerate(text):
        if char == "'" and (i == 0 or text[i - 1] != "\\"):
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        if char == "," and not quoted and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    return [*parts, current.strip()] if current.strip() else parts


def evaluate(expression: str, data: Any, context: dict[str, Any]) -> Any:
    """A ``.$`` field's value: a path or an intrinsic function call."""
    call = re.fullmatch(r"(States\.\w+)\((.*)\)", expression.strip(), re.DOTALL)
    if not call:
        return _required(expression, data, context)
    name, inner = call.groups()
    args = [
        arg[1:-1].replace("\\'", "'") if arg.startswith("'") else evaluate(arg, data, context)
        for arg in _split_arguments(inner)
    ]
    if name == "States.Format":
        template, *values = args
        pieces = template.split("{}")
        if len(pieces) != len(values) + 1:
            raise StateFailed("States.IntrinsicFailure", f"{expression}: argument count")
        texts = [v if isinstance(v, str) else json.dumps(v) for v in values]
        return "".join(p + t for p, t in zip(pieces, [*texts, ""], strict=True))
    if name == "States.JsonToString":
        return json.dumps(args[0], separators=(",", ":"), ensure_ascii=False)
    if name == "States.StringToJson":
        try:
            return json.loads(args[0])
        except (TypeError, ValueError) as exc:
            raise StateFailed("States.IntrinsicFailure", f"{expression}: not JSON: {exc}") from exc
    raise Unsupported(f"intrinsic {name}")


def render(template: Any, data: Any, context: dict[str, Any]) -> Any:
    """``Parameters``/``ItemSelector``/``ResultSelector``/``BatchInput``: keys ending ``.$`` evaluated."""
    if isinstance(template, dict):
        return {
            (k[:-2] if k.endswith(".$") else k): (
                evaluate(v, data, context) if k.endswith(".$") else render(v, data, context)
            )
            for k, v in template.items()
        }
    if isinstance(template, list):
        return [render(v, data, context) for v in template]
    return template


def _put(data: Any, result_path: str | None, result: Any) -> Any:
    if result_path is None:
        return data
    if result_path == "$":
        return result
    keys = result_path.removeprefix("$.").split(".")
    if not result_path.startswith("$.") or not all(re.fullmatch(r"[A-Za-z_]\w*", k) for k in keys):
        raise Unsupported(f"ResultPath {result_path!r}")
    out = json.loads(json.dumps(data))
    node = out
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    node[keys[-1]] = result
    return out


# --- choice rules ------------------------------------------------------------------------------------


def _rule(rule: dict[str, Any], data: Any, context: dict[str, Any]) -> bool:
    if "And" in rule:
        return all(_rule(r, data, context) for r in rule["And"])
    if "Not" in rule:
        return not _rule(rule["Not"], data, context)
    value = path_get(rule["Variable"], data, context)
    if "IsPresent" in rule:
        return (value is not _MISSING) is rule["IsPresent"]
    if "StringEquals" in rule:
        return isinstance(value, str) and value == rule["StringEquals"]
    raise Unsupported(f"choice rule {sorted(rule)}")


# --- the interpreter -----------------------------------------------------------------------------------


@dataclass
class MapRunReport:
    """What the Distributed Map did: children (batches) by outcome, items read, virtual seconds taken."""

    items: int = 0
    succeeded: int = 0
    failed: int = 0
    seconds: float = 0.0
    results_key: str | None = None
    failures: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Interpreter:
    """Runs a definition with ``clients[service]`` (boto3 clients, e.g. on moto) for its Task and
    ItemReader/ResultWriter calls. ``send_seconds``: the virtual time one Task call takes."""

    clients: dict[str, Any]
    send_seconds: float = 0.1
    report: MapRunReport = field(default_factory=MapRunReport)
    _elapsed: float = 0.0  # virtual seconds of the child execution running

    def execute(self, definition: dict[str, Any], data: Any) -> Any:
        """Run a whole execution; raises :class:`StateFailed` if it fails."""
        return self._states(definition, data, {"Execution": {"Input": data}})

    def _states(self, machine: dict[str, Any], data: Any, context: dict[str, Any]) -> Any:
        name = machine["StartAt"]
        while True:
            state = machine["States"][name]
            kind = state["Type"]
            if kind == "Pass":
                result = render(state["Parameters"], data, context) if "Parameters" in state else data
                data = _put(data, state.get("ResultPath", "$"), result)
            elif kind == "Wait":
                seconds = state.get("Seconds")
                if seconds is None:
                    seconds = _required(state["SecondsPath"], data, context)
                if not isinstance(seconds, int) or seconds < 0:
                    raise StateFailed(
                        "States.Runtime", f"Wait {name}: {seconds!r} is not a whole number >= 0"
                    )
                self._elapsed += seconds
            elif kind == "Choice":
                chosen = next((c["Next"] for c in state["Choices"] if _rule(c, data, context)), None)
                name = chosen or state.get("Default")
                if name is None:
                    raise StateFailed("States.NoChoiceMatched", str(state["Choices"]))
                continue
            elif kind == "Fail":
                cause = state.get("Cause", "")
                if "CausePath" in state:
                    cause = evaluate(state["CausePath"], data, context)
                raise StateFailed(state.get("Error", "States.Fail"), str(cause))
            elif kind == "Succeed":
                return data
            elif kind == "Task":
                data, caught = self._task(machine, name, data, context)
                if caught:
                    name = caught
                    continue
            elif kind == "Map":
                data = self._map(state, data, context)
            else:
                raise Unsupported(f"state type {kind}")
            if state.get("End"):
                return data
            name = state["Next"]

    def _task(
        self, machine: dict[str, Any], name: str, data: Any, context: dict[str, Any]
    ) -> tuple[Any, str | None]:
        state = machine["States"][name]
        resource = state["Resource"]
        sdk = re.fullmatch(r"arn:aws:states:::aws-sdk:(\w+):(\w+)", resource)
        if not sdk:
            raise Unsupported(f"Task resource {resource}")
        service, action = sdk.groups()
        operation = action[0].upper() + action[1:]
        params = render(state.get("Parameters", {}), data, context)
        errors = TaskErrors({"States": machine["States"]}, name, jitter="min")
        while True:
            self._elapsed += self.send_seconds
            try:
                method = getattr(self.clients[service], _snake(operation))
                result = method(**params)
                result.pop("ResponseMetadata", None)
                break
            except (ClientError, BotoCoreError) as exc:
                error = _error_name(service, exc)
                outcome = errors.on_error(error)
                if isinstance(outcome, Retry):
                    self._elapsed += outcome.delay
                    continue
                if isinstance(outcome, Catch):
                    return _put(
                        data, outcome.result_path, {"Error": error, "Cause": str(exc)}
                    ), outcome.next_state
                assert isinstance(outcome, Fail)
                raise StateFailed(error, str(exc)) from exc
        if "ResultSelector" in state:
            result = render(state["ResultSelector"], result, context)
        return _put(data, state.get("ResultPath", "$"), result), None

    def _map(self, state: dict[str, Any], data: Any, context: dict[str, Any]) -> Any:
        processor = state["ItemProcessor"]
        mode = processor.get("ProcessorConfig", {}).get("Mode", "INLINE")
        if mode == "DISTRIBUTED":
            return self._distributed(state, data, context)
        items = _required(state.get("ItemsPath", "$"), data, context)
        results = []
        for index, item in enumerate(items):
            item_context = context | {"Map": {"Item": {"Index": index, "Value": item}}}
            value = render(state["ItemSelector"], data, item_context) if "ItemSelector" in state else item
            results.append(self._states(processor, value, item_context))
        return _put(data, state.get("ResultPath", "$"), results)

    def _distributed(self, state: dict[str, Any], data: Any, context: dict[str, Any]) -> Any:
        rows = self._read_items(state["ItemReader"], data, context)
        batcher = state.get("ItemBatcher", {})
        size = int(batcher.get("MaxItemsPerBatch", 1))
        batch_input = render(batcher.get("BatchInput", {}), data, context)
        concurrency = state.get("MaxConcurrency")
        if "MaxConcurrencyPath" in state:
            concurrency = _required(state["MaxConcurrencyPath"], data, context)
        concurrency = int(concurrency or 1000)  # 0 (or none): as many as Step Functions allows
        report = self.report
        report.items += len(rows)
        durations, succeeded, failed = [], [], []
        for first in range(0, len(rows), size):
            child_input = {"Items": rows[first : first + size], "BatchInput": batch_input}
            self._elapsed = 0.0
            try:
                result = self._states(
                    state["ItemProcessor"], child_input, {"Execution": {"Input": child_input}}
                )
                succeeded.append({"Input": json.dumps(child_input), "Output": json.dumps(result)})
            except StateFailed as exc:
                failed.append({"Input": json.dumps(child_input), "Error": exc.error, "Cause": exc.cause})
            durations.append(self._elapsed)
        report.succeeded += len(succeeded)
        report.failed += len(failed)
        report.failures += failed
        # Waves of `concurrency` children at once (each child as long as the longest of its wave).
        report.seconds += sum(
            max(durations[i : i + concurrency]) for i in range(0, len(durations), concurrency)
        )
        run_id = str(uuid.uuid4())
        output: dict[str, Any] = {"MapRunArn": f"arn:aws:states:local:map-run/{run_id}"}
        if "ResultWriter" in state:
            output["ResultWriterDetails"] = self._write_results(
                state["ResultWriter"], data, context, run_id, succeeded=succeeded, failed=failed
            )
        total = len(succeeded) + len(failed)
        tolerated = float(state.get("ToleratedFailurePercentage", 0))
        if total and 100 * len(failed) / total > tolerated:
            raise StateFailed(
                "States.ExceedToleratedFailureThreshold",
                f"{len(failed)} of {total} child executions failed (tolerated: {tolerated:g}%)",
            )
        return _put(data, state.get("ResultPath", "$"), output)

    def _read_items(self, reader: dict[str, Any], data: Any, context: dict[str, Any]) -> list[dict[str, str]]:
        config = reader.get("ReaderConfig", {})
        if reader["Resource"] != "arn:aws:states:::s3:getObject" or config.get("InputType") != "CSV":
            raise Unsupported(f"ItemReader {reader['Resource']} {config.get('InputType')}")
        if config.get("CSVHeaderLocation") != "FIRST_ROW":
            raise Unsupported(f"CSVHeaderLocation {config.get('CSVHeaderLocation')}")
        where = render(reader["Parameters"], data, context)
        try:
            body = self.clients["s3"].get_object(Bucket=where["Bucket"], Key=where["Key"])["Body"].read()
        except ClientError as exc:
            raise StateFailed("States.ItemReaderFailed", str(exc)) from exc
        rows = csv.reader(io.StringIO(body.decode("utf-8-sig")))
        header = next(rows, None)
        if not header:
            return []
        items = []
        for row in rows:
            if len(row) > len(header):
                raise StateFailed(
                    "States.ItemReaderFailed", f"row {rows.line_num}: more fields than the header"
                )
            items.append(dict(zip(header, row, strict=False)))
        return items

    def _write_results(
        self,
        writer: dict[str, Any],
        data: Any,
        context: dict[str, Any],
        run_id: str,
        *,
        succeeded: list[dict[str, Any]],
        failed: list[dict[str, Any]],
    ) -> dict[str, str]:
        where = render(writer["Parameters"], data, context)
        prefix = f"{where.get('Prefix', '').rstrip('/')}/{run_id}".lstrip("/")
        s3 = self.clients["s3"]
        files = []
        for status, entries in (("SUCCEEDED", succeeded), ("FAILED", failed)):
            if entries:
                key = f"{prefix}/{status}_0.json"
                s3.put_object(Bucket=where["Bucket"], Key=key, Body=json.dumps(entries).encode())
                files.append({"Key": key, "Size": len(entries)})
        manifest = {"DestinationBucket": where["Bucket"], "MapRunArn": run_id, "ResultFiles": files}
        key = f"{prefix}/manifest.json"
        s3.put_object(Bucket=where["Bucket"], Key=key, Body=json.dumps(manifest).encode())
        self.report.results_key = key
        return {"Bucket": where["Bucket"], "Key": key}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _error_name(service: str, exc: Exception) -> str:
    """As Step Functions names an SDK integration's error: ``Sqs.QueueDoesNotExistException``; an error the
    SDK has no class for is the service's base exception (``Sqs.SqsException``); no answer at all is
    ``Sqs.SdkClientException``."""
    prefix = service[0].upper() + service[1:]
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        code = code.rsplit(".", 1)[-1]
        if code in {"RequestThrottled", "ThrottlingException", "Throttling"}:
            return f"{prefix}.RequestThrottledException"
        if code and type(exc).__name__ != "ClientError":
            return f"{prefix}.{code if code.endswith('Exception') else code + 'Exception'}"
        return f"{prefix}.{prefix}Exception"
    return f"{prefix}.SdkClientException"
