"""wsgate export end to end: templates cfn-lint accepts, read back by wsgate's own reader into
the same API, and served to a real WebSocket client; the command's errors and exit statuses."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint  # type: ignore[import-untyped]
from websockets.exceptions import InvalidStatus

from tests.helpers import eventually, ws_client
from wsgate.cli import main
from wsgate.config.load import load_config
from wsgate.config.model import ApiConfig
from wsgate.config.template.load import load_api
from wsgate.config.template.options import TemplateOptions
from wsgate.security.local import wsgate_home
from wsgate.server.apistore import ApiStore
from wsgate.server.app import Gateway

ROOT = Path(__file__).parents[2]
EXAMPLES = ROOT / "examples"
SAM_CHAT = ROOT / "tests" / "data" / "sam" / "python-chat"
ACCESS = Path(__file__).parent / "apps" / "access" / "wsgate.yaml"
FORMATS = ("sam", "cloudformation")

# HTTP, HTTP_PROXY, MOCK and function integrations, request and response templates, a model,
# an authorizer, throttles and access logs, in two stages.
SHOP = r"""
name: shop
description: Orders over a WebSocket
routeSelectionExpression: ${request.body.action}
stages:
  dev:
    description: For development
    stageVariables: {backend: "127.0.0.1:9", mode: dev}
    defaultRouteSettings: {throttlingBurstLimit: 100, throttlingRateLimit: 50}
    routeSettings:
      order: {throttlingBurstLimit: 10, throttlingRateLimit: 5}
    accessLogSettings: {format: '$context.requestId $context.routeKey'}
  prod:
    stageVariables: {backend: "orders.example.com", mode: prod}
    limits: {idleTimeoutSeconds: 60}
routes:
  $connect:
    target: echo
    authorizationType: CUSTOM
    authorizerId: gate
  $disconnect: {target: echo}
  order:
    target: order
    routeResponseSelectionExpression: $default
    modelSelectionExpression: '\$default'
    requestModels: {$default: Order}
  ping:
    target: pong
    routeResponseSelectionExpression: $default
  status:
    target: status
  $default:
    target: echo
    routeResponseSelectionExpression: $default
models:
  Order:
    schema: {type: object, required: [item], properties: {item: {type: string}}}
    description: An order
authorizers:
  gate:
    authorizerUri: allow
    identitySource: [route.request.querystring.token]
integrations:
  echo: {integrationType: AWS_PROXY, integrationUri: echo, timeoutInMillis: 10000}
  order:
    integrationType: HTTP
    integrationUri: http://${stageVariables.backend}/orders
    integrationMethod: PUT
    requestParameters:
      integration.request.header.X-Connection-Id: context.connectionId
    templateSelectionExpression: \$default
    passthroughBehavior: NEVER
    requestTemplates:
      $default: |
        {"item": $input.json('$.item'), "by": "$context.connectionId"}
    integrationResponses:
      /2\d\d/:
        templateSelectionExpression: \$default
        responseTemplates:
          $default: '{"ordered": $input.json(''$.id'')}'
      $default:
        responseTemplates:
          $default: '{"error": "refused"}'
  pong:
    integrationType: MOCK
    requestTemplates:
      $default: '{"statusCode": 200}'
    templateSelectionExpression: \$default
    integrationResponses:
      $default:
        responseTemplates:
          $default: '{"pong": "$context.stage", "mode": "$stageVariables.mode"}'
  status:
    integrationType: HTTP_PROXY
    integrationUri: https://status.example.com/now
    integrationMethod: GET
functions:
  echo:
    handler: app.echo
    codeUri: functions
    runtime: python3.11
    timeout: 5
    memorySize: 256
    environment: {MODE: shop}
  allow: {handler: app.allow, codeUri: functions, runtime: python3.11, isolation: inprocess}
"""

SHOP_FUNCTIONS = """
def echo(event, context):
    return {"statusCode": 200, "body": event.get("body") or ""}


def allow(event, context):
    arn = event["methodArn"].rsplit("/", 2)[0] + "/*/*"
    effect = "Allow" if event["queryStringParameters"].get("token") == "ok" else "Deny"
    statement = {"Action": "execute-api:Invoke", "Effect": effect, "Resource": arn}
    return {
        "principalId": "shopper",
        "policyDocument": {"Version": "2012-10-17", "Statement": [statement]},
    }
