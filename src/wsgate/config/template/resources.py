"""What each resource of a template stands for locally: its ``Ref`` value and attributes.

Resources wsgate runs (the WebSocket API and its parts, functions, layers) get the values the
rest of the translation uses; the others (tables, buckets, roles, ...) get plausible names and
ARNs built from the stack, region and account, as CloudFormation would name them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, Final

from wsgate.config.base import as_mapping
from wsgate.config.load import default_api_id
from wsgate.config.template.intrinsics import Resolver, TemplateIssue, as_text

__all__ = ["FUNCTION_TYPES", "LAYER_TYPES", "StackReferences", "skip_reason"]

FUNCTION_TYPES: Final = frozenset({"AWS::Serverless::Function", "AWS::Lambda::Function"})
LAYER_TYPES: Final = frozenset({"AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion"})
_API_PARTS: Final = "AWS::ApiGatewayV2::"
_ALPHABET: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


class StackReferences:
    """``Ref`` and ``Fn::GetAtt`` for one stack's resources (call :meth:`bind` first)."""

    def __init__(
        self, resources: Mapping[str, Any], *, stack_name: str, region: str, account_id: str
    ) -> None:
        self._resources = resources
        self._stack = stack_name
        self._region = region
        self._account = account_id
        self._resolver: Resolver | None = None
        self._naming: set[str] = set()

    def bind(self, resolver: Resolver) -> None:
        """Give the resolver that evaluates names written with intrinsic functions."""
        self._resolver = resolver

    def exists(self, name: str, place: str) -> bool:
        """False for a resource whose ``Condition`` is false: CloudFormation does not create it."""
        condition = as_mapping(self._resources.get(name)).get("Condition")
        if condition is None:
            return True
        assert self._resolver is not None
        return self._resolver.condition(as_text(condition, place), place)

    def api_id(self, name: str) -> str:
        """The id of the API ``name``: stable for a stack name and logical id."""
        return default_api_id(f"{self._stack}/{name}")

    def function_name(self, name: str, place: str) -> str:
        """A function's name: its ``FunctionName``, else one made as CloudFormation makes it."""
        return self._physical_name(name, "FunctionName", place)

    def ref(self, name: str, place: str) -> object:
        """The ``Ref`` value of resource ``name``."""
        kind = self._type(name, place)
        if kind == "AWS::ApiGatewayV2::Api":
            return self.api_id(name)
        if kind == "AWS::ApiGatewayV2::Stage":
            return self._property(name, "StageName", place) or name
        if kind.startswith(_API_PARTS):
            return name
        if kind in FUNCTION_TYPES:
            return self.function_name(name, place)
        if kind in LAYER_TYPES:
            layer = self._physical_name(name, "LayerName", place)
            return f"arn:aws:lambda:{self._region}:{self._account}:layer:{layer}:1"
        physical = self._physical_name(name, _name_property(kind), place)
        if kind == "AWS::SQS::Queue":
            return f"https://sqs.{self._region}.amazonaws.com/{self._account}/{physical}"
        if kind in _REF_IS_ARN:
            return self._arn(kind, physical)
        return physical

    def get_att(self, name: str, attribute: str, place: str) -> object:
        """Attribute ``attribute`` of resource ``name``."""
        kind = self._type(name, place)
        if kind == "AWS::ApiGatewayV2::Api" and attribute in ("ApiEndpoint", "ApiId"):
            api_id = self.api_id(name)
            if attribute == "ApiId":
                return api_id
            return f"wss://{api_id}.execute-api.{self._region}.amazonaws.com"
        if kind.startswith(_API_PARTS) and attribute.endswith("Id") and kind != _API_PARTS + "Api":
            return self.ref(name, place)
        if kind in FUNCTION_TYPES and attribute == "Arn":
            return self._arn(kind, self.function_name(name, place))
        if kind in LAYER_TYPES and attribute in ("Arn", "LayerVersionArn"):
            return self.ref(name, place)
        if kind.startswith(_API_PARTS) or kind in FUNCTION_TYPES or kind in LAYER_TYPES:
            raise TemplateIssue(place, f"{name} ({kind}) has no attribute {attribute!r} here")
        return self._skipped_attribute(kind, name, attribute, place)

    def _skipped_attribute(self, kind: str, name: str, attribute: str, place: str) -> str:
        physical = self._physical_name(name, _name_property(kind), place)
        arn = self._arn(kind, physical)
        if attribute == "Arn" or attribute == kind.rpartition("::")[2] + "Arn":
            return arn
        if attribute.endswith("Arn"):
            return f"{arn}/{attribute.removesuffix('Arn').lower()}"
        if attribute == "QueueUrl":
            return f"https://sqs.{self._region}.amazonaws.com/{self._account}/{physical}"
        if attribute.endswith("DomainName") or attribute.endswith("URL"):
            service = kind.split("::")[1].lower()
            return f"{physical.lower()}.{service}.{self._region}.amazonaws.com"
        return physical

    def _type(self, name: str, place: str) -> str:
        resource = self._resources.get(name)
        if not isinstance(resource, dict):
            raise TemplateIssue(place, f"no parameter or resource named {name!r}")
        if not self.exists(name, place):
            condition = resource["Condition"]
            raise TemplateIssue(
                place, f"resource {name!r} does not exist: its condition {condition!r} is false"
            )
        return str(resource.get("Type", ""))

    def _property(self, name: str, key: str, place: str) -> str | None:
        properties = as_mapping(as_mapping(self._resources.get(name)).get("Properties"))
        if key not in properties:
            return None
        if name in self._naming:
            raise TemplateIssue(place, f"the {key} of {name!r} refers to itself")
        assert self._resolver is not None
        self._naming.add(name)
        try:
            value = self._resolver.resolve(properties[key], f"Resources.{name}.Properties.{key}")
        finally:
            self._naming.discard(name)
        return as_text(value, place)

    def _physical_name(self, name: str, key: str, place: str) -> str:
        given = self._property(name, key, place)
        if given:
            return given
        digest = hashlib.sha256(f"{self._stack}/{name}".encode()).digest()
        suffix = "".join(_ALPHABET[byte % len(_ALPHABET)] for byte in digest[:12])
        physical = f"{self._stack}-{name}-{suffix}"
        return physical.lower() if key == "BucketName" else physical

    def _arn(self, kind: str, physical: str) -> str:
        service, _, resource = kind.removeprefix("AWS::").partition("::")
        service = "lambda" if kind in FUNCTION_TYPES else service.lower()
        head = f"arn:aws:{service}:{self._region}:{self._account}"
        if service == "lambda":
            return f"{head}:function:{physical}"
        if service == "s3":
            return f"arn:aws:s3:::{physical}"
        if service == "iam":
            return f"arn:aws:iam::{self._account}:{resource.lower()}/{physical}"
        if service in ("sqs", "sns"):
            return f"{head}:{physical}"
        if service == "logs":
            return f"{head}:log-group:{physical}:*"
        return f"{head}:{resource.lower()}/{physical}"


