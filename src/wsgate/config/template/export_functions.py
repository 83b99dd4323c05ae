"""The functions of a config as Lambda functions in an exported template.

SAM gets an ``AWS::Serverless::Function`` with its ``CodeUri`` (``sam build`` packages it);
plain CloudFormation an ``AWS::Lambda::Function`` whose code is a zip in S3, named by
parameters, with CDK's ``aws:asset:path`` metadata naming the folder, so that wsgate serves the
template as it is. A function run at a ``lambdaEndpoint`` is an existing Lambda function: the
template refers to it by name and creates none. Every function an integration or authorizer
calls gets the ``AWS::Lambda::Permission`` that lets API Gateway invoke it.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Final, Literal

from wsgate.config.model import ApiConfig, FunctionConfig
from wsgate.config.template.draft import Draft, get_att, ref, sub
from wsgate.config.uris import function_name_from_uri
from wsgate.errors import ConfigIssue
from wsgate.types import JSONObject

__all__ = ["DEFAULT_RUNTIME", "FunctionExport", "calls_function"]

# What a function without a runtime (it runs on the gateway's own Python) is exported with.
DEFAULT_RUNTIME: Final = "python3.12"
_LAMBDA_ARN: Final = "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:"
_INVOCATION: Final = (
    "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/"
    "%s/invocations"
)
# API Gateway's ARN of an AWS service action or path, which is not a Lambda invocation.
_SERVICE: Final = re.compile(r"arn:aws[\w-]*:apigateway:[^:]*:(?!lambda:path/)")
_POLICY_VERSION: Final = "2012-10-17"
_EXECUTE_API: Final = "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:"


def calls_function(integration_type: str, uri: str) -> bool:
    """True when an integration invokes a function: AWS_PROXY, and AWS (Lambda custom) unless
    its URI is an AWS service's."""
    if integration_type == "AWS_PROXY":
        return True
    return integration_type == "AWS" and _SERVICE.match(uri) is None