"""


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """The shop API's config file, with its functions beside it."""
    (tmp_path / "app" / "functions").mkdir(parents=True)
    (tmp_path / "app" / "functions" / "app.py").write_text(SHOP_FUNCTIONS)
    config = tmp_path / "app" / "wsgate.yaml"
    config.write_text(SHOP)
    return config


def lint_errors(template: Path) -> list[str]:
    """cfn-lint's errors (not its warnings or notes) on a template file, with the rules its
    command line runs by default."""
    matches = lint(template.read_text(encoding="utf-8"), config=ManualArgs(regions=["us-east-1"]))
    return [str(match) for match in matches if match.rule.id.startswith("E")]


def export(source: Path | str, export_format: str, output: Path, *flags: str) -> Path:
    argv = ["export", str(source), "--format", export_format, "--output", str(output), *flags]
    assert main(argv) == 0
    return output


def read_back(template: Path, home: Path) -> ApiConfig:
    """The template as `wsgate serve` reads it (the S3 bucket of plain CloudFormation named)."""
    overrides = {"CodeBucket": "unused"} if "CodeBucket" in template.read_text() else {}
    options = TemplateOptions(home=home, parameter_overrides=overrides)
    return load_api(template, options).config


def shape(config: ApiConfig) -> dict[str, Any]:
    """What the API does, whatever its parts are called: routes with the integration each calls
    (and that one's responses), authorizers and models, stages, functions."""

    def integration(name: str | None) -> Any:
        if name is None:
            return None
        return config.integrations[name].model_dump(exclude={"integration_uri"})

    routes = {}
    for key, route in config.routes.items():
        routes[key] = {
            **route.model_dump(exclude={"target", "authorizer_id", "route_responses"}),
            "two_way": route.two_way,
            "integration": integration(route.integration_name),
            "authorizer": (
                None
                if route.authorizer_name is None
                else config.authorizers[route.authorizer_name].model_dump(
                    exclude={"authorizer_uri", "name"}
                )
            ),
        }
    uris = {
        key: config.integrations[route.integration_name].integration_uri
        for key, route in config.routes.items()
        if route.integration_name is not None
        and config.integrations[route.integration_name].integration_type in ("HTTP", "HTTP_PROXY")
    }
    functions = {
        function.handler: function.model_dump(exclude={"runtime", "isolation"})
        for function in config.functions.values()
    }
    return {
        "api": config.model_dump(
            include={
                "name",
                "description",
                "route_selection_expression",
                "api_key_selection_expression",
            }
        ),
        "routes": routes,
        "backends": uris,
        "models": {
            name: (json.loads(model.schema_text), model.content_type, model.description)
            for name, model in config.models.items()
        },
        "stages": {
            name: stage.model_dump(exclude={"limits", "protection"})
            for name, stage in config.stages.items()
        },
        "functions": functions,
    }


@pytest.mark.parametrize("export_format", FORMATS)
def test_a_config_round_trips_through_its_template(
    shop: Path, tmp_path: Path, export_format: str, capsys: pytest.CaptureFixture[str]
) -> None:
    template = export(shop, export_format, tmp_path / "app" / f"{export_format}.yaml")
    err = capsys.readouterr().err
    assert "wsgate export: warning: stages.prod.limits: AWS's fixed quotas apply" in err
    assert "wsgate export: warning: functions.allow.isolation:" in err
    assert lint_errors(template) == []
    original, again = load_config(shop), read_back(template, tmp_path / "home")
    assert shape(again) == shape(original)
    # What is left out is what the warnings said.
    assert again.stages["prod"].limits.idle_timeout_seconds == 600
    assert again.functions["AllowFunction"].isolation == "process"


