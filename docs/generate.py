"""Generate the parts of the docs that the template and the state machine define, so they cannot drift.

* docs/configuration.md, between ``<!-- generated:parameters -->`` and ``<!-- /generated:parameters -->``:
  one row per template parameter (its default, its allowed values or bounds, its description, the
  environment variables it sets and the functions that get them, and the other resources that use it), and
  one row per function variable that no parameter sets.
* docs/design.md, between ``<!-- diagram:NAME -->`` and ``<!-- /diagram:NAME -->``: two Mermaid diagrams,
  which GitHub draws.

``workflow`` (a ``stateDiagram-v2`` from statemachine/cover_workflow.asl.json): every state, with its type
and what it runs (a Task's ``${Substitution}`` resolved to the function through the template's
DefinitionSubstitutions); an edge for StartAt, each Next, each Choice rule (labelled with its test) and
Default, each Catch (labelled with the errors it catches), End (and Fail, Succeed) to ``[*]``; edges between
the same two states are merged, their labels joined with "or". Retry: the retriers that allow at least
LOOP_ATTEMPTS attempts are a loop by design (the poll loop), drawn as an edge back to the state labelled with
their range of waits; every retrier is listed in a note beside the state, the platform's errors (``Lambda.*``,
``Sandbox.*``, ``Runtime.*``, ``States.*``) folded into one line with their range of retries.

``architecture`` (a ``flowchart TB`` from template.yaml). Nodes: the resources whose type is in COMPONENTS
(functions, queues, tables, the bucket, the state machine, buses, rules, APIs), each labelled with its logical
id, its kind and, if it has a Condition, "only if" the condition in the parameters' terms (``ArchiveImages =
true``); a node per schedule event source; a node per parameter that names something outside the stack (a
rule's ``EventBusName`` parameter, a parameter whose default is a URL). Roles, policies, log groups, alarms,
secrets, keys, the dashboard and the schemas are left out. Edges (a reference is ``Ref``, ``Fn::GetAtt`` or
``${Name}`` / ``${Name.Attr}`` in ``Fn::Sub``, in either branch of ``Fn::If``):

* event sources: a function's ``Events`` draw source -> function (SQS: "batches"; HTTP API: method and path,
  with its authorizer; a schedule: its expression on the schedule's node);
* a queue's ``RedrivePolicy`` draws queue -.-> dead-letter queue; a rule's bus draws bus -> rule, each target
  rule -> target, its ``DeadLetterConfig`` rule -.-> queue;
* the state machine's ``DefinitionSubstitutions`` draw state machine -> function, labelled with the states
  (from the ASL) that call it;
* a function (or the state machine) -> each drawn resource that its environment variables or its IAM
  statements (``Policies``, and those of the Role its ``Role`` names) refer to, labelled with the actions the
  statements allow on it, service prefix dropped; actions an event source performs itself (receiving from
  its queue) and invoking a function the state machine calls are not repeated. A function -> a URL
  parameter's node, labelled with the URL's scheme.

Usage (from the project root)::

    python docs/generate.py           # rewrite the pages (also: make docs)
    python docs/generate.py --check   # exit 1 if a page is stale

``tests/infra/test_docs.py`` and ``tests/infra/test_diagrams.py`` run the check, so a parameter, resource or
state added or changed without regenerating fails the suite. Needs PyYAML only (no project package).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
PAGE = ROOT / "docs" / "configuration.md"
ASL = ROOT / "statemachine" / "cover_workflow.asl.json"
DESIGN = ROOT / "docs" / "design.md"
BEGIN = "<!-- generated:parameters -->"
END = "<!-- /generated:parameters -->"
FUNCTION_TYPE = "AWS::Serverless::Function"


# --- template.yaml, short-form intrinsics expanded ---------------------------------------------------


class _Loader(yaml.SafeLoader):
    pass


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = {"Ref": "Ref", "Condition": "Condition"}.get(suffix, f"Fn::{suffix}")
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if name == "Fn::GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_Loader.add_multi_constructor("!", _intrinsic)


def load(path: Path = TEMPLATE) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506
    return loaded


# --- what refers to a parameter ---------------------------------------------------------------------

_SUB_NAME = re.compile(r"\$\{([A-Za-z0-9]+)\}")


def _direct(value: Any) -> Iterator[str]:
    """Names ``value`` refers to: ``Ref``, ``${Name}`` in ``Fn::Sub``, and conditions (``Fn::If``,
    ``Condition``), the latter as ``condition:<name>``."""
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                yield inner
            elif key == "Fn::Sub":
                text = inner[0] if isinstance(inner, list) else inner
                yield from _SUB_NAME.findall(str(text))
                if isinstance(inner, list) and len(inner) > 1:
                    yield from _direct(inner[1])
            elif key == "Fn::If" and isinstance(inner, list) and inner:
                yield f"condition:{inner[0]}"
                yield from _direct(inner[1:])
            elif key == "Condition" and isinstance(inner, str):
                yield f"condition:{inner}"
            else:
                yield from _direct(inner)
    elif isinstance(value, list):
        for item in value:
            yield from _direct(item)


def _parameters_of(value: Any, conditions: dict[str, Any], seen: frozenset[str] = frozenset()) -> set[str]:
    """The parameters ``value`` depends on, through the conditions it uses too."""
    found: set[str] = set()
    for name in _direct(value):
        if name.startswith("condition:"):
            condition = name.split(":", 1)[1]
            if condition not in seen and condition in conditions:
                found |= _parameters_of(conditions[condition], conditions, seen | {condition})
        else:
            found.add(name)
    return found


def _uses(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """(path, value) of every property value worth checking: each leaf of the tree, and each intrinsic as a
    whole (so ``!If [Cond, a, b]`` is one use)."""
    if isinstance(node, dict):
        if any(k in {"Ref", "Condition"} or k.startswith("Fn::") for k in node):
            yield path, node
            return
        for key, inner in node.items():
            yield from _uses(inner, (*path, str(key)))
    elif isinstance(node, list):
        for inner in node:
            yield from _uses(inner, path)
    else:
        yield path, node


# --- the rows ----------------------------------------------------------------------------------------


def _code(value: Any) -> str:
    text = "" if value is None else str(value)
    return f"`{text}`" if text else '`""` (empty)'


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _allowed(spec: dict[str, Any]) -> str:
    parts = []
    if "AllowedValues" in spec:
        parts.append(", ".join(_code(v) for v in spec["AllowedValues"]))
    if "MinValue" in spec or "MaxValue" in spec:
        low, high = spec.get("MinValue"), spec.get("MaxValue")
        if low is not None and high is not None:
            parts.append(f"{low} to {high}")
        elif low is not None:
            parts.append(f">= {low}")
        else:
            parts.append(f"<= {high}")
    if "AllowedPattern" in spec:
        parts.append(f"`{spec['AllowedPattern']}`")
    return "; ".join(parts) or "any"


def _functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v.get("Type") == FUNCTION_TYPE}


def _variables(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each function's own environment variables (the Globals' are the same for every function)."""
    return {
        name: (spec.get("Properties", {}).get("Environment") or {}).get("Variables") or {}
        for name, spec in _functions(template).items()
    }


