"""``template.yaml`` as CloudFormation gets it, and deployed into moto by moto's own CloudFormation.

* :func:`transform` runs the SAM transform (``aws-sam-translator``) offline: the state machine's
  ``DefinitionUri`` file is inlined (SAM then emits ``DefinitionString`` + ``DefinitionSubstitutions``)
  and code locations become placeholder S3 objects in :data:`ARTIFACTS_BUCKET`.
* :func:`deploy` (inside ``mock_aws`` and :func:`covers_local.moto_patches.cloudformation`, which fills
  moto's gaps) uploads placeholder code there and creates a CloudFormation stack from the transformed
  template. Physical names derive from the stack name, as in CloudFormation, so stacks of different names
  never collide.
* :class:`Stack` reads what was deployed (outputs, physical ids, each function's environment as moto
  resolved it) and observes it the way tests and the local runner need (records, read as the functions
  read them, bus events, dead letters, executions).
"""

from __future__ import annotations

import io
import json
import sys
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import boto3
from covers_core.adapters.records import A, CoverStore, record_from_item
from covers_core.domain.model import CoverRecord
from covers_core.redaction import register as register_secret
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

from covers_local import moto_patches
from covers_local.template import constant, functions, load_template, parameter_defaults, project_root

__all__ = [  # the template readers live in covers_local.template (no boto3, no moto); importable here too
    "constant",
    "functions",
    "load_template",
    "parameter_defaults",
    "project_root",
]

REGION = "us-east-1"
#: Where :func:`transform` points every ``CodeUri``/``ContentUri`` (``sam deploy`` would upload there).
ARTIFACTS_BUCKET = "covers-local-artifacts"
#: The only thing moto would call IAM for: managed policies named in ``Policies`` (we name none).
MANAGED_POLICIES: dict[str, str] = {}


def transform(
    parameters: Mapping[str, object] | None = None,
    *,
    root: Path | None = None,
    region: str = REGION,
    layer_version: str | Mapping[str, str] = "",
) -> dict[str, Any]:
    """The CloudFormation template CloudFormation would get for ``template.yaml`` and ``parameters``
    (resource Metadata kept, as checkov reads it). ``layer_version`` changes only the layers' code
    location, as a new layer build would: of every layer, or of those it maps (logical id -> suffix)."""
    root = root or project_root()
    sam = load_template(root / "template.yaml")
    every_layer = layer_version if isinstance(layer_version, str) else ""
    by_layer = {} if isinstance(layer_version, str) else dict(layer_version)
    for logical_id, resource in sam["Resources"].items():
        properties = resource.get("Properties", {})
        if "DefinitionUri" in properties:
            definition = (root / properties.pop("DefinitionUri")).read_text(encoding="utf-8")
            properties["Definition"] = json.loads(definition)
        for key, suffix in (("CodeUri", ""), ("ContentUri", by_layer.get(logical_id, every_layer))):
            if key in properties:
                properties[key] = {"Bucket": ARTIFACTS_BUCKET, "Key": f"{logical_id}{suffix}.zip"}
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=region))
    values = {k: str(v) for k, v in (parameters or {}).items()}
    return translator.translate(
        sam,
        parameter_values=values,
        get_managed_policy_map=lambda: MANAGED_POLICIES,
        passthrough_metadata=True,
    )


