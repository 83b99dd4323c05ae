"""What every integration offers the data plane.

An integration turns one request (a ``$connect``, a message, a ``$disconnect``) into an answer.
The data plane builds the request with the pure core, calls :meth:`Integration.invoke` and hands
the result back to the core, which decides what the client sees.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple, Protocol

from wsgate.types import JSONObject, JSONValue

__all__ = ["Integration", "IntegrationRequest", "IntegrationResult"]

_NO_VARIABLES: Mapping[str, str] = MappingProxyType({})


class IntegrationRequest(NamedTuple):
    """One call of an integration.

    Attributes:
        event: the Lambda proxy event (AWS_PROXY) built by ``core.events``.
        request_id: the gateway's request id, reused as the Lambda ``aws_request_id``.
        timeout_ms: the integration timeout (``timeoutInMillis``); past it the call fails with
            :class:`~wsgate.errors.IntegrationTimeout`.
        stage_variables: the stage's variables, for targets that name them.
    """

    event: JSONObject
    request_id: str
    timeout_ms: int
    stage_variables: Mapping[str, str] = _NO_VARIABLES


class IntegrationResult(NamedTuple):
    """What the target answered: for a function, its return value (``None`` for none)."""

    payload: JSONValue


class Integration(Protocol):
    """A callable target behind routes."""

    name: str

    async def start(self) -> None:
        """Get ready to serve (start workers, open pools)."""

    async def stop(self) -> None:
        """Release everything; pending calls fail with IntegrationUnavailable."""

    async def invoke(self, request: IntegrationRequest) -> IntegrationResult:
        """Call the target once.

        Raises:
            IntegrationTimeout: no answer within ``request.timeout_ms``.
            FunctionError: the function raised or exceeded its own timeout.
            IntegrationUnavailable: the target or its worker could not serve the call.
            IntegrationBadResponse: the answer could not be decoded.
        """
