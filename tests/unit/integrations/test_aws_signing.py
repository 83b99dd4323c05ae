"""Requests to AWS services signed as AWS checks them, with what botocore finds of the user's
setup: the signature is verified by the gateway's own SigV4 verifier, and the credentials and
endpoints come from real botocore sessions over an isolated environment."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import botocore.session
import pytest
from botocore.credentials import Credentials as BotoCredentials, RefreshableCredentials
from tests.aws_env import isolate_aws

from wsgate.core.exchange import BackendReply, BackendRequest
from wsgate.errors import IntegrationUnavailable
from wsgate.integrations.aws_signing import AwsSession, SigningTransport
from wsgate.security.credentials import Credentials, CredentialStore
from wsgate.security.sigv4 import verify


class _Recorder:
    """A transport that keeps what it was asked to send."""

    def __init__(self) -> None:
        self.sent: list[BackendRequest] = []

    async def send(self, request, *, timeout, integration="http"):
        self.sent.append(request)
        return BackendReply(200, (), b"{}")

    async def close(self):
        pass


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_aws(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "token")


def _verify(request: BackendRequest, service: str, region: str) -> Credentials:
    parts = urlsplit(request.url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    headers = {"Host": parts.netloc, **dict(request.headers)}
    store = CredentialStore([Credentials("AKIDEXAMPLE", "secret", "user", "token")])
    return verify(
        request.method,
        target,
        headers,
        request.body,
        store,
        region,
        datetime.now(UTC),
        service=service,
    )


@pytest.mark.parametrize(
    ("service", "url"),
    [
        ("sqs", "http://127.0.0.1:4566/123456789012/queue"),
        ("sns", "https://sns.eu-west-1.amazonaws.com/?Action=Publish&Version=2010-03-31&M=a%20b"),
        ("s3", "https://s3.eu-west-1.amazonaws.com/bucket/key"),
    ],
)
async def test_requests_are_signed_as_aws_checks_them(keys: None, service: str, url: str):
    inner = _Recorder()
    transport = SigningTransport(inner, AwsSession(), service, "eu-west-1")
    headers = (("Content-Type", "application/json"), ("x-amzn-apigateway-api-id", "abc"))
    request = BackendRequest("POST", url, headers, b'{"a": 1}')
    await transport.send(request, timeout=1, integration="queue")
    (sent,) = inner.sent
    assert sent.headers[:2] == headers  # the request's own, first and unchanged
    names = {name.lower() for name, _ in sent.headers}
    assert {"authorization", "x-amz-date", "x-amz-security-token"} <= names
    assert _verify(sent, service, "eu-west-1").principal == "user"
    await transport.close()  # the shared transport stays open
    assert inner.sent == [sent]


async def test_no_credentials_is_an_unreachable_service(monkeypatch, tmp_path):
    isolate_aws(monkeypatch, tmp_path)
    inner = _Recorder()
    transport = SigningTransport(inner, AwsSession(), "sqs", "us-east-1")
    request = BackendRequest("POST", "http://127.0.0.1:1/", (), b"")
    for _ in range(2):  # the empty chain is read once
        with pytest.raises(IntegrationUnavailable, match="no AWS credentials to sign with"):
            await transport.send(request, timeout=1, integration="queue")
    assert inner.sent == []


async def test_a_broken_credentials_file_is_reported(monkeypatch, tmp_path):
    isolate_aws(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_PROFILE", "missing")
    with pytest.raises(IntegrationUnavailable, match="AWS credentials: The config profile"):
        await AwsSession().credentials("queue")


class _Session(botocore.session.Session):
    """A botocore session whose chain yields the credentials a test gives."""

    def __init__(self, credentials) -> None:
        super().__init__()
        self._given = credentials

    def get_credentials(self):
        return self._given


async def test_expiring_credentials_refresh_off_the_loop(monkeypatch, tmp_path):
    isolate_aws(monkeypatch, tmp_path)
    refreshed = []

    def refresh():
        refreshed.append(True)
        return {
            "access_key": "AKIDEXAMPLE",
            "secret_key": "secret",
            "token": "token",
            "expiry_time": "2999-01-01T00:00:00Z",
        }

    expired = RefreshableCredentials(
        "old", "old", "old", datetime(2000, 1, 1, tzinfo=UTC), refresh, "test"
    )
    session = AwsSession(_Session(expired))
    frozen = await session.credentials("queue")
    assert (frozen.access_key, refreshed) == ("AKIDEXAMPLE", [True])
    assert (await session.credentials("queue")).token == "token"
    assert refreshed == [True]  # fresh now: no second refresh


async def test_a_failing_refresh_is_reported(monkeypatch, tmp_path):
    isolate_aws(monkeypatch, tmp_path)

    def refresh():
        raise botocore.exceptions.CredentialRetrievalError(provider="test", error_msg="denied")

    expired = RefreshableCredentials(
        "old", "old", "old", datetime(2000, 1, 1, tzinfo=UTC), refresh, "test"
    )
    with pytest.raises(IntegrationUnavailable, match="denied"):
        await AwsSession(_Session(expired)).credentials("queue")


async def test_static_credentials_from_a_given_session(monkeypatch, tmp_path):
    isolate_aws(monkeypatch, tmp_path)
    session = AwsSession(_Session(BotoCredentials("AKIDEXAMPLE", "secret")))
    assert (await session.credentials("queue")).secret_key == "secret"


async def test_services_are_described_as_botocore_resolves_them(monkeypatch, tmp_path):
    isolate_aws(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000")
    session = AwsSession()
    facts, signing = await session.service("table", "dynamodb", "eu-west-1", "json")
    assert facts.endpoint_url == "http://127.0.0.1:8000"
    assert (facts.target_prefix, facts.json_version, signing) == (
        "DynamoDB_20120810",
        "1.0",
        "dynamodb",
    )
    assert await session.service("table", "dynamodb", "eu-west-1", "json") == (facts, signing)
    facts, signing = await session.service("mail", "ses", "eu-west-1", "query")
    assert facts.endpoint_url == "https://email.eu-west-1.amazonaws.com"
    assert (facts.api_version, facts.target_prefix, signing) == ("2010-12-01", "", "ses")


async def test_a_region_botocore_refuses_is_unavailable(monkeypatch, tmp_path):
    isolate_aws(monkeypatch, tmp_path)
    with pytest.raises(IntegrationUnavailable, match="cannot describe sqs in not a region"):
        await AwsSession().service("queue", "sqs", "not a region", "query")
