"""Cross-checks of authorizers, IAM, API keys, usage plans, throttles, origins and TLS files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from wsgate.config.access import access_issues, function_authorizer

LAMBDA = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{}/invocations"
BASE: dict[str, Any] = {
    "functions": {"auth": {"handler": "h.auth"}},
    "authorizers": {
        "tokens": {"authorizerUri": "auth", "identitySource": ["route.request.header.Auth"]}
    },
    "routes": {"$connect": {"authorizationType": "CUSTOM", "authorizerId": "tokens"}, "echo": {}},
}


def issues(tmp_path: Path, **sections: Any) -> list[str]:
    data = {**BASE, **sections}
    return [str(issue) for issue in access_issues(data, tmp_path)]


@pytest.mark.parametrize(
    "uri",
    ["auth", "arn:aws:lambda:us-east-1:1:function:auth", LAMBDA.format("auth"), "http://a/x"],
)
def test_good_authorizers(tmp_path, uri):
    authorizers = {
        "tokens": {
            "authorizerUri": uri,
            "identitySource": "route.request.header.A, stageVariables.b",
        }
    }
    assert issues(tmp_path, authorizers=authorizers) == []


@pytest.mark.parametrize(
    ("authorizer", "expected"),
    [
        (
            {"authorizerUri": "nobody"},
            "authorizers.tokens.authorizerUri: no function named 'nobody'",
        ),
        (
            {"authorizerUri": "${stageVariables.fn}"},
            "authorizers.tokens.authorizerUri: stage variable 'fn' is not set; authorizer URIs",
        ),
        (
            {"authorizerUri": "auth", "identitySource": ["route.request.body.x", "header.y"]},
            "authorizers.tokens.identitySource.0: ",
        ),
    ],
)
def test_bad_authorizers(tmp_path, authorizer, expected):
    (found, *_) = issues(tmp_path, authorizers={"tokens": authorizer})
    assert found.startswith(expected)


def test_identity_sources_of_other_types_are_left_to_the_model(tmp_path):
    assert (
        issues(tmp_path, authorizers={"tokens": {"authorizerUri": "auth", "identitySource": [1]}})
        == []
    )


@pytest.mark.parametrize(
    ("routes", "expected"),
    [
        (
            {"echo": {"authorizationType": "CUSTOM", "authorizerId": "tokens"}},
            "routes.echo.authorizationType: only the $connect route can be authorized",
        ),
        (
            {"$connect": {"authorizationType": "CUSTOM"}},
            "routes.$connect.authorizerId: CUSTOM needs",
        ),
        (
            {"$connect": {"authorizationType": "CUSTOM", "authorizerId": "authorizers/other"}},
            "routes.$connect.authorizerId: no authorizer named 'other'",
        ),
        (
            {"$connect": {"authorizerId": "tokens"}},
            "routes.$connect.authorizerId: an authorizerId needs",
        ),
        (
            {"$connect": {"authorizationType": "AWS_IAM"}},
            "routes.$connect.authorizationType: AWS_IAM",
        ),
        ({"echo": {"apiKeyRequired": True}}, "routes.echo.apiKeyRequired: no apiKeys are declared"),
    ],
)
def test_bad_routes(tmp_path, routes, expected):
    (found,) = issues(tmp_path, routes=routes)
    assert found.startswith(expected)


def test_iam_and_keys_satisfy_routes(tmp_path):
    routes = {"$connect": {"authorizationType": "AWS_IAM", "apiKeyRequired": True}}
    api_keys = {"a": {"value": "x" * 20}}
    assert issues(tmp_path, routes=routes, iam={"credentials": []}, apiKeys=api_keys) == []


def test_api_keys_and_plans(tmp_path):
    found = issues(
        tmp_path,
        apiKeys={
            "a": {"value": "same-value-0123456789", "usagePlan": "gold"},
            "b": {"value": "same-value-0123456789", "usagePlan": "silver"},
            "c": "not a mapping",
        },
        usagePlans={"gold": {}},
    )
    assert found == [
        "apiKeys.b.usagePlan: no usage plan named 'silver'",
        "apiKeys.b.value: same value as API key 'a'",
    ]


def test_route_settings_name_existing_routes(tmp_path):
    stages: dict[str, Any] = {"dev": {"routeSettings": {"echo": {}, "gone": {}}}, "prod": {}}
    assert issues(tmp_path, stages=stages) == [
        "stages.dev.routeSettings.gone: no route with this key"
    ]


def test_signed_management_needs_no_keys_of_its_own(tmp_path):
    # The gateway's local access key (security/local.py) is always accepted.
    server = {"managementAuthorization": "AWS_IAM"}
    assert issues(tmp_path, server=server) == []
    assert issues(tmp_path, server=server, iam={"credentialsFile": "creds"})[0].startswith(
        "iam.credentialsFile: file "
    )


def test_files_must_exist(tmp_path):
    (tmp_path / "cert.pem").write_text("x")
    server = {"tls": {"certFile": "cert.pem", "keyFile": "key.pem"}}
    (found,) = issues(tmp_path, server=server)
    assert found.startswith("server.tls.keyFile: file ") and found.endswith("does not exist")


@pytest.mark.parametrize(
    ("origins", "expected"),
    [
        (["https://app.example.com", "http://localhost:3000", "https://*.example.com", "*"], []),
        (["app.example.com"], ["server.listener.allowedOrigins.0"]),
        (
            ["https://ok.com", "https://a.com/path", 7],
            ["server.listener.allowedOrigins.1", "server.listener.allowedOrigins.2"],
        ),
        ("not a list", []),
    ],
)
def test_origins(tmp_path, origins, expected):
    found = issues(tmp_path, server={"listener": {"allowedOrigins": origins}})
    assert [issue.split(":")[0] for issue in found] == expected


def test_function_authorizer():
    assert function_authorizer("auth")
    assert not function_authorizer("https://auth.example.com/check")
