"""Configs exported as templates for AWS, called with literals: resources, notes, refusals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from wsgate.config.model import ApiConfig, IntegrationConfig
from wsgate.config.template.draft import Draft
from wsgate.config.template.export import export_template
from wsgate.config.template.export_functions import calls_function
from wsgate.config.template.reader import read_template
from wsgate.config.template.writer import render_template
from wsgate.errors import ConfigError

BASE = Path("/srv/app")
LAMBDA_URI = (
    "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
    "arn:aws:lambda:us-east-1:000000000000:function:{}/invocations"
)
INVOCATION = (
    "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/"
    "%s/invocations"
)


def invocation(arn: str) -> str:
    return INVOCATION % arn


def config(**data: Any) -> ApiConfig:
    base: dict[str, Any] = {
        "name": "chat",
        "routeSelectionExpression": "$request.body.action",
        "stages": {"dev": {}},
    }
    return ApiConfig.model_validate({**base, **data})


def resources(template: dict[str, Any], kind: str) -> dict[str, Any]:
    return {
        name: resource["Properties"]
        for name, resource in template["Resources"].items()
        if resource["Type"] == kind
    }


def test_an_api_with_a_mock_route_and_nothing_else() -> None:
    exported = export_template(
        config(
            routes={"$default": {"target": "m", "routeResponseSelectionExpression": "$default"}},
            integrations={"m": {"integrationType": "MOCK"}},
        ),
        "cloudformation",
        base_dir=BASE,
    )
    template = exported.template
    assert exported.notes == []
    assert "Parameters" not in template and "Transform" not in template
    assert (
        "DependsOn"
        not in export_template(config(), "sam", base_dir=BASE).template["Resources"]["Deployment"]
    )
    assert template["Description"] == "The WebSocket API chat"
    assert template["Resources"]["WebSocketApi"]["Properties"] == {
        "Name": "chat",
        "ProtocolType": "WEBSOCKET",
        "RouteSelectionExpression": "$request.body.action",
        "ApiKeySelectionExpression": "$request.header.x-api-key",
    }
    assert resources(template, "AWS::ApiGatewayV2::Integration")["MIntegration"] == {
        "ApiId": {"Ref": "WebSocketApi"},
        "IntegrationType": "MOCK",
        "PassthroughBehavior": "WHEN_NO_MATCH",
        "TimeoutInMillis": 29000,
    }
    route = template["Resources"]["DefaultRoute"]
    assert "DependsOn" not in route
    assert route["Properties"] == {
        "ApiId": {"Ref": "WebSocketApi"},
        "RouteKey": "$default",
        "Target": {"Fn::Join": ["/", ["integrations", {"Ref": "MIntegration"}]]},
        "RouteResponseSelectionExpression": "$default",
    }
    # A two-way route gets the $default route response AWS needs to send the answer back.
    assert resources(template, "AWS::ApiGatewayV2::RouteResponse")["DefaultRouteResponse"] == {
        "ApiId": {"Ref": "WebSocketApi"},
        "RouteId": {"Ref": "DefaultRoute"},
        "RouteResponseKey": "$default",
    }
    assert template["Resources"]["Deployment"]["DependsOn"] == [
        "DefaultRoute",
        "DefaultRouteResponse",
    ]
    assert resources(template, "AWS::ApiGatewayV2::Stage")["DevStage"] == {
        "ApiId": {"Ref": "WebSocketApi"},
        "StageName": "dev",
        "DeploymentId": {"Ref": "Deployment"},
    }
    assert list(template["Outputs"]) == ["DevWebSocketUrl", "DevConnectionsUrl", "ApiId"]
    assert template["Outputs"]["DevWebSocketUrl"]["Value"] == {
        "Fn::Sub": "wss://${WebSocketApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/dev"
    }


def test_every_part_of_an_api() -> None:
    exported = export_template(
        config(
            description="Chat rooms",
            apiKeySelectionExpression="$context.authorizer.usageIdentifierKey",
            routes={
                "$connect": {
                    "target": "integrations/fn",
                    "authorizationType": "CUSTOM",
                    "authorizerId": "authorizers/gate",
                    "apiKeyRequired": True,
                },
                "$disconnect": {},
                "send": {
                    "target": "http",
                    "routeResponseSelectionExpression": "$default",
                    "routeResponses": {"$default": {"modelSelectionExpression": "m"}},
                    "modelSelectionExpression": "\\$default",
                    "requestModels": {"$default": "Message"},
                },
                "quiet": {"target": "http", "routeResponses": {"$default": {}}},
            },
            models={
                "Message": {"schema": '{"type": "object"}', "description": "A message"},
                "Other": {"schema": {"type": "string"}, "contentType": "text/plain"},
            },
            authorizers={
                "gate": {
                    "authorizerUri": "fn",
                    "identitySource": ["route.request.header.Auth"],
                    "name": "Gate",
                },
                "open": {"authorizerUri": LAMBDA_URI.format("fn")},
            },
            integrations={
                "fn": {"integrationType": "AWS_PROXY", "integrationUri": "fn"},
                "http": {
                    "integrationType": "HTTP",
                    "integrationUri": "http://${stageVariables.host}/send",
                    "integrationMethod": "PUT",
                    "timeoutInMillis": 5000,
                    "description": "The backend",
                    "requestTemplates": {"$default": '{"m": $input.body}'},
                    "templateSelectionExpression": "\\$default",
                    "passthroughBehavior": "NEVER",
                    "contentHandlingStrategy": "CONVERT_TO_TEXT",
                    "requestParameters": {"integration.request.header.Id": "context.connectionId"},
                    "integrationResponses": {
                        "/2\\d\\d/": {
                            "responseTemplates": {"$default": "ok"},
                            "templateSelectionExpression": "\\$default",
                            "contentHandlingStrategy": "CONVERT_TO_TEXT",
                            "responseParameters": {"a": "b"},
                        },
                        "$default": {},
                    },
                },
                "proxy": {"integrationType": "HTTP_PROXY", "integrationUri": "https://h/p"},
                "nowhere": {"integrationType": "HTTP"},
            },
            functions={"fn": {"handler": "app.handler", "runtime": "python3.12"}},
            stages={
                "dev": {
                    "description": "Development",
                    "stageVariables": {"host": "127.0.0.1:9000"},
                    "defaultRouteSettings": {
                        "throttlingBurstLimit": 10,
                        "throttlingRateLimit": 5,
                        "loggingLevel": "ERROR",
                    },
                    "routeSettings": {"send": {"dataTraceEnabled": True}},
                    "accessLogSettings": {"format": "$context.requestId"},
                },
            },
        ),
        "sam",
        base_dir=BASE,
    )
    template = exported.template
    assert template["Transform"] == "AWS::Serverless-2016-10-31"
    assert template["Description"] == "Chat rooms"
    api = template["Resources"]["WebSocketApi"]["Properties"]
    assert api["Description"] == "Chat rooms"
    assert api["ApiKeySelectionExpression"] == "$context.authorizer.usageIdentifierKey"
    routes = resources(template, "AWS::ApiGatewayV2::Route")
    assert routes["ConnectRoute"] == {
        "ApiId": {"Ref": "WebSocketApi"},
        "RouteKey": "$connect",
        "Target": {"Fn::Join": ["/", ["integrations", {"Ref": "FnIntegration"}]]},
        "AuthorizationType": "CUSTOM",
        "AuthorizerId": {"Ref": "GateAuthorizer"},
        "ApiKeyRequired": True,
    }
    assert routes["DisconnectRoute"] == {
        "ApiId": {"Ref": "WebSocketApi"},
        "RouteKey": "$disconnect",
    }
    assert template["Resources"]["SendRoute"]["DependsOn"] == ["MessageModel"]
    assert routes["SendRoute"]["RequestModels"] == {"$default": "Message"}
    assert routes["SendRoute"]["ModelSelectionExpression"] == "\\$default"
    route_responses = resources(template, "AWS::ApiGatewayV2::RouteResponse")
    assert route_responses["SendRouteResponse"]["ModelSelectionExpression"] == "m"
    assert route_responses["QuietRouteResponse"] == {
        "ApiId": {"Ref": "WebSocketApi"},
        "RouteId": {"Ref": "QuietRoute"},
        "RouteResponseKey": "$default",
    }
    models = resources(template, "AWS::ApiGatewayV2::Model")
    assert models["MessageModel"] == {
        "ApiId": {"Ref": "WebSocketApi"},
        "Name": "Message",
        "ContentType": "application/json",
        "Schema": {"type": "object"},
        "Description": "A message",
    }
    assert models["OtherModel"]["Schema"] == {"type": "string"}
    authorizers = resources(template, "AWS::ApiGatewayV2::Authorizer")
    assert resources(template, "AWS::Serverless::Function")["FnFunction"]["CodeUri"] == "."
    invoke_fn = {"Fn::Sub": invocation("${FnFunction.Arn}")}
    assert authorizers["GateAuthorizer"] == {
        "ApiId": {"Ref": "WebSocketApi"},
        "AuthorizerType": "REQUEST",
        "AuthorizerUri": invoke_fn,
        "Name": "Gate",
        "IdentitySource": ["route.request.header.Auth"],
    }
    assert authorizers["OpenAuthorizer"]["Name"] == "open"
    assert "IdentitySource" not in authorizers["OpenAuthorizer"]
    integrations = resources(template, "AWS::ApiGatewayV2::Integration")
    assert integrations["FnIntegration"] == {
        "ApiId": {"Ref": "WebSocketApi"},
        "IntegrationType": "AWS_PROXY",
        "IntegrationUri": invoke_fn,
        "IntegrationMethod": "POST",
        "TimeoutInMillis": 29000,
    }
    assert integrations["HttpIntegration"] == {
        "ApiId": {"Ref": "WebSocketApi"},
        "IntegrationType": "HTTP",
        "IntegrationUri": {"Ref": "HttpBackendUrl"},
        "IntegrationMethod": "PUT",
        "PassthroughBehavior": "NEVER",
        "TimeoutInMillis": 5000,
        "Description": "The backend",
        "RequestTemplates": {"$default": '{"m": $input.body}'},
        "TemplateSelectionExpression": "\\$default",
        "ContentHandlingStrategy": "CONVERT_TO_TEXT",
        "RequestParameters": {"integration.request.header.Id": "context.connectionId"},
    }
    assert integrations["ProxyIntegration"]["IntegrationUri"] == {"Ref": "ProxyBackendUrl"}
    assert "PassthroughBehavior" not in integrations["ProxyIntegration"]
    assert "IntegrationUri" not in integrations["NowhereIntegration"]
    assert template["Parameters"]["HttpBackendUrl"]["Default"] == (
        "http://${stageVariables.host}/send"
    )
    responses = resources(template, "AWS::ApiGatewayV2::IntegrationResponse")
    assert responses["Http2DDIntegrationResponse"] == {
        "ApiId": {"Ref": "WebSocketApi"},
        "IntegrationId": {"Ref": "HttpIntegration"},
        "IntegrationResponseKey": "/2\\d\\d/",
        "ResponseTemplates": {"$default": "ok"},
        "TemplateSelectionExpression": "\\$default",
        "ContentHandlingStrategy": "CONVERT_TO_TEXT",
        "ResponseParameters": {"a": "b"},
    }
    assert responses["HttpDefaultIntegrationResponse"]["IntegrationResponseKey"] == "$default"
    deployed = template["Resources"]["Deployment"]["DependsOn"]
    assert set(deployed) == {*routes, *route_responses, *responses}
    stage = resources(template, "AWS::ApiGatewayV2::Stage")["DevStage"]
    assert stage["Description"] == "Development"
    assert stage["StageVariables"] == {"host": "127.0.0.1:9000"}
    assert stage["DefaultRouteSettings"] == {
        "ThrottlingBurstLimit": 10,
        "ThrottlingRateLimit": 5,
        "LoggingLevel": "ERROR",
    }
    assert stage["RouteSettings"] == {"send": {"DataTraceEnabled": True}}
    assert stage["AccessLogSettings"] == {
        "DestinationArn": {"Fn::GetAtt": ["DevAccessLogs", "Arn"]},
        "Format": "$context.requestId",
    }
    assert template["Resources"]["DevAccessLogs"]["Type"] == "AWS::Logs::LogGroup"


def test_sam_functions_keep_their_code_folders() -> None:
    template = export_template(
        config(
            integrations={
                "a": {"integrationType": "AWS_PROXY", "integrationUri": LAMBDA_URI.format("fn")},
                "b": {"integrationType": "AWS_PROXY", "integrationUri": "fn"},
            },
            functions={
                "fn": {
                    "handler": "app.handler",
                    "runtime": "nodejs20.x",
                    "codeUri": "/srv/app/functions",
                    "timeout": 10,
                    "memorySize": 512,
                    "environment": {"TABLE": "t"},
                    "concurrency": 8,
                },
                "unused": {"handler": "app.other", "runtime": "python3.11", "codeUri": "/srv/lib"},
            },
        ),
        "sam",
        base_dir=BASE,
    ).template
    functions = resources(template, "AWS::Serverless::Function")
    policy: dict[str, Any] = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "execute-api:ManageConnections",
                "Resource": {
                    "Fn::Sub": "arn:${AWS::Partition}:execute-api:${AWS::Region}:"
                    "${AWS::AccountId}:${WebSocketApi}/*"
                },
            }
        ],
    }
    assert functions["FnFunction"] == {
        "CodeUri": "functions",
        "Handler": "app.handler",
        "Runtime": "nodejs20.x",
        "Timeout": 10,
        "MemorySize": 512,
        "Environment": {"Variables": {"TABLE": "t"}},
        "ReservedConcurrentExecutions": 8,
        "Policies": [policy],
    }
    assert functions["UnusedFunction"]["CodeUri"] == "../lib"
    assert "Environment" not in functions["UnusedFunction"]
    assert "ReservedConcurrentExecutions" not in functions["UnusedFunction"]
    # One permission per function called, however many integrations call it.
    assert resources(template, "AWS::Lambda::Permission") == {
        "FnPermission": {
            "Action": "lambda:InvokeFunction",
            "FunctionName": {"Ref": "FnFunction"},
            "Principal": "apigateway.amazonaws.com",
            "SourceArn": policy["Statement"][0]["Resource"],
        }
    }


def test_cloudformation_functions_take_their_code_from_s3() -> None:
    exported = export_template(
        config(
            functions={
                "one": {"handler": "app.one", "codeUri": "/srv/app/code", "timeout": 2.5},
                "two": {"handler": "app.two", "codeUri": "/srv/app/code"},
                "here": {"handler": "app.here", "codeUri": "/srv/app"},
                "there": {"handler": "app.there", "codeUri": "/srv/other/code"},
                "root": {"handler": "app.root", "codeUri": "/"},
            },
        ),
        "cloudformation",
        base_dir=BASE,
    )
    template = exported.template
    assert template["Parameters"]["CodeBucket"] == {
        "Type": "String",
        "Description": "The S3 bucket holding the functions' code (zip files)",
    }
    parameters = template["Parameters"]
    assert parameters["CodeCodeKey"] == {
        "Type": "String",
        "Description": "The S3 key of the zip of code: (cd code && zip -r ../code.zip .)",
        "Default": "code.zip",
    }
    assert parameters["AppCodeKey"]["Default"] == "app.zip"  # the folder "."
    assert parameters["Code2CodeKey"]["Default"] == "code2.zip"  # another folder "code"
    assert parameters["Code3CodeKey"]["Default"] == "code3.zip"  # the root folder
    one = template["Resources"]["OneFunction"]
    assert one["Metadata"] == {"aws:asset:path": "code", "aws:asset:property": "Code"}
    assert one["Properties"] == {
        "Code": {"S3Bucket": {"Ref": "CodeBucket"}, "S3Key": {"Ref": "CodeCodeKey"}},
        "Handler": "app.one",
        "Runtime": "python3.12",
        "Timeout": 3,
        "MemorySize": 128,
        "Role": {"Fn::GetAtt": ["FunctionRole", "Arn"]},
    }
    two = template["Resources"]["TwoFunction"]["Properties"]
    assert two["Code"]["S3Key"] == {"Ref": "CodeCodeKey"}
    here = template["Resources"]["HereFunction"]
    assert here["Properties"]["Code"]["S3Key"] == {"Ref": "AppCodeKey"}
    assert here["Metadata"]["aws:asset:path"] == "."
    role = template["Resources"]["FunctionRole"]
    assert role["Type"] == "AWS::IAM::Role"
    assert role["Properties"]["ManagedPolicyArns"] == [
        {
            "Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/"
            "AWSLambdaBasicExecutionRole"
        }
    ]
    notes = [str(issue) for issue in exported.notes]
    assert "functions.one.timeout: 2.5 rounded up to 3: Lambda counts whole seconds" in notes
    assert (
        "functions.two.runtime: not set (the gateway's Python runs it): exported as python3.12"
    ) in notes


def test_functions_at_a_lambda_endpoint_are_referred_to() -> None:
    exported = export_template(
        config(
            integrations={
                "a": {"integrationType": "AWS_PROXY", "integrationUri": "remote"},
                "b": {"integrationType": "AWS_PROXY", "integrationUri": "named"},
            },
            functions={
                "remote": {"lambdaEndpoint": "http://127.0.0.1:3001"},
                "named": {"lambdaEndpoint": "https://l", "functionName": "prod-${x}"},
            },
        ),
        "sam",
        base_dir=BASE,
    )
    template = exported.template
    assert resources(template, "AWS::Serverless::Function") == {}
    integrations = resources(template, "AWS::ApiGatewayV2::Integration")
    arn = "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:"
    assert integrations["AIntegration"]["IntegrationUri"] == {"Fn::Sub": invocation(arn + "remote")}
    assert integrations["BIntegration"]["IntegrationUri"] == {
        "Fn::Sub": invocation(arn + "prod-${!x}")
    }
    permissions = resources(template, "AWS::Lambda::Permission")
    assert permissions["NamedPermission"]["FunctionName"] == "prod-${x}"
    assert [str(issue) for issue in exported.notes] == [
        "functions.remote.lambdaEndpoint: runs at http://127.0.0.1:3001: the template refers "
        "to the existing Lambda function 'remote' and creates none",
        "functions.named.lambdaEndpoint: runs at https://l: the template refers to the "
        "existing Lambda function 'prod-${x}' and creates none",
    ]


def test_aws_integrations_call_functions_or_services() -> None:
    service = "arn:aws:apigateway:us-east-1:sqs:path/000000000000/queue"
    fields = IntegrationConfig.model_fields
    credentials = {"credentialsArn": "arn:aws:iam::1:role/r"} if "credentials_arn" in fields else {}
    template = export_template(
        config(
            integrations={
                "custom": {"integrationType": "AWS", "integrationUri": "fn"},
                "queue": {"integrationType": "AWS", "integrationUri": service, **credentials},
                "plain": {"integrationType": "AWS", "integrationUri": service},
            },
            functions={"fn": {"handler": "app.handler", "runtime": "python3.12"}},
        ),
        "sam",
        base_dir=BASE,
    ).template
    integrations = resources(template, "AWS::ApiGatewayV2::Integration")
    assert integrations["CustomIntegration"]["IntegrationUri"] == {
        "Fn::Sub": invocation("${FnFunction.Arn}")
    }
    assert integrations["CustomIntegration"]["PassthroughBehavior"] == "WHEN_NO_MATCH"
    assert integrations["QueueIntegration"]["IntegrationUri"] == service
    if credentials:
        assert integrations["QueueIntegration"]["CredentialsArn"] == "arn:aws:iam::1:role/r"
    assert "CredentialsArn" not in integrations["PlainIntegration"]


@pytest.mark.parametrize(
    ("integration_type", "uri", "expected"),
    [
        ("AWS_PROXY", "fn", True),
        ("AWS", LAMBDA_URI.format("fn"), True),
        ("AWS", "arn:aws:lambda:us-east-1:1:function:fn", True),
        ("AWS", "arn:aws:apigateway:us-east-1:sqs:path/1/q", False),
        ("AWS", "arn:aws:apigateway:us-east-1:states:action/StartExecution", False),
        ("HTTP", "http://h", False),
    ],
)
def test_calls_function(integration_type: str, uri: str, expected: bool) -> None:
    assert calls_function(integration_type, uri) is expected


def test_what_has_no_aws_counterpart_is_left_out_and_listed() -> None:
    exported = export_template(
        config(
            routes={"$connect": {"description": "Connects"}},
            integrations={
                "m": {
                    "integrationType": "MOCK",
                    "integrationResponseSelectionExpression": "${request.body.x}",
                },
                "h": {
                    "integrationType": "HTTP",
                    "integrationUri": "http://h",
                    "integrationResponseSelectionExpression": "${integration.response.statuscode}",
                },
                "p": {
                    "integrationType": "HTTP_PROXY",
                    "integrationUri": "http://h",
                    "integrationResponseSelectionExpression": "x",
                },
            },
            functions={
                "gate": {"lambdaEndpoint": "https://l"},
                "f": {"handler": "a.b", "runtime": "python3.12", "isolation": "inprocess"},
                "g": {"handler": "a.b", "runtime": "python3.12", "isolation": "process"},
            },
            authorizers={
                "a": {
                    "authorizerUri": "gate",
                    "authorizerResultTtlInSeconds": 60,
                    "timeoutInMillis": 500,
                },
                "b": {"authorizerUri": "gate", "timeoutInMillis": 10000},
            },
            iam={"credentials": [{"accessKeyId": "AKIA0123456789ABCDEF", "secretAccessKey": "s"}]},
            apiKeys={"k": {"value": "k" * 20}},
            usagePlans={"p": {}},
            groupsFromAuthorizer="groups",
            server={"port": 9000, "metrics": True, "adminPort": 0},
            stages={
                "dev": {
                    "limits": {"idleTimeoutSeconds": 60},
                    "protection": {"maxConnections": 5},
                    "accessLogSettings": {"format": "$context.requestId", "destination": "x.log"},
                    "awsStrict": True,
                },
                "prod": {
                    "limits": {},
                    "accessLogSettings": {"format": "$context.requestId"},
                },
            },
        ),
        "cloudformation",
        base_dir=BASE,
    )
    assert [str(issue) for issue in exported.notes] == [
        "iam: IAM keys are AWS's users and roles; AWS_IAM routes stay AWS_IAM",
        "apiKeys: API keys are secrets, kept out of templates: create AWS::ApiGateway::ApiKey "
        "and UsagePlanKey resources for the stages (apiKeyRequired stays on the routes)",
        "usagePlans: usage plans belong to API Gateway's REST control plane: create an "
        "AWS::ApiGateway::UsagePlan for the exported stages",
        "groupsFromAuthorizer: joining groups at $connect is wsgate's own",
        "server: port, adminPort, metrics: the gateway's own; AWS runs the endpoint",
        "stages.dev.limits: AWS's fixed quotas apply (32 KB frames, 128 KB messages, "
        "10-minute idle timeout, 2-hour connections)",
        "stages.dev.protection: per-connection, per-principal and connection-count limits are "
        "wsgate's own; AWS throttles by stage and route (routeSettings, exported)",
        "stages.dev.accessLogSettings.destination: access logs go to the CloudWatch Logs group "
        "the template creates",
        "routes.$connect.description: AWS routes have none",
        "integrations.m.integrationResponseSelectionExpression: AWS fixes it for MOCK "
        "integrations (${integration.response.statuscode})",
        "integrations.p.integrationResponseSelectionExpression: AWS fixes it for HTTP_PROXY "
        "integrations",
        "functions.f.isolation: Lambda runs every function in its own execution environments",
        "authorizers.a.timeoutInMillis: AWS gives an authorizer no timeout of its own: its "
        "function's applies",
        "authorizers.a.authorizerResultTtlInSeconds: AWS caches no authorizer results for "
        "WebSocket APIs",
        "functions.gate.lambdaEndpoint: runs at https://l: the template refers to the existing "
        "Lambda function 'gate' and creates none",
    ]


@pytest.mark.parametrize(
    ("data", "problems"),
    [
        (
            {
                "integrations": {
                    "fn": {
                        "integrationType": "AWS_PROXY",
                        "integrationUri": "${stageVariables.fn}",
                    },
                    "ok": {
                        "integrationType": "HTTP",
                        "integrationUri": "http://${stageVariables.h}",
                    },
                }
            },
            ["integrations.fn.integrationUri: the function is chosen by a stage variable"],
        ),
        (
            {
                "authorizers": {
                    "web": {"authorizerUri": "https://auth.example.com/check"},
                    "staged": {"authorizerUri": LAMBDA_URI.format("${stageVariables.fn}")},
                    "ok": {"authorizerUri": "fn"},
                }
            },
            [
                "authorizers.web.authorizerUri: an HTTP authorizer has no AWS counterpart: AWS "
                "calls Lambda functions",
                "authorizers.staged.authorizerUri: the function is chosen by a stage variable",
            ],
        ),
    ],
)
def test_what_would_change_the_api_is_refused(data: dict[str, Any], problems: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        export_template(config(**data), "sam", base_dir=BASE, source="api.yaml")
    assert info.value.source == "api.yaml"
    messages = [str(issue) for issue in info.value.issues]
    assert len(messages) == len(problems)
    for message, problem in zip(messages, problems, strict=True):
        assert message.startswith(problem)


@pytest.mark.parametrize(
    ("names", "ids"),
    [
        (
            [("send", "Route"), ("Send", "Route"), ("s-end", "Route")],
            ["SendRoute", "Send2Route", "SEndRoute"],
        ),
        ([("$default", "Route"), ("default", "Route")], ["DefaultRoute", "Default2Route"]),
        (
            [("ChatIntegration", "Integration"), ("chat", "Integration")],
            ["ChatIntegration", "Chat2Integration"],
        ),
        ([("", "Deployment"), ("$", "Deployment")], ["Deployment", "2Deployment"]),
    ],
)
def test_logical_ids_are_alphanumeric_and_unique(
    names: list[tuple[str, str]], ids: list[str]
) -> None:
    draft = Draft()
    assert [draft.logical_id(name, kind) for name, kind in names] == ids


def test_outputs_with_the_same_name_are_numbered() -> None:
    draft = Draft()
    draft.add_output("a-b Url", "one", 1)
    draft.add_output("a_b Url", "two", 2)
    assert list(draft.outputs) == ["ABUrl", "ABUrl2"]


@pytest.mark.parametrize("as_json", [False, True])
def test_rendered_templates_read_back_the_same(as_json: bool) -> None:
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {
            "R": {
                "Type": "T",
                "Properties": {
                    "Template": '{"a": $input.json(\'$.a\')}\n#if($x)\n  "b"\n#end\n',
                    "Key": "/2\\d\\d/",
                    "Same": ["x", "x"],
                    "Sub": {"Fn::Sub": "${A}"},
                },
            }
        },
    }
    text = render_template(template, as_json=as_json)
    assert read_template(text) == template
    if as_json:
        assert json.loads(text) == template
    else:
        assert "Template: |" in text and "&" not in text
        assert yaml.safe_load(text)["AWSTemplateFormatVersion"] == "2010-09-09"