@pytest.mark.parametrize("export_format", FORMATS)
def test_a_sam_template_round_trips(tmp_path: Path, export_format: str) -> None:
    shutil.copytree(SAM_CHAT, tmp_path / "chat")
    source = tmp_path / "chat" / "template.yaml"
    template = export(source, export_format, tmp_path / "chat" / f"out-{export_format}.yaml")
    assert lint_errors(template) == []
    # In-line code is written under the home `wsgate export` read the template with.
    home = wsgate_home()
    original = load_api(source, TemplateOptions(home=home)).config
    again = read_back(template, home)
    assert shape(again) == shape(original)
    # The functions keep their logical ids, so they are the same functions.
    assert again.functions == original.functions


@pytest.mark.parametrize(
    "source",
    [
        EXAMPLES / "chat" / "wsgate.yaml",
        EXAMPLES / "http-backend" / "wsgate-templates.yaml",
        EXAMPLES / "http-backend" / "wsgate-proxy.yaml",
        ACCESS,
    ],
    ids=lambda path: f"{path.parent.name}/{path.name}",
)
@pytest.mark.parametrize("export_format", FORMATS)
def test_examples_export_to_templates_cfn_lint_accepts(
    source: Path, export_format: str, tmp_path: Path
) -> None:
    template = export(source, export_format, tmp_path / "template.json")
    json.loads(template.read_text())  # .json writes JSON
    assert lint_errors(template) == []


def test_what_the_access_api_leaves_out_is_listed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export(ACCESS, "sam", tmp_path / "access.yaml")
    err = capsys.readouterr().err.splitlines()
    left_out = [line.split(": ")[2] for line in err if line.startswith("wsgate export: warning:")]
    assert left_out == [
        "apiKeys",
        "usagePlans",
        "groupsFromAuthorizer",
        "server",
        "stages.throttled.protection",
        "stages.crowded.protection",
        "functions.authorize.isolation",
        "functions.record.isolation",
        "functions.echo.isolation",
        "authorizers.tokens.authorizerResultTtlInSeconds",
        "functions.authorize.runtime",
        "functions.record.runtime",
        "functions.echo.runtime",
    ]


@pytest.fixture
async def served_export(shop: Path, tmp_path: Path) -> AsyncIterator[Gateway]:
    """The shop API exported as SAM, and the exported template served."""
    template = export(shop, "sam", tmp_path / "app" / "template.yaml")
    config = read_back(template, tmp_path / "home")
    gateway = Gateway(config)
    await gateway.start(port=0)
    try:
        yield gateway
    finally:
        await gateway.stop(timeout=5)


async def test_an_exported_template_serves_the_api(served_export: Gateway) -> None:
    url = f"ws://127.0.0.1:{served_export.port}/dev"
    async with ws_client(f"{url}?token=ok") as client:
        await eventually(lambda: len(served_export.dataplane.live) == 1)
        await client.send(json.dumps({"action": "ping"}))
        assert json.loads(await asyncio.wait_for(client.recv(), 15)) == {
            "pong": "dev",
            "mode": "dev",
        }
        await client.send("hello")
        assert await asyncio.wait_for(client.recv(), 15) == "hello"
        await client.send(json.dumps({"action": "order"}))  # no item: the model refuses it
        assert "Bad request body" in await asyncio.wait_for(client.recv(), 15)
    with pytest.raises(InvalidStatus) as refused:  # the authorizer came along
        async with ws_client(f"{url}?token=no"):
            pass
    assert refused.value.response.status_code == 403


async def test_an_api_kept_by_the_control_plane_exports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state.db"
    store = ApiStore(state)
    await store.load()
    await store.save("k1", KEPT)
    await store.close()
    template = export("k1", "sam", tmp_path / "kept.yaml", "--state", str(state))
    assert lint_errors(template) == []
    assert "the template refers to the existing Lambda function 'echo'" in capsys.readouterr().err
    host = tmp_path / "host.yaml"
    host.write_text(HOST.format(functions=ROOT / "tests" / "integration" / "functions"))
    template = export(
        "k1",
        "cloudformation",
        tmp_path / "hosted.yaml",
        "--state",
        str(state),
        "--config",
        str(host),
    )
    assert lint_errors(template) == []
    assert "EchoFunction" in template.read_text()
    assert main(["export", "nope", "--state", str(state), "--format", "sam"]) == 3
    assert capsys.readouterr().err == (
        f"wsgate export: no API with id 'nope' in {state} (kept: k1 (kept))\n"
    )


