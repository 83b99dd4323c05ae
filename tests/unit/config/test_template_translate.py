"""Templates translated into config data: resources, functions, errors at their places."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from wsgate.config.template.functions import (
    FunctionContext,
    code_folder,
    merge_globals,
    translate_function,
)
from wsgate.config.template.intrinsics import Resolver, TemplateIssue
from wsgate.config.template.load import load_api, template_issue_place
from wsgate.config.template.options import TemplateOptions
from wsgate.config.template.translate import Translation, translate_template
from wsgate.errors import ConfigError

_API_ID = {"Ref": "Api"}


def _template(resources: dict[str, Any], **sections: Any) -> dict[str, Any]:
    base = {
        "Api": {
            "Type": "AWS::ApiGatewayV2::Api",
            "Properties": {
                "Name": "a",
                "ProtocolType": "WEBSOCKET",
                "RouteSelectionExpression": "$request.body.action",
            },
        },
        "Stage": {
            "Type": "AWS::ApiGatewayV2::Stage",
            "Properties": {"ApiId": _API_ID, "StageName": "dev"},
        },
    }
    return {"Resources": {**base, **resources}, **sections}


def _translate(template: dict[str, Any], tmp_path: Path, **options: Any) -> Translation:
    return translate_template(
        template,
        template_dir=tmp_path,
        options=TemplateOptions(home=tmp_path / "home", **options),
        stack_name="st",
    )


def _messages(issues: list[Any]) -> list[str]:
    return [str(issue) for issue in issues]


def test_api_parts(tmp_path: Path) -> None:
    resources = {
        "Route": {
            "Type": "AWS::ApiGatewayV2::Route",
            "Properties": {
                "ApiId": _API_ID,
                "RouteKey": "$connect",
                "Target": {"Fn::Sub": "integrations/${Integ}"},
                "AuthorizationType": "CUSTOM",
                "AuthorizerId": {"Ref": "Auth"},
                "ApiKeyRequired": False,
                "RouteResponseSelectionExpression": "$default",
                "OperationName": "Connect",
                "RequestParameters": {"route.request.querystring.token": {"Required": True}},
            },
        },
        "SendRoute": {
            "Type": "AWS::ApiGatewayV2::Route",
            "Properties": {
                "ApiId": _API_ID,
                "RouteKey": "send",
                "ModelSelectionExpression": "$request.body.action",
                "RequestModels": {"send": "m"},
            },
        },
        "Response": {
            "Type": "AWS::ApiGatewayV2::RouteResponse",
            "Properties": {
                "ApiId": _API_ID,
                "RouteId": {"Ref": "Route"},
                "RouteResponseKey": "$default",
                "ResponseModels": {},
            },
        },
        "Integ": {
            "Type": "AWS::ApiGatewayV2::Integration",
            "Properties": {
                "ApiId": _API_ID,
                "IntegrationType": "MOCK",
                "RequestTemplates": {"$default": '{"statusCode": 200}'},
                "TemplateSelectionExpression": "\\$default",
                "TimeoutInMillis": 1000,
                "ConnectionType": "INTERNET",
            },
        },
        "IntegResponse": {
            "Type": "AWS::ApiGatewayV2::IntegrationResponse",
            "Properties": {
                "ApiId": _API_ID,
                "IntegrationId": {"Ref": "Integ"},
                "IntegrationResponseKey": "$default",
                "ResponseTemplates": {"$default": "ok"},
            },
        },
        "Auth": {
            "Type": "AWS::ApiGatewayV2::Authorizer",
            "Properties": {
                "ApiId": _API_ID,
                "AuthorizerType": "REQUEST",
                "AuthorizerUri": "https://auth.example.com/",
                "IdentitySource": ["route.request.header.Auth"],
                "Name": "auth",
            },
        },
        "Prod": {
            "Type": "AWS::ApiGatewayV2::Stage",
            "Properties": {
                "ApiId": _API_ID,
                "StageName": "prod",
                "StageVariables": {"n": 1},
                "DefaultRouteSettings": {"ThrottlingBurstLimit": 5, "ThrottlingRateLimit": 1},
                "RouteSettings": {
                    "$connect": {"ThrottlingBurstLimit": 1, "ThrottlingRateLimit": 1}
                },
                "AccessLogSettings": {
                    "Format": "$context.requestId",
                    "DestinationArn": "arn:aws:logs:x",
                },
                "AutoDeploy": True,
            },
        },
        "Deployment": {"Type": "AWS::ApiGatewayV2::Deployment", "Properties": {"ApiId": _API_ID}},
        "Model": {
            "Type": "AWS::ApiGatewayV2::Model",
            "Properties": {
                "ApiId": _API_ID,
                "Name": "m",
                "Schema": {"type": "object"},
                "ContentType": "application/json",
            },
        },
        "Meta": {"Type": "AWS::CDK::Metadata"},
    }
    result = _translate(_template(resources), tmp_path)
    assert result.issues == []
    data = result.data
    assert data["routes"]["$connect"] == {
        "target": "integrations/Integ",
        "authorizationType": "CUSTOM",
        "authorizerId": "Auth",
        "apiKeyRequired": False,
        "routeResponseSelectionExpression": "$default",
        "routeResponses": {"$default": {}},
    }
    assert data["routes"]["send"] == {
        "modelSelectionExpression": "$request.body.action",
        "requestModels": {"send": "m"},
        "routeResponses": {},
    }
    assert data["models"] == {
        "m": {"schema": {"type": "object"}, "contentType": "application/json"}
    }
    assert data["integrations"]["Integ"]["integrationResponses"] == {
        "$default": {"responseTemplates": {"$default": "ok"}}
    }
    assert data["authorizers"]["Auth"]["identitySource"] == ["route.request.header.Auth"]
    assert data["stages"]["prod"] == {
        "stageVariables": {"n": "1"},
        "defaultRouteSettings": {"throttlingBurstLimit": 5, "throttlingRateLimit": 1},
        "routeSettings": {"$connect": {"throttlingBurstLimit": 1, "throttlingRateLimit": 1}},
        "accessLogSettings": {"format": "$context.requestId"},
    }
    assert data["apiId"] and data["region"] == "us-east-1" and data["accountId"] == "123456789012"
    assert _messages(result.notes) == [
        "Resources.Route.Properties.RequestParameters: required request parameters are not checked",
        "Resources.Response.Properties.ResponseModels: not enforced",
        "Resources.Prod.Properties.AccessLogSettings: access logs go to stderr here, not to a "
        "CloudWatch group",
    ]
    assert result.skipped == []


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        (
            {
                "R": {
                    "Type": "AWS::ApiGatewayV2::Route",
                    "Properties": {"ApiId": _API_ID, "Target": "x"},
                }
            },
            "Resources.R.Properties.RouteKey: required",
        ),
        (
            {
                "R1": {
                    "Type": "AWS::ApiGatewayV2::Route",
                    "Properties": {"ApiId": _API_ID, "RouteKey": "a"},
                },
                "R2": {
                    "Type": "AWS::ApiGatewayV2::Route",
                    "Properties": {"ApiId": _API_ID, "RouteKey": "a"},
                },
            },
            "Resources.R2.Properties.RouteKey: route key 'a' is also declared by another route",
        ),
        (
            {
                "M1": {
                    "Type": "AWS::ApiGatewayV2::Model",
                    "Properties": {"ApiId": _API_ID, "Name": "m", "Schema": {}},
                },
                "M2": {
                    "Type": "AWS::ApiGatewayV2::Model",
                    "Properties": {"ApiId": _API_ID, "Name": "m", "Schema": {}},
                },
            },
            "Resources.M2.Properties.Name: model 'm' is also declared by another model",
        ),
        (
            {
                "M": {
                    "Type": "AWS::ApiGatewayV2::Model",
                    "Properties": {"ApiId": _API_ID, "Name": "m"},
                }
            },
            "Resources.M.Properties.Schema: required",
        ),
        (
            {
                "R": {
                    "Type": "AWS::ApiGatewayV2::Route",
                    "Properties": {"ApiId": _API_ID, "RouteKey": "a", "Bogus": 1},
                }
            },
            "Resources.R.Properties.Bogus: not a property of AWS::ApiGatewayV2::Route",
        ),
        (
            {
                "IR": {
                    "Type": "AWS::ApiGatewayV2::IntegrationResponse",
                    "Properties": {
                        "ApiId": _API_ID,
                        "IntegrationId": "Nope",
                        "IntegrationResponseKey": "$default",
                    },
                }
            },
            "Resources.IR.Properties.IntegrationId: 'Nope' names no integration",
        ),
        (
            {
                "RR": {
                    "Type": "AWS::ApiGatewayV2::RouteResponse",
                    "Properties": {
                        "ApiId": _API_ID,
                        "RouteId": "Nope",
                        "RouteResponseKey": "$default",
                    },
                }
            },
            "Resources.RR.Properties.RouteId: 'Nope' names no route",
        ),
        (
            {
                "S": {
                    "Type": "AWS::ApiGatewayV2::Stage",
                    "Properties": {"ApiId": _API_ID, "StageName": "dev"},
                }
            },
            "Resources.S.Properties.StageName: stage 'dev' is also declared by another stage",
        ),
        (
            {
                "Api2": {
                    "Type": "AWS::ApiGatewayV2::Api",
                    "Properties": {"ProtocolType": "WEBSOCKET"},
                }
            },
            "Resources: several WebSocket APIs: Api, Api2; wsgate serves one API per template",
        ),
        ({"X": {"Properties": {}}}, "Resources.X.Type: required"),
        (
            {"X": {"Type": "AWS::SQS::Queue", "Condition": "Nope"}},
            "Resources.X.Condition: no condition named 'Nope' in Conditions",
        ),
        (
            {"Stage": {"Type": "AWS::SQS::Queue"}},
            "Resources.Api: no AWS::ApiGatewayV2::Stage for the API: clients connect to a stage",
        ),
    ],
)
def test_api_part_errors(tmp_path: Path, resources: dict[str, Any], message: str) -> None:
    assert message in _messages(_translate(_template(resources), tmp_path).issues)


def test_parts_of_other_apis_and_absent_resources(tmp_path: Path) -> None:
    resources = {
        "Http": {"Type": "AWS::ApiGatewayV2::Api", "Properties": {"ProtocolType": "HTTP"}},
        "HttpRoute": {
            "Type": "AWS::ApiGatewayV2::Route",
            "Properties": {"ApiId": {"Ref": "Http"}, "RouteKey": "GET /"},
        },
        "Queue": {"Type": "AWS::SQS::Queue", "Condition": "Never"},
    }
    template = _template(
        resources, Conditions={"Never": {"Fn::Equals": [1, 2]}}, Transform="AWS::LanguageExtensions"
    )
    result = _translate(template, tmp_path)
    assert _messages(result.notes) == [
        "Resources.HttpRoute: AWS::ApiGatewayV2::Route: belongs to another API, not served"
    ]
    assert _messages(result.skipped) == [
        "Resources.Http: AWS::ApiGatewayV2::Api: not served: wsgate serves one WebSocket API"
    ]
    assert _messages(result.issues) == [
        "Transform: AWS::LanguageExtensions is not supported (only AWS::Serverless-2016-10-31)"
    ]
    assert "routes" not in result.data


def test_transforms(tmp_path: Path) -> None:
    listed = _template({}, Transform=["AWS::Serverless-2016-10-31"])
    assert _translate(listed, tmp_path).issues == []


def test_outputs(tmp_path: Path) -> None:
    outputs = {
        "Endpoint": {"Value": {"Fn::GetAtt": "Api.ApiEndpoint"}},
        "Hidden": {"Condition": "Never", "Value": "x"},
        "Shown": {"Condition": "Always", "Value": ["a"]},
        "Nothing": {"Value": {"Ref": "AWS::NoValue"}},
        "Broken": {"Value": {"Ref": "Nope"}},
    }
    conditions = {"Never": {"Fn::Equals": [1, 2]}, "Always": {"Fn::Equals": [1, 1]}}
    result = _translate(_template({}, Outputs=outputs, Conditions=conditions), tmp_path)
    assert result.outputs == {
        "Endpoint": f"wss://{result.data['apiId']}.execute-api.us-east-1.amazonaws.com",
        "Shown": ["a"],
    }
    assert _messages(result.issues) == [
        "Outputs.Broken.Value.Ref: no parameter or resource named 'Nope'"
    ]


def test_parameters_and_globals(tmp_path: Path) -> None:
    (tmp_path / "code").mkdir()
    resources = {
        "Fn": {
            "Type": "AWS::Serverless::Function",
            "Properties": {
                "CodeUri": "code",
                "Handler": "app.h",
                "Environment": {"Variables": {"B": "2"}},
            },
        },
        "Raw": {
            "Type": "AWS::Lambda::Function",
            "Properties": {"Handler": "index.h", "Code": {"ZipFile": "x = 1"}},
        },
    }
    template = _template(
        resources,
        Parameters={"P": {"Type": "String"}, "Q": {"Type": "String", "Default": "q"}},
        Globals={
            "Function": {"Timeout": 9, "Environment": {"Variables": {"A": {"Ref": "Q"}}}},
            "Api": {},
        },
    )
    result = _translate(template, tmp_path, parameter_overrides={"P": "p"})
    assert result.data["functions"]["Fn"]["timeout"] == 9
    assert result.data["functions"]["Fn"]["environment"] == {"A": "q", "B": "2"}
    assert "timeout" not in result.data["functions"]["Raw"]  # Globals are SAM's, for its own type
    assert _messages(result.notes) == ["Globals.Api: applies to resources that are not run here"]
    assert _messages(_translate(template, tmp_path).issues) == [
        "Parameters.P: no value: give a Default, or --parameter-overrides P=VALUE"
    ]


def test_uris_naming_functions_by_name_name_their_key(tmp_path: Path) -> None:
    resources = {
        "Fn": {
            "Type": "AWS::Lambda::Function",
            "Properties": {"FunctionName": "named", "Handler": "index.h", "Code": {"ZipFile": ""}},
        },
        "ByArn": {
            "Type": "AWS::ApiGatewayV2::Integration",
            "Properties": {
                "ApiId": _API_ID,
                "IntegrationType": "AWS_PROXY",
                "IntegrationUri": {"Fn::GetAtt": "Fn.Arn"},
            },
        },
        "ByName": {
            "Type": "AWS::ApiGatewayV2::Integration",
            "Properties": {
                "ApiId": _API_ID,
                "IntegrationType": "AWS_PROXY",
                "IntegrationUri": {"Ref": "Fn"},
            },
        },
        "Staged": {
            "Type": "AWS::ApiGatewayV2::Integration",
            "Properties": {
                "ApiId": _API_ID,
                "IntegrationType": "AWS_PROXY",
                "IntegrationUri": "${stageVariables.fn}",
            },
        },
        "Http": {
            "Type": "AWS::ApiGatewayV2::Integration",
            "Properties": {"ApiId": _API_ID, "IntegrationType": "HTTP_PROXY"},
        },
        "Auth": {
            "Type": "AWS::ApiGatewayV2::Authorizer",
            "Properties": {
                "ApiId": _API_ID,
                "AuthorizerType": "REQUEST",
                "AuthorizerUri": {
                    "Fn::Sub": "arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/"
                    "functions/${Fn.Arn}/invocations"
                },
            },
        },
    }
    data = _translate(_template(resources), tmp_path).data
    assert (
        data["integrations"]["ByArn"]["integrationUri"]
        == "arn:aws:lambda:us-east-1:123456789012:function:Fn"
    )
    assert data["integrations"]["ByName"]["integrationUri"] == "Fn"
    assert data["integrations"]["Staged"]["integrationUri"] == "${stageVariables.fn}"
    assert data["authorizers"]["Auth"]["authorizerUri"].endswith(":function:Fn/invocations")


def _function(tmp_path: Path, properties: dict[str, Any], **extra: Any) -> Any:
    resolver = Resolver(values={}, mappings={}, conditions={}, references=_NoResources())
    context = FunctionContext(
        template_dir=tmp_path,
        home=tmp_path / "home",
        env_vars={"Parameters": {"ALL": "1"}, "Fn": {"OWN": "2", "ALL": "3"}},
        layers={"arn:layer": tmp_path / "layer"},
    )
    return translate_function(
        "Fn",
        {"Type": "AWS::Serverless::Function", "Properties": properties, **extra},
        resolver,
        context,
    )


class _NoResources:
    def ref(self, name: str, place: str) -> object:
        raise TemplateIssue(place, f"no parameter or resource named {name!r}")

    def get_att(self, name: str, attribute: str, place: str) -> object:
        raise TemplateIssue(place, "no")


def test_function_properties(tmp_path: Path) -> None:
    result = _function(
        tmp_path,
        {
            "CodeUri": "src",
            "Handler": "app.handler",
            "Runtime": "python3.11",
            "Timeout": 5,
            "MemorySize": 512,
            "ReservedConcurrentExecutions": 2,
            "Environment": {"Variables": {"PYTHONPATH": "own", "ALL": "0"}},
            "Layers": ["arn:layer", "arn:elsewhere"],
            "Policies": [],
            "Events": {},
            "VpcConfig": {},
        },
    )
    assert result.issues == []
    layer = (tmp_path / "layer" / "python").resolve()
    assert result.data == {
        "runtime": "python3.11",
        "handler": "app.handler",
        "codeUri": str((tmp_path / "src").resolve()),
        "timeout": 5,
        "memorySize": 512,
        "concurrency": 2,
        "environment": {"PYTHONPATH": f"{layer}:own", "ALL": "3", "OWN": "2"},
    }
    assert _messages(result.notes) == [
        "Resources.Fn.Properties.Layers.1: layer arn:elsewhere is not in this template: its code "
        "is not available locally",
        "Resources.Fn.Properties: not applied locally: Events, VpcConfig",
    ]


def test_node_functions(tmp_path: Path) -> None:
    result = _function(
        tmp_path,
        {
            "InlineCode": "exports.h = 1",
            "Handler": "index.h",
            "Runtime": "nodejs12.x",
            "Layers": ["arn:layer"],
            "ReservedConcurrentExecutions": 0,
        },
    )
    folder = Path(result.data["codeUri"])
    assert result.files == {folder / "index.js": "exports.h = 1"}
    assert result.data["runtime"] == "nodejs18.x"
    assert result.data["environment"]["NODE_PATH"] == str(
        (tmp_path / "layer" / "nodejs" / "node_modules").resolve()
    )
    assert _messages(result.notes) == [
        "Resources.Fn.Properties.Runtime: nodejs12.x is deprecated on Lambda; the function runs "
        "on nodejs18.x here",
        "Resources.Fn.Properties: ReservedConcurrentExecutions 0: not applied (1-256 are)",
    ]


@pytest.mark.parametrize("runtime", ["nodejs20.x", "java21", "python3.12"])
def test_runtimes_kept_as_written(tmp_path: Path, runtime: str) -> None:
    assert (
        _function(tmp_path, {"CodeUri": ".", "Handler": "a.b", "Runtime": runtime}).data["runtime"]
        == runtime
    )


@pytest.mark.parametrize(
    ("properties", "message"),
    [
        ({"CodeUri": "."}, "Resources.Fn.Properties.Handler: required"),
        (
            {"Handler": "a.b"},
            "Resources.Fn.Properties: no local code: give CodeUri (a folder), InlineCode, "
            "Code.ZipFile, or CDK's aws:asset:path metadata",
        ),
        (
            {"Handler": "a.b", "CodeUri": {"Bucket": "b", "Key": "k"}},
            "Resources.Fn.Properties.CodeUri: code in an S3 bucket is not readable here: point it "
            "at a local folder",
        ),
        (
            {"Handler": "a.b", "Code": {"ImageUri": "x"}},
            "Resources.Fn.Properties.Code: container images are not supported",
        ),
        (
            {"Handler": "a.b", "CodeUri": ".", "PackageType": "Image"},
            "Resources.Fn.Properties.PackageType: container images are not supported",
        ),
        (
            {"Handler": {"Ref": "Nope"}, "CodeUri": "."},
            "Resources.Fn.Properties.Handler.Ref: no parameter or resource named 'Nope'",
        ),
    ],
)
def test_function_errors(tmp_path: Path, properties: dict[str, Any], message: str) -> None:
    assert message in _messages(_function(tmp_path, properties).issues)


def test_function_code_from_cdk_assets_and_zip_files(tmp_path: Path) -> None:
    assert _function(
        tmp_path,
        {"Handler": "a.b", "Code": {"S3Bucket": "x"}},
        Metadata={"aws:asset:path": "asset.1"},
    ).data["codeUri"] == str((tmp_path / "asset.1").resolve())
    assert _function(
        tmp_path, {"Handler": "a.b", "Code": {"ZipFile": "x = 1"}}, Metadata="odd"
    ).files
    assert _function(tmp_path, "not a mapping").issues  # type: ignore[arg-type]


def test_code_folders_of_layers(tmp_path: Path) -> None:
    assert code_folder("L", {}, {"ContentUri": "libs"}, tmp_path) == tmp_path / "libs"
    with pytest.raises(TemplateIssue, match="s3://b/k is in S3: point ContentUri"):
        code_folder("L", {}, {"ContentUri": "s3://b/k"}, tmp_path)


@pytest.mark.parametrize(
    ("defaults", "own", "merged"),
    [
        ({"a": 1, "m": {"x": 1}}, {"b": 2, "m": {"y": 2}}, {"a": 1, "b": 2, "m": {"x": 1, "y": 2}}),
        ([1], [2], [1, 2]),
        (1, 2, 2),
        ({"Ref": "A"}, {"x": 1}, {"x": 1}),
        ({"x": 1}, {"Fn::If": []}, {"Fn::If": []}),
    ],
)
def test_globals_merge_as_sam_merges(defaults: object, own: object, merged: object) -> None:
    assert merge_globals(defaults, own) == merged


def test_layers_in_templates(tmp_path: Path) -> None:
    (tmp_path / "layer" / "python").mkdir(parents=True)
    resources = {
        "Libs": {"Type": "AWS::Serverless::LayerVersion", "Properties": {"ContentUri": "layer"}},
        "S3Libs": {
            "Type": "AWS::Lambda::LayerVersion",
            "Properties": {"Content": {"S3Bucket": "b"}},
        },
        "Inline": {
            "Type": "AWS::Lambda::LayerVersion",
            "Properties": {"Content": {"ZipFile": "x"}, "LayerName": {"Ref": "Nope"}},
        },
        "Fn": {
            "Type": "AWS::Serverless::Function",
            "Properties": {"InlineCode": "x", "Handler": "index.h", "Layers": [{"Ref": "Libs"}]},
        },
    }
    result = _translate(_template(resources), tmp_path)
    assert result.data["functions"]["Fn"]["environment"]["PYTHONPATH"] == str(
        (tmp_path / "layer" / "python").resolve()
    )
    assert _messages(result.issues) == [
        "Resources.S3Libs.Properties: no local code: give CodeUri (a folder), InlineCode, "
        "Code.ZipFile, or CDK's aws:asset:path metadata",
        "Resources.Inline.Properties.LayerName.Ref: no parameter or resource named 'Nope'",
    ]


@pytest.mark.parametrize(
    ("path", "place"),
    [
        ("routes.a.target", "Resources.R.Properties.Target"),
        ("routes.a.routeResponses.x", "Resources.R.Properties.RouteResponses.x"),
        ("stages.dev.stageVariables.bad-name", "Resources.S.Properties.StageVariables.bad-name"),
        ("name", "Resources.Api.Properties.Name"),
        ("", "Resources.Api.Properties"),
        ("other.x", "Resources.Api.Properties.Other.X"),
    ],
)
def test_config_places_become_template_places(path: str, place: str) -> None:
    origins = {
        ("routes", "a"): "Resources.R.Properties",
        ("stages", "dev"): "Resources.S.Properties",
        (): "Resources.Api.Properties",
    }
    assert template_issue_place(path, origins) == place
    assert template_issue_place("x.y", {}) == "x.y"


def test_load_api_writes_in_line_code_and_validates(tmp_path: Path) -> None:
    resources = {
        "Fn": {
            "Type": "AWS::Serverless::Function",
            "Properties": {"InlineCode": "def h(e, c): pass\n", "Handler": "index.h"},
        },
        "Integ": {
            "Type": "AWS::ApiGatewayV2::Integration",
            "Properties": {
                "ApiId": _API_ID,
                "IntegrationType": "AWS_PROXY",
                "IntegrationUri": {"Fn::GetAtt": "Fn.Arn"},
            },
        },
        "Route": {
            "Type": "AWS::ApiGatewayV2::Route",
            "Properties": {
                "ApiId": _API_ID,
                "RouteKey": "$default",
                "Target": "integrations/Integ",
            },
        },
        "Table": {"Type": "AWS::DynamoDB::Table"},
    }
    path = tmp_path / "Chat.template.json"
    path.write_text(json.dumps(_template(resources, Outputs={"T": {"Value": {"Ref": "Table"}}})))
    options = TemplateOptions(home=tmp_path / "home")
    loaded = load_api(path, options)
    assert loaded.template and loaded.stack_name == "Chat"
    code = Path(loaded.config.functions["Fn"].code_uri) / "index.py"
    assert code.read_text() == "def h(e, c): pass\n"
    assert loaded.outputs["T"].startswith("Chat-Table-")
    assert [issue.path for issue in loaded.skipped] == ["Resources.Table"]
    assert load_api(path, options).config == loaded.config  # the file is there already
    code.write_text("changed")
    load_api(path, options)
    assert code.read_text() == "def h(e, c): pass\n"


def test_load_api_reports_translation_and_config_errors_together(tmp_path: Path) -> None:
    resources = {
        "Route": {
            "Type": "AWS::ApiGatewayV2::Route",
            "Properties": {
                "ApiId": _API_ID,
                "RouteKey": "$default",
                "Target": "integrations/Missing",
                "Bogus": 1,
            },
        },
    }
    path = tmp_path / "t.yaml"
    path.write_text(json.dumps(_template(resources)))
    with pytest.raises(ConfigError) as caught:
        load_api(path, TemplateOptions(home=tmp_path))
    assert _messages(caught.value.issues) == [
        "Resources.Route.Properties.Bogus: not a property of AWS::ApiGatewayV2::Route",
        "Resources.Route.Properties.Target: no integration named 'Missing'",
    ]


def test_load_api_reports_in_line_code_it_cannot_write(tmp_path: Path) -> None:
    resources = {
        "Fn": {
            "Type": "AWS::Serverless::Function",
            "Properties": {"InlineCode": "x", "Handler": "index.h"},
        }
    }
    path = tmp_path / "t.yaml"
    path.write_text(json.dumps(_template(resources)))
    (tmp_path / "home").write_text("a file, not a folder")
    with pytest.raises(ConfigError, match="cannot write in-line code to"):
        load_api(path, TemplateOptions(home=tmp_path / "home"))


def test_load_api_loads_config_files_as_before(tmp_path: Path) -> None:
    path = tmp_path / "wsgate.yaml"
    path.write_text("name: a\nrouteSelectionExpression: $request.body.action\nstages: {dev: {}}\n")
    loaded = load_api(path, TemplateOptions(home=tmp_path))
    assert not loaded.template and loaded.config.name == "a" and loaded.skipped == []
    (tmp_path / "bad.yaml").write_text("a: [")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_api(tmp_path / "bad.yaml", TemplateOptions(home=tmp_path))
    with pytest.raises(ConfigError, match="cannot read file"):
        load_api(tmp_path / "missing.yaml", TemplateOptions(home=tmp_path))


def test_settings_that_are_not_mappings_are_left_to_the_model(tmp_path: Path) -> None:
    resources = {
        "Stage": {
            "Type": "AWS::ApiGatewayV2::Stage",
            "Properties": {"ApiId": _API_ID, "StageName": "dev", "DefaultRouteSettings": "fast"},
        }
    }
    assert (
        _translate(_template(resources), tmp_path).data["stages"]["dev"]["defaultRouteSettings"]
        == "fast"
    )


@pytest.mark.parametrize(
    ("runtime", "handler", "files", "message"),
    [
        ("nodejs20.x", "app.handler", ["app.mjs"], None),
        ("nodejs20.x", "app.handler", ["app.py"], "no app.js, app.mjs or app.cjs in"),
        # Lambda's Node.js runtime: the file name ends at the first dot after the last slash.
        ("nodejs20.x", "app.handlers.send", ["app.js"], None),
        ("nodejs20.x", "src/app.v2.main", ["src/app.cjs"], None),
        ("nodejs20.x", "src/app.main", ["app.js"], "no src/app.js, src/app.mjs or src/app.cjs"),
        ("provided.al2023", "bootstrap.any", [], None),
        ("python3.12", "app.handler", ["app.py"], None),
    ],
)
def test_handler_files_per_runtime(
    tmp_path: Path, runtime: str, handler: str, files: list[str], message: str | None
) -> None:
    from wsgate.config.load import parse_config

    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    text = (
        "name: a\nrouteSelectionExpression: $request.body.action\nstages: {dev: {}}\n"
        f"functions: {{fn: {{handler: {handler}, runtime: {runtime}}}}}\n"
    )
    if message is None:
        assert parse_config(text, base_dir=tmp_path).functions["fn"].runtime == runtime
    else:
        with pytest.raises(ConfigError, match=message):
            parse_config(text, base_dir=tmp_path)


def test_cdk_shaped_templates(tmp_path: Path) -> None:
    # What `cdk synth` writes for WebSocketApi, WebSocketStage and WebSocketLambdaIntegration:
    # no Transform, code in asset folders, URIs joined from pseudo-parameters.
    (tmp_path / "asset.abc").mkdir()
    (tmp_path / "asset.abc" / "index.py").write_text("def handler(event, context):\n    pass\n")
    uri = {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":apigateway:",
                {"Ref": "AWS::Region"},
                ":lambda:path/2015-03-31/functions/",
                {"Fn::GetAtt": ["HandlerE1533BD5", "Arn"]},
                "/invocations",
            ],
        ]
    }
    template = {
        "Resources": {
            "ChatApi": {
                "Type": "AWS::ApiGatewayV2::Api",
                "Properties": {
                    "Name": "chat",
                    "ProtocolType": "WEBSOCKET",
                    "RouteSelectionExpression": "$request.body.action",
                },
            },
            "ChatApiRoute": {
                "Type": "AWS::ApiGatewayV2::Route",
                "Properties": {
                    "ApiId": {"Ref": "ChatApi"},
                    "RouteKey": "$default",
                    "AuthorizationType": "NONE",
                    "Target": {"Fn::Join": ["", ["integrations/", {"Ref": "ChatApiIntegration"}]]},
                },
            },
            "ChatApiIntegration": {
                "Type": "AWS::ApiGatewayV2::Integration",
                "Properties": {
                    "ApiId": {"Ref": "ChatApi"},
                    "IntegrationType": "AWS_PROXY",
                    "IntegrationUri": uri,
                },
            },
            "StageDev": {
                "Type": "AWS::ApiGatewayV2::Stage",
                "Properties": {"ApiId": {"Ref": "ChatApi"}, "StageName": "dev", "AutoDeploy": True},
            },
            "HandlerServiceRole": {"Type": "AWS::IAM::Role", "Properties": {}},
            "HandlerE1533BD5": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Code": {
                        "S3Bucket": {
                            "Fn::Sub": "cdk-hnb659fds-assets-${AWS::AccountId}-${AWS::Region}"
                        },
                        "S3Key": "abc.zip",
                    },
                    "Handler": "index.handler",
                    "Runtime": "python3.12",
                    "Role": {"Fn::GetAtt": ["HandlerServiceRole", "Arn"]},
                },
                "DependsOn": ["HandlerServiceRole"],
                "Metadata": {"aws:asset:path": "asset.abc", "aws:asset:property": "Code"},
            },
            "CDKMetadata": {
                "Type": "AWS::CDK::Metadata",
                "Properties": {"Analytics": "v2:deflate64:x"},
            },
        },
        "Parameters": {
            "BootstrapVersion": {
                "Type": "AWS::SSM::Parameter::Value<String>",
                "Default": "/cdk-bootstrap/hnb659fds/version",
            }
        },
        "Rules": {"CheckBootstrapVersion": {"Assertions": []}},
    }
    path = tmp_path / "ChatStack.template.json"
    path.write_text(json.dumps(template))
    loaded = load_api(path, TemplateOptions(home=tmp_path / "home"))
    assert loaded.stack_name == "ChatStack"
    assert loaded.config.functions["HandlerE1533BD5"].code_uri == str(
        (tmp_path / "asset.abc").resolve()
    )
    assert loaded.config.integrations["ChatApiIntegration"].integration_uri == (
        "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
        "arn:aws:lambda:us-east-1:123456789012:function:HandlerE1533BD5/invocations"
    )
    assert [issue.path for issue in loaded.skipped] == ["Resources.HandlerServiceRole"]


def test_service_integrations_keep_their_role(tmp_path: Path) -> None:
    resources = {
        "Role": {"Type": "AWS::IAM::Role", "Properties": {"RoleName": "to-sqs"}},
        "Queue": {
            "Type": "AWS::ApiGatewayV2::Integration",
            "Properties": {
                "ApiId": _API_ID,
                "IntegrationType": "AWS",
                "IntegrationMethod": "POST",
                "IntegrationUri": "arn:aws:apigateway:us-east-1:sqs:path/123456789012/q",
                "CredentialsArn": {"Fn::GetAtt": ["Role", "Arn"]},
            },
        },
    }
    result = _translate(_template(resources), tmp_path)
    assert result.issues == []
    integration = result.data["integrations"]["Queue"]
    assert integration["credentialsArn"].endswith(":role/to-sqs")
