"""The access models: AWS's field names and forms, and what they refuse."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from wsgate.config.model import ClusterConfig, RouteConfig
from wsgate.config.security import AuthorizerConfig, IamConfig, RouteSettings


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("route.request.header.Auth", ["route.request.header.Auth"]),
        (" a , b,, ", ["a", "b"]),
        (["a", "b"], ["a", "b"]),
        ([], []),
    ],
)
def test_identity_source_as_a_list_or_the_rest_apis_string(given, expected):
    config = AuthorizerConfig.model_validate({"authorizerUri": "auth", "identitySource": given})
    assert config.identity_source == expected


def test_iam_needs_keys_from_somewhere():
    with pytest.raises(ValidationError, match="give credentials or a credentialsFile"):
        IamConfig.model_validate({})
    key = {"accessKeyId": "AKIAIOSFODNN7EXAMPLE", "secretAccessKey": "s"}
    assert IamConfig.model_validate({"credentials": [key]}).credentials[0].principal is None


@pytest.mark.parametrize(
    ("settings", "valid"),
    [
        ({}, True),
        ({"throttlingBurstLimit": 10, "throttlingRateLimit": 5.5}, True),
        ({"throttlingBurstLimit": 10}, False),
        ({"throttlingRateLimit": 1}, False),
        ({"loggingLevel": "INFO", "dataTraceEnabled": True, "detailedMetricsEnabled": False}, True),
    ],
)
def test_route_settings_set_rate_and_burst_together(settings, valid):
    if valid:
        RouteSettings.model_validate(settings)
    else:
        with pytest.raises(ValidationError, match="together"):
            RouteSettings.model_validate(settings)


@pytest.mark.parametrize(
    ("authorizer_id", "name"),
    [(None, None), ("tokens", "tokens"), ("authorizers/tokens", "tokens")],
)
def test_authorizer_name_accepts_awss_form(authorizer_id, name):
    assert RouteConfig(authorizer_id=authorizer_id).authorizer_name == name


@pytest.mark.parametrize(
    ("timing", "valid"),
    [
        ({}, True),
        ({"heartbeatSeconds": 0.5, "nodeTimeoutSeconds": 1}, True),
        ({"heartbeatSeconds": 1, "nodeTimeoutSeconds": 1.5}, False),
    ],
)
def test_node_timeout_covers_two_heartbeats(timing, valid):
    if valid:
        ClusterConfig.model_validate(timing)
    else:
        with pytest.raises(ValidationError, match="at least twice"):
            ClusterConfig.model_validate(timing)
