"""``template.yaml`` as written: found, parsed (short-form intrinsics expanded) and read, without AWS.

Imports no boto3 and no moto, so what only reads the template (the load simulation, unit tests) does not load
them; :mod:`covers_local.stack` (the SAM transform and moto deployment) builds on it and re-exports these.
"""

from __future__ import annotations

import copy
import functools
import os
from pathlib import Path
from typing import Any

import yaml

#: The delivery variables finalize and the status API read (docs/contracts.md, "Archived images"), for a
#: template that does not set them yet: what local runs and tests start from; the stack's own values win.
DELIVERY_DEFAULTS = {"DELIVERY_BASE_URL": "", "THUMBNAIL_SIZE": "256"}

_TAGS = {
    "!Ref": "Ref",
    "!GetAtt": "Fn::GetAtt",
    "!Sub": "Fn::Sub",
    "!If": "Fn::If",
    "!Equals": "Fn::Equals",
    "!Not": "Fn::Not",
    "!And": "Fn::And",
    "!Or": "Fn::Or",
    "!Join": "Fn::Join",
    "!Select": "Fn::Select",
    "!Split": "Fn::Split",
    "!FindInMap": "Fn::FindInMap",
    "!GetAZs": "Fn::GetAZs",
    "!Condition": "Condition",
    "!ImportValue": "Fn::ImportValue",
    "!Base64": "Fn::Base64",
}


class _CfnLoader(yaml.SafeLoader):
    pass


def _construct(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = _TAGS.get(tag_suffix, tag_suffix)
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if name == "Fn::GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


for _tag in _TAGS:
    _CfnLoader.add_constructor(_tag, lambda loader, node, _t=_tag: _construct(loader, _t, node))


def project_root() -> Path:
    """The folder holding ``template.yaml`` (``COVERS_PROJECT_ROOT`` overrides)."""
    override = os.environ.get("COVERS_PROJECT_ROOT")
    if override:
        return Path(override)
    here = Path(__file__).resolve().parent
    for candidate in (here.parent, Path.cwd()):
        if (candidate / "template.yaml").is_file():
            return candidate
    raise FileNotFoundError(
        "cannot find template.yaml; run from the project folder or set COVERS_PROJECT_ROOT"
    )


def load_template(path: Path | None = None) -> dict[str, Any]:
    """``template.yaml`` as written (SAM, short-form intrinsics expanded); a copy the caller may change."""
    path = (path or project_root() / "template.yaml").resolve()
    return copy.deepcopy(_parse_yaml(path, path.stat().st_mtime_ns))


def parameter_defaults(path: Path | None = None) -> dict[str, Any]:
    """Each template parameter's default (the one place defaults live), by parameter name."""
    return {name: spec.get("Default") for name, spec in load_template(path)["Parameters"].items()}


def constant(template: dict[str, Any], value: Any) -> Any:
    """A template value that is a constant of its ``Mappings`` (``Fn::FindInMap``) resolved; any other
    value as it is."""
    if isinstance(value, dict) and "Fn::FindInMap" in value:
        mapping, top, second = value["Fn::FindInMap"]
        return template["Mappings"][mapping][top][second]
    return value


@functools.cache
def _parse_yaml(path: Path, mtime_ns: int) -> dict[str, Any]:  # parsing YAML is slow: once per version
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass


def functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The ``AWS::Serverless::Function`` resources of a SAM template."""
    return {k: v for k, v in template["Resources"].items() if v["Type"] == "AWS::Serverless::Function"}
