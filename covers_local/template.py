"""Reading ``template.yaml``: the local runner and the tests build their resources from it, so the
template and the local stack cannot drift apart."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

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
    path = path or project_root() / "template.yaml"
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass


@dataclass
class Resolver:
    """Resolves intrinsic functions against parameter values and local physical ids/attributes."""

    template: dict[str, Any]
    parameters: Mapping[str, str]
    refs: Mapping[str, str]  # logical id -> value of !Ref
    attributes: Mapping[str, str]  # "Logical.Attr" -> value of !GetAtt

    def param(self, name: str) -> str:
        if name in self.parameters:
            return str(self.parameters[name])
        return str(self.template["Parameters"][name].get("Default", ""))

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.template["Conditions"][name]))

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.resolve(n) for n in node]
        if not isinstance(node, dict):
            return node
        if len(node) != 1:
            return {k: self.resolve(v) for k, v in node.items()}
        ((key, value),) = node.items()
        if key == "Ref":
            if value in self.template.get("Parameters", {}):
                return self.param(value)
            if value == "AWS::NoValue":
                return None
            if value.startswith("AWS::"):
                return {
                    "AWS::Region": "us-east-1",
                    "AWS::AccountId": "123456789012",
                    "AWS::StackName": "covers-local",
                }[value]
            return self.refs[value]
        if key == "Fn::GetAtt":
            return self.attributes[".".join(value)]
        if key == "Fn::If":
            cond, yes, no = value
            return self.resolve(yes if self.condition(cond) else no)
        if key == "Fn::Equals":
            return str(self.resolve(value[0])) == str(self.resolve(value[1]))
        if key == "Fn::Not":
            return not self.resolve(value[0])
        if key == "Fn::Sub":
            text = value if isinstance(value, str) else value[0]
            return re.sub(r"\$\{([^}]+)\}", lambda m: str(self._sub(m.group(1))), text)
        return {key: self.resolve(value)}

    def _sub(self, name: str) -> Any:
        if "." in name:
            return self.attributes[name]
        return self.resolve({"Ref": name})


def function_environment(template: dict[str, Any], logical_id: str, resolver: Resolver) -> dict[str, str]:
    """The environment variables the template gives a function (Globals merged with its own)."""
    merged = dict(template["Globals"]["Function"]["Environment"]["Variables"])
    own = template["Resources"][logical_id]["Properties"].get("Environment", {}).get("Variables", {})
    merged.update(own)
    return {k: str(resolver.resolve(v)) for k, v in merged.items()}


def functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == "AWS::Serverless::Function"}
