"""Distribution: the app as the Serverless Application Repository gets it, the nested-app example and the
users' CI/CD workflow (docs/deploy.md, "Publish to the Serverless Application Repository", "Embed as a
nested application" and "CI/CD").

* the ``AWS::ServerlessRepo::Application`` metadata keeps SAR's limits, and its version is the project's
  (pyproject.toml, and CHANGELOG.md's newest release once there is one);
* every resource type the stack creates is accounted for against SAR's list of supported resources;
* examples/nested-app passes only parameters the pipeline has and reads only outputs it has, and transforms
  to a nested stack (from a local path and from SAR); so does the snippet in docs/deploy.md;
* examples/ci/github-actions-deploy.yml uses OIDC, deploys environments samconfig.toml has, runs make
  targets that exist (actionlint is not run: docs/deploy.md, "CI/CD")."""

from __future__ import annotations

import copy
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from cfnlint.api import lint_file
from samtranslator.parser.parser import Parser
from samtranslator.plugins.application.serverless_app_plugin import ServerlessAppPlugin
from samtranslator.translator.translator import Translator

from covers_local.stack import transform as transform_pipeline
from covers_local.template import load_template
from tests.infra.test_docs import headings
from tests.support.paths import REGION, ROOT

PIPELINE = load_template()
METADATA = PIPELINE["Metadata"]["AWS::ServerlessRepo::Application"]
DEPLOY_PAGE = ROOT / "docs" / "deploy.md"
NESTED = ROOT / "examples" / "nested-app" / "template.yaml"
WORKFLOW = ROOT / "examples" / "ci" / "github-actions-deploy.yml"
#: SAR's limit for the readme and licence files (the SAM Developer Guide, "Metadata section properties").
SAR_FILE_LIMIT = 5 * 1024 * 1024


