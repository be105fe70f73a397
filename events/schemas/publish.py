"""Publish the event schemas in the form the EventBridge Schema Registry accepts (JSON Schema Draft 4).

The source of truth is ``events/schemas/*.schema.json`` (JSON Schema draft 2020-12, what the tests validate
emitted events against). This script derives, from each of them:

* ``events/schemas/published/<name>.json``: the same schema in Draft 4 (committed, for humans and tools);
* the inline ``Content`` of the matching ``AWS::EventSchemas::Schema`` in ``template.yaml`` (CloudFormation
  needs the schema text inline). The block to fill is the ``Content: |`` that follows a marker comment
  ``# published-schema: <name>.json`` in the template; nothing else in the template is touched.

Usage (from the project root)::

    python events/schemas/publish.py           # regenerate both
    python events/schemas/publish.py --check   # exit 1, naming what is stale, if either is out of date

``tests/infra/test_published_schemas.py`` runs the check, so a schema edited without publishing fails
the suite.

Conversion to Draft 4: ``$schema`` -> draft-04, ``$id`` -> ``id``, ``const`` -> one-value ``enum``, numeric
``exclusiveMinimum``/``exclusiveMaximum`` -> ``minimum``/``maximum`` with the boolean flag, ``$defs`` ->
``definitions`` (and ``$ref`` rewritten), ``dependentRequired``/``dependentSchemas`` -> ``dependencies``,
``prefixItems`` -> ``items`` as an array, ``if``/``then``/``else`` -> ``allOf`` of two ``anyOf``; formats
Draft 4 does not define, ``examples``, ``$comment``, ``deprecated``, ``readOnly``, ``writeOnly`` and
``content*`` are dropped (annotations only: dropping them never changes what validates). Keywords Draft 4
cannot express (``unevaluated*``, ``contains``, ``propertyNames``, ``$anchor``, ``$dynamicRef`` ...) stop the
script with an error instead of publishing a weaker schema.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

SCHEMAS_DIR = Path(__file__).resolve().parent
PUBLISHED_DIR = SCHEMAS_DIR / "published"
ROOT = SCHEMAS_DIR.parent.parent
TEMPLATE = ROOT / "template.yaml"

DRAFT4 = "http://json-schema.org/draft-04/schema#"
DRAFT4_FORMATS = frozenset({"date-time", "email", "hostname", "ipv4", "ipv6", "uri"})
DROPPED = frozenset(
    {"examples", "$comment", "deprecated", "readOnly", "writeOnly", "contentEncoding", "contentMediaType"}
)
INEXPRESSIBLE = frozenset(
    {
        "unevaluatedProperties",
        "unevaluatedItems",
        "contains",
        "minContains",
        "maxContains",
        "propertyNames",
        "contentSchema",
        "$anchor",
        "$dynamicAnchor",
        "$dynamicRef",
        "$recursiveRef",
        "$recursiveAnchor",
        "$vocabulary",
    }
)
SCHEMA_MAPS = ("properties", "patternProperties", "definitions")
SINGLE_SCHEMAS = ("additionalProperties", "not", "additionalItems")
SCHEMA_LISTS = ("allOf", "anyOf", "oneOf")


class SchemaConversionError(ValueError):
    """The source schema uses something Draft 4 cannot say."""


def published_name(source: Path) -> str:
    """``cover-generated.schema.json`` -> ``cover-generated.json``."""
    return source.name.removesuffix(".schema.json") + ".json"


def sources() -> list[Path]:
    return sorted(SCHEMAS_DIR.glob("*.schema.json"))


def to_draft4(schema: dict[str, Any]) -> dict[str, Any]:
    """The Draft 4 equivalent of a draft 2020-12 schema document."""
    out = _convert(schema, path="#")
    out["$schema"] = DRAFT4
    # Draft 4 readers expect "$schema" (and "id") first.
    return {key: out[key] for key in sorted(out, key=lambda k: {"$schema": 0, "id": 1}.get(k, 2))}


def _convert(schema: Any, path: str) -> Any:
    if isinstance(schema, bool):
        # Boolean schemas are draft 6+: true == {}, false == {"not": {}}.
        return {} if schema else {"not": {}}
    if not isinstance(schema, dict):
        raise SchemaConversionError(f"{path}: a schema must be an object or a boolean, got {schema!r}")
    out: dict[str, Any] = {}
    for key, value in schema.items():
        where = f"{path}/{key}"
        if key in INEXPRESSIBLE:
            raise SchemaConversionError(f"{where}: {key} cannot be expressed in JSON Schema Draft 4")
        if key in DROPPED or key == "$schema":
            continue
        if key == "$id":
            # a different document, so a different id: .../x.schema.json -> .../x.draft-04.json
            out["id"] = re.sub(r"\.schema\.json$", ".draft-04.json", value) if path == "#" else value
        elif key == "const":
            out["enum"] = [value]
        elif key == "format":
            if value in DRAFT4_FORMATS:
                out["format"] = value
        elif key in ("exclusiveMinimum", "exclusiveMaximum"):
            _exclusive_bound(out, schema, key, value, where)
        elif key in ("minimum", "maximum"):
            out.setdefault(key, value)
        elif key == "$ref":
            out["$ref"] = _ref(value, where)
        elif key in ("$defs", *SCHEMA_MAPS):
            target = "definitions" if key == "$defs" else key
            if target in out:
                raise SchemaConversionError(f"{where}: both $defs and definitions")
            out[target] = {name: _convert(sub, f"{where}/{name}") for name, sub in value.items()}
        elif key in SINGLE_SCHEMAS:
            out[key] = value if isinstance(value, bool) and key != "not" else _convert(value, where)
        elif key in SCHEMA_LISTS:
            # extend: "if" may already have put its terms in allOf
            out.setdefault(key, []).extend(_convert(sub, f"{where}/{i}") for i, sub in enumerate(value))
        elif key == "items":
            if "prefixItems" in schema:
                out["additionalItems"] = value if isinstance(value, bool) else _convert(value, where)
            else:
                out["items"] = _convert(value, where)
        elif key == "prefixItems":
            out["items"] = [_convert(sub, f"{where}/{i}") for i, sub in enumerate(value)]
        elif key in ("dependentRequired", "dependentSchemas"):
            deps = out.setdefault("dependencies", {})
            for name, dep in value.items():
                if name in deps:
                    raise SchemaConversionError(f"{where}/{name}: in dependentRequired and dependentSchemas")
                deps[name] = list(dep) if key == "dependentRequired" else _convert(dep, f"{where}/{name}")
        elif key == "if":
            out.setdefault("allOf", []).extend(_if_then_else(schema, path))
        elif key in ("then", "else"):
            continue  # handled with "if"; without an "if" they mean nothing
        else:
            out[key] = value
    return out


def _exclusive_bound(out: dict[str, Any], schema: dict[str, Any], key: str, value: Any, where: str) -> None:
    if isinstance(value, bool):
        raise SchemaConversionError(f"{where}: boolean {key} is Draft 4 syntax, not 2020-12")
    bound = "minimum" if key == "exclusiveMinimum" else "maximum"
    inclusive = schema.get(bound)
    stricter = (lambda a, b: a >= b) if bound == "minimum" else (lambda a, b: a <= b)
    if inclusive is None or stricter(value, inclusive):
        out[bound] = value
        out[key] = True
    else:
        out[bound] = inclusive


def _if_then_else(schema: dict[str, Any], path: str) -> list[dict[str, Any]]:
    """(if AND then) OR (NOT if AND else) == allOf[anyOf[not if, then], anyOf[if, else]]."""
    condition = _convert(schema["if"], f"{path}/if")
    terms = []
    if "then" in schema:
        terms.append({"anyOf": [{"not": condition}, _convert(schema["then"], f"{path}/then")]})
    if "else" in schema:
        terms.append({"anyOf": [condition, _convert(schema["else"], f"{path}/else")]})
    return terms


def _ref(ref: str, where: str) -> str:
    if ref.startswith("#/$defs/"):
        return "#/definitions/" + ref.removeprefix("#/$defs/")
    if ref.startswith("#") and "$defs" in ref:
        raise SchemaConversionError(f"{where}: cannot rewrite $ref {ref!r}")
    return ref


def render(schema: dict[str, Any]) -> str:
    """The published text: stable key order as in the source, 2-space indent, one trailing newline."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def published() -> dict[str, str]:
    """Published file name -> its expected text."""
    return {
        published_name(src): render(to_draft4(json.loads(src.read_text(encoding="utf-8"))))
        for src in sources()
    }


