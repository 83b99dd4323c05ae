"""botocore's ``apigatewaymanagementapi`` client, set up the way the AWS CLI sets up its own.

Credentials and region come from botocore's usual chain (flags, environment, ``AWS_PROFILE``,
the shared files, a role) unless flags name them; for a gateway on this machine (a loopback
endpoint) the local wsgate key, which every local gateway accepts, comes before the files.
A command that finds no credentials at all sends its requests unsigned instead of failing, since
a gateway whose ``server.managementAuthorization`` is ``NONE`` needs none; :class:`Signing`
remembers which case applied so that a 403 can say where the credentials came from, or that
there were none.
"""

from __future__ import annotations

import argparse
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, cast
from urllib.parse import urlsplit

import botocore.session
from botocore import UNSIGNED
from botocore.config import Config

from wsgate.clients import USER_AGENT
from wsgate.security.local import (
    LOCAL_PROFILE,
    LocalSecrets,
    is_loopback_host,
    load_local_secrets,
)

if TYPE_CHECKING:
    from mypy_boto3_apigatewaymanagementapi.client import ApiGatewayManagementApiClient

__all__ = [
    "DEFAULT_REGION",
    "AwsOptions",
    "Signing",
    "add_arguments",
    "management_client",
    "region_from_endpoint",
]

# botocore has no default region; this is also a wsgate config's default `region`, the one a
# local gateway checks signatures for.
DEFAULT_REGION: Final = "us-east-1"

# API Gateway's default hosts: {api-id}.execute-api.{region}.amazonaws.com (.cn in China).
_EXECUTE_API_HOST: Final = re.compile(
    r"\.execute-api\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$"
)

# How botocore's credential providers name themselves (Credentials.method), said for people.
_SOURCES: Final = {
    "explicit": "--access-key-id",
    "env": "the environment (AWS_ACCESS_KEY_ID)",
    "shared-credentials-file": "the shared credentials file (~/.aws/credentials)",
    "config-file": "the config file (~/.aws/config)",
}

# The 403 error codes that mean "these credentials (or their absence) were refused".
_CREDENTIAL_ERRORS: Final = frozenset(
    {
        "MissingAuthenticationToken",
        "MissingAuthenticationTokenException",
        "IncompleteSignatureException",
        "InvalidSignatureException",
        "UnrecognizedClientException",
        "ExpiredTokenException",
        "AccessDeniedException",
    }
)

_ADVICE: Final = (
    "give --access-key-id and --secret-access-key, or --profile NAME, or set "
    "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, with keys in "
    "~/.aws/credentials)"
)


@dataclass(frozen=True, slots=True)
class AwsOptions:
    """The credential and region flags; None leaves the choice to botocore's chain."""

    profile: str | None = None
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None
    sign: bool = True

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> AwsOptions:
        """Build options from the namespace :func:`add_arguments`' flags produce."""
        return cls(
            profile=args.profile,
            region=args.region,
            access_key_id=args.access_key_id,
            secret_access_key=args.secret_access_key,
            session_token=args.session_token,
            sign=not args.no_sign_request,
        )

    def usage_problem(self) -> str | None:
        """What is wrong with this combination of flags, if anything."""
        if not self.sign and self.access_key_id is not None:
            return "--no-sign-request and --access-key-id exclude each other"
        if (self.access_key_id is None) != (self.secret_access_key is None):
            return "--access-key-id and --secret-access-key go together"
        if self.session_token is not None and self.access_key_id is None:
            return "--session-token needs --access-key-id and --secret-access-key"
        return None