KEPT: dict[str, Any] = {
    "api": {
        "apiId": "k1",
        "name": "kept",
        "protocolType": "WEBSOCKET",
        "routeSelectionExpression": "$request.body.action",
    },
    "route": {"r1": {"routeId": "r1", "routeKey": "$default", "target": "integrations/i1"}},
    "routeResponse": {"r1": {"rr": {"routeResponseId": "rr", "routeResponseKey": "$default"}}},
    "integration": {
        "i1": {
            "integrationId": "i1",
            "integrationType": "AWS_PROXY",
            "integrationUri": "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
            "arn:aws:lambda:us-east-1:123456789012:function:echo/invocations",
        }
    },
    "integrationResponse": {},
    "stage": {"prod": {"stageName": "prod", "deploymentId": "d1"}},
    "deployment": {"d1": {"deploymentId": "d1"}},
    "snapshot": {},
}
HOST = """
name: host
routeSelectionExpression: $request.body.action
stages: {{dev: {{}}}}
functions:
  echo: {{handler: runtime_handlers.echo, codeUri: {functions}, runtime: python3.11}}
"""


@pytest.mark.parametrize(
    ("argv", "status", "message"),
    [
        (["x.yaml", "--format", "terraform"], 2, "argument --format: invalid choice: 'terraform'"),
        (["x.yaml"], 2, "the following arguments are required: --format"),
        (
            ["{missing}", "--format", "sam"],
            3,
            "wsgate export: {missing}: no such file (an API kept by the control plane is "
            "exported by its id, with --state FILE)",
        ),
        (["{shop}", "--format", "sam", "--config", "{shop}"], 2, "--config: only with --state"),
        (["k1", "--format", "sam", "--state", "{missing}"], 3, "--state {missing}: no such file"),
        (["k1", "--format", "sam", "--state", "{shop}"], 3, "not a wsgate state file"),
        (
            ["{shop}", "--format", "sam", "--output", "{tmp}/no/such/dir/t.yaml"],
            3,
            "wsgate export: cannot write {tmp}/no/such/dir/t.yaml: No such file or directory",
        ),
        (["{shop}", "--format", "sam", "--stack-name", "s"], 2, "--stack-name: only for templates"),
        (["{bad}", "--format", "sam"], 1, "routes.x.target: no integration named 'nope'"),
        (
            ["{refused}", "--format", "cloudformation"],
            1,
            "wsgate export: {refused}: cannot be deployed to AWS as it is\n"
            "  authorizers.web.authorizerUri: an HTTP authorizer has no AWS counterpart",
        ),
    ],
)
def test_export_errors_exit_with_a_clear_message(
    argv: list[str],
    status: int,
    message: str,
    shop: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: b\nrouteSelectionExpression: $request.body.a\nstages: {dev: {}}\n"
        "routes: {x: {target: nope}}\n"
    )
    refused = tmp_path / "refused.yaml"
    refused.write_text(
        "name: r\nrouteSelectionExpression: $request.body.a\nstages: {dev: {}}\n"
        "authorizers: {web: {authorizerUri: 'https://auth.example.com'}}\n"
    )
    names = {"missing": tmp_path / "missing.yaml", "shop": shop, "tmp": tmp_path, "bad": bad}
    names["refused"] = refused
    assert main(["export", *(arg.format(**names) for arg in argv)]) == status
    captured = capsys.readouterr()
    assert message.format(**names) in captured.err
    assert captured.out == ""


def test_export_writes_to_stdout_and_documents_its_exit_statuses(
    shop: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export", str(shop), "--format", "sam"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("AWSTemplateFormatVersion: '2010-09-09'\nTransform: AWS::Serverless")
    assert main(["export", "--help"]) == 0
    help_text = capsys.readouterr().out
    assert "exit status:" in help_text and "\n  2  usage error" in help_text


def test_the_lint_finds_errors(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "Resources:\n  R:\n    Type: AWS::ApiGatewayV2::Route\n"
        "    Properties: {ApiId: x, RouteKeys: y}\n"
    )
    assert len(lint_errors(broken)) >= 2  # RouteKey missing, RouteKeys unknown
