"""The control plane's operations and translation, called with literals."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from wsgate.config.controlplane.plane import ControlPlane
from wsgate.config.controlplane.translate import config_data
from wsgate.errors import ControlPlaneError

NOW = "2024-02-09T18:23:27Z"


def plane() -> ControlPlane:
    counter = itertools.count()
    made = ControlPlane(
        clock=lambda: NOW,
        new_id=lambda length: str(next(counter) // 2).rjust(length, "a"),  # each id twice
        base_dir=Path("."),
    )
    made.endpoint_base = "ws://h:1"
    return made


@contextlib.contextmanager
def refused(status: int, match: str | None = None) -> Iterator[None]:
    with pytest.raises(ControlPlaneError, match=match) as info:
        yield
    assert info.value.status == status


def chat(cp: ControlPlane) -> tuple[str, str, str]:
    api = cp.create(
        "api",
        (),
        {
            "name": "chat",
            "protocolType": "WEBSOCKET",
            "routeSelectionExpression": "$request.body.a",
        },
    )
    api_id = api["apiId"]
    mock = cp.create("integration", (api_id,), {"integrationType": "MOCK", "description": None})
    route = cp.create(
        "route",
        (api_id,),
        {"routeKey": "$default", "target": f"integrations/{mock['integrationId']}", "x": 1},
    )
    return api_id, mock["integrationId"], route["routeId"]


def test_api_defaults_and_endpoint() -> None:
    cp = plane()
    api_id, _, _ = chat(cp)
    api = cp.get("api", (api_id,))
    assert api["apiEndpoint"] == f"ws://h:1/{api_id}"
    assert cp.domain_name(api_id) == f"h:1/{api_id}"
    assert api["createdDate"] == NOW
    assert api["ipAddressType"] == "ipv4"
    assert cp.update("api", (api_id,), {"description": "d"})["description"] == "d"
    assert cp.list("api", ())["items"][0]["apiId"] == api_id
    assert cp.served(api_id) == {}  # no stage yet


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ({"protocolType": "WEBSOCKET"}, "name is required"),
        ({"name": "a", "protocolType": "HTTP"}, "WebSocket APIs only"),
        ({"name": "a", "protocolType": "WEBSOCKET"}, "routeSelectionExpression is required"),
        ({"name": 1, "protocolType": "WEBSOCKET"}, "Invalid value for name"),
        (
            {
                "name": "a",
                "protocolType": "WEBSOCKET",
                "routeSelectionExpression": "$request.body.",
            },
            "routeSelectionExpression",
        ),
    ],
)
def test_create_api_refusals(body: dict[str, Any], match: str) -> None:
    with refused(400, match):
        plane().create("api", (), body)


def test_update_api_cannot_change_protocol() -> None:
    cp = plane()
    api_id, _, _ = chat(cp)
    with refused(400, "cannot be changed"):
        cp.update("api", (api_id,), {"protocolType": "HTTP"})


def test_unknown_ids_are_not_found() -> None:
    cp = plane()
    api_id, integration_id, route_id = chat(cp)
    with refused(404, "Invalid API identifier specified nope"):
        cp.get("api", ("nope",))
    with refused(404, "Invalid Route identifier"):
        cp.get("route", (api_id, "nope"))
    with refused(404, "Invalid Route identifier"):
        cp.update("route", (api_id, "nope"), {})
    with refused(404, "Invalid Route identifier"):
        cp.delete("route", (api_id, "nope"))
    with refused(404, "Invalid Route identifier"):
        cp.list("routeResponse", (api_id, "nope"))
    with refused(404, "Invalid API identifier"):
        cp.delete("api", ("nope",))
    assert cp.list("integrationResponse", (api_id, integration_id)) == {"items": []}
    assert cp.get("route", (api_id, route_id))["routeKey"] == "$default"


def test_routes_and_responses() -> None:
    cp = plane()
    api_id, integration_id, route_id = chat(cp)
    with refused(409, "routeKey \\$default already exists"):
        cp.create("route", (api_id,), {"routeKey": "$default"})
    other = cp.create("route", (api_id,), {"routeKey": "b"})
    with refused(409):
        cp.update("route", (api_id, other["routeId"]), {"routeKey": "$default"})
    for body, match in [
        ({"routeKey": "c", "target": "lambda/x"}, "Invalid target"),
        ({"routeKey": "c", "target": "integrations/"}, "Invalid target"),
        ({"routeKey": "c", "target": "integrations/zz"}, "Invalid integration identifier"),
        ({"routeKey": "c", "authorizationType": "JWT"}, "JWT"),
        ({"routeKey": "$nope"}, "reserved"),
    ]:
        with refused(400, match):
            cp.create("route", (api_id,), body)
    cp.update("route", (api_id, route_id), {"routeResponseSelectionExpression": "$default"})
    response = cp.create("routeResponse", (api_id, route_id), {"routeResponseKey": "$default"})
    with refused(409):
        cp.create("routeResponse", (api_id, route_id), {"routeResponseKey": "$default"})
    with refused(400, "only the '\\$default' route response key"):
        cp.create("routeResponse", (api_id, other["routeId"]), {"routeResponseKey": "x"})
    data = config_data(cp.definitions[api_id])
    assert data["routes"]["$default"]["routeResponses"] == {"$default": {}}
    assert data["routes"]["$default"]["target"] == f"integrations/{integration_id}"
    assert cp.get("routeResponse", (api_id, route_id, response["routeResponseId"]))
    cp.delete("route", (api_id, route_id))
    assert route_id not in cp.definitions[api_id]["routeResponse"]


def test_integrations_and_responses() -> None:
    cp = plane()
    api_id, integration_id, _ = chat(cp)
    http = cp.create(
        "integration",
        (api_id,),
        {
            "integrationType": "HTTP_PROXY",
            "integrationUri": "http://b/x",
            "integrationMethod": "POST",
        },
    )
    assert "integrationResponseSelectionExpression" not in http
    assert "passthroughBehavior" not in http
    changed = cp.update("integration", (api_id, http["integrationId"]), {"integrationType": "HTTP"})
    assert changed["integrationResponseSelectionExpression"] == "${integration.response.statuscode}"
    refusals: list[tuple[dict[str, Any], str]] = [
        ({"integrationType": "AWS_PROXY", "integrationUri": "f"}, "no function named 'f'"),
        (
            {"integrationType": "AWS", "integrationUri": "arn:aws:apigateway:us-east-1:x:action/A"},
            "x",
        ),
        ({"integrationType": "MOCK", "timeoutInMillis": 49}, "TimeoutInMillis"),
        ({"integrationType": "MOCK", "timeoutInMillis": True}, "Invalid value"),
        ({"integrationType": "HTTP"}, "needs a URL"),
    ]
    for body, match in refusals:
        with refused(400, match):
            cp.create("integration", (api_id,), body)
    ids = (api_id, integration_id)
    response = cp.create(
        "integrationResponse", ids, {"integrationResponseKey": "$default", "responseTemplates": {}}
    )
    with refused(409):
        cp.create("integrationResponse", ids, {"integrationResponseKey": "$default"})
    data = config_data(cp.definitions[api_id])
    assert data["integrations"][integration_id]["integrationResponses"] == {
        "$default": {"responseTemplates": {}}
    }
    with refused(400, "target of route"):
        cp.delete("integration", ids)
    cp.delete("integrationResponse", (*ids, response["integrationResponseId"]))
    cp.delete("integration", (api_id, http["integrationId"]))


def test_stages_and_deployments() -> None:
    cp = plane()
    api_id, _, route_id = chat(cp)
    stage = cp.create("stage", (api_id,), {"stageName": "dev", "stageVariables": {"a": "b"}})
    assert stage["defaultRouteSettings"]["loggingLevel"] == "OFF"
    assert cp.served(api_id) == {}  # neither auto-deployed nor deployed
    with refused(409, "Stage dev already exists"):
        cp.create("stage", (api_id,), {"stageName": "dev"})
    with refused(400, "Invalid deployment identifier"):
        cp.update("stage", (api_id, "dev"), {"deploymentId": "nope"})
    with refused(404, "Invalid Stage identifier"):
        cp.create("deployment", (api_id,), {"stageName": "nope"})
    deployment = cp.create("deployment", (api_id,), {"stageName": "dev"})
    assert deployment["deploymentStatus"] == "DEPLOYED"
    assert "stageName" not in deployment
    assert cp.get("stage", (api_id, "dev"))["deploymentId"] == deployment["deploymentId"]
    served = cp.served(api_id)
    assert list(served) == ["dev"] and list(served["dev"].stages) == ["dev"]
    with refused(400, "Active stages"):
        cp.delete("deployment", (api_id, deployment["deploymentId"]))
    updated = cp.update("stage", (api_id, "dev"), {"stageName": "x", "autoDeploy": True})
    assert updated["stageName"] == "dev"
    other = cp.create("deployment", (api_id,), {})
    cp.delete("deployment", (api_id, other["deploymentId"]))
    cp.delete("route", (api_id, route_id))
    with refused(400, "At least one route"):
        cp.create("deployment", (api_id,), {})
    cp.delete("api", (api_id,))
    assert cp.definitions == {}


def test_stage_problems_are_refused() -> None:
    cp = plane()
    api_id, _, _ = chat(cp)
    cp.create(
        "integration",
        (api_id,),
        {"integrationType": "HTTP_PROXY", "integrationUri": "http://${stageVariables.host}/x"},
    )
    with refused(400, "stage dev: stage variable 'host' is not set"):
        cp.create("stage", (api_id,), {"stageName": "dev"})


@pytest.mark.parametrize(
    ("max_results", "token", "keys", "next_token"),
    [
        (None, None, ["a", "b", "c"], None),
        ("2", None, ["a", "b"], "2"),
        ("2", "2", ["c"], None),
        (None, "3", [], None),
    ],
)
def test_pages(
    max_results: str | None, token: str | None, keys: list[str], next_token: str | None
) -> None:
    cp = plane()
    api_id = cp.create(
        "api", (), {"name": "p", "protocolType": "WEBSOCKET", "routeSelectionExpression": "x"}
    )["apiId"]
    for key in ("a", "b", "c"):
        cp.create("route", (api_id,), {"routeKey": key})
    page = cp.list("route", (api_id,), max_results, token)
    assert [item["routeKey"] for item in page["items"]] == keys
    assert page.get("nextToken") == next_token


@pytest.mark.parametrize(
    ("max_results", "token"), [("0", None), ("x", None), (None, "9"), (None, "x")]
)
def test_bad_pages(max_results: str | None, token: str | None) -> None:
    with refused(400):
        plane().list("api", (), max_results, token)


def test_restores_definitions() -> None:
    cp = plane()
    api_id, _, _ = chat(cp)
    again = ControlPlane(
        clock=lambda: NOW,
        new_id=lambda length: "x" * length,
        base_dir=Path("."),
        definitions=cp.definitions,
    )
    assert again.get("api", (api_id,))["name"] == "chat"


def test_route_members_of_every_shape() -> None:
    cp = plane()
    api_id, _, _ = chat(cp)
    body = {"routeKey": "s", "requestParameters": {}, "authorizationScopes": ["a"]}
    assert cp.create("route", (api_id,), body)["authorizationScopes"] == ["a"]


def _routes(cp: ControlPlane, api_id: str, stage: str) -> list[str]:
    return sorted(cp.served(api_id)[stage].routes)


def test_a_stage_serves_its_deployment_until_the_next() -> None:
    cp = plane()
    api_id, mock_id, _ = chat(cp)
    cp.create("stage", (api_id,), {"stageName": "dev"})
    first = cp.create("deployment", (api_id,), {"stageName": "dev", "description": "one"})
    added = cp.create(
        "route", (api_id,), {"routeKey": "later", "target": f"integrations/{mock_id}"}
    )
    assert _routes(cp, api_id, "dev") == ["$default"]  # undeployed: invisible
    cp.update("deployment", (api_id, first["deploymentId"]), {"description": "two"})
    assert _routes(cp, api_id, "dev") == ["$default"]  # describing is not deploying
    second = cp.create("deployment", (api_id,), {"stageName": "dev"})
    assert _routes(cp, api_id, "dev") == ["$default", "later"]
    # Back to the first deployment: the route is gone again from what the stage serves.
    cp.update("stage", (api_id, "dev"), {"deploymentId": first["deploymentId"]})
    assert _routes(cp, api_id, "dev") == ["$default"]
    cp.delete("route", (api_id, added["routeId"]))
    cp.delete("deployment", (api_id, second["deploymentId"]))
    assert second["deploymentId"] not in cp.definitions[api_id]["snapshot"]
    # A stage's own settings apply at once, to the deployment it serves.
    cp.update("stage", (api_id, "dev"), {"stageVariables": {"code": "200"}})
    assert cp.served(api_id)["dev"].stages["dev"].stage_variables == {"code": "200"}


def test_auto_deploy_follows_every_change() -> None:
    cp = plane()
    api_id = cp.create(
        "api", (), {"name": "a", "protocolType": "WEBSOCKET", "routeSelectionExpression": "x"}
    )["apiId"]
    cp.create("stage", (api_id,), {"stageName": "dev", "autoDeploy": True})
    assert cp.served(api_id) == {}  # no route: AWS's automatic deployment fails
    assert cp.get("stage", (api_id, "dev")).get("deploymentId") is None
    mock = cp.create("integration", (api_id,), {"integrationType": "MOCK"})
    target = f"integrations/{mock['integrationId']}"
    cp.create("route", (api_id,), {"routeKey": "a", "target": target})
    first = cp.get("stage", (api_id, "dev"))["deploymentId"]
    assert cp.get("deployment", (api_id, first))["autoDeployed"] is True
    cp.create("route", (api_id,), {"routeKey": "b"})
    second = cp.get("stage", (api_id, "dev"))["deploymentId"]
    assert second != first and _routes(cp, api_id, "dev") == ["a", "b"]
    # The automatic deployment no stage points at is dropped; a manual one stays.
    assert [d["deploymentId"] for d in cp.list("deployment", (api_id,))["items"]] == [second]
    manual = cp.create("deployment", (api_id,), {})
    cp.update("stage", (api_id, "dev"), {"stageVariables": {"v": "1"}})
    assert cp.get("stage", (api_id, "dev"))["deploymentId"] == second  # nothing to deploy
    deployments = {d["deploymentId"] for d in cp.list("deployment", (api_id,))["items"]}
    assert deployments == {second, manual["deploymentId"]}


AUTHORIZER = {
    "authorizerType": "REQUEST",
    "name": "auth",
    "authorizerUri": "http://127.0.0.1:9/auth",
    "identitySource": ["route.request.header.Auth"],
}


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ({**AUTHORIZER, "authorizerType": "JWT"}, "JWT authorizers are for HTTP APIs"),
        ({k: v for k, v in AUTHORIZER.items() if k != "authorizerUri"}, "authorizerUri is"),
        ({k: v for k, v in AUTHORIZER.items() if k != "identitySource"}, "identitySource is"),
        ({**AUTHORIZER, "authorizerResultTtlInSeconds": 3601}, "between 0 and 3600"),
    ],
)
def test_authorizer_refusals(body: dict[str, Any], match: str) -> None:
    cp = plane()
    api_id, _, _ = chat(cp)
    with refused(400, match):
        cp.create("authorizer", (api_id,), body)


def test_authorizers_and_models() -> None:
    cp = plane()
    api_id, mock_id, _ = chat(cp)
    authorizer = cp.create(
        "authorizer", (api_id,), {**AUTHORIZER, "authorizerResultTtlInSeconds": 60}
    )
    authorizer_id = authorizer["authorizerId"]
    with refused(400, "Invalid authorizer identifier specified nope"):
        cp.create("route", (api_id,), {"routeKey": "$connect", "authorizerId": "nope"})
    with refused(400, "CUSTOM authorization type needs an authorizerId"):
        cp.create("route", (api_id,), {"routeKey": "$connect", "authorizationType": "CUSTOM"})
    connect = cp.create(
        "route",
        (api_id,),
        {"routeKey": "$connect", "authorizationType": "CUSTOM", "authorizerId": authorizer_id},
    )
    schema = '{"type": "object", "required": ["a"]}'
    model = cp.create("model", (api_id,), {"name": "Body", "schema": schema})
    with refused(409, "Model with name Body already exists"):
        cp.create("model", (api_id,), {"name": "Body", "schema": schema})
    with refused(400, "Invalid model specified Nope"):
        cp.create("route", (api_id,), {"routeKey": "m", "requestModels": {"$default": "Nope"}})
    checked = cp.create(
        "route",
        (api_id,),
        {
            "routeKey": "m",
            "target": f"integrations/{mock_id}",
            "modelSelectionExpression": "\\$default",
            "requestModels": {"$default": "Body"},
        },
    )
    cp.create("stage", (api_id,), {"stageName": "dev", "autoDeploy": True})
    served = cp.served(api_id)["dev"]
    assert served.authorizers[authorizer_id].authorizer_result_ttl_in_seconds == 60
    assert served.models["Body"].schema_text == schema
    assert served.routes["$connect"].authorizer_name == authorizer_id
    with refused(400, f"Authorizer {authorizer_id} is used by route \\$connect"):
        cp.delete("authorizer", (api_id, authorizer_id))
    with refused(400, "Model Body is used by route m"):
        cp.delete("model", (api_id, model["modelId"]))
    cp.delete("route", (api_id, connect["routeId"]))
    cp.delete("route", (api_id, checked["routeId"]))
    cp.delete("authorizer", (api_id, authorizer_id))
    cp.delete("model", (api_id, model["modelId"]))
    assert cp.served(api_id)["dev"].models == {}


def test_routes_reach_the_hosts_functions() -> None:
    functions = {
        "echo": {"handler": "runtime_handlers.echo", "isolation": "inprocess"},
        "other": {"handler": "runtime_handlers.echo"},
        "gate": {"handler": "runtime_handlers.echo"},
        "custom": {"handler": "runtime_handlers.echo"},
    }
    counter = itertools.count()
    cp = ControlPlane(
        clock=lambda: NOW,
        new_id=lambda length: str(next(counter)).rjust(length, "b"),
        base_dir=Path("tests/integration/functions"),
        functions=functions,
    )
    api_id = cp.create(
        "api", (), {"name": "f", "protocolType": "WEBSOCKET", "routeSelectionExpression": "x"}
    )["apiId"]
    function = cp.create(
        "integration",
        (api_id,),
        {
            "integrationType": "AWS_PROXY",
            "integrationUri": "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
            "arn:aws:lambda:us-east-1:123456789012:function:echo/invocations",
        },
    )
    target = f"integrations/{function['integrationId']}"
    cp.create("route", (api_id,), {"routeKey": "$default", "target": target})
    authorizer = cp.create("authorizer", (api_id,), {**AUTHORIZER, "authorizerUri": "gate"})
    authorizer_id = authorizer["authorizerId"]
    body = {"routeKey": "$connect", "authorizationType": "CUSTOM", "authorizerId": authorizer_id}
    cp.create("route", (api_id,), body)
    custom = cp.create(
        "integration",
        (api_id,),
        {"integrationType": "AWS", "integrationUri": "arn:aws:lambda:us-east-1:1:function:custom"},
    )
    assert custom["passthroughBehavior"] == "WHEN_NO_MATCH"
    expression = "${integration.response.body.errorMessage}"
    assert custom["integrationResponseSelectionExpression"] == expression
    queue = "arn:aws:apigateway:us-east-1:sqs:path/123456789012/q"
    service = cp.create(
        "integration",
        (api_id,),
        {
            "integrationType": "AWS",
            "integrationUri": queue,
            "credentialsArn": "arn:aws:iam::1:role/r",
        },
    )
    for integration in (custom, service):
        target = f"integrations/{integration['integrationId']}"
        cp.create("route", (api_id,), {"routeKey": integration["integrationId"], "target": target})
    cp.create("stage", (api_id,), {"stageName": "dev", "autoDeploy": True})
    served = cp.served(api_id)["dev"]
    assert sorted(served.functions) == ["custom", "echo", "gate"]  # not "other"
    assert served.integrations[service["integrationId"]].credentials_arn == "arn:aws:iam::1:role/r"
    with refused(400, "nope"):
        cp.create(
            "integration", (api_id,), {"integrationType": "AWS_PROXY", "integrationUri": "nope"}
        )


def test_definitions_kept_before_authorizers_and_snapshots() -> None:
    cp = plane()
    api_id, _, _ = chat(cp)
    old = {
        key: value
        for key, value in cp.definitions[api_id].items()
        if key not in ("authorizer", "model", "snapshot")
    }
    again = ControlPlane(
        clock=lambda: NOW, new_id=lambda n: "z" * n, base_dir=Path("."), definitions={api_id: old}
    )
    assert again.list("authorizer", (api_id,)) == {"items": []}
    again.create("stage", (api_id,), {"stageName": "dev", "autoDeploy": True})
    assert list(again.served(api_id)) == ["dev"]


def test_quotas_per_api() -> None:
    cp = plane()
    api_id, _, _ = chat(cp)
    for number in range(10):
        cp.create("stage", (api_id,), {"stageName": f"s{number}"})
    with refused(400, "An API holds at most 10 stages"):
        cp.create("stage", (api_id,), {"stageName": "one-more"})