def _owners(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """What may use a parameter, besides the functions' variables: each resource (a function without its
    Environment), the Globals every function gets, and each Rule."""
    for logical_id, resource in template["Resources"].items():
        tree = dict(resource)
        if resource.get("Type") == FUNCTION_TYPE:
            properties = dict(tree.get("Properties", {}))
            properties.pop("Environment", None)
            tree["Properties"] = properties
        yield logical_id, tree
    function_globals = dict(template.get("Globals", {}).get("Function", {}))
    function_globals.pop("Environment", None)
    yield "Globals", function_globals
    for name, rule in template.get("Rules", {}).items():
        yield (
            f"Rule {name}",
            {"RuleCondition": rule.get("RuleCondition"), "Assertions": rule.get("Assertions")},
        )


def parameter_rows(template: dict[str, Any]) -> list[str]:
    conditions = template.get("Conditions", {})
    variables = _variables(template)
    rows = [
        "| parameter | default | allowed | sets (variable: functions reading it) | also used by | meaning |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, spec in template["Parameters"].items():
        sets: dict[str, list[str]] = {}
        for function, env in variables.items():
            for variable, value in env.items():
                if name in _parameters_of(value, conditions):
                    sets.setdefault(variable, []).append(function)
        others: dict[str, set[str]] = {}
        for owner, tree in _owners(template):
            if name in _parameters_of({"Condition": tree.pop("Condition", None)}, conditions):
                others.setdefault(owner, set()).add("whether it exists")
            for path, value in _uses(tree):
                if name in _parameters_of(value, conditions):
                    others.setdefault(owner, set()).add(
                        next((p for p in reversed(path) if p != "Properties"), "?")
                    )
        set_text = "; ".join(
            f"`{variable}`: {', '.join(functions)}" for variable, functions in sorted(sets.items())
        )
        other_text = "; ".join(
            f"{logical_id} ({', '.join(sorted(keys))})" for logical_id, keys in sorted(others.items())
        )
        rows.append(
            f"| `{name}` | {_code(spec.get('Default'))} | {_cell(_allowed(spec))} | {set_text or '-'} "
            f"| {_cell(other_text) or '-'} | {_cell(spec.get('Description', ''))} |"
        )
    return rows


def _constant(template: dict[str, Any], value: Any) -> str:
    """How a variable no parameter sets gets its value: a constant, a mapping entry or a resource."""
    if isinstance(value, dict) and "Fn::FindInMap" in value:
        mapping, top, second = value["Fn::FindInMap"]
        return f"{template['Mappings'][mapping][top][second]} (Mappings {mapping}.{top}.{second})"
    if isinstance(value, dict) and "Ref" in value:
        return f"the name, URL or ARN of `{value['Ref']}`"
    if isinstance(value, dict):
        return _cell(", ".join(f"`{n}`" for n in sorted(set(_direct(value)))))
    return _code(value)


def fixed_rows(template: dict[str, Any]) -> list[str]:
    conditions = template.get("Conditions", {})
    found: dict[str, tuple[str, list[str]]] = {}
    for function, env in _variables(template).items():
        for variable, value in env.items():
            if not (_parameters_of(value, conditions) & set(template["Parameters"])):
                text, functions = found.get(variable, (_constant(template, value), []))
                found[variable] = (text, [*functions, function])
    rows = ["| variable | value | functions |", "| --- | --- | --- |"]
    for variable, (text, functions) in sorted(found.items()):
        rows.append(f"| `{variable}` | {text} | {', '.join(functions)} |")
    globals_env = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    for variable, value in sorted(globals_env.items()):
        shown = _code(value) if not isinstance(value, dict) else _constant(template, value)
        rows.append(f"| `{variable}` | {shown} | every function (Globals) |")
    return rows


def block(template: dict[str, Any]) -> str:
    lines = [
        BEGIN,
        "<!-- Generated by docs/generate.py from template.yaml: edit the template, then run `make docs`. -->",
        "",
        *parameter_rows(template),
        "",
        "Variables no parameter sets (fixed in the template, or a resource of the stack):",
        "",
        *fixed_rows(template),
        END,
    ]
    return "\n".join(lines)


def render(page: str, template: dict[str, Any]) -> str:
    """``page`` with the generated block replaced (ValueError when the markers are missing)."""
    start, end = page.find(BEGIN), page.find(END)
    if start < 0 or end < start:
        raise ValueError(f"{PAGE.name} lacks the markers {BEGIN} ... {END}")
    return page[:start] + block(template) + page[end + len(END) :]


# --- the diagrams of docs/design.md -------------------------------------------------------------------

#: Words Mermaid reads as keywords: never used as a node id.
_MERMAID_WORDS = {
    "end", "graph", "flowchart", "subgraph", "state", "note", "class", "classdef", "click", "style",
    "linkstyle", "direction", "default", "call", "href", "as", "fork", "join", "choice",
}  # fmt: skip
#: Retry errors Lambda or Step Functions raise (not the project's own): one line in a note.
_PLATFORM_ERRORS = ("Lambda.", "Sandbox.", "Runtime.", "States.")
#: A Retry allowing this many attempts is a loop by design (the poll loop), not a bound: drawn as one.
LOOP_ATTEMPTS = 1000


def diagram_markers(name: str) -> tuple[str, str]:
    return f"<!-- diagram:{name} -->", f"<!-- /diagram:{name} -->"


def load_asl(path: Path = ASL) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def mermaid_id(name: str, taken: set[str] | None = None) -> str:
    """A Mermaid-safe id for ``name``: letters, digits and ``_``, starting with a letter, no keyword; unique
    among ``taken`` (which it joins)."""
    ident = re.sub(r"[^A-Za-z0-9_]", "_", name)
    if not ident[:1].isalpha() or ident.lower() in _MERMAID_WORDS:
        ident = f"n_{ident}"
    if taken is not None:
        base, n = ident, 1
        while ident in taken:
            n += 1
            ident = f"{base}_{n}"
        taken.add(ident)
    return ident


def _label(text: Any) -> str:
    """Text Mermaid shows as it is, in a quoted label, an edge label or a note: no quotes, no statement
    separators, no colons (a state diagram splits on them), no markup."""
    cleaned = str(text).replace('"', "'").replace(";", ",").replace(":", " ").replace("#", "no. ")
    return " ".join(cleaned.replace("<", "(").replace(">", ")").replace("`", "'").split())


# --- the workflow: a stateDiagram-v2 from the ASL -------------------------------------------------------


def _seconds(value: float) -> str:
    return f"{value:g} s"


def _errors(names: list[str]) -> str:
    """Error names, a prefix shared by several of them folded (``Lambda.*``)."""
    shown: list[str] = []
    for name in names:
        prefix = name.split(".", 1)[0] + "." if "." in name else None
        if prefix and sum(n.startswith(prefix) for n in names) > 1:
            if f"{prefix}*" not in shown:
                shown.append(f"{prefix}*")
        else:
            shown.append(name)
    return ", ".join(shown)


def retry_summary(retriers: list[dict[str, Any]]) -> tuple[list[str], str | None]:
    """(note lines, loop label) for a Task's Retry list. The platform's errors (Lambda's, the sandbox's)
    make one line; each other retrier one line (its errors, retries, first wait, backoff); the retriers
    with at least LOOP_ATTEMPTS attempts are the loop: one line for all of them (each error's wait), and an
    edge back to the state labelled with their range of waits."""
    platform = [r for r in retriers if all(e.startswith(_PLATFORM_ERRORS) for e in r["ErrorEquals"])]
    loops = [r for r in retriers if r.get("MaxAttempts", 3) >= LOOP_ATTEMPTS and r not in platform]
    lines: list[str] = []
    if platform:
        attempts = sorted({int(r.get("MaxAttempts", 3)) for r in platform})
        bound = f"{attempts[0]}" if len(attempts) == 1 else f"{attempts[0]} to {attempts[-1]}"
        names = [e for r in platform for e in r["ErrorEquals"]]
        lines.append(f"{_errors(names)} - up to {bound} retries")
    for r in retriers:
        if r in platform or r in loops:
            continue
        backoff = float(r.get("BackoffRate", 2.0))
        growth = f" then x{backoff:g}" if backoff != 1 else " each"
        lines.append(
            f"{_errors(r['ErrorEquals'])} - up to {int(r.get('MaxAttempts', 3))} retries, "
            f"{_seconds(float(r.get('IntervalSeconds', 1)))}{growth}"
        )
    loop = None
    if loops:
        waits = sorted(float(r.get("IntervalSeconds", 1)) for r in loops)
        each = [
            f"{', '.join(r['ErrorEquals'])} {_seconds(float(r.get('IntervalSeconds', 1)))}" for r in loops
        ]
        lines.append(f"no limit - {', '.join(each)}")
        span = _seconds(waits[0]) if waits[0] == waits[-1] else f"{waits[0]:g} to {_seconds(waits[-1])}"
        loop = f"Retry every {span}, no limit"
    return (["Retry", *(f"• {_label(line)}" for line in lines)] if lines else []), loop


def _choice(rule: dict[str, Any]) -> str:
    """A Choice rule as text: JSONata ``Condition``, ``And``/``Or``/``Not``, or variable, test, value."""
    if "Condition" in rule:
        return str(rule["Condition"]).strip("{}% ")
    for combinator in ("And", "Or"):
        if combinator in rule:
            return f" {combinator.lower()} ".join(f"({_choice(r)})" for r in rule[combinator])
    if "Not" in rule:
        return f"not ({_choice(rule['Not'])})"
    test = next((k for k in rule if k not in {"Variable", "Next", "Comment", "Assign", "Output"}), "?")
    return f"{rule.get('Variable', '')} {test} {rule.get(test)}"


def _task_function(state: dict[str, Any], template: dict[str, Any] | None) -> str:
    """The function a Task calls: its ``${Substitution}`` resolved through the state machine's
    DefinitionSubstitutions in the template (else the Resource as written)."""
    resource = str(state.get("Resource", ""))
    match = re.fullmatch(r"\$\{(\w+)\}", resource)
    if match and template:
        for spec in template["Resources"].values():
            substitutions = spec.get("Properties", {}).get("DefinitionSubstitutions") or {}
            if match.group(1) in substitutions:
                refs = list(_refs(substitutions[match.group(1)]))
                return refs[0] if refs else resource
    return resource.rsplit(":", 1)[-1]


def _describe(state: dict[str, Any], template: dict[str, Any] | None) -> str:
    kind = state["Type"]
    if kind == "Task":
        timeout = state.get("TimeoutSeconds")
        return f"Task {_task_function(state, template)}" + (f", timeout {timeout} s" if timeout else "")
    if kind == "Wait":
        for key in ("Seconds", "SecondsPath", "Timestamp", "TimestampPath"):
            if key in state:
                return f"Wait {key} {state[key]}"
    if kind == "Fail":
        return f"Fail {state.get('Error', '')}".strip()
    if kind == "Parallel":
        return f"Parallel, {len(state.get('Branches', []))} branches"
    return str(kind)


def workflow_diagram(asl: dict[str, Any], template: dict[str, Any] | None = None) -> list[str]:
    """The state machine as Mermaid ``stateDiagram-v2`` lines: every state (its type and what it runs),
    StartAt, Next, Choice rules and Default, Catch (labelled with the errors caught), End (Fail and Succeed
    end too), the looping Retry as an edge back to the state and the other Retry blocks as a note."""
    states: dict[str, dict[str, Any]] = asl["States"]
    taken: set[str] = set()
    ids = {name: mermaid_id(name, taken) for name in states}
    lines = ["stateDiagram-v2"]
    notes: list[str] = []
    edges: dict[tuple[str, str], list[str]] = {}

    def edge(source: str, target: str, label: str = "") -> None:
        edges.setdefault((source, target), []).append(label)

    edge("[*]", ids[asl["StartAt"]])
    for name, state in states.items():
        sid = ids[name]
        # named with `state "..." as id`, the box shows the name above the description (else only the latter)
        lines.append(f'    state "{_label(name)}" as {sid}')
        lines.append(f"    {sid} : {_label(_describe(state, template))}")
        retry, loop = retry_summary(state.get("Retry", []))
        if loop:
            edge(sid, sid, loop)
        if retry:
            notes += [f"    note right of {sid}", *(f"        {line}" for line in retry), "    end note"]
        for rule in state.get("Choices", []):
            edge(sid, ids[rule["Next"]], _label(_choice(rule)))
        if "Default" in state:
            edge(sid, ids[state["Default"]], "Default")
        if "Next" in state:
            edge(sid, ids[state["Next"]], "Next" if state.get("Catch") else "")
        for catch in state.get("Catch", []):
            edge(sid, ids[catch["Next"]], _label(f"Catch {', '.join(catch['ErrorEquals'])}"))
        if state.get("End") or state["Type"] in {"Succeed", "Fail"}:
            edge(sid, "[*]")
    for (source, target), labels in edges.items():
        text = " or ".join(label for label in labels if label)
        lines.append(f"    {source} --> {target}" + (f" : {text}" if text else ""))
    return lines + notes


# --- the architecture: a flowchart from the template -----------------------------------------------------

#: The resources drawn, by type: (shape, what it is). Anything else (roles, policies, log groups, alarms,
#: secrets, keys, the dashboard, schemas) is left out.
COMPONENTS = {
    "AWS::Serverless::Function": ('["{}"]', "Lambda function"),
    "AWS::SQS::Queue": ('(["{}"])', "SQS queue"),
    "AWS::DynamoDB::Table": ('[("{}")]', "DynamoDB table"),
    "AWS::S3::Bucket": ('[("{}")]', "S3 bucket"),
    "AWS::Serverless::StateMachine": ('{{{{"{}"}}}}', "Step Functions"),
    "AWS::Events::EventBus": ('[["{}"]]', "EventBridge bus"),
    "AWS::Events::Rule": ('>"{}"]', "EventBridge rule"),
    "AWS::Serverless::HttpApi": ('[/"{}"/]', "HTTP API"),
    "AWS::Serverless::Api": ('[/"{}"/]', "REST API"),
}
EXTERNAL_SHAPE = '[\\"{}"/]'
SCHEDULE_SHAPE = '(("{}"))'
#: What an SQS event source does itself: not drawn again as the function's own calls.
_EVENT_SOURCE_ACTIONS = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}
_SUB_REF = re.compile(r"\$\{([A-Za-z0-9]+)(?:\.[A-Za-z.]+)?\}")


def _refs(value: Any) -> Iterator[str]:
    """Logical ids ``value`` refers to: ``Ref`` (``Name.Version`` too), ``Fn::GetAtt``, ``${Name}`` and
    ``${Name.Attr}`` in ``Fn::Sub``; both branches of ``Fn::If``."""
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                yield inner.split(".", 1)[0]
            elif key == "Fn::GetAtt":
                yield str(inner[0] if isinstance(inner, list) else inner).split(".", 1)[0]
            elif key == "Fn::Sub":
                yield from _SUB_REF.findall(str(inner[0] if isinstance(inner, list) else inner))
                if isinstance(inner, list) and len(inner) > 1:
                    yield from _refs(inner[1])
            elif key == "Fn::If" and isinstance(inner, list):
                yield from _refs(inner[1:])
            else:
                yield from _refs(inner)
    elif isinstance(value, list):
        for item in value:
            yield from _refs(item)


def condition_text(value: Any, conditions: dict[str, Any]) -> str:
    """A condition in the parameters' terms: ``ArchiveImages = true``, ``UpstreamEventBusName set``."""
    if isinstance(value, dict) and "Condition" in value:
        return condition_text(conditions[value["Condition"]], conditions)
    if isinstance(value, dict) and "Ref" in value:
        return str(value["Ref"])
    if isinstance(value, dict) and "Fn::Equals" in value:
        left, right = (condition_text(v, conditions) for v in value["Fn::Equals"])
        return f"{left} empty" if right == "" else f"{left} = {right}"
    if isinstance(value, dict) and "Fn::Not" in value:
        inner = value["Fn::Not"][0]
        if isinstance(inner, dict) and "Fn::Equals" in inner and inner["Fn::Equals"][1] == "":
            return f"{condition_text(inner['Fn::Equals'][0], conditions)} set"
        return f"not ({condition_text(inner, conditions)})"
    for name, word in (("Fn::And", " and "), ("Fn::Or", " or ")):
        if isinstance(value, dict) and name in value:
            return word.join(f"({condition_text(v, conditions)})" for v in value[name])
    return str(value)


def _statements(value: Any) -> Iterator[dict[str, Any]]:
    """Every IAM statement in a Policies list (SAM's inline form, PolicyDocument, Fn::If branches)."""
    if isinstance(value, dict):
        if "Effect" in value and ("Action" in value or "NotAction" in value):
            yield value
            return
        for key, inner in value.items():
            yield from _statements(inner[1:] if key == "Fn::If" else inner)
    elif isinstance(value, list):
        for item in value:
            yield from _statements(item)


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement.get("Action", [])
    return [str(a) for a in (action if isinstance(action, list) else [action])]


class _Graph:
    def __init__(self) -> None:
        self.nodes: dict[str, str] = {}
        self.edges: dict[tuple[str, str, str], list[str]] = {}

    def node(self, ident: str, shape: str, *lines: str) -> None:
        self.nodes.setdefault(ident, shape.format("<br/>".join(_label(line) for line in lines if line)))

    def edge(self, source: str, target: str, label: str = "", arrow: str = "-->") -> None:
        labels = self.edges.setdefault((source, target, arrow), [])
        for part in filter(None, (p.strip() for p in label.split(","))):
            if part not in labels:
                labels.append(part)

    def lines(self) -> list[str]:
        out = ["flowchart TB"]
        out += [f"    {ident}{shape}" for ident, shape in self.nodes.items()]
        for (source, target, arrow), labels in self.edges.items():
            text = f'|"{_label(", ".join(labels))}"|' if labels else ""
            out.append(f"    {source} {arrow}{text} {target}")
        return out


class _Architecture(_Graph):
    """The architecture flowchart, built one rule at a time (the rules: this module's docstring)."""

    def __init__(self, template: dict[str, Any], asl: dict[str, Any] | None) -> None:
        super().__init__()
        self.resources: dict[str, dict[str, Any]] = template["Resources"]
        self.parameters: dict[str, Any] = template.get("Parameters", {})
        self.states: dict[str, Any] = (asl or {}).get("States") or {}
        self.drawn = {k: v for k, v in self.resources.items() if v.get("Type") in COMPONENTS}
        self.taken = set(self.drawn)
        conditions = template.get("Conditions", {})
        for logical_id, spec in self.drawn.items():
            shape, kind = COMPONENTS[spec["Type"]]
            only = condition_text({"Condition": spec["Condition"]}, conditions) if "Condition" in spec else ""
            self.node(logical_id, shape, logical_id, kind, f"only if {only}" if only else "")

    def external(self, parameter: str, what: str) -> str:
        ident = mermaid_id(f"param_{parameter}")
        self.taken.add(ident)
        self.node(ident, EXTERNAL_SHAPE, what, f"parameter {parameter}")
        return ident

    def queue(self, logical_id: str, props: dict[str, Any]) -> None:
        if "RedrivePolicy" in props:
            receives = props["RedrivePolicy"].get("maxReceiveCount")
            count = next(iter(_direct(receives)), receives)
            for dlq in (r for r in _refs(props["RedrivePolicy"]) if r in self.drawn):
                self.edge(logical_id, dlq, f"dead letters after {count} receives", "-.->")

    def rule(self, logical_id: str, props: dict[str, Any]) -> None:
        bus = props.get("EventBusName")
        buses = [r for r in _refs(bus) if r in self.drawn]
        if buses:
            self.edge(buses[0], logical_id, "matching events")
        elif isinstance(bus, dict) and "Ref" in bus:
            self.edge(self.external(bus["Ref"], "event bus"), logical_id, "matching events")
        for target in props.get("Targets", []):
            for ref in _refs(target.get("Arn")):
                self.edge(logical_id, ref, "target")
            for ref in _refs(target.get("DeadLetterConfig")):
                self.edge(logical_id, ref, "undeliverable events", "-.->")

    def events(self, logical_id: str, props: dict[str, Any]) -> set[str]:
        """Edges from the event sources; returns the drawn resources that are sources."""
        sources: set[str] = set()
        for name, event in (props.get("Events") or {}).items():
            event_props = event.get("Properties", {})
            if event["Type"] in {"Schedule", "ScheduleV2"}:
                ident = mermaid_id(f"schedule_{logical_id}_{name}", self.taken)
                expression = event_props.get("ScheduleExpression")
                text = " ".join(_SUB_NAME.sub(r"\1", e) for e in _direct_text(expression))
                self.node(ident, SCHEDULE_SHAPE, "schedule", text)
                self.edge(ident, logical_id)
                continue
            label = {"SQS": "batches"}.get(event["Type"], event["Type"])
            if event["Type"] in {"HttpApi", "Api"}:
                auth = event_props.get("Auth", {}).get("Authorizer")
                label = f"{event_props.get('Method', 'ANY').upper()} {event_props.get('Path', '/')}"
                label += f" ({auth})" if auth else ""
            for ref in (r for r in _refs(event_props) if r in self.drawn):
                sources.add(ref)
                self.edge(ref, logical_id, label)
        return sources

    def substitutions(self, logical_id: str, props: dict[str, Any]) -> set[str]:
        """Edges to the functions the state machine calls, labelled with the states calling them (other
        substitutions, a bucket or a queue, are drawn from the role's grants)."""
        invoked: set[str] = set()
        functions = {k for k, v in self.drawn.items() if v["Type"] == "AWS::Serverless::Function"}
        for key, value in (props.get("DefinitionSubstitutions") or {}).items():
            states = [n for n, state in self.states.items() if state.get("Resource") == f"${{{key}}}"]
            for ref in (r for r in _refs(value) if r in functions):
                invoked.add(ref)
                self.edge(logical_id, ref, ", ".join(states) or "invokes")
        return invoked

    def access(self, logical_id: str, props: dict[str, Any], sources: set[str], invoked: set[str]) -> None:
        """Edges to what the environment and the IAM statements refer to, labelled with the actions."""
        statements = list(_statements(props.get("Policies")))
        for role in _refs(props.get("Role")):
            statements += _statements(self.resources.get(role, {}).get("Properties", {}).get("Policies"))
        actions: dict[str, list[str]] = {}
        for statement in statements:
            for target in dict.fromkeys(_refs(statement.get("Resource"))):
                for action in _actions(statement):
                    implied = (target in sources and action in _EVENT_SOURCE_ACTIONS) or (
                        target in invoked and action == "lambda:InvokeFunction"
                    )
                    if not implied and action not in actions.setdefault(target, []):
                        actions[target].append(action)
        env = (props.get("Environment") or {}).get("Variables") or {}
        for target in dict.fromkeys([*_refs(env), *actions]):
            if target in self.drawn and target != logical_id:
                self.edge(logical_id, target, ", ".join(a.split(":")[-1] for a in actions.get(target, [])))
            elif str(self.parameters.get(target, {}).get("Default", "")).startswith(("https://", "http://")):
                url = urlsplit(str(self.parameters[target]["Default"]))
                self.edge(logical_id, self.external(target, url.hostname or target), url.scheme.upper())

    def build(self) -> list[str]:
        for logical_id, spec in self.drawn.items():
            props = spec.get("Properties", {})
            if spec["Type"] == "AWS::SQS::Queue":
                self.queue(logical_id, props)
            elif spec["Type"] == "AWS::Events::Rule":
                self.rule(logical_id, props)
            elif spec["Type"] in {"AWS::Serverless::Function", "AWS::Serverless::StateMachine"}:
                sources = self.events(logical_id, props)
                self.access(logical_id, props, sources, self.substitutions(logical_id, props))
        # the externals and schedules first: the sources at the top
        first = {k: v for k, v in self.nodes.items() if k not in self.drawn}
        self.nodes = {**first, **{k: v for k, v in self.nodes.items() if k in self.drawn}}
        return self.lines()


def architecture_diagram(template: dict[str, Any], asl: dict[str, Any] | None = None) -> list[str]:
    """The stack as a Mermaid flowchart; the derivation rule is in this module's docstring."""
    return _Architecture(template, asl).build()


def _direct_text(value: Any) -> list[str]:
    """The text of a plain or ``Fn::Sub`` string, as written (``${Name}`` kept for the caller)."""
    if isinstance(value, dict) and "Fn::Sub" in value:
        inner = value["Fn::Sub"]
        return [str(inner[0] if isinstance(inner, list) else inner)]
    return [] if value is None else [str(value)]


def diagram_block(name: str, lines: list[str]) -> str:
    begin, end = diagram_markers(name)
    source = {
        "workflow": "statemachine/cover_workflow.asl.json",
        "architecture": "template.yaml (and the ASL)",
    }[name]
    return "\n".join(
        [
            begin,
            f"<!-- Generated by docs/generate.py from {source}: edit that, then run `make docs`. -->",
            "",
            "```mermaid",
            *lines,
            "```",
            end,
        ]
    )


def diagrams(template: dict[str, Any], asl: dict[str, Any]) -> dict[str, list[str]]:
    return {
        "architecture": architecture_diagram(template, asl),
        "workflow": workflow_diagram(asl, template),
    }


def render_design(page: str, template: dict[str, Any], asl: dict[str, Any]) -> str:
    """``page`` with each diagram block replaced (ValueError when a block's markers are missing)."""
    for name, lines in diagrams(template, asl).items():
        begin, end = diagram_markers(name)
        start, stop = page.find(begin), page.find(end)
        if start < 0 or stop < start:
            raise ValueError(f"{DESIGN.name} lacks the markers {begin} ... {end}")
        page = page[:start] + diagram_block(name, lines) + page[stop + len(end) :]
    return page


def pages(template: dict[str, Any], asl: dict[str, Any]) -> dict[Path, tuple[str, str]]:
    """Each generated page: (its text now, what the generator makes of it)."""
    configuration = PAGE.read_text(encoding="utf-8")
    design = DESIGN.read_text(encoding="utf-8")
    return {
        PAGE: (configuration, render(configuration, template)),
        DESIGN: (design, render_design(design, template, asl)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a page is stale")
    args = parser.parse_args(argv)
    stale = 0
    for path, (current, wanted) in pages(load(), load_asl()).items():
        if wanted == current:
            continue
        if args.check:
            print(f"{path.relative_to(ROOT)} is stale: run `make docs`", file=sys.stderr)
            stale = 1
        else:
            path.write_text(wanted, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}", file=sys.stderr)
    return stale


if __name__ == "__main__":
    sys.exit(main())
