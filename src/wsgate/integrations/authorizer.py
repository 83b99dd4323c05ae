"""Calling a REQUEST authorizer: a local function, or an HTTP endpoint given the same JSON.

Both take the event of §6.2 and give back what the authorizer answered (the parsed result, or
the string ``"Unauthorized"``); deciding what it means is ``core.authorizer``'s job.
"""

from __future__ import annotations

import json
from typing import Final, Protocol

from wsgate.core.exchange import BackendRequest
from wsgate.errors import IntegrationBadResponse
from wsgate.integrations.base import IntegrationRequest
from wsgate.integrations.function import FunctionIntegration
from wsgate.integrations.transport import Transport
from wsgate.types import JSONObject, JSONValue

__all__ = ["Authorizer", "FunctionAuthorizer", "HttpAuthorizer"]

_UNAUTHORIZED: Final = "Unauthorized"


class Authorizer(Protocol):
    """Something that answers authorizer events."""

    async def authorize(self, event: JSONObject, request_id: str, timeout_ms: int) -> JSONValue:
        """The authorizer's answer to one event.

        Raises:
            IntegrationError: it could not be called, failed, or timed out.
        """


class FunctionAuthorizer:
    """A local function as authorizer; it raises ``Exception("Unauthorized")`` for a 401."""

    def __init__(self, function: FunctionIntegration) -> None:
        self._function = function

    async def authorize(self, event: JSONObject, request_id: str, timeout_ms: int) -> JSONValue:
        """Invoke the function with the event (see :class:`Authorizer`)."""
        result = await self._function.invoke(IntegrationRequest(event, None, timeout_ms))
        return result.payload


class HttpAuthorizer:
    """An HTTP endpoint as authorizer: the event is POSTed as JSON, the result comes back.

    A 401 answer stands for ``Unauthorized``; any other status but 200 is a failure (500 to the
    client), as is a body that is not JSON.
    """

    def __init__(self, name: str, url: str, transport: Transport) -> None:
        self._name = name
        self._url = url
        self._transport = transport

    async def authorize(self, event: JSONObject, request_id: str, timeout_ms: int) -> JSONValue:
        """POST the event and read the result (see :class:`Authorizer`)."""
        request = BackendRequest(
            "POST",
            self._url,
            (("Content-Type", "application/json"), ("x-amzn-RequestId", request_id)),
            json.dumps(event).encode(),
        )
        reply = await self._transport.send(
            request, timeout=timeout_ms / 1000, integration=self._name
        )
        if reply.status == 401:
            return _UNAUTHORIZED
        if reply.status != 200:
            raise IntegrationBadResponse(
                self._name, f"the authorizer answered HTTP {reply.status}", status=reply.status
            )
        try:
            answer: JSONValue = json.loads(reply.body)
        except (ValueError, RecursionError) as error:
            message = f"the authorizer's answer is not JSON: {error}"
            raise IntegrationBadResponse(self._name, message, status=reply.status) from error
        return answer
