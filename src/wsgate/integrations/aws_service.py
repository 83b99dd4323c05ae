"""AWS integrations that call an AWS service: an action or a path, signed with SigV4.

The request is an HTTP integration's (request template or passthrough, request parameters,
content handling) sent to the service's endpoint with what API Gateway adds for the service
(``core/service_request.py``), signed with the credentials botocore finds
(``integrations/aws_signing.py``). The service's answer goes through the integration responses
by its status, as an HTTP backend's does: on ``$connect`` a 2xx accepts and any other status
answers the handshake. A service that cannot be reached, or no credentials, fail the call as
an unreachable backend does; a timeout is a timeout. ``credentialsArn`` is not assumed: the
request is signed with the user's own credentials.

The endpoint and the service's model are read from botocore on the first call, off the event
loop, so building the integration costs nothing and ``validate`` never touches botocore.
"""

from __future__ import annotations

import asyncio

from wsgate.config.model import IntegrationConfig
from wsgate.config.services import AWS_SERVICES
from wsgate.core.responses import ConnectDecision
from wsgate.core.service_request import ServiceUri, service_headers, service_url
from wsgate.integrations.aws_signing import AwsSession, SigningTransport
from wsgate.integrations.base import Call
from wsgate.integrations.http import HttpIntegration
from wsgate.integrations.transport import Transport

__all__ = ["AwsServiceIntegration"]


class AwsServiceIntegration:
    """An ``AWS`` integration whose URI names a service action or path.

    Args:
        name: the integration's name.
        config: its settings: method, templates, parameters, integration responses.
        target: the service, region and action or path its URI names.
        session: the user's AWS setup (credentials, endpoints), shared by the API.
        transport: the gateway's shared HTTP pool.
        api_id: the API's id.
    """

    def __init__(
        self,
        name: str,
        config: IntegrationConfig,
        target: ServiceUri,
        session: AwsSession,
        transport: Transport,
        *,
        api_id: str,
    ) -> None:
        self.name = name
        self._config = config
        self._target = target
        self._session = session
        self._transport = transport
        self._api_id = api_id
        self._http: HttpIntegration | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        """Nothing to start: the service is described on the first call."""

    async def stop(self) -> None:
        """Nothing to stop: the gateway closes the shared transport."""

    async def connect(self, call: Call) -> ConnectDecision:
        """Call the service for ``$connect``; its status answers the handshake."""
        return await (await self._ready()).connect(call)

    async def message(self, call: Call) -> str | bytes | None:
        """Call the service for a message; the integration response its status selects."""
        return await (await self._ready()).message(call)

    async def disconnect(self, call: Call) -> None:
        """Call the service for ``$disconnect``; its answer goes nowhere."""
        await (await self._ready()).disconnect(call)

    async def _ready(self) -> HttpIntegration:
        """The HTTP integration that carries the calls, built once the service is described.

        Raises:
            IntegrationUnavailable: botocore cannot describe the service in its region.
        """
        http = self._http
        if http is not None:
            return http
        async with self._lock:
            if self._http is None:
                target = self._target
                service = AWS_SERVICES[target.service]
                facts, signing_name = await self._session.service(
                    self.name, service.sdk_name, target.region, service.style
                )
                self._http = HttpIntegration(
                    self.name,
                    self._config,
                    SigningTransport(self._transport, self._session, signing_name, target.region),
                    api_id=self._api_id,
                    uri=service_url(target, facts),
                    headers=service_headers(target, facts),
                )
            return self._http
