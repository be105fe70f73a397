"""What moto 5.2.5's CloudFormation lacks for our template: resource models, created through moto's API.

moto's CloudFormation creates most of our resource types itself (queues with redrive, table, bus,
rules, bucket, topic, log groups, IAM roles, Lambda functions, layer and event source mappings).
The types it skips with a warning (a ``Ref`` to them then resolves to nothing), and the state machine
(see :class:`StateMachine`), are modelled here: each is created through moto's own API, from the
resource's CloudFormation properties.

Importing this module changes nothing in moto: :data:`MODELS` reach moto's CloudFormation only while
:func:`covers_local.moto_patches.cloudformation` is applied, with moto's other CloudFormation fixes.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import boto3
from moto.cloudformation.exceptions import UnformattedGetAttTemplateException
from moto.core.common_models import CloudFormationModel


class ApiCreated(CloudFormationModel):
    """A resource moto's CloudFormation cannot create, created through moto's API instead.

    moto finds its models among ``CloudFormationModel``'s *direct* subclasses: this base is the only one
    defined here, and its empty type names no resource, so the types below (subclasses of this base)
    stay out of moto's own lookup until the patch adds them."""

    TYPE = ""
    NAME_PROPERTY = ""

    def __init__(self, physical_id: str, attributes: dict[str, str]) -> None:
        self._physical_id = physical_id
        self.attributes = attributes

    @classmethod
    def cloudformation_type(cls) -> str:
        return cls.TYPE

    @classmethod
    def cloudformation_name_type(cls) -> str:
        return cls.NAME_PROPERTY

    @property
    def physical_resource_id(self) -> str:
        return self._physical_id

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return True

    def get_cfn_attribute(self, attribute_name: str) -> str:
        if attribute_name not in self.attributes:
            raise UnformattedGetAttTemplateException()
        return self.attributes[attribute_name]

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> ApiCreated:
        properties = cloudformation_json.get("Properties", {})
        physical_id, attributes = cls.create(resource_name, properties, region_name)
        return cls(physical_id, attributes)

    @classmethod
    def create(cls, name: str, properties: dict[str, Any], region: str) -> tuple[str, dict[str, str]]:
        raise NotImplementedError


class Secret(ApiCreated):
    TYPE = "AWS::SecretsManager::Secret"
    NAME_PROPERTY = "Name"

    @classmethod
    def create(cls, name: str, properties: dict[str, Any], region: str) -> tuple[str, dict[str, str]]:
        client = boto3.client("secretsmanager", region_name=region)
        value = properties.get("SecretString")
        generate = properties.get("GenerateSecretString")
        if generate is not None:
            options = {
                k: v for k, v in generate.items() if k not in ("SecretStringTemplate", "GenerateStringKey")
            }
            value = client.get_random_password(**options)["RandomPassword"]
            if "SecretStringTemplate" in generate:
                value = json.dumps(
                    json.loads(generate["SecretStringTemplate"]) | {generate["GenerateStringKey"]: value}
                )
        extra = {"Description": properties["Description"]} if "Description" in properties else {}
        arn = client.create_secret(Name=name, SecretString=value or "", **extra)["ARN"]
        return arn, {"Id": arn}


class StateMachine(ApiCreated):
    """Replaces moto's own model, which ignores ``DefinitionSubstitutions`` and, with
    ``execute_state_machine`` on, creates the machine where the Step Functions API does not look."""

    TYPE = "AWS::StepFunctions::StateMachine"
    NAME_PROPERTY = "StateMachineName"

    @classmethod
    def create(cls, name: str, properties: dict[str, Any], region: str) -> tuple[str, dict[str, str]]:
        definition = properties["DefinitionString"]
        for key, value in properties.get("DefinitionSubstitutions", {}).items():
            definition = definition.replace("${" + key + "}", str(value))
        arn = boto3.client("stepfunctions", region_name=region).create_state_machine(
            name=name,
            definition=definition,
            roleArn=properties["RoleArn"],
            type=properties.get("StateMachineType", "STANDARD"),
            tags=[{"key": t["Key"], "value": t["Value"]} for t in properties.get("Tags", [])],
        )["stateMachineArn"]
        return arn, {"Arn": arn, "Name": name}