def deploy(
    stack_name: str,
    parameters: Mapping[str, object] | None = None,
    *,
    root: Path | None = None,
    region: str = REGION,
) -> Stack:
    """Create ``template.yaml``'s resources in moto as stack ``stack_name``. Call it inside ``mock_aws`` and
    :func:`covers_local.moto_patches.cloudformation`, and read the stack while that patch is applied."""
    if not moto_patches.cloudformation().applied:
        raise RuntimeError(
            "deploy() needs moto's CloudFormation patched: call it inside "
            "covers_local.moto_patches.cloudformation() (with mock_aws())"
        )
    root = root or project_root()
    template = transform(parameters, root=root, region=region)
    _upload_placeholder_code(template, region)
    cfn = boto3.client("cloudformation", region_name=region)
    cfn.create_stack(
        StackName=stack_name,
        TemplateBody=json.dumps(_for_moto(template)),
        Parameters=[{"ParameterKey": k, "ParameterValue": str(v)} for k, v in (parameters or {}).items()],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    status = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]["StackStatus"]
    if status != "CREATE_COMPLETE":
        raise RuntimeError(f"stack {stack_name} ended {status}")
    code_dirs = {
        logical_id: root / spec["Properties"]["CodeUri"]
        for logical_id, spec in functions(load_template(root / "template.yaml")).items()
    }
    return Stack(stack_name, region, template, code_dirs)


def _upload_placeholder_code(template: dict[str, Any], region: str) -> None:
    """An empty zip at every code location (the real code runs in-process, see covers_local.runner)."""
    s3 = boto3.client("s3", region_name=region)
    if ARTIFACTS_BUCKET not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
        s3.create_bucket(Bucket=ARTIFACTS_BUCKET)
    empty = io.BytesIO()
    with zipfile.ZipFile(empty, "w") as archive:
        archive.writestr("placeholder.txt", "code runs in-process")
    for resource in template["Resources"].values():
        for key in ("Code", "Content"):
            location = resource.get("Properties", {}).get(key, {})
            if "S3Key" in location:
                s3.put_object(Bucket=location["S3Bucket"], Key=location["S3Key"], Body=empty.getvalue())


def _for_moto(template: dict[str, Any]) -> dict[str, Any]:
    """The transformed template with its event source mappings disabled: moto's SQS would invoke a mapped
    function on every ``SendMessage``. Their consumer (the local runner, or a test) plays them instead."""
    template = json.loads(json.dumps(template))
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Lambda::EventSourceMapping":
            resource["Properties"]["Enabled"] = False
    return template


@dataclass(frozen=True)
class Function:
    logical_id: str
    name: str
    arn: str
    code_dir: Path
    environment: dict[str, str]
    timeout: float = 3.0  # seconds, as deployed (Lambda's default when the template gives none)
    memory_mb: int = 128