_MARKER = re.compile(r"^(?P<indent>[ ]*)# published-schema: (?P<name>\S+)\s*$")
_CONTENT = re.compile(r"^(?P<indent>[ ]*)Content: \|\s*$")


def sync_template(text: str, contents: dict[str, str]) -> str:
    """``text`` with each marked ``Content: |`` block replaced by the published schema it names."""
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    seen: set[str] = set()
    i = 0
    while i < len(lines):
        line = lines[i]
        out.append(line)
        i += 1
        marker = _MARKER.match(line)
        if not marker:
            continue
        name = marker["name"]
        if name not in contents:
            raise SchemaConversionError(f"template.yaml names {name!r}, which is not a published schema")
        content = _CONTENT.match(lines[i]) if i < len(lines) else None
        if not content:
            raise SchemaConversionError(
                f"template.yaml: '# published-schema: {name}' goes right above 'Content: |'"
            )
        out.append(lines[i])
        i += 1
        key_indent = len(content["indent"])
        while i < len(lines) and (
            not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip(" ")) > key_indent
        ):
            if not lines[i].strip() and not _continues(lines, i, key_indent):
                break
            i += 1
        body_indent = " " * (key_indent + 2)
        rows = contents[name].splitlines(keepends=True)
        out.extend(body_indent + row if row.strip() else row for row in rows)
        seen.add(name)
    missing = sorted(set(contents) - seen)
    if missing:
        raise SchemaConversionError(f"template.yaml has no '# published-schema:' block for {missing}")
    return "".join(out)