class Alarm(ApiCreated):
    TYPE = "AWS::CloudWatch::Alarm"
    NAME_PROPERTY = "AlarmName"

    @classmethod
    def create(cls, name: str, properties: dict[str, Any], region: str) -> tuple[str, dict[str, str]]:
        client = boto3.client("cloudwatch", region_name=region)
        client.put_metric_alarm(**(properties | {"AlarmName": name}))
        (alarm,) = client.describe_alarms(AlarmNames=[name])["MetricAlarms"]
        return name, {"Arn": alarm["AlarmArn"]}


class HttpApi(ApiCreated):
    TYPE = "AWS::ApiGatewayV2::Api"

    @classmethod
    def create(cls, name: str, properties: dict[str, Any], region: str) -> tuple[str, dict[str, str]]:
        # moto cannot import an OpenAPI body: the API is created without its routes (name and type only).
        body = properties.get("Body", {})
        api = boto3.client("apigatewayv2", region_name=region).create_api(
            Name=properties.get("Name") or body.get("info", {}).get("title") or name,
            ProtocolType=properties.get("ProtocolType", "HTTP"),  # an OpenAPI body defines an HTTP API
        )
        return api["ApiId"], {"ApiEndpoint": api["ApiEndpoint"], "ApiId": api["ApiId"]}


class HttpApiStage(ApiCreated):
    TYPE = "AWS::ApiGatewayV2::Stage"

    @classmethod
    def create(cls, name: str, properties: dict[str, Any], region: str) -> tuple[str, dict[str, str]]:
        stage = {k: v for k, v in properties.items() if k in ("ApiId", "StageName", "AutoDeploy")}
        boto3.client("apigatewayv2", region_name=region).create_stage(**stage)
        return properties["StageName"], {}


class BucketPolicy(ApiCreated):
    TYPE = "AWS::S3::BucketPolicy"

    @classmethod
    def create(cls, name: str, properties: dict[str, Any], region: str) -> tuple[str, dict[str, str]]:
        # moto enforces bucket policies without their conditions (a Deny for insecure transport would deny
        # everything): only unconditional statements are applied.
        document = properties["PolicyDocument"]
        statements = [s for s in document.get("Statement", []) if "Condition" not in s]
        if statements:
            policy = json.dumps(document | {"Statement": statements})
            s3 = boto3.client("s3", region_name=region)
            s3.put_bucket_policy(Bucket=properties["Bucket"], Policy=policy)
        return properties["Bucket"], {}


class QueuePolicy(ApiCreated):
    TYPE = "AWS::SQS::QueuePolicy"

    @classmethod
    def create(cls, name: str, properties: dict[str, Any], region: str) -> tuple[str, dict[str, str]]:
        sqs = boto3.client("sqs", region_name=region)
        for url in properties["Queues"]:
            sqs.set_queue_attributes(
                QueueUrl=url, Attributes={"Policy": json.dumps(properties["PolicyDocument"])}
            )
        return name, {}


class TopicSubscription(ApiCreated):
    TYPE = "AWS::SNS::Subscription"

    @classmethod
    def create(cls, name: str, properties: dict[str, Any], region: str) -> tuple[str, dict[str, str]]:
        arn = boto3.client("sns", region_name=region).subscribe(
            TopicArn=properties["TopicArn"], Protocol=properties["Protocol"], Endpoint=properties["Endpoint"]
        )["SubscriptionArn"]
        return arn, {}


class FunctionVersion(ApiCreated):
    """``AutoPublishAlias``'s version: ``Ref`` is the qualified ARN, ``GetAtt .Version`` the number
    (moto's own model has no attributes)."""

    TYPE = "AWS::Lambda::Version"

    @classmethod
    def create(cls, name: str, properties: dict[str, Any], region: str) -> tuple[str, dict[str, str]]:
        published = boto3.client("lambda", region_name=region).publish_version(
            FunctionName=properties["FunctionName"]
        )
        return published["FunctionArn"], {"Version": published["Version"]}


