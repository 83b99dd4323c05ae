"""Reading templates, their options and parameters, and what their resources stand for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from wsgate.config.template.intrinsics import Resolver, TemplateIssue
from wsgate.config.template.options import (
    TemplateOptions,
    parse_env_vars,
    parse_parameter_overrides,
    pseudo_parameters,
    stack_name_for,
)
from wsgate.config.template.parameters import parameter_values
from wsgate.config.template.reader import is_template, read_template
from wsgate.config.template.resources import StackReferences, skip_reason


def test_short_form_tags_become_long_forms() -> None:
    text = """\
AWSTemplateFormatVersion: 2010-09-09
A: !Ref X
B: !GetAtt X.Arn
C: !Sub [a, {b: !Ref c}]
D: !If [x, !Ref y, {Ref: AWS::NoValue}]
E: !Condition IsProd
F: !Equals {a: 1}
G: !GetAZs ''
"""
    assert read_template(text) == {
        "AWSTemplateFormatVersion": "2010-09-09",
        "A": {"Ref": "X"},
        "B": {"Fn::GetAtt": "X.Arn"},
        "C": {"Fn::Sub": ["a", {"b": {"Ref": "c"}}]},
        "D": {"Fn::If": ["x", {"Ref": "y"}, {"Ref": "AWS::NoValue"}]},
        "E": {"Condition": "IsProd"},
        "F": {"Fn::Equals": {"a": 1}},
        "G": {"Fn::GetAZs": ""},
    }


def test_unknown_tags_and_the_config_limits_are_refused() -> None:
    with pytest.raises(yaml.YAMLError, match="unknown tag !Nope"):
        read_template("a: !Nope x")
    with pytest.raises(yaml.YAMLError, match="nested more than 100 levels"):
        read_template("[" * 101 + "]" * 101)


_API = {"Type": "AWS::ApiGatewayV2::Api", "Properties": {"ProtocolType": "WEBSOCKET"}}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"Resources": {"Api": _API}}, True),
        ({"Resources": {"Api": {**_API, "Properties": {"ProtocolType": "HTTP"}}}}, False),
        ({"Resources": {"Api": {"Type": "AWS::ApiGatewayV2::Api"}}}, False),
        ({"Resources": {"X": "text"}}, False),
        ({"Resources": []}, False),
        ({"name": "chat"}, False),
        (["a"], False),
    ],
)
def test_templates_are_recognised_by_content(data: object, expected: bool) -> None:
    assert is_template(data) is expected


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        (["A=1", "B=x=y"], {"A": "1", "B": "x=y"}),
        (["ParameterKey=A,ParameterValue=1,2"], {"A": "1,2"}),
        (["A="], {"A": ""}),
    ],
)
def test_parameter_overrides(items: list[str], expected: dict[str, str]) -> None:
    assert parse_parameter_overrides(items) == expected


@pytest.mark.parametrize("item", ["A", "=1", "ParameterKey=A"])
def test_malformed_parameter_overrides(item: str) -> None:
    with pytest.raises(ValueError, match="expected KEY=VALUE"):
        parse_parameter_overrides([item])


def test_env_vars() -> None:
    data = {"Fn": {"A": "x", "B": 1, "C": True, "D": False}, "Parameters": {}}
    assert parse_env_vars(data) == {
        "Fn": {"A": "x", "B": "1", "C": "true", "D": "false"},
        "Parameters": {},
    }


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "expected {"),
        ({"Fn": []}, "Fn: expected an object of variables"),
        ({"Fn": {"A": None}}, "Fn.A: expected a string, number or boolean"),
        ({"Fn": {"A": [1]}}, "Fn.A: expected a string, number or boolean"),
    ],
)
def test_malformed_env_vars(data: object, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("{", "\\{")):
        parse_env_vars(data)


@pytest.mark.parametrize(
    ("name", "stack"),
    [
        ("template.yaml", "template"),
        ("Chat.template.json", "Chat"),
        ("my_app.yml", "my-app"),
        ("_.yaml", "wsgate"),
    ],
)
def test_stack_name_from_the_file(name: str, stack: str) -> None:
    assert stack_name_for(Path("/x") / name) == stack


def test_pseudo_parameters() -> None:
    values = pseudo_parameters(
        TemplateOptions(home=Path("/h"), region="eu-west-1", account_id="1"), "s"
    )
    assert values["AWS::Region"] == "eu-west-1" and values["AWS::AccountId"] == "1"
    assert str(values["AWS::StackId"]).startswith("arn:aws:cloudformation:eu-west-1:1:stack/s/")
    assert values["AWS::URLSuffix"] == "amazonaws.com" and values["AWS::Partition"] == "aws"
    assert values["AWS::NotificationARNs"] == []
    assert values == pseudo_parameters(
        TemplateOptions(home=Path("/h"), region="eu-west-1", account_id="1"), "s"
    )


def test_parameter_values() -> None:
    parameters = {
        "Plain": {"Type": "String", "Default": "a"},
        "Untyped": {"Default": 3},
        "Overridden": {"Type": "String", "Default": "a", "AllowedValues": ["a", "b"]},
        "Names": {"Type": "CommaDelimitedList", "Default": "x, y"},
        "Empty": {"Type": "CommaDelimitedList", "Default": ""},
        "Count": {"Type": "Number", "Default": 2},
        "Ids": {"Type": "List<Number>", "Default": "1,2"},
        "Secret": {"Type": "AWS::SSM::Parameter::Value<String>", "Default": "/x"},
        "BootstrapVersion": {"Type": "AWS::SSM::Parameter::Value<String>", "Default": "/cdk"},
        "Pattern": {"Type": "String", "Default": "abc", "AllowedPattern": "[a-z]+"},
    }
    values, issues = parameter_values(parameters, {"Overridden": "b", "Secret": "s"})
    assert values == {
        "Plain": "a",
        "Untyped": "3",
        "Overridden": "b",
        "Names": ["x", "y"],
        "Empty": [],
        "Count": "2",
        "Ids": ["1", "2"],
        "Secret": "s",
        "Pattern": "abc",
    }
    assert issues == []


@pytest.mark.parametrize(
    ("declaration", "overrides", "message"),
    [
        (
            {"Type": "String"},
            {},
            "Parameters.P: no value: give a Default, or --parameter-overrides P=VALUE",
        ),
        (
            {"AllowedValues": ["a"]},
            {"P": "b"},
            "Parameters.P: 'b' is not one of the AllowedValues (a)",
        ),
        (
            {"AllowedPattern": "[a-z]+"},
            {"P": "B"},
            "Parameters.P: 'B' does not match the AllowedPattern [a-z]+",
        ),
        ({"Type": "Number"}, {"P": "x"}, "Parameters.P: 'x' is not a Number"),
        ({"Type": "List<Number>"}, {"P": "1,x"}, "Parameters.P: 'x' is not a Number"),
        (
            {"Type": "AWS::SSM::Parameter::Value<String>", "Default": "/x"},
            {},
            "Parameters.P: AWS::SSM::Parameter::Value<String> is read from SSM Parameter Store, "
            "which is not reachable here: give its value with --parameter-overrides P=VALUE",
        ),
    ],
)
def test_parameter_errors(
    declaration: dict[str, Any], overrides: dict[str, str], message: str
) -> None:
    values, issues = parameter_values({"P": declaration}, overrides)
    assert "P" not in values and [str(issue) for issue in issues] == [message]


def test_overrides_of_undeclared_parameters_are_errors() -> None:
    _, issues = parameter_values({}, {"Typo": "1"})
    assert [str(issue) for issue in issues] == ["Parameters.Typo: overridden, but not declared"]


_RESOURCES: dict[str, Any] = {
    "Api": {"Type": "AWS::ApiGatewayV2::Api"},
    "Stage": {"Type": "AWS::ApiGatewayV2::Stage", "Properties": {"StageName": "dev"}},
    "NamelessStage": {"Type": "AWS::ApiGatewayV2::Stage"},
    "Route": {"Type": "AWS::ApiGatewayV2::Route"},
    "Fn": {"Type": "AWS::Serverless::Function", "Properties": {"FunctionName": {"Ref": "Name"}}},
    "Plain": {"Type": "AWS::Lambda::Function"},
    "Layer": {"Type": "AWS::Serverless::LayerVersion", "Properties": {"LayerName": "libs"}},
    "Table": {"Type": "AWS::DynamoDB::Table", "Properties": {"TableName": "chat"}},
    "Simple": {"Type": "AWS::Serverless::SimpleTable"},
    "Bucket": {"Type": "AWS::S3::Bucket"},
    "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "q"}},
    "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "t"}},
    "Role": {"Type": "AWS::IAM::Role", "Properties": {"RoleName": "r"}},
    "Logs": {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": "g"}},
    "Dist": {"Type": "AWS::CloudFront::Distribution"},
    "Absent": {"Type": "AWS::SQS::Queue", "Condition": "No"},
    "Loop": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": {"Ref": "Loop"}}},
    "Odd": {"Type": "AWS::SQS::Queue", "Condition": 1},
}


def _references() -> StackReferences:
    references = StackReferences(_RESOURCES, stack_name="st", region="eu-west-1", account_id="1")
    resolver = Resolver(
        values={"Name": "named", "AWS::Region": "eu-west-1"},
        mappings={},
        conditions={"No": {"Fn::Equals": ["a", "b"]}},
        references=references,
    )
    references.bind(resolver)
    return references


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Api", _references().api_id("Api")),
        ("Stage", "dev"),
        ("NamelessStage", "NamelessStage"),
        ("Route", "Route"),
        ("Fn", "named"),
        ("Layer", "arn:aws:lambda:eu-west-1:1:layer:libs:1"),
        ("Table", "chat"),
        ("Queue", "https://sqs.eu-west-1.amazonaws.com/1/q"),
        ("Topic", "arn:aws:sns:eu-west-1:1:t"),
        ("Role", "r"),
    ],
)
def test_ref_values(name: str, expected: str) -> None:
    assert _references().ref(name, "P") == expected


def test_generated_names_are_stable_and_shaped_like_cloudformation_s() -> None:
    name = str(_references().ref("Plain", "P"))
    assert name.startswith("st-Plain-") and len(name) == len("st-Plain-") + 12
    assert name == _references().ref("Plain", "P")
    assert str(_references().ref("Bucket", "P")).islower()
    assert str(_references().ref("Simple", "P")).startswith("st-Simple-")


@pytest.mark.parametrize(
    ("name", "attribute", "expected"),
    [
        ("Api", "ApiId", _references().api_id("Api")),
        (
            "Api",
            "ApiEndpoint",
            f"wss://{_references().api_id('Api')}.execute-api.eu-west-1.amazonaws.com",
        ),
        ("Route", "RouteId", "Route"),
        ("Fn", "Arn", "arn:aws:lambda:eu-west-1:1:function:named"),
        ("Layer", "LayerVersionArn", "arn:aws:lambda:eu-west-1:1:layer:libs:1"),
        ("Table", "Arn", "arn:aws:dynamodb:eu-west-1:1:table/chat"),
        ("Table", "StreamArn", "arn:aws:dynamodb:eu-west-1:1:table/chat/stream"),
        ("Queue", "Arn", "arn:aws:sqs:eu-west-1:1:q"),
        ("Queue", "QueueUrl", "https://sqs.eu-west-1.amazonaws.com/1/q"),
        ("Queue", "QueueName", "q"),
        ("Topic", "TopicArn", "arn:aws:sns:eu-west-1:1:t"),
        ("Role", "Arn", "arn:aws:iam::1:role/r"),
        ("Logs", "Arn", "arn:aws:logs:eu-west-1:1:log-group:g:*"),
        ("Bucket", "Arn", f"arn:aws:s3:::{_references().ref('Bucket', 'P')}"),
        (
            "Dist",
            "DomainName",
            f"{str(_references().ref('Dist', 'P')).lower()}.cloudfront.eu-west-1.amazonaws.com",
        ),
    ],
)
def test_attributes(name: str, attribute: str, expected: str) -> None:
    assert _references().get_att(name, attribute, "P") == expected


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda r: r.ref("Nope", "P"), "no parameter or resource named 'Nope'"),
        (
            lambda r: r.ref("Absent", "P"),
            "resource 'Absent' does not exist: its condition 'No' is false",
        ),
        (lambda r: r.ref("Loop", "P"), "the QueueName of 'Loop' refers to itself"),
        (lambda r: r.ref("Odd", "P"), "no condition named '1' in Conditions"),
        (
            lambda r: r.get_att("Api", "Arn", "P"),
            "Api (AWS::ApiGatewayV2::Api) has no attribute 'Arn' here",
        ),
        (lambda r: r.get_att("Fn", "Version", "P"), "has no attribute 'Version' here"),
        (lambda r: r.get_att("Layer", "Name", "P"), "has no attribute 'Name' here"),
        (lambda r: r.get_att("Route", "Name", "P"), "has no attribute 'Name' here"),
    ],
)
def test_reference_errors(call: Any, message: str) -> None:
    with pytest.raises(TemplateIssue, match=message.replace("(", "\\(").replace(")", "\\)")):
        call(_references())


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("AWS::DynamoDB::Table", "AWS_ENDPOINT_URL_DYNAMODB"),
        ("AWS::Serverless::SimpleTable", "AWS_ENDPOINT_URL_DYNAMODB"),
        ("AWS::IAM::Role", "IAM is not enforced locally"),
        ("AWS::Lambda::Permission", "invoke permissions are not checked locally"),
        ("AWS::Lambda::EventSourceMapping", "not run locally"),
        ("AWS::Logs::LogGroup", "logs go to stderr"),
        ("Custom::Seed", "custom resources are not run locally"),
        ("AWS::CloudFormation::CustomResource", "custom resources are not run locally"),
        ("AWS::Serverless::HttpApi", "not served: wsgate serves one WebSocket API"),
        ("AWS::ApiGateway::RestApi", "not served: wsgate serves one WebSocket API"),
        ("AWS::CDK::Metadata", ""),
        ("Odd", "AWS_ENDPOINT_URL_ODD"),
    ],
)
def test_skip_reasons(kind: str, reason: str) -> None:
    assert reason in skip_reason(kind)
    assert bool(skip_reason(kind)) == bool(reason)
