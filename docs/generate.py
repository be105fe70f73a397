"""Generate the parameter reference in docs/configuration.md from template.yaml (the one place defaults live).

Between the markers ``<!-- generated:parameters -->`` and ``<!-- /generated:parameters -->`` it writes one
row per template parameter (its default, its allowed values or bounds, its description, the environment
variables it sets and the functions that get them, and the other resources that use it), and one row per
function variable that no parameter sets. Nothing outside the markers is touched.

Usage (from the project root)::

    python docs/generate.py           # rewrite docs/configuration.md (also: make docs)
    python docs/generate.py --check   # exit 1 if docs/configuration.md is stale

``tests/infra/test_docs.py`` runs the check, so a parameter added or changed without regenerating fails the
suite. Needs PyYAML only (no project package).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
PAGE = ROOT / "docs" / "configuration.md"
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the page is stale")
    args = parser.parse_args(argv)
    current = PAGE.read_text(encoding="utf-8")
    wanted = render(current, load())
    if args.check:
        if wanted != current:
            print(f"{PAGE.relative_to(ROOT)} is stale: run `make docs`", file=sys.stderr)
            return 1
        return 0
    if wanted != current:
        PAGE.write_text(wanted, encoding="utf-8")
        print(f"wrote {PAGE.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