@dataclass
class Stack:
    """A deployed stack in moto: what it is made of, and helpers to observe it."""

    name: str
    region: str
    template: dict[str, Any]  # as transformed (see :func:`transform`)
    code_dirs: dict[str, Path]
    _capture_url: str | None = field(default=None, init=False)

    # --- what was deployed -----------------------------------------------------------------------

    @cached_property
    def _description(self) -> Any:
        return self._client("cloudformation").describe_stacks(StackName=self.name)["Stacks"][0]

    @cached_property
    def outputs(self) -> dict[str, str]:
        return {o["OutputKey"]: o["OutputValue"] for o in self._description.get("Outputs", [])}

    @cached_property
    def parameters(self) -> dict[str, str]:
        return {p["ParameterKey"]: p["ParameterValue"] for p in self._description.get("Parameters", [])}

    @cached_property
    def physical_ids(self) -> dict[str, str]:
        """Physical id by logical id (resources whose condition was false are absent)."""
        paginator = self._client("cloudformation").get_paginator("list_stack_resources")
        pages = paginator.paginate(StackName=self.name)
        return {
            r["LogicalResourceId"]: r["PhysicalResourceId"]
            for page in pages
            for r in page["StackResourceSummaries"]
        }

    def physical_id(self, logical_id: str) -> str:
        return self.physical_ids[logical_id]

    @cached_property
    def functions(self) -> dict[str, Function]:
        """The Lambda functions by logical id, with the environment each gets (Globals merged, resolved),
        its timeout and memory size."""
        client = self._client("lambda")
        found = {}
        for logical_id, code_dir in self.code_dirs.items():
            config = client.get_function_configuration(FunctionName=self.physical_id(logical_id))
            variables = config.get("Environment", {}).get("Variables", {})
            environment = {k: str(v) for k, v in variables.items()}
            found[logical_id] = Function(
                logical_id,
                config["FunctionName"],
                config["FunctionArn"],
                code_dir,
                environment,
                timeout=float(config.get("Timeout", 3)),
                memory_mb=int(config.get("MemorySize", 128)),
            )
        return found

    def function_env(self, logical_id: str) -> dict[str, str]:
        return dict(self.functions[logical_id].environment)

    def process_env(self) -> dict[str, str]:
        """Every function's variables in one environment, for running all handlers in one process.
        Raises if two functions give one variable different values."""
        merged: dict[str, str] = {}
        for function in self.functions.values():
            for key, value in function.environment.items():
                if merged.setdefault(key, value) != value:
                    raise ValueError(f"functions disagree on {key}: {merged[key]!r} vs {value!r}")
        return merged

    def queue_fed_function(self, queue_url: str) -> tuple[Function, int]:
        """The function an event source mapping feeds from the queue, and the mapping's batch size."""
        arn = self.queue_arn(queue_url)
        for mapping in self._client("lambda").list_event_source_mappings(EventSourceArn=arn)[
            "EventSourceMappings"
        ]:
            for function in self.functions.values():
                # The mapping names the function's alias (AutoPublishAlias): ``<arn>:live``.
                if mapping["FunctionArn"].split(":function:")[-1].split(":")[0] == function.name:
                    return function, int(mapping["BatchSize"])
        raise LookupError(f"no event source mapping of this stack reads {queue_url}")

    @property
    def queue_url(self) -> str:
        return self.outputs["CoverRequestsQueueUrl"]

    @property
    def dlq_url(self) -> str:
        return self.outputs["CoverRequestsDeadLetterQueueUrl"]

    @property
    def table_name(self) -> str:
        return self.outputs["CoversTableName"]

    @property
    def bus_name(self) -> str:
        return self.outputs["CoversBusName"]

    @property
    def state_machine_arn(self) -> str:
        return self.outputs["CoverWorkflowArn"]

    @property
    def api_key_secret_arn(self) -> str:
        return self.outputs["VendorApiKeySecretArn"]

    @property
    def webhook_secret_arn(self) -> str:
        return self.outputs["WebhookSigningSecretArn"]

    @property
    def archive_bucket(self) -> str | None:
        return self.outputs.get("ArchiveBucketName")

    def queue_arn(self, queue_url: str) -> str:
        attributes = self._client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
        return str(attributes["Attributes"]["QueueArn"])

    def put_secret(self, secret_arn: str, value: str) -> None:
        register_secret(value)  # botocore at DEBUG would print the request body
        self._client("secretsmanager").put_secret_value(SecretId=secret_arn, SecretString=value)

    # --- observing ----------------------------------------------------------------------------

    def record(self, music_task_id: str) -> CoverRecord:
        """The record of a music task, read as the functions read it; AssertionError when there is none."""
        record = self.find_record(music_task_id)
        assert record is not None, f"no record for music task {music_task_id}"
        return record

    def find_record(self, music_task_id: str) -> CoverRecord | None:
        return CoverStore(self.table).get(music_task_id)

    def records(self) -> dict[str, CoverRecord]:
        """Every record in the table (a full scan), by music task id."""
        return {record.music_task_id: record for record in map(record_from_item, self._scan())}

    def item(self, music_task_id: str) -> dict[str, Any] | None:
        """The stored item of a music task exactly as DynamoDB holds it (attribute names, Decimal numbers,
        metadata as JSON text), or None. Only for tests whose point is the stored shape itself (metadata's
        exact text, the TTL attribute, the open index's key); everything else reads :meth:`record`, so that
        the record store alone spells attribute names."""
        key = {A.MUSIC_TASK_ID: music_task_id}
        item: dict[str, Any] | None = self.table.get_item(Key=key, ConsistentRead=True).get("Item")
        return item

    def _scan(self) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {"ConsistentRead": True}
        while True:
            page = self.table.scan(**kwargs)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def capture_events(self) -> None:
        """From now on, keep the events put on the covers bus (a rule and an SQS queue) for
        :meth:`drain_events`."""
        sqs, events = self._client("sqs"), self._client("events")
        self._capture_url = sqs.create_queue(QueueName=f"{self.name}-captured-events")["QueueUrl"]
        rule = f"{self.name}-capture"
        pattern = {"source": [self.parameters["EventSource"]]}
        events.put_rule(Name=rule, EventBusName=self.bus_name, EventPattern=json.dumps(pattern))
        events.put_targets(
            Rule=rule,
            EventBusName=self.bus_name,
            Targets=[{"Id": "capture", "Arn": self.queue_arn(self._capture_url)}],
        )

    def drain_events(self) -> list[dict[str, Any]]:
        """The bus events captured since the last call (see :meth:`capture_events`)."""
        assert self._capture_url, "call capture_events() first"
        return [json.loads(m["Body"]) for m in self._drain(self._capture_url)]

    def dead_letters(self) -> list[dict[str, Any]]:
        """What waits in the DLQ: ``{"body", "reason"}`` each (``reason``: the ``rejectReason``
        attribute, else "maxReceiveCount reached"), and ``bodyEncoding`` when the body is an encoded
        copy (docs/operations.md, "Dead letters"). The messages stay there (for a redrive)."""
        sqs = self._client("sqs")
        letters, handles = [], []
        while True:
            messages = sqs.receive_message(
                QueueUrl=self.dlq_url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=30,
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not messages:
                break
            for m in messages:
                attributes = m.get("MessageAttributes", {})
                reason = (attributes.get("rejectReason") or {}).get("StringValue")
                letter = {"body": m["Body"], "reason": reason or "maxReceiveCount reached"}
                encoding = (attributes.get("bodyEncoding") or {}).get("StringValue")
                letters.append(letter | ({"bodyEncoding": encoding} if encoding else {}))
                handles.append(m["ReceiptHandle"])
        for handle in handles:  # visible again at once
            sqs.change_message_visibility(QueueUrl=self.dlq_url, ReceiptHandle=handle, VisibilityTimeout=0)
        return letters

    def executions(self, status: str | None = None) -> list[dict[str, Any]]:
        """The state machine's executions (``status``: only those, e.g. "RUNNING")."""
        kwargs = {"stateMachineArn": self.state_machine_arn} | ({"statusFilter": status} if status else {})
        pages = self._client("stepfunctions").get_paginator("list_executions").paginate(**kwargs)
        return [execution for page in pages for execution in page["executions"]]

    def queue_depth(self) -> int:
        """Messages in the requests queue, visible or in flight."""
        attributes = self._client("sqs").get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )

    def _drain(self, queue_url: str) -> Iterator[dict[str, Any]]:
        sqs = self._client("sqs")
        while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
            for m in messages:
                yield m
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])

    @cached_property
    def table(self) -> Any:
        return boto3.resource("dynamodb", region_name=self.region).Table(self.table_name)

    def _client(self, service: str) -> Any:
        return boto3.client(service, region_name=self.region)  # type: ignore[call-overload]


def with_defaults(template: dict[str, Any], parameters: Mapping[str, object]) -> dict[str, Any]:
    """``template`` whose parameters default to ``parameters``: checkov evaluates the conditions with the
    defaults, so a scan of this one sees the resources those values create (the archive bucket, ...)."""
    for name, value in parameters.items():
        template["Parameters"][name]["Default"] = str(value)
    return template


if __name__ == "__main__":
    # `python -m covers_local.stack [Name=Value ...]`: the transformed template (for checkov), with those
    # parameter values as the defaults.
    chosen = dict(argument.split("=", 1) for argument in sys.argv[1:])
    json.dump(with_defaults(transform(chosen), chosen), sys.stdout, indent=1)
    sys.stdout.write("\n")
