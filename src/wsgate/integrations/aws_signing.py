"""The user's AWS setup as botocore reads it, and requests signed with it (SigV4).

:class:`AwsSession` reads, once and off the event loop, what an SDK client would: the
credential chain (``AWS_ACCESS_KEY_ID``, ``AWS_PROFILE``, ``~/.aws/credentials``, SSO, an
instance or container role) and, per service and region, the endpoint
(``AWS_ENDPOINT_URL_<SERVICE>``, ``AWS_ENDPOINT_URL``, the ``services`` sections of
``~/.aws/config``, else AWS's regional endpoint) with the facts of the service's model.
:class:`SigningTransport` signs each request with them and hands it to the shared HTTP
transport. botocore's errors are translated here into
:class:`~wsgate.errors.IntegrationUnavailable`, chained.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

import botocore.session
from botocore import UNSIGNED
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials, ReadOnlyCredentials
from botocore.exceptions import BotoCoreError

from wsgate.core.exchange import BackendReply, BackendRequest
from wsgate.core.service_request import ActionStyle, ServiceFacts
from wsgate.errors import IntegrationUnavailable
from wsgate.integrations.transport import Transport

__all__ = ["AwsSession", "SigningTransport"]

_NO_CREDENTIALS: Final = (
    "no AWS credentials to sign with: botocore's credential chain found none "
    "(AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ~/.aws/credentials, a role)"
)
_UNREAD: Final[Any] = object()


class AwsSession:
    """What botocore finds of the user's AWS setup, read once per gateway and kept.

    Args:
        session: a botocore session (tests give one); default: a new one, which reads the
            environment and the shared files as an SDK client does.
    """

    def __init__(self, session: botocore.session.Session | None = None) -> None:
        self._session = session
        self._credentials: Credentials | None = _UNREAD
        self._services: dict[tuple[str, str], tuple[ServiceFacts, str]] = {}
        self._lock = asyncio.Lock()

    async def service(
        self, integration: str, sdk_name: str, region: str, style: ActionStyle
    ) -> tuple[ServiceFacts, str]:
        """The service's request facts in ``region``, and the name it signs with.

        Raises:
            IntegrationUnavailable: botocore cannot describe it there (an unknown region).
        """
        key = (sdk_name, region)
        found = self._services.get(key)
        if found is None:
            async with self._lock:
                found = self._services.get(key)
                if found is None:
                    found = await asyncio.to_thread(self._describe, integration, *key, style)
                    self._services[key] = found
        return found

    async def credentials(self, integration: str) -> ReadOnlyCredentials:
        """The credentials to sign with now, refreshed off the loop when they expire.

        Raises:
            IntegrationUnavailable: the chain finds none, or reading or refreshing them failed.
        """
        if self._credentials is _UNREAD:
            async with self._lock:
                if self._credentials is _UNREAD:
                    self._credentials = await asyncio.to_thread(self._find, integration)
        credentials = self._credentials
        if credentials is None:
            raise IntegrationUnavailable(integration, _NO_CREDENTIALS)
        # Temporary credentials (a role, SSO) refresh over the network when they expire.
        refresh_needed = getattr(credentials, "refresh_needed", None)
        try:
            if refresh_needed is not None and refresh_needed():
                return await asyncio.to_thread(credentials.get_frozen_credentials)
            return credentials.get_frozen_credentials()
        except BotoCoreError as error:
            raise IntegrationUnavailable(integration, f"AWS credentials: {error}") from error

    def _botocore(self) -> botocore.session.Session:
        if self._session is None:
            self._session = botocore.session.Session()
        return self._session

    def _find(self, integration: str) -> Credentials | None:
        try:
            return self._botocore().get_credentials()
        except BotoCoreError as error:
            raise IntegrationUnavailable(integration, f"AWS credentials: {error}") from error

    def _describe(
        self, integration: str, sdk_name: str, region: str, style: ActionStyle
    ) -> tuple[ServiceFacts, str]:
        # An unsigned client resolves the endpoint as a signing one would, without looking
        # for credentials; it is never used to send anything.
        try:
            client = self._botocore().create_client(
                sdk_name, region_name=region, config=Config(signature_version=UNSIGNED)
            )
        except (BotoCoreError, ValueError) as error:
            reason = f"cannot describe {sdk_name} in {region}: {error}"
            raise IntegrationUnavailable(integration, reason) from error
        model = client.meta.service_model
        metadata = model.metadata
        facts = ServiceFacts(
            client.meta.endpoint_url,
            style,
            metadata["apiVersion"],
            metadata.get("targetPrefix", ""),
            metadata.get("jsonVersion", "1.0"),
        )
        return facts, model.signing_name


class SigningTransport(Transport):
    """Signs each request with SigV4 for one service and region, then sends it through
    ``inner`` (the gateway's shared HTTP pool, which this never closes)."""

    def __init__(
        self, inner: Transport, session: AwsSession, signing_name: str, region: str
    ) -> None:
        self._inner = inner
        self._session = session
        self._signing_name = signing_name
        self._region = region
        # S3 signs its payload's hash into a header of its own.
        self._signer = S3SigV4Auth if signing_name == "s3" else SigV4Auth

    async def send(
        self, request: BackendRequest, *, timeout: float, integration: str = "http"
    ) -> BackendReply:
        """Sign ``request`` with the session's credentials and send it."""
        credentials = await self._session.credentials(integration)
        signed = self._sign(request, credentials)
        return await self._inner.send(signed, timeout=timeout, integration=integration)

    async def close(self) -> None:
        """Nothing to close: the inner transport is shared."""

    def _sign(self, request: BackendRequest, credentials: ReadOnlyCredentials) -> BackendRequest:
        aws = AWSRequest(method=request.method, url=request.url, data=request.body)
        for name, value in request.headers:
            aws.headers[name] = value  # appends, as the request may repeat a name
        self._signer(credentials, self._signing_name, self._region).add_auth(aws)
        # The request's headers in order, then the signature's (replacing any of its names).
        headers = tuple((name, str(value)) for name, value in aws.headers.items())
        return BackendRequest(request.method, request.url, headers, request.body)
