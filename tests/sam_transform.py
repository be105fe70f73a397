"""template.yaml as CloudFormation receives it, transformed offline by aws-sam-translator. Used by
tests/test_template_ops.py and by `make checkov` (python -m tests.sam_transform > transformed.json).
(To be replaced by covers_local.stack.transform.)"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import boto3
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

from covers_local.template import load_template

ROOT = Path(__file__).resolve().parents[1]


def transform(layer_uri: str = "s3://covers-artifacts/layer.zip") -> dict[str, Any]:
    """The ASL inlined, placeholder S3 URIs for the code, resource Metadata kept (checkov skips), no
    managed-policy lookups, no AWS call (a region-only boto3 session)."""
    template = load_template(ROOT / "template.yaml")
    for logical_id, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        if "DefinitionUri" in properties:
            properties["Definition"] = json.loads((ROOT / properties.pop("DefinitionUri")).read_text())
        if "CodeUri" in properties:
            properties["CodeUri"] = f"s3://covers-artifacts/{logical_id}.zip"
        if "ContentUri" in properties:
            properties["ContentUri"] = layer_uri
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name="us-east-1"))
    return translator.translate(
        template, parameter_values={}, get_managed_policy_map=dict, passthrough_metadata=True
    )


if __name__ == "__main__":
    json.dump(transform(), sys.stdout, indent=1)
    sys.stdout.write("\n")