_REF_IS_ARN: Final = frozenset(
    {"AWS::SNS::Topic", "AWS::SecretsManager::Secret", "AWS::IAM::ManagedPolicy"}
)
# Where a resource's own name is written when it is not <Type>Name (AWS::S3::Bucket: BucketName).
_NAME_PROPERTIES: Final = {
    "AWS::Serverless::SimpleTable": "TableName",
    "AWS::Kinesis::Stream": "Name",
    "AWS::SecretsManager::Secret": "Name",
    "AWS::SSM::Parameter": "Name",
    "AWS::Events::EventBus": "Name",
    "AWS::Events::Rule": "Name",
}


def _name_property(kind: str) -> str:
    return _NAME_PROPERTIES.get(kind, kind.rpartition("::")[2] + "Name")


_SERVICE_REASONS: Final = {
    "IAM": "IAM is not enforced locally",
    "Lambda": "not run locally",
    "Logs": "logs go to stderr",
    "CloudFormation": "not run locally",
    "CDK": "",
}


def skip_reason(kind: str) -> str:
    """Why a resource of type ``kind`` is not run, and what to do about it."""
    if kind == "AWS::Lambda::Permission":
        return "invoke permissions are not checked locally"
    if kind.startswith("Custom::") or kind == "AWS::CloudFormation::CustomResource":
        return "custom resources are not run locally"
    if kind in ("AWS::Serverless::Api", "AWS::Serverless::HttpApi") or kind.startswith(
        ("AWS::ApiGateway::", "AWS::ApiGatewayV2::")
    ):
        return "not served: wsgate serves one WebSocket API"
    service = kind.split("::")[1] if kind.count("::") >= 2 else kind
    if kind == "AWS::Serverless::SimpleTable":
        service = "DynamoDB"
    if service in _SERVICE_REASONS:
        return _SERVICE_REASONS[service]
    variable = "AWS_ENDPOINT_URL_" + service.upper()
    return f"not run locally: functions reach AWS, or a stand-in named by {variable} (--env-vars)"
