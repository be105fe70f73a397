"""The REAL state machine (``statemachine/cover_workflow.asl.json``), parsed and interpreted in virtual time.

Supported: Task (Lambda resources named by the template's DefinitionSubstitutions; Parameters, Retry
with IntervalSeconds/MaxAttempts/BackoffRate/MaxDelaySeconds/JitterStrategy, Catch, ResultPath,
TimeoutSeconds), Wait (Seconds, SecondsPath), Choice (the comparison operators below, And/Or/Not), Pass,
Succeed and Fail, with simple ``$.a.b`` paths. A Task's ``Parameters`` is the payload the function gets:
static values as written, and each ``key.$`` the value at a ``$.a.b`` path of the state's input or the
context object's ``$$.State.RetryCount`` (retries of this state entry so far, across all its Retry
blocks); a path missing from the input fails the execution with States.Runtime, which no Catch catches
(https://docs.aws.amazon.com/step-functions/latest/dg/input-output-inputpath-params.html and
concepts-error-handling.html, read 2026-05). ResultPath applies to the state's input, not to its Parameters.
Anything else raises :class:`Unsupported` when the file is loaded, so a changed ASL never runs silently with
a part of it ignored. A Task's TimeoutSeconds is judged when the call returns (a late result becomes
States.Timeout); the execution's TimeoutSeconds (at most ``max_seconds``: 300 for EXPRESS) ends a Wait or a
Retry's wait at the deadline and is judged when a call returns: a call in flight is not cut short.

Billing rule (Step Functions STANDARD, https://aws.amazon.com/step-functions/pricing/, read 2026-05:
"Step Functions counts a state transition each time a step of your workflow is executed ... including
retries"; "each retry will be charged as an additional state transition"): one transition per state
entered and one per retry attempt.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

#: Error names Step Functions gives to its own conditions.
ALL, TASK_FAILED, TIMEOUT = "States.ALL", "States.TaskFailed", "States.Timeout"

_TASK_KEYS = {
    "Type",
    "Resource",
    "Parameters",
    "ResultPath",
    "TimeoutSeconds",
    "Retry",
    "Catch",
    "Next",
    "End",
    "Comment",
}
#: The context object's fields this interpreter provides to Parameters (``$$.`` paths).
CONTEXT_PATHS = frozenset({"$$.State.RetryCount"})
_KEYS = {
    "Task": _TASK_KEYS,
    "Wait": {"Type", "Seconds", "SecondsPath", "Next", "End", "Comment"},
    "Choice": {"Type", "Choices", "Default", "Comment"},
    "Pass": {"Type", "Result", "ResultPath", "Next", "End", "Comment"},
    "Succeed": {"Type", "Comment"},
    "Fail": {"Type", "Error", "Cause", "Comment"},
}
_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "StringEquals": lambda a, b: isinstance(a, str) and a == b,
    "NumericEquals": lambda a, b: _num(a) and a == b,
    "NumericLessThan": lambda a, b: _num(a) and a < b,
    "NumericLessThanEquals": lambda a, b: _num(a) and a <= b,
    "NumericGreaterThan": lambda a, b: _num(a) and a > b,
    "NumericGreaterThanEquals": lambda a, b: _num(a) and a >= b,
    "BooleanEquals": lambda a, b: isinstance(a, bool) and a == b,
}
_MISSING = object()
RUNTIME = "States.Runtime"


class Unsupported(ValueError):
    """The ASL uses something this interpreter does not model."""


class Clock(Protocol):
    @property
    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...

    def uniform(self, low: float, high: float) -> float: ...


def _num(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _path(path: str) -> tuple[str, ...]:
    if path == "$":
        return ()
    if not path.startswith("$.") or any(c in path for c in "[]*?@"):
        raise Unsupported(f"only simple paths like $.a.b are modelled, not {path!r}")
    return tuple(path[2:].split("."))


@dataclass(frozen=True)
class _Selected:
    """A ``key.$`` value of Parameters: a path of the state's input, or a context object field."""

    text: str
    path: tuple[str, ...] | None  # None: the context field named ``text``