def _continues(lines: list[str], i: int, key_indent: int) -> bool:
    """A blank line belongs to the block when the next non-blank line is still indented deeper."""
    for later in lines[i + 1 :]:
        if later.strip():
            return len(later) - len(later.lstrip(" ")) > key_indent
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only report stale files; exit 1 if any")
    args = parser.parse_args(argv)
    try:
        contents = published()
        template_text = TEMPLATE.read_text(encoding="utf-8")
        new_template = sync_template(template_text, contents)
    except SchemaConversionError as exc:
        print(f"publish.py: {exc}", file=sys.stderr)
        return 1
    stale = [
        name
        for name, text in contents.items()
        if not (PUBLISHED_DIR / name).is_file() or (PUBLISHED_DIR / name).read_text(encoding="utf-8") != text
    ]
    extra = sorted(p.name for p in PUBLISHED_DIR.glob("*.json") if p.name not in contents)
    template_stale = new_template != template_text
    if args.check:
        problems = [f"events/schemas/published/{n} is stale" for n in stale]
        problems += [f"events/schemas/published/{n} has no source schema" for n in extra]
        problems += ["template.yaml's inline schema Content is stale"] if template_stale else []
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print("run: python events/schemas/publish.py", file=sys.stderr)
        return 1 if problems else 0
    PUBLISHED_DIR.mkdir(exist_ok=True)
    for name in stale:
        (PUBLISHED_DIR / name).write_text(contents[name], encoding="utf-8")
        print(f"wrote events/schemas/published/{name}")
    for name in extra:
        (PUBLISHED_DIR / name).unlink()
        print(f"removed events/schemas/published/{name}")
    if template_stale:
        TEMPLATE.write_text(new_template, encoding="utf-8")
        print("updated the inline schema Content in template.yaml")
    return 0


if __name__ == "__main__":
    sys.exit(main())
