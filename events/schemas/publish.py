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

Conversion to Draft 4 does only what the two source schemas need: ``$schema`` -> draft-04, ``$id`` ->
``id``, ``const`` -> a one-value ``enum``, Draft 4 formats kept; subschemas are walked under ``properties``,
``items`` and ``additionalProperties``; the Draft 4 keywords that hold no subschema (:data:`COPIED`) are
copied. Any other keyword (a later one such as ``$defs``, ``if``, ``prefixItems``, numeric
``exclusiveMinimum`` or ``examples``, or one whose subschemas this would not walk, such as ``allOf`` or
``$ref``) stops the script with one line naming it: extend the conversion, and its test, before a schema
uses it.
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
#: Draft 4 keywords, the same in draft 2020-12, that hold no subschema: copied as they are.
COPIED = frozenset(
    {
        "title",
        "description",
        "default",
        "type",
        "enum",
        "required",
        "minLength",
        "maxLength",
        "pattern",
        "minimum",
        "maximum",
        "multipleOf",
        "minItems",
        "maxItems",
        "uniqueItems",
        "minProperties",
        "maxProperties",
    }
)


class SchemaConversionError(ValueError):
    """The source schema uses something this script does not convert to Draft 4."""


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


def _convert(schema: Any, path: str) -> dict[str, Any]:
    if not isinstance(schema, dict):
        raise SchemaConversionError(f"{path}: a schema must be an object here, got {schema!r}")
    out: dict[str, Any] = {}
    for key, value in schema.items():
        where = f"{path}/{key}"
        if key == "$schema":
            continue
        if key == "$id":
            # a different document, so a different id: .../x.schema.json -> .../x.draft-04.json
            out["id"] = re.sub(r"\.schema\.json$", ".draft-04.json", value) if path == "#" else value
        elif key == "const":
            out["enum"] = [value]
        elif key == "format":
            if value not in DRAFT4_FORMATS:
                raise SchemaConversionError(f"{where}: {value!r} is not a Draft 4 format")
            out["format"] = value
        elif key == "properties":
            out[key] = {name: _convert(sub, f"{where}/{name}") for name, sub in value.items()}
        elif key == "items" or (key == "additionalProperties" and not isinstance(value, bool)):
            out[key] = _convert(value, where)
        elif key in COPIED or key == "additionalProperties":
            out[key] = value
        else:  # a later keyword, or one whose subschemas this would not walk: never publish it unconverted
            raise SchemaConversionError(f"{where}: publish.py does not convert {key} to Draft 4")
    return out


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
