"""AWS_IAM on $connect and a SigV4-signed @connections API (§6.4, §7.3), with boto3 as is.

The handshake is signed by botocore's own signers, in the Authorization header and in a
presigned URL (the only way a browser can sign); the management API is called by the unmodified
boto3 client with right, wrong, unknown and missing credentials.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore import UNSIGNED
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from websockets.exceptions import InvalidStatus

from tests.helpers import RunningGateway, eventually, ws_client
from wsgate.config.load import parse_config
from wsgate.server.app import Gateway

KEY_ID = "AKIAWSGATETEST000001"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
PRINCIPAL = "arn:aws:iam::000000000000:user/ops"
APP = Path(__file__).parent / "apps" / "access"
CONFIG = f"""
name: iam
routeSelectionExpression: $request.body.action
stages: {{dev: {{}}}}
routes:
  $connect: {{target: connect, authorizationType: AWS_IAM}}
  echo: {{target: echo, routeResponseSelectionExpression: $default}}
integrations:
  connect: {{integrationType: AWS_PROXY, integrationUri: record}}
  echo: {{integrationType: AWS_PROXY, integrationUri: echo}}
functions:
  record: {{handler: handlers.record, codeUri: {APP}, isolation: inprocess}}
  echo: {{handler: handlers.echo, codeUri: {APP}, isolation: inprocess}}
iam:
  credentials:
    - {{accessKeyId: {KEY_ID}, secretAccessKey: {SECRET}, principal: "{PRINCIPAL}"}}
server:
  managementAuthorization: AWS_IAM
"""


@pytest.fixture
async def iam(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[RunningGateway]:
    events = tmp_path / "events.jsonl"
    monkeypatch.setenv("EVENTS_FILE", str(events))
    gateway = Gateway(parse_config(CONFIG, base_dir=tmp_path))
    await gateway.start(port=0)
    try:
        yield RunningGateway(gateway, events)
    finally:
        await gateway.stop(timeout=5)


def signed_headers(url: str, secret: str = SECRET) -> dict[str, str]:
    request = AWSRequest(method="GET", url=url)
    SigV4Auth(Credentials(KEY_ID, secret), "execute-api", "us-east-1").add_auth(request)
    return {name: value for name, value in request.headers.items() if name.lower() != "host"}


def presigned(url: str) -> str:
    request = AWSRequest(method="GET", url=url)
    SigV4QueryAuth(Credentials(KEY_ID, SECRET), "execute-api", "us-east-1", 60).add_auth(request)
    assert request.url is not None
    return request.url.replace("http://", "ws://")


def management(endpoint: str, key_id: str = KEY_ID, secret: str = SECRET, *, signed=True) -> Any:
    config = Config(retries={"max_attempts": 1})
    if not signed:
        config = config.merge(Config(signature_version=UNSIGNED))
    return boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=config,
    )


async def test_a_signed_handshake_connects_and_names_its_signer(iam):
    http_url = f"http://127.0.0.1:{iam.port}/dev"
    async with ws_client(iam.ws_url(), additional_headers=signed_headers(http_url)) as ws:
        await ws.send(json.dumps({"action": "echo"}))
        assert json.loads(await ws.recv()) == {"action": "echo"}
    async with ws_client(presigned(http_url)) as ws:  # a browser's way
        await ws.send(json.dumps({"action": "echo"}))
        await ws.recv()
    await eventually(lambda: len(iam.events("CONNECT")) == 2)
    for event in iam.events("CONNECT"):
        identity = event["requestContext"]["identity"]
        assert identity["accessKey"] == KEY_ID
        assert identity["userArn"] == PRINCIPAL


@pytest.mark.parametrize(
    ("headers", "error_type"),
    [
        ({}, "MissingAuthenticationTokenException"),
        ("wrong secret", "InvalidSignatureException"),
        ({"Authorization": "AWS4-HMAC-SHA256 Credential=nope"}, "IncompleteSignatureException"),
    ],
)
async def test_unsigned_or_badly_signed_handshakes_get_403(iam, headers, error_type):
    if headers == "wrong secret":
        headers = signed_headers(f"http://127.0.0.1:{iam.port}/dev", secret="not-the-secret")
    with pytest.raises(InvalidStatus) as caught:
        async with ws_client(iam.ws_url(), additional_headers=headers):
            pass
    response = caught.value.response
    assert response.status_code == 403
    assert response.headers["x-amzn-ErrorType"] == error_type
    assert "message" in json.loads(response.body)
    assert iam.events("CONNECT") == []


async def test_management_api_requires_a_known_signature(iam):
    http_url = f"http://127.0.0.1:{iam.port}/dev"
    async with ws_client(iam.ws_url(), additional_headers=signed_headers(http_url)) as ws:
        connection_id = next(iter(iam.gateway.dataplane.live))
        client = management(http_url)
        await asyncio.to_thread(client.post_to_connection, ConnectionId=connection_id, Data=b"hi")
        assert await ws.recv() == "hi"
        info = await asyncio.to_thread(client.get_connection, ConnectionId=connection_id)
        assert info["Identity"]["SourceIp"] == "127.0.0.1"
        refusals = {
            "InvalidSignatureException": management(http_url, secret="wrong"),
            "UnrecognizedClientException": management(http_url, key_id="AKIAUNKNOWNKEY000000"),
            "MissingAuthenticationTokenException": management(http_url, signed=False),
        }
        for error_type, bad in refusals.items():
            with pytest.raises(ClientError) as caught:
                await asyncio.to_thread(
                    bad.post_to_connection, ConnectionId=connection_id, Data=b"x"
                )
            assert caught.value.response["Error"]["Code"] == error_type
            assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        # Refused calls changed nothing: the socket is open and got nothing more.
        await asyncio.to_thread(client.delete_connection, ConnectionId=connection_id)
        await asyncio.wait_for(ws.wait_closed(), 5)
    assert ws.close_code == 1000
