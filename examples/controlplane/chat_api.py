"""Define the chat API on a running gateway from nothing, with the unmodified boto3 client.

The routes call the chat example's functions (examples/chat/wsgate.yaml), which the gateway
serving that file offers to every API it hosts by their Lambda ARNs:

    wsgate serve examples/chat/wsgate.yaml --admin-port 9090 --state apis.db
    python examples/controlplane/chat_api.py --endpoint http://127.0.0.1:9090

It prints the URL clients connect to (``ApiEndpoint/stage``). Against AWS, drop ``--endpoint``
and the same calls define the same API (with your functions' real ARNs).
"""

from __future__ import annotations

import argparse
from typing import Any

import boto3

ACCOUNT = "000000000000"
ROUTES = {
    "$connect": "onconnect",
    "$disconnect": "ondisconnect",
    "sendmessage": "sendmessage",
    "$default": "default",
}


def function_uri(region: str, name: str) -> str:
    """API Gateway's invocation URI of a Lambda function."""
    arn = f"arn:aws:lambda:{region}:{ACCOUNT}:function:{name}"
    return f"arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{arn}/invocations"


def define_chat(v2: Any, region: str, stage: str = "dev") -> str:
    """Create the API, its integrations, routes and a deployed stage; return the client URL."""
    api = v2.create_api(
        Name="chat", ProtocolType="WEBSOCKET", RouteSelectionExpression="$request.body.action"
    )
    api_id = api["ApiId"]
    for route_key, function in ROUTES.items():
        integration = v2.create_integration(
            ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=function_uri(region, function)
        )
        target = f"integrations/{integration['IntegrationId']}"
        if route_key != "$default":
            v2.create_route(ApiId=api_id, RouteKey=route_key, Target=target)
            continue
        # The $default route answers the client (its hint) through a route response.
        route = v2.create_route(
            ApiId=api_id,
            RouteKey=route_key,
            Target=target,
            RouteResponseSelectionExpression="$default",
        )
        v2.create_route_response(
            ApiId=api_id, RouteId=route["RouteId"], RouteResponseKey="$default"
        )
    v2.create_stage(ApiId=api_id, StageName=stage)
    v2.create_deployment(ApiId=api_id, StageName=stage)
    return f"{api['ApiEndpoint']}/{stage}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", help="the gateway's admin listener (default: AWS)")
    parser.add_argument("--region", default="us-east-1")
    args = parser.parse_args()
    client = boto3.client("apigatewayv2", endpoint_url=args.endpoint, region_name=args.region)
    print(define_chat(client, args.region))


if __name__ == "__main__":
    main()
