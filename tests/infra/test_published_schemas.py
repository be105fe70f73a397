"""The published (Draft 4) event schemas: current, valid, in the template, and equivalent to the source.

events/schemas/*.schema.json (draft 2020-12) are the one source of truth; events/schemas/publish.py derives
events/schemas/published/*.json and the inline Content of the template's AWS::EventSchemas::Schema
resources from them."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from cfnlint.decode.cfn_yaml import loads as load_cfn_yaml

from tests.support.paths import ROOT, load_script
from tests.support.published_schemas import (
    PUBLISHED,
    PUBLISHED_DIR,
    assert_valid_published,
    published_validator,
)

SOURCE_DIR = ROOT / "events" / "schemas"


publish = load_script(SOURCE_DIR / "publish.py", "covers_publish_schemas")
SOURCES = {
    json.loads(p.read_text())["properties"]["detail-type"]["const"]: json.loads(p.read_text())
    for p in sorted(SOURCE_DIR.glob("*.schema.json"))
}


def source_verdict(event: Any) -> bool:
    schema = SOURCES.get(event.get("detail-type")) if isinstance(event, dict) else None
    if schema is None:
        return False
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    return validator.is_valid(event)


def published_verdict(event: Any) -> bool:
    if not isinstance(event, dict) or event.get("detail-type") not in PUBLISHED:
        return False
    return published_validator(event["detail-type"]).is_valid(event)


# --- sample events, as EventBridge delivers them -------------------------------------------------


def envelope(detail_type: str, detail: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "6f2c1a4e-0c8b-4d38-9d43-1f7e0a7c2b11",
        "detail-type": detail_type,
        "source": "covers.pipeline",
        "account": "123456789012",
        "time": "2026-11-28T10:01:02Z",
        "region": "eu-west-1",
        "resources": [],
        "detail": detail,
    }


def detail(status: str, **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "musicTaskId": "gen123213213213123bksv",
        "coverTaskId": "cover123123213213b880d2",
        "status": status,
        "images": [],
        "correlationId": "order-42",
        "metadata": {"title": "Night Drive", "tags": ["synthwave"]},
        "pollCount": 3,
        "createdAt": "2026-11-28T10:00:00.000Z",
        "completedAt": "2026-11-28T10:01:02.000Z",
    }
    return {**base, **overrides}


ARCHIVED = [
    {
        "url": f"https://tempcover.storage.com/s/{n}.png",
        "expiresAt": "2026-12-12T10:00:00.000Z",
        "s3Uri": f"s3://covers-archive/covers/gen123213213213123bksv/{i}-{n}.png",
        "sha256": f"{i}" * 64,
        "size": 51234 + i,
        "contentType": "image/png",
    }
    for i, n in enumerate((123, 456))
]

VALID = {
    "succeeded with archived images": envelope("Cover Generated", detail("SUCCEEDED", images=ARCHIVED)),
    "succeeded, not archived, no correlation id": envelope(
        "Cover Generated",
        detail(
            "SUCCEEDED",
            correlationId=None,
            metadata={},
            images=[{"url": "https://tempcover.storage.com/s/1.jpg", "expiresAt": "2026-12-12T10:00:00Z"}],
        ),
    ),
    "succeeded, archive failed for one image": envelope(
        "Cover Generated",
        detail(
            "SUCCEEDED",
            images=[
                ARCHIVED[0],
                {
                    "url": "https://tempcover.storage.com/s/456.png",
                    "expiresAt": "2026-12-12T10:00:00.000Z",
                    "archiveError": "image larger than ARCHIVE_MAX_BYTES",
                },
            ],
        ),
    ),
    "failed at the vendor": envelope(
        "Cover Generation Failed",
        detail("FAILED", pollCount=4, error={"code": "VENDOR_FAILED", "message": "Cover generation failed"}),
    ),
    "failed without images": envelope(
        "Cover Generation Failed",
        detail("FAILED", error={"code": "NO_IMAGES", "message": "vendor reported SUCCESS without images"}),
    ),
    "timed out": envelope(
        "Cover Generation Failed",
        detail(
            "TIMED_OUT", pollCount=90, error={"code": "DEADLINE_EXCEEDED", "message": "still IN_PROGRESS"}
        ),
    ),
    "rejected, cover exists": envelope(
        "Cover Generation Failed",
        detail(
            "REJECTED",
            coverTaskId=None,
            pollCount=0,
            error={"code": "COVER_ALREADY_EXISTS", "message": "a cover already exists for this music task"},
        ),
    ),
    "needs attention, cover task id lost": envelope(
        "Cover Generation Failed",
        detail(
            "NEEDS_ATTENTION",
            coverTaskId=None,
            pollCount=0,
            error={"code": "COVER_TASK_ID_LOST", "message": "an earlier generate call got no usable answer"},
        ),
    ),
    "minimal envelope (source, detail-type, detail only)": {
        "source": "covers.pipeline",
        "detail-type": "Cover Generation Failed",
        "detail": detail(
            "NEEDS_ATTENTION", error={"code": "CREDITS_EXHAUSTED", "message": "status checks refused (402)"}
        ),
    },
}
# Examples the source schemas carry (none today; any added there are checked too).
for _dt, _schema in SOURCES.items():
    for _n, _example in enumerate(_schema.get("examples", [])):
        VALID[f"{_dt} schema example {_n}"] = _example


def without(event: dict[str, Any], field: str) -> dict[str, Any]:
    out = copy.deepcopy(event)
    del out["detail"][field]
    return out


def with_detail(event: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(event)
    out["detail"].update(changes)
    return out


OK = VALID["succeeded with archived images"]
KO = VALID["failed at the vendor"]
INVALID = {
    "generated without musicTaskId": without(OK, "musicTaskId"),
    "failed without musicTaskId": without(KO, "musicTaskId"),
    "empty musicTaskId": with_detail(OK, musicTaskId=""),
    "generated with status FAILED": with_detail(OK, status="FAILED"),
    "failed with status SUCCEEDED": with_detail(KO, status="SUCCEEDED"),
    "failed with a non-terminal status": with_detail(KO, status="IN_PROGRESS"),
    "unknown detail-type": {**OK, "detail-type": "Cover Created"},
    "generated without images": with_detail(OK, images=[]),
    "failed without error": without(KO, "error"),
    "error code not upper snake case": with_detail(KO, error={"code": "oops", "message": "x"}),
    "unexpected detail field": with_detail(OK, imageUrls=["https://x"]),
    "image without expiresAt": with_detail(OK, images=[{"url": "https://x/1.png"}]),
    "expiresAt not a date-time": with_detail(
        OK, images=[{"url": "https://x/1.png", "expiresAt": "in 14 days"}]
    ),
    "s3Uri not s3": with_detail(OK, images=[{**ARCHIVED[0], "s3Uri": "https://bucket/key"}]),
    "bad sha256": with_detail(OK, images=[{**ARCHIVED[0], "sha256": "ABC"}]),
    "negative pollCount": with_detail(OK, pollCount=-1),
    "pollCount not an integer": with_detail(OK, pollCount=2.5),
    "metadata not an object": with_detail(OK, metadata="title=x"),
    "no detail": {"source": "covers.pipeline", "detail-type": "Cover Generated"},
}


# --- the published files -------------------------------------------------------------------------


def test_committed_published_files_are_what_the_generator_makes_from_the_sources() -> None:
    expected = publish.published()
    assert set(expected) == {p.name for p in PUBLISHED_DIR.glob("*.json")}, "run events/schemas/publish.py"
    for name, text in expected.items():
        assert (PUBLISHED_DIR / name).read_text() == text, f"{name} is stale: run events/schemas/publish.py"
    assert publish.main(["--check"]) == 0


def test_every_source_schema_is_published_once_per_detail_type() -> None:
    assert set(PUBLISHED) == set(SOURCES) == {"Cover Generated", "Cover Generation Failed"}


@pytest.mark.parametrize("name", sorted(p.name for p in PUBLISHED_DIR.glob("*.json")))
def test_each_published_schema_is_valid_draft_4_and_uses_no_later_keyword(name: str) -> None:
    schema = json.loads((PUBLISHED_DIR / name).read_text())
    jsonschema.Draft4Validator.check_schema(schema)
    assert schema["$schema"] == "http://json-schema.org/draft-04/schema#"
    assert jsonschema.validators.validator_for(schema) is jsonschema.Draft4Validator
    text = json.dumps(schema)
    for later in (
        '"const"',
        '"$defs"',
        '"$id"',
        '"examples"',
        '"prefixItems"',
        '"if"',
        '"dependentRequired"',
    ):
        assert later not in text, later
    minimums = [n for n in _walk(schema) if isinstance(n, dict) and "exclusiveMinimum" in n]
    assert all(isinstance(n["exclusiveMinimum"], bool) for n in minimums)


def _walk(node: Any) -> list[Any]:
    found = [node]
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else []
    for child in children:
        found.extend(_walk(child))
    return found


# --- the template --------------------------------------------------------------------------------


def test_the_template_registers_each_published_schema_with_its_exact_text() -> None:
    template = load_cfn_yaml((ROOT / "template.yaml").read_text())
    resources = template["Resources"]
    (registry_id,) = [k for k, v in resources.items() if v["Type"] == "AWS::EventSchemas::Registry"]
    assert "${AWS::StackName}" in resources[registry_id]["Properties"]["RegistryName"]["Fn::Sub"]
    schemas = {k: v["Properties"] for k, v in resources.items() if v["Type"] == "AWS::EventSchemas::Schema"}
    assert len(schemas) == len(PUBLISHED)
    contents = set()
    for props in schemas.values():
        assert props["Type"] == "JSONSchemaDraft4"
        assert props["RegistryName"] == {"Fn::GetAtt": [registry_id, "RegistryName"]}
        content = str(props["Content"])
        matching = [p for p in PUBLISHED_DIR.glob("*.json") if p.read_text() == content]
        assert matching, "the template's Content differs from every published file: run publish.py"
        contents.add(matching[0].name)
        name = json.loads(content)["title"].replace(" ", "")
        assert props["SchemaName"] == {"Fn::Sub": f"${{EventSource}}@{name}"}
    assert contents == {p.name for p in PUBLISHED_DIR.glob("*.json")}
    assert template["Outputs"]["SchemaRegistryName"]["Value"] == {"Fn::GetAtt": [registry_id, "RegistryName"]}


def test_the_template_sync_replaces_only_the_marked_blocks() -> None:
    text = (ROOT / "template.yaml").read_text()
    stale = text.replace('"title": "Cover Generated"', '"title": "Old"', 1)
    assert stale != text
    assert publish.sync_template(stale, publish.published()) == text


# --- same verdicts from the source and the published schema --------------------------------------


@pytest.mark.parametrize("name", sorted(VALID))
def test_sample_events_are_valid_against_both_forms(name: str) -> None:
    event = VALID[name]
    assert source_verdict(event), name
    assert published_verdict(event), name
    assert_valid_published(event)


@pytest.mark.parametrize("name", sorted(INVALID))
def test_bad_events_are_rejected_by_both_forms(name: str) -> None:
    event = INVALID[name]
    assert not source_verdict(event), name
    assert not published_verdict(event), name
    if event.get("detail-type") in PUBLISHED:
        with pytest.raises(jsonschema.ValidationError):
            assert_valid_published(event)


def mutations(event: dict[str, Any]) -> list[dict[str, Any]]:
    """Every detail field removed, nulled, emptied or given a wrong type; every image field likewise."""
    out = []
    replacements: list[Any] = [None, "", 0, -1, 1.5, "x", [], {}, True]
    for field in event["detail"]:
        out.append(without(event, field))
        out.extend(with_detail(event, **{field: value}) for value in replacements)
    for i, image in enumerate(event["detail"]["images"]):
        for field in image:
            for value in [*replacements, "__drop__"]:
                changed = copy.deepcopy(event)
                if value == "__drop__":
                    del changed["detail"]["images"][i][field]
                else:
                    changed["detail"]["images"][i][field] = value
                out.append(changed)
    for key in ("source", "detail-type", "detail"):
        dropped = copy.deepcopy(event)
        del dropped[key]
        out.append(dropped)
    return out


@pytest.mark.parametrize("name", sorted(VALID))
def test_source_and_published_agree_on_every_mutation_of_the_samples(name: str) -> None:
    variants = mutations(VALID[name])
    disagreements = [v for v in variants if source_verdict(v) != published_verdict(v)]
    assert not disagreements
    assert any(not source_verdict(v) for v in variants)  # the mutations do reach rejections


# --- the converter: what it converts keeps its meaning; anything else stops it ---------------------

CONVERTED_2020_12 = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://example.test/small.schema.json",
    "type": "object",
    "required": ["kind"],
    "additionalProperties": False,
    "properties": {
        "kind": {"const": "k"},
        "tags": {"type": "array", "items": {"type": "object", "properties": {"v": {"const": 1}}}},
        "when": {"type": "string", "format": "date-time"},
        "extra": {"type": "object", "additionalProperties": {"const": True}},
        "const": {"type": "boolean"},
    },
}
CONVERTED_INSTANCES = [
    {"kind": "k"},
    {"kind": "x"},
    {},
    {"kind": "k", "other": 1},
    {"kind": "k", "tags": [{"v": 1}, {}]},
    {"kind": "k", "tags": [{"v": 2}]},
    {"kind": "k", "extra": {"a": True}},
    {"kind": "k", "extra": {"a": False}},
    {"kind": "k", "const": True},
    {"kind": "k", "const": "yes"},
]


def test_the_converter_keeps_the_meaning_of_what_it_converts() -> None:
    converted = publish.to_draft4(CONVERTED_2020_12)
    jsonschema.Draft4Validator.check_schema(converted)
    assert list(converted)[:2] == ["$schema", "id"]
    assert converted["id"] == "https://example.test/small.draft-04.json"
    assert converted["properties"]["kind"] == {"enum": ["k"]}
    assert converted["properties"]["tags"]["items"]["properties"]["v"] == {"enum": [1]}
    assert converted["properties"]["extra"]["additionalProperties"] == {"enum": [True]}
    assert converted["properties"]["const"] == {"type": "boolean"}  # a property named like a keyword
    source = jsonschema.Draft202012Validator(CONVERTED_2020_12)
    published = jsonschema.Draft4Validator(converted)
    verdicts = [(source.is_valid(i), published.is_valid(i)) for i in CONVERTED_INSTANCES]
    assert all(a == b for a, b in verdicts), list(zip(CONVERTED_INSTANCES, verdicts, strict=True))
    assert {a for a, _ in verdicts} == {True, False}


NOT_CONVERTED = {
    "unevaluatedProperties": {"type": "string"},
    "contains": {"type": "string"},
    "propertyNames": {"type": "string"},
    "$dynamicRef": "#x",
    "$defs": {"x": {"type": "string"}},
    "if": {"required": ["a"]},
    "prefixItems": [{"type": "string"}],
    "dependentRequired": {"a": ["b"]},
    "exclusiveMinimum": 0,
    "examples": ["x"],
    "$comment": "a note",
    "allOf": [{"const": 1}],
    "$ref": "#/definitions/x",
}


@pytest.mark.parametrize("keyword", sorted(NOT_CONVERTED))
def test_the_converter_stops_at_any_keyword_it_does_not_convert_naming_it(keyword: str) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "array", keyword: NOT_CONVERTED[keyword]}}}
    with pytest.raises(publish.SchemaConversionError, match=re.escape(keyword)):
        publish.to_draft4(schema)


def test_publishing_a_schema_with_a_later_keyword_fails_with_one_line_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source = json.loads((SOURCE_DIR / "cover-generated.schema.json").read_text())
    source["properties"]["detail"]["properties"]["images"]["prefixItems"] = [{"type": "object"}]
    (tmp_path / "cover-generated.schema.json").write_text(json.dumps(source))
    monkeypatch.setattr(publish, "SCHEMAS_DIR", tmp_path)
    assert publish.main(["--check"]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert "prefixItems" in line and "/images/prefixItems" in line, line


def test_a_format_draft_4_does_not_define_stops_the_converter() -> None:
    with pytest.raises(publish.SchemaConversionError, match="uuid"):
        publish.to_draft4({"properties": {"id": {"type": "string", "format": "uuid"}}})