def _parameters(state: str, template: Any) -> Any:
    """A Parameters template, checked and compiled: every ``key.$`` becomes ``key`` -> :class:`_Selected`
    (a supported path), anything else is kept as written."""
    if isinstance(template, Mapping):
        out = {}
        for key, value in template.items():
            if not key.endswith(".$"):
                out[key] = _parameters(state, value)
                continue
            if not isinstance(value, str):
                raise Unsupported(f"state {state}: {key} must be a path string")
            if value.startswith("$$") and value not in CONTEXT_PATHS:
                raise Unsupported(f"state {state}: context path {value!r} is not modelled")
            out[key[:-2]] = _Selected(value, None if value.startswith("$$") else _path(value))
        return out
    if isinstance(template, list):
        return [_parameters(state, value) for value in template]
    return template


class _RuntimeError(Exception):
    """States.Runtime: the execution fails, whatever its Retry and Catch say."""


def apply_parameters(template: Any, data: Any, context: Mapping[str, Any]) -> Any:
    """The payload a compiled Parameters template makes of ``data`` (the state's input) and the context
    object (its fields by ``$$.`` path)."""
    if isinstance(template, _Selected):
        found = context[template.text] if template.path is None else get_path(data, template.path)
        if found is _MISSING:
            raise _RuntimeError(f"the JSONPath {template.text!r} could not be found in the input")
        return found
    if isinstance(template, Mapping):
        return {key: apply_parameters(value, data, context) for key, value in template.items()}
    if isinstance(template, list):
        return [apply_parameters(v, data, context) for v in template]
    return template