class FunctionExport:
    """Writes the config's functions into a draft, and the URIs that invoke them."""

    def __init__(
        self,
        draft: Draft,
        config: ApiConfig,
        export_format: Literal["cloudformation", "sam"],
        *,
        api: str,
        base_dir: Path,
    ) -> None:
        self._draft = draft
        self._config = config
        self._sam = export_format == "sam"
        self._api = api
        self._base_dir = base_dir
        self._ids: dict[str, str] = {}  # function name -> logical id
        self._permitted: set[str] = set()
        self._code_keys: dict[str, str] = {}  # code folder -> its default S3 key
        self._code_parameters: dict[str, str] = {}  # code folder -> its key parameter
        self._bucket_id: str | None = None
        self._role_id: str | None = None
        self.notes: list[ConfigIssue] = []

    def reserve(self) -> None:
        """Take the logical ids of the functions that run here, before anything names them."""
        for name, function in self._config.functions.items():
            if function.remote:
                message = (
                    f"runs at {function.lambda_endpoint}: the template refers to the existing "
                    f"Lambda function {function.function_name or name!r} and creates none"
                )
                self.notes.append(ConfigIssue(f"functions.{name}.lambdaEndpoint", message))
            else:
                self._ids[name] = self._draft.logical_id(name, "Function")

    def add_all(self) -> None:
        """Add a Lambda function for each function of the config that runs here."""
        for name, logical_id in self._ids.items():
            kind, properties, attributes = self._resource(name, self._config.functions[name])
            self._draft.add_resource(logical_id, kind, properties, **attributes)

    def invocation_uri(self, uri: str) -> JSONObject:
        """The ``Fn::Sub`` invocation ARN of the function ``uri`` names, with its permission.

        ``uri`` names a function of the config (by name or ARN, without stage variables).
        """
        name = function_name_from_uri(uri, {})
        logical_id = self._ids.get(name)
        function_name: object
        if logical_id is None:  # an existing Lambda function, by its name
            function_name = self._config.functions[name].function_name or name
            arn = _LAMBDA_ARN + function_name.replace("${", "${!")  # literal in Fn::Sub
        else:
            arn, function_name = f"${{{logical_id}.Arn}}", ref(logical_id)
        if name not in self._permitted:
            self._permitted.add(name)
            self._draft.add_resource(
                self._draft.logical_id(name, "Permission"),
                "AWS::Lambda::Permission",
                {
                    "Action": "lambda:InvokeFunction",
                    "FunctionName": function_name,
                    "Principal": "apigateway.amazonaws.com",
                    "SourceArn": sub(self._execute_api_arn()),
                },
            )
        return sub(_INVOCATION % arn)

    def _execute_api_arn(self) -> str:
        return _EXECUTE_API + f"${{{self._api}}}/*"

    def _resource(
        self, name: str, function: FunctionConfig
    ) -> tuple[str, JSONObject, dict[str, JSONObject]]:
        place = f"functions.{name}"
        runtime = function.runtime
        if runtime is None:
            runtime = DEFAULT_RUNTIME
            message = f"not set (the gateway's Python runs it): exported as {DEFAULT_RUNTIME}"
            self.notes.append(ConfigIssue(f"{place}.runtime", message))
        timeout = math.ceil(function.timeout)
        if timeout != function.timeout:
            message = f"{function.timeout} rounded up to {timeout}: Lambda counts whole seconds"
            self.notes.append(ConfigIssue(f"{place}.timeout", message))
        properties: JSONObject = {"Handler": function.handler, "Runtime": runtime}
        properties.update(Timeout=timeout, MemorySize=function.memory_size)
        if function.environment:
            properties["Environment"] = {"Variables": dict(function.environment)}
        if "concurrency" in function.model_fields_set:
            properties["ReservedConcurrentExecutions"] = function.concurrency
        folder = self._folder(function.code_uri)
        if self._sam:
            properties = {"CodeUri": folder, **properties, "Policies": [self._policy()]}
            return "AWS::Serverless::Function", properties, {}
        key = ref(self._code_key(folder, Path(function.code_uri).name or "code"))
        code = {"S3Bucket": ref(self._bucket()), "S3Key": key}
        properties = {"Code": code, **properties, "Role": get_att(self._role(), "Arn")}
        # CDK's asset metadata: where the code is, for tools (and wsgate) that read it.
        metadata = {"aws:asset:path": folder, "aws:asset:property": "Code"}
        return "AWS::Lambda::Function", properties, {"Metadata": metadata}

    def _folder(self, code_uri: str) -> str:
        """The code folder, relative to where the template is written (a loaded config's
        folders are absolute; any other is kept as it is)."""
        if not Path(code_uri).is_absolute():
            return Path(code_uri).as_posix()
        return Path(os.path.relpath(code_uri, self._base_dir)).as_posix()

    def _policy(self) -> JSONObject:
        """Posting to @connections, as chat functions do."""
        statement = {
            "Effect": "Allow",
            "Action": "execute-api:ManageConnections",
            "Resource": sub(self._execute_api_arn()),
        }
        return {"Version": _POLICY_VERSION, "Statement": [statement]}

    def _bucket(self) -> str:
        if self._bucket_id is None:
            description = "The S3 bucket holding the functions' code (zip files)"
            self._bucket_id = self._draft.logical_id("Code", "Bucket")
            self._draft.add_parameter(self._bucket_id, description, None)
        return self._bucket_id

    def _code_key(self, folder: str, stem: str) -> str:
        """The parameter naming the S3 key of a folder's zip: ``{folder name}.zip`` at first."""
        if folder not in self._code_keys:
            default, number = f"{stem}.zip", 2
            while default in self._code_keys.values():
                default, number = f"{stem}{number}.zip", number + 1
            logical_id = self._draft.logical_id(stem, "CodeKey")
            description = (
                f"The S3 key of the zip of {folder}: (cd {folder} && zip -r ../{default} .)"
            )
            self._draft.add_parameter(logical_id, description, default)
            self._code_keys[folder] = default
            self._code_parameters[folder] = logical_id
        return self._code_parameters[folder]

    def _role(self) -> str:
        if self._role_id is not None:
            return self._role_id
        trust = {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
        basic = "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
        properties = {
            "AssumeRolePolicyDocument": {"Version": _POLICY_VERSION, "Statement": [trust]},
            "ManagedPolicyArns": [sub(basic)],
            "Policies": [{"PolicyName": "manage-connections", "PolicyDocument": self._policy()}],
        }
        self._role_id = self._draft.logical_id("Function", "Role")
        return self._draft.add_resource(self._role_id, "AWS::IAM::Role", properties)
