"""APIs kept by the control plane, read back as configs of their own (for wsgate export)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from wsgate.config.model import FunctionConfig
from wsgate.config.stored import stored_config
from wsgate.errors import ConfigError

FUNCTIONS = Path(__file__).parents[2] / "integration" / "functions"
ECHO_URI = (
    "arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/"
    "arn:aws:lambda:eu-west-1:123456789012:function:echo/invocations"
)


def definition(**parts: Any) -> dict[str, Any]:
    return {
        "api": {
            "apiId": "a1b2c3d4e5",
            "name": "kept",
            "protocolType": "WEBSOCKET",
            "routeSelectionExpression": "$request.body.action",
        },
        "route": {
            "r1": {"routeId": "r1", "routeKey": "$default", "target": "integrations/i1"},
            "r2": {"routeId": "r2", "routeKey": "ping", "target": "integrations/i2"},
        },
        "integration": {
            "i1": {
                "integrationId": "i1",
                "integrationType": "AWS_PROXY",
                "integrationUri": ECHO_URI,
            },
            "i2": {"integrationId": "i2", "integrationType": "MOCK"},
        },
        "stage": {"dev": {"stageName": "dev", "stageVariables": {"v": "1"}}},
        **parts,
    }


def test_functions_the_host_lacks_are_existing_lambda_functions() -> None:
    gate = {
        "authorizerId": "g1",
        "authorizerType": "REQUEST",
        "authorizerUri": "gate",
        "name": "gate",
    }
    web = {**gate, "authorizerId": "w1", "authorizerUri": "https://auth.example.com"}
    config = stored_config(
        definition(authorizer={"g1": gate, "w1": web}),
        {},
        base_dir=Path("."),
        source="state.db (API a1b2c3d4e5)",
    )
    assert config.api_id == "a1b2c3d4e5"
    assert list(config.routes) == ["$default", "ping"]
    assert config.integrations["i1"].integration_uri == ECHO_URI
    echo = config.functions["echo"]
    assert echo.lambda_endpoint == "https://lambda.eu-west-1.amazonaws.com"
    assert echo.function_name == "echo"
    assert config.functions["gate"].lambda_endpoint == "https://lambda.us-east-1.amazonaws.com"
    assert sorted(config.functions) == ["echo", "gate"]


def test_the_hosts_functions_are_used_as_they_are() -> None:
    echo = FunctionConfig(handler="runtime_handlers.echo", code_uri=str(FUNCTIONS), timeout=7)
    config = stored_config(definition(), {"echo": echo}, base_dir=Path("."), source="s")
    assert config.functions["echo"] == echo
    assert config.functions["echo"].model_fields_set == echo.model_fields_set


def test_an_api_without_a_stage_is_refused() -> None:
    with pytest.raises(ConfigError) as info:
        stored_config(definition(stage={}), {}, base_dir=Path("."), source="state.db (API x)")
    assert info.value.source == "state.db (API x)"
    assert [str(issue) for issue in info.value.issues] == [
        "stages: the API has no stage: create one (CreateStage) to export it"
    ]


def test_a_definition_the_checks_refuse_names_the_problem() -> None:
    staged = {
        "integrationId": "i1",
        "integrationType": "AWS_PROXY",
        "integrationUri": "${stageVariables.fn}",
    }
    with pytest.raises(ConfigError) as info:
        stored_config(
            definition(integration={"i1": staged, "i2": {"integrationType": "MOCK"}}),
            {},
            base_dir=Path("."),
            source="s",
        )
    assert "stage variable 'fn' is not set" in str(info.value)