def get_path(data: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(data, Mapping) or key not in data:
            return _MISSING
        data = data[key]
    return data


def set_path(data: Mapping[str, Any], path: tuple[str, ...] | None, value: Any) -> Any:
    """ResultPath: ``value`` placed at ``path`` of a copy of ``data`` (None: the input unchanged)."""
    if path is None:
        return data
    if not path:
        return value
    out = dict(data)
    inner = out.get(path[0])
    out[path[0]] = set_path(inner if isinstance(inner, Mapping) else {}, path[1:], value)
    return out


@dataclass(frozen=True)
class Retrier:
    errors: tuple[str, ...]
    interval: float = 1.0
    max_attempts: int = 3
    backoff: float = 2.0
    max_delay: float | None = None
    jitter: str = "NONE"

    def delay(self, retries_done: int, clock: Clock) -> float:
        """Seconds before retry number ``retries_done + 1``: IntervalSeconds x BackoffRate^n, capped at
        MaxDelaySeconds; FULL jitter draws uniformly between 0 and that."""
        seconds = self.interval * self.backoff**retries_done
        if self.max_delay is not None:
            seconds = min(seconds, self.max_delay)
        return clock.uniform(0.0, seconds) if self.jitter == "FULL" else seconds


@dataclass(frozen=True)
class Catcher:
    errors: tuple[str, ...]
    next: str
    result_path: tuple[str, ...] | None


def matches(errors: tuple[str, ...], name: str) -> bool:
    return name in errors or ALL in errors or (TASK_FAILED in errors and name != TIMEOUT)


@dataclass(frozen=True)
class State:
    name: str
    type: str
    spec: Mapping[str, Any]
    next: str | None
    resource: str | None = None  # Task: the function's logical id in template.yaml
    retriers: tuple[Retrier, ...] = ()
    catchers: tuple[Catcher, ...] = ()
    result_path: tuple[str, ...] | None = ()
    seconds_path: tuple[str, ...] | None = None
    parameters: Any = None  # Task: the compiled Parameters template (None: the input as it is)


def _result_path(spec: Mapping[str, Any]) -> tuple[str, ...] | None:
    if "ResultPath" in spec and spec["ResultPath"] is None:
        return None
    return _path(spec.get("ResultPath", "$"))


def _parse_state(name: str, spec: Mapping[str, Any], resources: Mapping[str, str]) -> State:
    kind = spec.get("Type")
    if kind not in _KEYS:
        raise Unsupported(f"state {name}: type {kind!r} is not modelled")
    extra = set(spec) - _KEYS[kind]
    if extra:
        raise Unsupported(f"state {name}: {sorted(extra)} not modelled")
    nxt = spec.get("Next")
    if kind == "Task":
        resource = str(spec["Resource"])
        function = resources.get(resource.removeprefix("${").removesuffix("}"))
        if function is None:
            raise Unsupported(f"state {name}: resource {resource} names no function of the template")
        retriers = tuple(
            Retrier(
                tuple(r["ErrorEquals"]),
                float(r.get("IntervalSeconds", 1)),
                int(r.get("MaxAttempts", 3)),
                float(r.get("BackoffRate", 2.0)),
                float(r["MaxDelaySeconds"]) if "MaxDelaySeconds" in r else None,
                str(r.get("JitterStrategy", "NONE")),
            )
            for r in spec.get("Retry", ())
        )
        catchers = tuple(
            Catcher(tuple(c["ErrorEquals"]), str(c["Next"]), _result_path(c)) for c in spec.get("Catch", ())
        )
        parameters = _parameters(name, spec["Parameters"]) if "Parameters" in spec else None
        return State(
            name, kind, spec, nxt, function, retriers, catchers, _result_path(spec), parameters=parameters
        )
    if kind == "Wait":
        seconds_path = _path(spec["SecondsPath"]) if "SecondsPath" in spec else None
        return State(name, kind, spec, nxt, seconds_path=seconds_path)
    if kind == "Choice":
        for rule in spec["Choices"]:
            _check_rule(name, rule)
    return State(name, kind, spec, nxt, result_path=_result_path(spec) if kind == "Pass" else ())


def _check_rule(name: str, rule: Mapping[str, Any]) -> None:
    if "And" in rule or "Or" in rule:
        for sub in rule.get("And", rule.get("Or", ())):
            _check_rule(name, sub)
    elif "Not" in rule:
        _check_rule(name, rule["Not"])
    else:
        ops = set(rule) - {"Variable", "Next", "IsPresent", "IsNull"}
        if len(ops) > 1 or not ops <= set(_COMPARISONS):
            raise Unsupported(f"state {name}: choice rule {sorted(ops)} not modelled")
        _path(rule["Variable"])


def evaluate(rule: Mapping[str, Any], data: Any) -> bool:
    if "And" in rule:
        return all(evaluate(r, data) for r in rule["And"])
    if "Or" in rule:
        return any(evaluate(r, data) for r in rule["Or"])
    if "Not" in rule:
        return not evaluate(rule["Not"], data)
    value = get_path(data, _path(rule["Variable"]))
    if "IsPresent" in rule:
        return (value is not _MISSING) == rule["IsPresent"]
    if "IsNull" in rule:
        return (value is None) == rule["IsNull"]
    op = next(k for k in rule if k in _COMPARISONS)
    return value is not _MISSING and _COMPARISONS[op](value, rule[op])


@dataclass(frozen=True)
class StateMachine:
    start: str
    states: Mapping[str, State]
    timeout: float | None

    @classmethod
    def load(cls, path: Path, resources: Mapping[str, str]) -> StateMachine:
        """``resources``: DefinitionSubstitutions name -> function logical id."""
        doc = json.loads(path.read_text(encoding="utf-8"))
        states = {name: _parse_state(name, spec, resources) for name, spec in doc["States"].items()}
        for state in states.values():
            targets = [state.next, *(c.next for c in state.catchers)]
            targets += [r.get("Next") for r in state.spec.get("Choices", ())] + [state.spec.get("Default")]
            for target in filter(None, targets):
                if target not in states:
                    raise Unsupported(f"state {state.name} goes to unknown state {target}")
        timeout = doc.get("TimeoutSeconds")
        return cls(doc["StartAt"], states, float(timeout) if timeout is not None else None)


@dataclass
class Ended:
    status: str  # SUCCEEDED, FAILED or TIMED_OUT
    output: Any = None
    error: str | None = None
    transitions: int = 0
    retries: int = 0
    seconds: float = 0.0  # from start to end (a TIMED_OUT execution ends at its deadline)


def error_name(exc: BaseException) -> str:
    """The error name Step Functions sees: Lambda reports a Python exception by its class name."""
    return str(getattr(exc, "error_name", None) or type(exc).__name__)


Invoke = Callable[[str, Any], Any]


class _ExecutionTimedOut(Exception):
    pass


def run(
    machine: StateMachine, data: Any, invoke: Invoke, clock: Clock, *, max_seconds: float | None = None
) -> Ended:
    """One execution, inside a process: ``invoke(function, payload)`` runs a Task's Lambda call (it may
    raise; the exception's name is what Retry and Catch match). ``max_seconds``: the workflow type's own
    limit on an execution's duration (EXPRESS: 300), over the ASL's TimeoutSeconds."""
    began = clock.now
    limits = [t for t in (machine.timeout, max_seconds) if t is not None]
    execution = _Execution(invoke, clock, began + min(limits) if limits else math.inf)
    try:
        execution.ended.output = execution.states(machine, data)
    except _ExecutionTimedOut:
        execution.ended.status, execution.ended.error = "TIMED_OUT", TIMEOUT
    except _RuntimeError:
        execution.ended.status, execution.ended.error = "FAILED", RUNTIME
    execution.ended.seconds = min(clock.now, execution.deadline) - began
    return execution.ended


class _Execution:
    def __init__(self, invoke: Invoke, clock: Clock, deadline: float) -> None:
        self.invoke, self.clock, self.deadline = invoke, clock, deadline
        self.ended = Ended("SUCCEEDED")

    def wait(self, seconds: float) -> None:
        """Sleep ``seconds``, or until the execution's deadline (then it has timed out)."""
        clock = self.clock
        if clock.now + seconds >= self.deadline:
            clock.sleep(max(0.0, self.deadline - clock.now))
            raise _ExecutionTimedOut
        clock.sleep(seconds)

    def states(self, machine: StateMachine, data: Any) -> Any:
        """The execution's output (None when it failed: ``ended`` says how)."""
        ended = self.ended
        name: str | None = machine.start
        while name is not None:
            if self.clock.now >= self.deadline:
                raise _ExecutionTimedOut
            state = machine.states[name]
            ended.transitions += 1
            spec = state.spec
            if state.type == "Task":
                data, name, failure = self.task(state, data)
                if failure is not None:
                    ended.status, ended.error = "FAILED", failure
                    return None
                continue
            if state.type == "Wait":
                path = state.seconds_path
                seconds = get_path(data, path) if path is not None else spec["Seconds"]
                if not _num(seconds) or seconds < 0:
                    raise _RuntimeError(f"state {name}: no valid number of seconds to wait")
                self.wait(float(seconds))
            elif state.type == "Choice":
                chosen = next((r["Next"] for r in spec["Choices"] if evaluate(r, data)), spec.get("Default"))
                if chosen is None:
                    ended.status, ended.error = "FAILED", "States.NoChoiceMatched"
                    return None
                name = chosen
                continue
            elif state.type == "Pass":
                data = set_path(data, state.result_path, spec.get("Result", data))
            elif state.type == "Fail":
                ended.status, ended.error = "FAILED", spec.get("Error")
                return None
            elif state.type == "Succeed":
                break
            name = None if spec.get("End") else state.next
        return data

    def task(self, state: State, data: Any) -> tuple[Any, Any, Any]:
        """(new data, next state or None at the end, failure name or None)."""
        assert state.resource is not None
        clock, ended = self.clock, self.ended
        done = [0] * len(state.retriers)
        timeout = state.spec.get("TimeoutSeconds")
        while True:
            payload = data
            if state.parameters is not None:
                payload = apply_parameters(state.parameters, data, {"$$.State.RetryCount": sum(done)})
            started = clock.now
            try:
                result = self.invoke(state.resource, payload)
                if timeout is not None and clock.now - started > timeout:
                    raise _Timeout
            except Exception as exc:  # Step Functions matches any error by name
                if clock.now >= self.deadline:
                    raise _ExecutionTimedOut from exc
                name = error_name(exc)
                index = next((i for i, r in enumerate(state.retriers) if matches(r.errors, name)), None)
                if index is not None and done[index] < state.retriers[index].max_attempts:
                    delay = state.retriers[index].delay(done[index], clock)
                    done[index] += 1
                    ended.transitions += 1
                    ended.retries += 1
                    self.wait(delay)
                    continue
                catcher = next((c for c in state.catchers if matches(c.errors, name)), None)
                if catcher is None:
                    return data, None, name
                caught = set_path(data, catcher.result_path, {"Error": name, "Cause": str(exc)})
                return caught, catcher.next, None
            if clock.now >= self.deadline:
                raise _ExecutionTimedOut
            out = set_path(data, state.result_path, result)
            return out, None if state.spec.get("End") else state.next, None


class _Timeout(Exception):
    error_name = TIMEOUT
