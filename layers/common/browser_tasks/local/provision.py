"""Creating the template's resources on the embedded AWS.

Only what the local stack needs is created for real (tables, key, queues, buckets, bus and
rules, schedule group, state machine, SSM parameters); functions are recorded so the stack can
run them; IAM, logs, API Gateway and layers have no local meaning and only get names for references.
Each resource is created the first time something refers to it, so the template's order does
not matter.
"""

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

ACCOUNT_ID = "123456789012"  # moto's default account
STATE_MACHINE_ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/local-state-machine"


@dataclass(frozen=True)
class QueueSource:
    """An SQS event source mapping: which queue feeds a function, how many at a time."""

    queue_url: str
    batch_size: int
    reports_batch_item_failures: bool


@dataclass(frozen=True)
class FunctionSpec:
    """A function of the template, as the local stack runs it."""

    logical_id: str
    code_dir: Path
    handler: str
    environment: dict[str, str]
    timeout_seconds: int
    queue_sources: tuple[QueueSource, ...]


@dataclass
class _Resource:
    ref: str
    attributes: dict[str, str] = field(default_factory=dict)


class Provisioner:
    """Resolves intrinsics and creates resources for one stack on the configured endpoint."""

    def __init__(
        self,
        template: dict[str, Any],
        project_root: Path,
        stack_name: str,
        region: str,
        parameter_overrides: dict[str, str] | None = None,
    ) -> None:
        self._template = template
        self._overrides = self._checked_overrides(parameter_overrides or {})
        self._root = project_root
        self._stack = stack_name
        self._region = region
        self._resources: dict[str, _Resource] = {}
        self._in_progress: set[str] = set()
        self._queue_urls_by_arn: dict[str, str] = {}
        self.functions: dict[str, FunctionSpec] = {}
        self._creators: dict[str, Callable[[str, dict[str, Any]], _Resource]] = {
            "AWS::DynamoDB::Table": self._table,
            "AWS::KMS::Key": self._kms_key,
            "AWS::KMS::Alias": self._kms_alias,
            "AWS::SQS::Queue": self._queue,
            "AWS::S3::Bucket": self._bucket,
            "AWS::Events::EventBus": self._event_bus,
            "AWS::Events::Rule": self._event_rule,
            "AWS::Scheduler::ScheduleGroup": self._schedule_group,
            "AWS::Serverless::StateMachine": self._state_machine,
            "AWS::SSM::Parameter": self._ssm_parameter,
            "AWS::Serverless::Function": self._function,
        }

    # -- public -----------------------------------------------------------------------------

    def provision_all(self) -> dict[str, str]:
        """Create every resource; return each logical id's ``Ref`` value."""
        for logical_id in self._template["Resources"]:
            self._provision(logical_id)
        return {logical_id: r.ref for logical_id, r in self._resources.items()}

    def resolve(self, value: Any) -> Any:
        """Evaluate intrinsic functions in ``value`` (Ref, GetAtt, Sub, Join)."""
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":
                return self._ref(argument)
            if key == "Fn::GetAtt":
                logical_id, attribute = (
                    argument if isinstance(argument, list) else argument.split(".", 1)
                )
                return self._get_att(logical_id, attribute)
            if key == "Fn::Sub":
                return self._sub(argument)
            if key == "Fn::Join":
                delimiter, parts = argument
                return delimiter.join(str(p) for p in self.resolve(parts))
            if key.startswith("Fn::") or key == "Condition":
                raise ValueError(
                    f"{key} is not supported by the local stack; keep the template simple"
                )
        return {k: self.resolve(v) for k, v in value.items()}

    # -- intrinsics -------------------------------------------------------------------------

    def _ref(self, name: str) -> str:
        pseudo = {
            "AWS::Region": self._region,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::StackName": self._stack,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": "",
        }
        if name in pseudo:
            return pseudo[name]
        if name in self._overrides:
            return self._overrides[name]
        parameters = self._template.get("Parameters", {})
        if name in parameters:
            return str(parameters[name]["Default"])
        return self._provision(name).ref

    def _checked_overrides(self, overrides: dict[str, str]) -> dict[str, str]:
        """Like ``sam deploy --parameter-overrides``: only declared parameters, and for
        ``AllowedValues`` one of them. Min/max are not enforced, on purpose: tests run the
        stack with limits (a 2-step chunk, a 15 s heartbeat) too small for a real account."""
        declared = self._template.get("Parameters", {})
        for name, value in overrides.items():
            if name not in declared:
                raise ValueError(f"template.yaml declares no parameter {name}")
            allowed = declared[name].get("AllowedValues")
            if allowed is not None and value not in [str(v) for v in allowed]:
                raise ValueError(f"{name} must be one of {allowed}, not {value!r}")
        return dict(overrides)

    def _get_att(self, logical_id: str, attribute: str) -> str:
        resource = self._provision(logical_id)
        if attribute not in resource.attributes:
            resource_type = self._template["Resources"][logical_id]["Type"]
            service = resource_type.split("::")[1].lower()
            return f"arn:aws:{service}:{self._region}:{ACCOUNT_ID}:{logical_id}"
        return resource.attributes[attribute]

    def _sub(self, argument: str | list[Any]) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        resolved = {k: str(self.resolve(v)) for k, v in variables.items()}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in resolved:
                return resolved[name]
            if "." in name and not name.startswith("AWS::"):
                logical_id, attribute = name.split(".", 1)
                return self._get_att(logical_id, attribute)
            return self._ref(name)

        return re.sub(r"\$\{([^}]+)\}", replace, text)

    # -- resources --------------------------------------------------------------------------

    def _provision(self, logical_id: str) -> _Resource:
        if logical_id in self._resources:
            return self._resources[logical_id]
        if logical_id not in self._template["Resources"]:
            raise KeyError(f"template refers to unknown resource {logical_id!r}")
        if logical_id in self._in_progress:
            raise ValueError(f"circular reference through {logical_id!r}")
        self._in_progress.add(logical_id)
        definition = self._template["Resources"][logical_id]
        properties = definition.get("Properties", {})
        creator = self._creators.get(definition["Type"])
        resource = creator(logical_id, properties) if creator else _Resource(self._name(logical_id))
        self._in_progress.discard(logical_id)
        self._resources[logical_id] = resource
        return resource

    def _name(self, logical_id: str) -> str:
        return f"{self._stack}-{logical_id}"

    def _table(self, logical_id: str, props: dict[str, Any]) -> _Resource:
        name = self.resolve(props.get("TableName")) or self._name(logical_id)
        arguments: dict[str, Any] = {
            "TableName": name,
            "KeySchema": props["KeySchema"],
            "AttributeDefinitions": props["AttributeDefinitions"],
            "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
        }
        if props.get("GlobalSecondaryIndexes"):
            arguments["GlobalSecondaryIndexes"] = [
                {k: index[k] for k in ("IndexName", "KeySchema", "Projection")}
                for index in props["GlobalSecondaryIndexes"]
            ]
        client = boto3.client("dynamodb", region_name=self._region)
        arn = client.create_table(**arguments)["TableDescription"]["TableArn"]
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            # Recorded (moto never deletes expired items): code that reads it sees AWS's setting.
            client.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
            )
        return _Resource(name, {"Arn": arn})

    def _kms_key(self, logical_id: str, props: dict[str, Any]) -> _Resource:
        client = boto3.client("kms", region_name=self._region)
        metadata = client.create_key(Description=str(props.get("Description", logical_id)))[
            "KeyMetadata"
        ]
        return _Resource(metadata["KeyId"], {"Arn": metadata["Arn"], "KeyId": metadata["KeyId"]})

    def _kms_alias(self, logical_id: str, props: dict[str, Any]) -> _Resource:
        alias = self.resolve(props["AliasName"])
        boto3.client("kms", region_name=self._region).create_alias(
            AliasName=alias, TargetKeyId=self.resolve(props["TargetKeyId"])
        )
        return _Resource(alias)

    def _queue(self, logical_id: str, props: dict[str, Any]) -> _Resource:
        name = self.resolve(props.get("QueueName")) or self._name(logical_id)
        attributes: dict[str, str] = {
            key: str(self.resolve(props[key]))
            for key in (
                "VisibilityTimeout",
                "MessageRetentionPeriod",
                "DelaySeconds",
                "ReceiveMessageWaitTimeSeconds",
                "FifoQueue",
                "ContentBasedDeduplication",
            )
            if key in props
        }
        if "RedrivePolicy" in props:
            attributes["RedrivePolicy"] = json.dumps(self.resolve(props["RedrivePolicy"]))
        client = boto3.client("sqs", region_name=self._region)
        url = client.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]  # type: ignore[arg-type]
        arn = client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        self._queue_urls_by_arn[arn] = url
        return _Resource(url, {"Arn": arn, "QueueName": name, "QueueUrl": url})

    def _bucket(self, logical_id: str, props: dict[str, Any]) -> _Resource:
        name = (self.resolve(props.get("BucketName")) or self._name(logical_id)).lower()
        client = boto3.client("s3", region_name=self._region)
        if self._region == "us-east-1":
            client.create_bucket(Bucket=name)
        else:
            client.create_bucket(
                Bucket=name,
                CreateBucketConfiguration={"LocationConstraint": self._region},  # type: ignore[typeddict-item]
            )
        if props.get("VersioningConfiguration", {}).get("Status") == "Enabled":
            client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        rules = props.get("LifecycleConfiguration", {}).get("Rules", [])
        if rules:
            client.put_bucket_lifecycle_configuration(
                Bucket=name,
                LifecycleConfiguration={"Rules": [self._lifecycle_rule(r) for r in rules]},
            )
        if props.get("NotificationConfiguration", {}).get("EventBridgeConfiguration"):
            client.put_bucket_notification_configuration(
                Bucket=name,
                NotificationConfiguration={"EventBridgeConfiguration": {}},
            )
        return _Resource(
            name, {"Arn": f"arn:aws:s3:::{name}", "DomainName": f"{name}.s3.amazonaws.com"}
        )

    @staticmethod
    def _lifecycle_rule(rule: dict[str, Any]) -> Any:
        translated: dict[str, Any] = {
            "ID": rule.get("Id", "rule"),
            "Status": rule.get("Status", "Enabled"),
            "Filter": {"Prefix": rule.get("Prefix", "")},
        }
        if "ExpirationInDays" in rule:
            translated["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
        return translated

    def _event_bus(self, logical_id: str, props: dict[str, Any]) -> _Resource:
        name = self.resolve(props["Name"])
        arn = boto3.client("events", region_name=self._region).create_event_bus(Name=name)[
            "EventBusArn"
        ]
        return _Resource(name, {"Arn": arn, "Name": name})

    def _schedule_group(self, logical_id: str, props: dict[str, Any]) -> _Resource:
        # The API creates scheduled tasks' schedules in it (the local scheduler fires them).
        name = self.resolve(props.get("Name")) or self._name(logical_id)
        arn = boto3.client("scheduler", region_name=self._region).create_schedule_group(Name=name)[
            "ScheduleGroupArn"
        ]
        return _Resource(name, {"Arn": arn})

    def _event_rule(self, logical_id: str, props: dict[str, Any]) -> _Resource:
        client = boto3.client("events", region_name=self._region)
        name = self.resolve(props.get("Name")) or self._name(logical_id)
        bus = self.resolve(props.get("EventBusName", "default"))
        arn = client.put_rule(
            Name=name,
            EventPattern=json.dumps(self.resolve(props["EventPattern"])),
            EventBusName=bus,
            State=props.get("State", "ENABLED"),
        )["RuleArn"]
        targets: list[Any] = [
            {k: v for k, v in self.resolve(t).items() if k in ("Id", "Arn", "Input", "InputPath")}
            for t in props.get("Targets", [])
        ]
        if targets:
            client.put_targets(Rule=name, EventBusName=bus, Targets=targets)
        return _Resource(name, {"Arn": arn})

    def _state_machine(self, logical_id: str, props: dict[str, Any]) -> _Resource:
        definition = (self._root / props["DefinitionUri"]).read_text(encoding="utf-8")
        for key, value in props.get("DefinitionSubstitutions", {}).items():
            definition = definition.replace("${" + key + "}", str(self.resolve(value)))
        name = self.resolve(props.get("Name")) or self._name(logical_id)
        arn = boto3.client("stepfunctions", region_name=self._region).create_state_machine(
            name=name,
            definition=definition,
            roleArn=STATE_MACHINE_ROLE,
            type=props.get("Type", "STANDARD"),
        )["stateMachineArn"]
        return _Resource(arn, {"Arn": arn, "Name": name})

    def _ssm_parameter(self, logical_id: str, props: dict[str, Any]) -> _Resource:
        name = self.resolve(props["Name"])
        boto3.client("ssm", region_name=self._region).put_parameter(
            Name=name, Value=str(self.resolve(props["Value"])), Type="String", Overwrite=True
        )
        return _Resource(name)

    def _function(self, logical_id: str, props: dict[str, Any]) -> _Resource:
        name = self._name(logical_id)
        resource = _Resource(
            name, {"Arn": f"arn:aws:lambda:{self._region}:{ACCOUNT_ID}:function:{name}"}
        )
        # Registered before its environment is resolved: the environment may name resources
        # that name this function.
        self._resources[logical_id] = resource
        globals_ = self._template.get("Globals", {}).get("Function", {})
        variables = {
            **globals_.get("Environment", {}).get("Variables", {}),
            **props.get("Environment", {}).get("Variables", {}),
        }
        environment = {k: str(self.resolve(v)) for k, v in variables.items()}
        if props.get("PackageType") == "Image":
            # An image function's code sits beside its Dockerfile; the handler is the image's CMD.
            dockerfile = self._template["Resources"][logical_id]["Metadata"]["Dockerfile"]
            code_dir = (self._root / dockerfile).parent
            handler = props.get("ImageConfig", {}).get("Command", ["app.lambda_handler"])[0]
        else:
            code_dir = self._root / props["CodeUri"]
            handler = props["Handler"]
        sources = []
        for event in props.get("Events", {}).values():
            if event.get("Type") != "SQS":
                continue
            event_props = event["Properties"]
            sources.append(
                QueueSource(
                    queue_url=self._queue_urls_by_arn[self.resolve(event_props["Queue"])],
                    batch_size=int(event_props.get("BatchSize", 10)),
                    reports_batch_item_failures="ReportBatchItemFailures"
                    in event_props.get("FunctionResponseTypes", []),
                )
            )
        self.functions[logical_id] = FunctionSpec(
            logical_id=logical_id,
            code_dir=code_dir,
            handler=handler,
            environment=environment,
            timeout_seconds=int(props.get("Timeout", globals_.get("Timeout", 3))),
            queue_sources=tuple(sources),
        )
        return resource
