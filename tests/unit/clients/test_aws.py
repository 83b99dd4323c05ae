"""How ``wsgate post|get|delete`` sets up botocore: region, credentials, signing, no retries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from botocore import UNSIGNED
from botocore.exceptions import ProfileNotFound

from tests.aws_env import isolate_aws
from wsgate.clients.aws import AwsOptions, Signing, management_client, region_from_endpoint

ENDPOINT = "http://127.0.0.1:8080/dev"


def config_of(client: Any) -> Any:
    """The client's botocore Config, whose options the stubs do not declare."""
    return client.meta.config


@pytest.fixture(autouse=True)
def aws_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return isolate_aws(monkeypatch, tmp_path)


@pytest.mark.parametrize(
    ("endpoint", "region"),
    [
        ("https://abc123defg.execute-api.eu-west-3.amazonaws.com/prod", "eu-west-3"),
        ("https://abc123defg.execute-api.cn-north-1.amazonaws.com.cn/prod", "cn-north-1"),
        ("https://ws.example.com/prod", None),
        ("http://127.0.0.1:8080/dev", None),
        ("https://execute-api.eu-west-3.amazonaws.com.evil.example/prod", None),
    ],
)
def test_region_from_endpoint(endpoint: str, region: str | None) -> None:
    assert region_from_endpoint(endpoint) == region


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        (AwsOptions(), None),
        (AwsOptions(access_key_id="AKID", secret_access_key="s", session_token="t"), None),
        (AwsOptions(access_key_id="AKID"), "--access-key-id and --secret-access-key go together"),
        (
            AwsOptions(access_key_id="AKID", secret_access_key="s", sign=False),
            "--no-sign-request and --access-key-id exclude each other",
        ),
        (
            AwsOptions(session_token="t"),
            "--session-token needs --access-key-id and --secret-access-key",
        ),
    ],
)
def test_usage_problem(options: AwsOptions, problem: str | None) -> None:
    assert options.usage_problem() == problem


def test_no_credentials_means_unsigned_in_us_east_1() -> None:
    client, signing = management_client(ENDPOINT, AwsOptions(), timeout=3)
    assert signing == Signing(None, "nowhere", "us-east-1")
    assert client.meta.region_name == "us-east-1"
    config = config_of(client)
    assert config.signature_version is UNSIGNED
    # One attempt and no retry: a POST retried after a lost answer could arrive twice.
    assert config.retries == {"total_max_attempts": 1, "mode": "standard"}
    assert (config.connect_timeout, config.read_timeout) == (3, 3)
    assert "wsgate/" in config.user_agent_extra


def test_region_comes_from_the_flag_then_the_chain_then_the_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    aws_endpoint = "https://abc.execute-api.ap-south-1.amazonaws.com/prod"
    assert management_client(aws_endpoint, AwsOptions(), timeout=1)[1].region == "ap-south-1"
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    assert management_client(aws_endpoint, AwsOptions(), timeout=1)[1].region == "eu-central-1"
    options = AwsOptions(region="us-west-2")
    assert management_client(aws_endpoint, options, timeout=1)[1].region == "us-west-2"


def test_keys_from_flags_sign() -> None:
    options = AwsOptions(access_key_id="AKIDFLAG", secret_access_key="s")
    client, signing = management_client(ENDPOINT, options, timeout=1)
    assert signing == Signing("AKIDFLAG", "--access-key-id", "us-east-1")
    assert config_of(client).signature_version is not UNSIGNED


def test_keys_from_the_environment_sign(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    signing = management_client(ENDPOINT, AwsOptions(), timeout=1)[1]
    assert (signing.access_key_id, signing.source) == (
        "AKIDENV",
        "the environment (AWS_ACCESS_KEY_ID)",
    )
    # --no-sign-request wins over any credentials.
    client, signing = management_client(ENDPOINT, AwsOptions(sign=False), timeout=1)
    assert signing == Signing(None, "--no-sign-request", "us-east-1")
    assert config_of(client).signature_version is UNSIGNED


def test_keys_from_a_profile(aws_home: Path) -> None:
    (aws_home / "credentials").write_text(
        "[ops]\naws_access_key_id = AKIDOPS\naws_secret_access_key = s\n"
    )
    (aws_home / "config").write_text("[profile ops]\nregion = eu-north-1\n")
    signing = management_client(ENDPOINT, AwsOptions(profile="ops"), timeout=1)[1]
    assert signing == Signing(
        "AKIDOPS", "profile 'ops' in the shared credentials file (~/.aws/credentials)", "eu-north-1"
    )


def test_an_unknown_profile_is_refused() -> None:
    with pytest.raises(ProfileNotFound):
        management_client(ENDPOINT, AwsOptions(profile="nope"), timeout=1)


@pytest.mark.parametrize(
    ("signing", "status", "code", "expected"),
    [
        (Signing(None, "nowhere", "us-east-1"), 410, "GoneException", None),
        (Signing(None, "nowhere", "us-east-1"), 403, "ForbiddenException", None),
        (Signing(None, "nowhere", "us-east-1"), 400, "InvalidSignatureException", None),
        (
            Signing(None, "nowhere", "us-east-1"),
            403,
            "MissingAuthenticationTokenException",
            "the request was not signed, as no credentials were found; give --access-key-id",
        ),
        (
            Signing(None, "--no-sign-request", "us-east-1"),
            403,
            "MissingAuthenticationTokenException",
            "the request was not signed (--no-sign-request)",
        ),
        (
            Signing("AKIDX", "--access-key-id", "eu-west-1"),
            403,
            "InvalidSignatureException",
            "signed for eu-west-1 with access key AKIDX from --access-key-id, which the gateway",
        ),
    ],
)
def test_refusal_hint(signing: Signing, status: int, code: str, expected: str | None) -> None:
    hint = signing.refusal_hint(status, code)
    if expected is None:
        assert hint is None
    else:
        assert hint is not None and hint.startswith(expected)