class FunctionAlias(ApiCreated):
    """``AutoPublishAlias``: the alias (``Ref`` is its ARN, as in CloudFormation)."""

    TYPE = "AWS::Lambda::Alias"

    @classmethod
    def create(cls, name: str, properties: dict[str, Any], region: str) -> tuple[str, dict[str, str]]:
        version = str(properties["FunctionVersion"]).rsplit(":", 1)[-1]
        arn = boto3.client("lambda", region_name=region).create_alias(
            FunctionName=properties["FunctionName"], Name=properties["Name"], FunctionVersion=version
        )["AliasArn"]
        return arn, {"AliasArn": arn}


class TopicPolicy(ApiCreated):
    TYPE = "AWS::SNS::TopicPolicy"

    @classmethod
    def create(cls, name: str, properties: dict[str, Any], region: str) -> tuple[str, dict[str, str]]:
        sns = boto3.client("sns", region_name=region)
        for topic in properties["Topics"]:
            sns.set_topic_attributes(
                TopicArn=topic,
                AttributeName="Policy",
                AttributeValue=json.dumps(properties["PolicyDocument"]),
            )
        return name, {}


class SchemaRegistry(ApiCreated):
    """moto has no EventBridge Schemas service: the registry only resolves (``Ref``, ``RegistryName``);
    the schemas' content is checked by tests/infra/test_published_schemas.py."""

    TYPE = "AWS::EventSchemas::Registry"

    @classmethod
    def create(cls, name: str, properties: dict[str, Any], region: str) -> tuple[str, dict[str, str]]:
        registry = properties.get("RegistryName") or name
        arn = f"arn:aws:schemas:{region}:123456789012:registry/{registry}"
        return arn, {"RegistryName": registry, "RegistryArn": arn}


class EventSchema(ApiCreated):
    TYPE = "AWS::EventSchemas::Schema"

    @classmethod
    def create(cls, name: str, properties: dict[str, Any], region: str) -> tuple[str, dict[str, str]]:
        json.loads(properties["Content"])  # at least well-formed, as the Schemas service requires
        schema = f"{properties['RegistryName']}/{properties['SchemaName']}"
        arn = f"arn:aws:schemas:{region}:123456789012:schema/{schema}"
        return arn, {"SchemaArn": arn, "SchemaName": properties["SchemaName"]}


class Schedule(ApiCreated):
    """EventBridge Scheduler (SAM's ``ScheduleV2`` event: the reconciler's schedule), through moto's API."""

    TYPE = "AWS::Scheduler::Schedule"
    NAME_PROPERTY = "Name"

    @classmethod
    def create(cls, name: str, properties: dict[str, Any], region: str) -> tuple[str, dict[str, str]]:
        target = properties["Target"]
        arn = boto3.client("scheduler", region_name=region).create_schedule(
            # CloudFormation names an unnamed schedule uniquely (two stacks side by side)
            Name=properties.get("Name") or f"{name}-{uuid.uuid4().hex[:12]}",
            ScheduleExpression=properties["ScheduleExpression"],
            FlexibleTimeWindow=properties.get("FlexibleTimeWindow", {"Mode": "OFF"}),
            Target={"Arn": target["Arn"], "RoleArn": target["RoleArn"]},
            State=properties.get("State", "ENABLED"),
        )["ScheduleArn"]
        return arn, {"Arn": arn}


#: The models :func:`covers_local.moto_patches.cloudformation` adds to moto's CloudFormation (a type
#: moto models too, the state machine, is then created by ours).
MODELS: tuple[type[ApiCreated], ...] = (
    Secret,
    StateMachine,
    Alarm,
    HttpApi,
    HttpApiStage,
    BucketPolicy,
    QueuePolicy,
    TopicSubscription,
    FunctionVersion,
    FunctionAlias,
    TopicPolicy,
    SchemaRegistry,
    EventSchema,
    Schedule,
)