@dataclass(frozen=True, slots=True)
class Signing:
    """How requests were signed: the key id (None when unsigned) and where it came from."""

    access_key_id: str | None
    source: str
    region: str

    def refusal_hint(self, status: int, code: str) -> str | None:
        """Explain a 403 that refused the credentials; None for any other error."""
        if status != 403 or code not in _CREDENTIAL_ERRORS:
            return None
        if self.access_key_id is None and self.source == "--no-sign-request":
            return "the request was not signed (--no-sign-request); drop it to sign"
        if self.access_key_id is None:
            return f"the request was not signed, as no credentials were found; {_ADVICE}"
        return (
            f"signed for {self.region} with access key {self.access_key_id} from {self.source}, "
            f"which the gateway refused; to sign with other credentials, {_ADVICE}"
        )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the AWS CLI's credential flags (and ``--access-key-id`` and friends) to ``parser``."""
    group = parser.add_argument_group("AWS credentials (default: botocore's usual chain)")
    group.add_argument("--profile", help="use this profile of ~/.aws/credentials and ~/.aws/config")
    group.add_argument(
        "--region",
        help=f"sign for this region (default: configured, the endpoint's, else {DEFAULT_REGION})",
    )
    group.add_argument("--access-key-id", metavar="ID", help="sign with this access key id")
    group.add_argument("--secret-access-key", metavar="KEY", help="the access key's secret")
    group.add_argument("--session-token", metavar="TOKEN", help="for temporary credentials")
    group.add_argument("--no-sign-request", action="store_true", help="send the requests unsigned")


def region_from_endpoint(endpoint: str) -> str | None:
    """The region in an ``{id}.execute-api.{region}.amazonaws.com`` URL, else None."""
    match = _EXECUTE_API_HOST.search(urlsplit(endpoint).hostname or "")
    return match["region"] if match else None


def management_client(
    endpoint: str, options: AwsOptions, *, timeout: float
) -> tuple[ApiGatewayManagementApiClient, Signing]:
    """Create the client for ``endpoint``, signing with the credentials ``options`` lead to.

    Nothing is retried: a POST retried after a lost answer could reach the client twice.

    Raises:
        botocore.exceptions.BotoCoreError: an unknown profile, half a key pair in the
            environment, or another credential setting botocore refuses.
    """
    session = botocore.session.Session(profile=options.profile)
    local = _local_key(endpoint, options)
    if options.access_key_id is not None and options.secret_access_key is not None:
        session.set_credentials(
            options.access_key_id, options.secret_access_key, options.session_token
        )
    elif local is not None:
        session.set_credentials(local.access_key_id, local.secret_access_key)
    region = (
        options.region
        or session.get_config_variable("region")
        or region_from_endpoint(endpoint)
        or DEFAULT_REGION
    )
    config = Config(
        connect_timeout=timeout,
        read_timeout=timeout,
        # total_max_attempts counts the first attempt; max_attempts would allow one retry.
        retries={"total_max_attempts": 1, "mode": "standard"},
        user_agent_extra=USER_AGENT,
    )
    signing = _signing(session, options, region)
    if local is not None and signing.access_key_id == local.access_key_id:
        source = f"the local wsgate key ({local.credentials_file}, profile {LOCAL_PROFILE})"
        signing = Signing(local.access_key_id, source, region)
    if signing.access_key_id is None:
        config = config.merge(Config(signature_version=UNSIGNED))
    client = session.create_client(
        "apigatewaymanagementapi", endpoint_url=endpoint, region_name=region, config=config
    )
    return cast("ApiGatewayManagementApiClient", client), signing


def _local_key(endpoint: str, options: AwsOptions) -> LocalSecrets | None:
    """The local key, for a gateway on this machine when nothing names other credentials.

    Flags and the environment (``AWS_ACCESS_KEY_ID``, ``AWS_PROFILE``) say what the caller
    wants; failing them, every local gateway accepts the local key (security/local.py), which
    beats whatever ``~/.aws`` holds for AWS itself. Anywhere else botocore's chain decides.
    """
    if not options.sign or options.access_key_id is not None or options.profile is not None:
        return None
    if os.environ.get("AWS_ACCESS_KEY_ID") or os.environ.get("AWS_PROFILE"):
        return None
    if not is_loopback_host((urlsplit(endpoint).hostname or "").lower()):
        return None
    return load_local_secrets(create=False)


def _signing(session: botocore.session.Session, options: AwsOptions, region: str) -> Signing:
    if not options.sign:
        return Signing(None, "--no-sign-request", region)
    credentials = session.get_credentials()
    if credentials is None:
        return Signing(None, "nowhere", region)
    source = _SOURCES.get(credentials.method, credentials.method)
    if credentials.method.endswith("file"):
        source = f"profile {session.profile or 'default'!r} in {source}"
    return Signing(credentials.access_key, source, region)