def project_version() -> str:
    return str(tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"])


def newest_release(changelog: str) -> str | None:
    """The version of the first ``## [x.y.z]`` heading (Keep a Changelog); None while only Unreleased."""
    for match in re.finditer(r"^## \[([^\]]+)\]", changelog, re.MULTILINE):
        if match.group(1).lower() != "unreleased":
            return match.group(1)
    return None


# --- the metadata sam publish sends ------------------------------------------------------------------------


def test_the_sar_metadata_has_what_sam_publish_needs_within_sars_limits() -> None:
    assert {"Name", "Description", "Author"} <= set(METADATA)
    # intrinsic functions are not resolved in this section: every value is written out
    assert all(
        isinstance(v, str) or (isinstance(v, list) and all(isinstance(x, str) for x in v))
        for v in METADATA.values()
    )
    assert re.fullmatch(r"[a-zA-Z0-9\-]{1,140}", METADATA["Name"])
    assert 1 <= len(METADATA["Description"]) <= 256
    author = METADATA["Author"]
    assert len(author) <= 127 and re.fullmatch(r"[a-z0-9](([a-z0-9]|-(?!-))*[a-z0-9])?", author)
    labels = METADATA["Labels"]
    assert 1 <= len(labels) <= 10
    assert all(1 <= len(label) <= 127 and re.fullmatch(r"[a-zA-Z0-9+\-_:/@]+", label) for label in labels)
    assert re.fullmatch(r"\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?", METADATA["SemanticVersion"])
    for key in ("HomePageUrl", "SourceCodeUrl"):  # optional; when set, a public https address
        if key in METADATA:
            assert METADATA[key].startswith("https://") and "example" not in METADATA[key]


def test_the_readme_and_licence_it_uploads_exist_fit_and_match_the_licence_id() -> None:
    for key in ("ReadmeUrl", "LicenseUrl"):
        path = ROOT / METADATA[key]  # relative to template.yaml; sam package uploads it
        assert path.is_file(), f"{key}: {path} does not exist"
        assert path.stat().st_size <= SAR_FILE_LIMIT
    assert METADATA["ReadmeUrl"].endswith(".md")
    licence = (ROOT / METADATA["LicenseUrl"]).read_text(encoding="utf-8")
    assert METADATA["SpdxLicenseId"] == "MIT" and licence.startswith("MIT License")


def test_the_published_version_is_the_projects_version() -> None:
    version = project_version()
    assert METADATA["SemanticVersion"] == version, (
        "template.yaml's SemanticVersion is pyproject.toml's version"
    )
    released = newest_release((ROOT / "CHANGELOG.md").read_text(encoding="utf-8"))
    if released is not None:  # once a release is cut, its heading names the version published
        assert released == version


def test_the_newest_release_is_read_from_keep_a_changelog_headings() -> None:
    assert newest_release("# Changelog\n\n## [Unreleased]\n\n### Added\n- x\n") is None
    text = "## [Unreleased]\n- y\n\n## [0.2.0] - 2026-05-01\n- x\n\n## [0.1.0] - 2026-01-01\n"
    assert newest_release(text) == "0.2.0"


# --- what SAR accepts ---------------------------------------------------------------------------------------

#: The stack's resource types (template.yaml as written, and as the SAM transform makes it) that SAR's
#: "List of Supported AWS Resources" names.
SAR_LISTED = {
    "AWS::ApiGatewayV2::Api",
    "AWS::ApiGatewayV2::Stage",
    "AWS::CloudFront::Distribution",
    "AWS::CloudWatch::Alarm",
    "AWS::CloudWatch::Dashboard",
    "AWS::DynamoDB::Table",
    "AWS::EventSchemas::Registry",
    "AWS::EventSchemas::Schema",
    "AWS::Events::Rule",
    "AWS::IAM::Role",
    "AWS::KMS::Alias",
    "AWS::KMS::Key",
    "AWS::Lambda::Alias",
    "AWS::Lambda::EventSourceMapping",
    "AWS::Lambda::Function",
    "AWS::Lambda::LayerVersion",
    "AWS::Lambda::Permission",
    "AWS::Lambda::Version",
    "AWS::Logs::LogGroup",
    "AWS::S3::Bucket",
    "AWS::S3::BucketPolicy",
    "AWS::SNS::Subscription",
    "AWS::SNS::Topic",
    "AWS::SNS::TopicPolicy",
    "AWS::SQS::Queue",
    "AWS::SQS::QueuePolicy",
    "AWS::Serverless::Function",
    "AWS::Serverless::HttpApi",
    "AWS::Serverless::LayerVersion",
    "AWS::Serverless::StateMachine",
    "AWS::StepFunctions::StateMachine",
}
#: Types the copy of that list we could check does not name: the first `sam publish` of a public version
#: tells whether SAR accepts them now (docs/deploy.md, "Publish to the Serverless Application Repository").
NOT_ON_SARS_LIST = {
    "AWS::Events::EventBus",
    "AWS::SecretsManager::Secret",
    "AWS::Scheduler::Schedule",
    # ArchiveDelivery=true only (the distribution's origin access control and policies)
    "AWS::CloudFront::OriginAccessControl",
    "AWS::CloudFront::CachePolicy",
    "AWS::CloudFront::ResponseHeadersPolicy",
}
#: Resource policies: deploying from SAR needs CAPABILITY_RESOURCE_POLICY acknowledged.
RESOURCE_POLICIES = {
    "AWS::Lambda::Permission",
    "AWS::S3::BucketPolicy",
    "AWS::SQS::QueuePolicy",
    "AWS::SNS::TopicPolicy",
}


@pytest.fixture(scope="module")
def transformed() -> dict[str, Any]:
    return transform_pipeline()


def test_every_resource_type_of_the_stack_is_accounted_for_against_sars_list(
    transformed: dict[str, Any],
) -> None:
    types = {r["Type"] for r in PIPELINE["Resources"].values()} | {
        r["Type"] for r in transformed["Resources"].values()
    }
    unknown = types - SAR_LISTED - NOT_ON_SARS_LIST
    assert not unknown, f"check SAR's list of supported resources for {sorted(unknown)} and file each type"
    assert types >= NOT_ON_SARS_LIST, "a type no longer used: drop it from NOT_ON_SARS_LIST and the docs"
    page = DEPLOY_PAGE.read_text(encoding="utf-8")
    assert all(f"`{t}`" in page for t in NOT_ON_SARS_LIST), "docs/deploy.md names each unlisted type"


def test_the_capabilities_a_deploy_needs_are_the_ones_documented(transformed: dict[str, Any]) -> None:
    resources = transformed["Resources"].values()
    roles = [r for r in resources if r["Type"] == "AWS::IAM::Role"]
    # unnamed roles: CAPABILITY_IAM is enough, CAPABILITY_NAMED_IAM is not needed
    assert roles and not any("RoleName" in r.get("Properties", {}) for r in roles)
    assert {r["Type"] for r in resources} >= RESOURCE_POLICIES
    samconfig = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    for env in ("default", "staging", "prod"):
        assert samconfig[env]["deploy"]["parameters"]["capabilities"] == "CAPABILITY_IAM"
    page = DEPLOY_PAGE.read_text(encoding="utf-8")
    assert "CAPABILITY_RESOURCE_POLICY" in page and "CAPABILITY_AUTO_EXPAND" in page


# --- the nested application ---------------------------------------------------------------------------------


def _nested_example() -> dict[str, Any]:
    return load_template(NESTED)


def _app(template: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    (app,) = [(k, v) for k, v in template["Resources"].items() if v["Type"] == "AWS::Serverless::Application"]
    return app


def _outputs_read(node: Any, app: str) -> list[tuple[str, Any]]:
    """(output name, the node reading it) for every ``!GetAtt <app>.Outputs.<name>`` under node."""
    found: list[tuple[str, Any]] = []
    if isinstance(node, dict):
        target = node.get("Fn::GetAtt")
        if isinstance(target, list) and target[0] == app and str(target[1]).startswith("Outputs."):
            found.append((target[1].removeprefix("Outputs."), node))
        for value in node.values():
            found += _outputs_read(value, app)
    elif isinstance(node, list):
        for value in node:
            found += _outputs_read(value, app)
    return found


def test_the_nested_example_is_cfn_lint_clean() -> None:
    # cfn-lint also reads the local nested template: a parameter it does not have is E3043
    assert [str(m) for m in lint_file(NESTED)] == []


def test_the_nested_example_passes_parameters_and_reads_outputs_the_pipeline_has() -> None:
    template = _nested_example()
    name, app = _app(template)
    assert (NESTED.parent / app["Properties"]["Location"]).resolve() == ROOT / "template.yaml"
    assert set(app["Properties"]["Parameters"]) <= set(PIPELINE["Parameters"])
    reads = _outputs_read(template, name)
    assert {"CoversBusName", "CoverRequestsQueueUrl", "WebhookUrl"} <= {output for output, _ in reads}
    assert {output for output, _ in reads} <= set(PIPELINE["Outputs"])
    # an output the pipeline only has under a condition is only read under one
    for output_name, spec in template["Outputs"].items():
        for output, _ in _outputs_read(spec, name):
            if "Condition" in PIPELINE["Outputs"][output]:
                assert "Condition" in spec, f"{output_name} reads {output}, which may not exist"


def _translate(template: dict[str, Any], sar: object | None = None) -> dict[str, Any]:
    plugins = [ServerlessAppPlugin(sar_client=sar)] if sar else None
    translator = Translator({}, Parser(), plugins=plugins)
    return translator.translate(
        template, parameter_values={"AWS::Region": REGION}, get_managed_policy_map=lambda: {}
    )


def test_the_nested_example_transforms_to_a_nested_stack_with_its_parameters() -> None:
    template = _nested_example()
    name, app = _app(template)
    # as `sam package` hands it to CloudFormation: the nested template uploaded to S3
    app["Properties"]["Location"] = "https://s3.us-east-1.amazonaws.com/artifacts/covers-pipeline.template"
    stack = _translate(template)["Resources"][name]
    assert stack["Type"] == "AWS::CloudFormation::Stack"
    assert stack["Properties"]["TemplateURL"].endswith("covers-pipeline.template")
    assert stack["Properties"]["Parameters"] == app["Properties"]["Parameters"]


class _FakeSar:
    """The two SAR calls the SAM transform makes for ``Location: {ApplicationId, SemanticVersion}``."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []

    def create_cloud_formation_template(self, ApplicationId: str, SemanticVersion: str) -> dict[str, str]:
        self.asked.append((ApplicationId, SemanticVersion))
        return {"TemplateUrl": "https://sar.example/covers.template", "Status": "ACTIVE", "TemplateId": "t-1"}

    def get_cloud_formation_template(self, ApplicationId: str, TemplateId: str) -> dict[str, str]:
        return {"Status": "ACTIVE"}


def _documented_snippet(folder: Path) -> dict[str, Any]:
    """The ``yaml`` block of docs/deploy.md, "Embed as a nested application", parsed (short forms too)."""
    text = DEPLOY_PAGE.read_text(encoding="utf-8")
    section = text.split("## Embed as a nested application", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```yaml\n(.*?)```", section, re.DOTALL)
    assert block, "the section shows the snippet"
    path = folder / "snippet.yaml"
    path.write_text(block.group(1), encoding="utf-8")
    return load_template(path)


def test_the_documented_snippet_names_this_version_and_real_parameters_and_outputs(tmp_path: Path) -> None:
    resources = _documented_snippet(tmp_path)["Resources"]
    name, app = _app({"Resources": resources})
    location = app["Properties"]["Location"]
    assert set(location) == {"ApplicationId", "SemanticVersion"}
    assert location["ApplicationId"].startswith("arn:aws:serverlessrepo:")
    assert location["ApplicationId"].endswith(f":applications/{METADATA['Name']}")
    assert location["SemanticVersion"] == METADATA["SemanticVersion"]
    assert set(app["Properties"]["Parameters"]) <= set(PIPELINE["Parameters"])
    assert {o for o, _ in _outputs_read(resources, name)} <= set(PIPELINE["Outputs"])
    # the example's commented SAR location names the same version
    example = NESTED.read_text(encoding="utf-8")
    assert re.findall(r"SemanticVersion: (\S+)", example) == [METADATA["SemanticVersion"]]


def test_the_documented_snippet_transforms_to_the_template_sar_hands_out(tmp_path: Path) -> None:
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Transform": "AWS::Serverless-2016-10-31",
        "Resources": copy.deepcopy(_documented_snippet(tmp_path)["Resources"]),
    }
    name, app = _app(template)
    sar = _FakeSar()
    stack = _translate(template, sar)["Resources"][name]
    location = app["Properties"]["Location"]
    assert sar.asked == [(location["ApplicationId"], location["SemanticVersion"])]
    assert stack["Type"] == "AWS::CloudFormation::Stack"
    assert stack["Properties"]["TemplateURL"] == "https://sar.example/covers.template"


# --- the users' CI/CD workflow ------------------------------------------------------------------------------


def _workflow() -> dict[str, Any]:
    loaded = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    loaded["on"] = loaded.pop(True)  # YAML 1.1 reads the key `on` as true
    return loaded


def _steps(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in job["steps"] if str(s.get("uses", "")).startswith(f"{action}@")]


def test_the_workflow_deploys_with_oidc_and_no_stored_keys() -> None:
    workflow = _workflow()
    assert workflow["permissions"] == {"contents": "read"}
    text = WORKFLOW.read_text(encoding="utf-8")
    assert "aws-access-key-id" not in text and "AWS_SECRET_ACCESS_KEY" not in text
    deploying = {
        n: j for n, j in workflow["jobs"].items() if _steps(j, "aws-actions/configure-aws-credentials")
    }
    assert set(deploying) == {"deploy-staging", "deploy-prod"}
    for job in deploying.values():
        assert job["permissions"]["id-token"] == "write"
        (credentials,) = _steps(job, "aws-actions/configure-aws-credentials")
        assert credentials["with"]["role-to-assume"]
    # every action pinned to a major version at least
    assert all(
        re.search(r"@v\d+$", s["uses"]) for j in workflow["jobs"].values() for s in j["steps"] if "uses" in s
    )


def test_the_workflow_tests_builds_once_then_staging_approval_prod() -> None:
    jobs = _workflow()["jobs"]
    (python,) = _steps(jobs["test"], "actions/setup-python")
    assert python["with"]["python-version"] == "3.13"
    assert jobs["deploy-staging"]["needs"] == "test" and jobs["deploy-prod"]["needs"] == "deploy-staging"
    assert (jobs["deploy-staging"]["environment"], jobs["deploy-prod"]["environment"]) == (
        "staging",
        "production",
    )
    # prod deploys the artefact staging got, not a new build
    for name in ("deploy-staging", "deploy-prod"):
        assert _steps(jobs[name], "actions/download-artifact")
        assert not any("sam build" in s.get("run", "") for s in jobs[name]["steps"])
    assert jobs["deploy-prod"]["steps"][-1]["run"].startswith("sam deploy --config-env prod ")


def test_the_workflow_runs_make_targets_and_config_envs_that_exist() -> None:
    text = WORKFLOW.read_text(encoding="utf-8")
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, re.MULTILINE))
    assert set(re.findall(r"\bmake ([a-z][a-z-]*)", text)) <= targets
    samconfig = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    envs = set(re.findall(r"--config-env (\S+)", text))
    assert envs == {"staging", "prod"} and envs <= set(samconfig)
    # the SAM CLI the deploy jobs install is the one the build extra pins (which built the artefact)
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    (pinned,) = re.findall(r'"aws-sam-cli==([^"]+)"', pyproject)
    assert f'SAM_CLI_VERSION: "{pinned}"' in text


def test_the_ci_section_is_where_the_workflow_points() -> None:
    assert "CI/CD" in headings(DEPLOY_PAGE)
    assert "examples/ci/github-actions-deploy.yml" in DEPLOY_PAGE.read_text(encoding="utf-8")
