"""AWS integrations that call a Lambda function without the proxy envelope (Lambda custom, §3.3).

The request template's output (or the message, as ``passthroughBehavior`` allows) is the
function's event, parsed as JSON. What the function returns, as Lambda's JSON, is the body the
integration responses render. A function that fails answers Lambda's error document
(``errorMessage``, ``errorType``, ``stackTrace``): the integration response whose ``/regex/`` key
matches the whole ``errorMessage`` renders it, else ``$default``, as AWS's fixed
``integrationResponseSelectionExpression`` ``${integration.response.body.errorMessage}`` does;
a success selects ``$default``. An error that no integration response takes fails the call as a
proxy function's error does.

The function runs in its own runtime (``integrations/function.py``: worker processes, in process,
Node.js, a Lambda endpoint); templates and integration responses are the HTTP integration's
(``integrations/http.py``), which never sends anything here.
"""

from __future__ import annotations

import json
from typing import Final

from wsgate.config.model import IntegrationConfig
from wsgate.core.content import ContentError
from wsgate.core.exchange import BackendReply
from wsgate.core.responses import ConnectDecision
from wsgate.errors import FunctionError, IntegrationBadResponse, TemplateError
from wsgate.integrations.base import Call, IntegrationRequest
from wsgate.integrations.function import FunctionIntegration
from wsgate.integrations.http import HttpIntegration
from wsgate.integrations.transport import NoTransport
from wsgate.types import JSONValue

__all__ = ["LambdaCustomIntegration"]

# Lambda's Invoke answers 200 for a function error too, and says so in this header.
_ERROR_HEADERS: Final = (("X-Amz-Function-Error", "Unhandled"),)
_JSON: Final = (("Content-Type", "application/json"),)


class LambdaCustomIntegration:
    """An ``AWS`` integration whose URI names a function.

    Args:
        name: the integration's name.
        config: its settings: templates, passthrough, integration responses.
        function: the function's runtime, shared with every route and authorizer using it.
        api_id: the API's id (``$context.apiId``).
    """

    def __init__(
        self, name: str, config: IntegrationConfig, function: FunctionIntegration, *, api_id: str
    ) -> None:
        self.name = name
        self._function = function
        self._shape = HttpIntegration(name, config, NoTransport(), api_id=api_id, uri="lambda://")

    async def start(self) -> None:
        """Nothing to start: the catalog starts the function's runtime."""

    async def stop(self) -> None:
        """Nothing to stop: the catalog stops the function's runtime."""

    async def connect(self, call: Call) -> ConnectDecision:
        """The function's success accepts the handshake; its failure refuses it (502)."""
        _, error = await self._call(call)
        if error is not None:
            # Integration responses shape a reply, and a handshake sends none: a failing
            # $connect function never lets the client in (decisions.md).
            raise error
        return ConnectDecision(101)

    async def message(self, call: Call) -> str | bytes | None:
        """Run the function; its answer, or its error, as the selected integration response."""
        reply, error = await self._call(call)
        selected = self._selection(error)
        if not call.reply_wanted:
            return None
        try:
            return self._shape.render_selected(call, reply, selected)
        except (ContentError, TemplateError) as failure:
            raise IntegrationBadResponse(self.name, str(failure), status=reply.status) from failure

    async def disconnect(self, call: Call) -> None:
        """Run the function; its answer goes nowhere."""
        _, error = await self._call(call)
        self._selection(error)

    def _selection(self, error: FunctionError | None) -> str | None:
        """What selects the integration response: the errorMessage, None for a success.

        Raises:
            FunctionError: the function failed and no integration response takes its error.
        """
        if error is None:
            return None
        if self._shape.response_key(error.error_message) is None:
            raise error
        return error.error_message

    async def _call(self, call: Call) -> tuple[BackendReply, FunctionError | None]:
        """Invoke the function with the rendered event; Lambda's answer as a reply."""
        event = self._event(call)
        if call.trace is not None:
            call.trace.append({"step": "function call", "function": self._function.function_name})
        try:
            result = await self._function.invoke(IntegrationRequest(event, None, call.timeout_ms))
        except FunctionError as error:
            return BackendReply(200, _ERROR_HEADERS + _JSON, _error_document(error)), error
        return BackendReply(200, _JSON, _json(result.payload)), None

    def _event(self, call: Call) -> JSONValue:
        body = self._shape.request_body(call)
        if not body.strip():
            return {}  # Lambda invokes with {} when the payload is empty
        try:
            return json.loads(body)
        except (ValueError, RecursionError) as error:
            # Lambda refuses such a payload (InvalidRequestContentException); API Gateway
            # answers it as an integration failure.
            reason = f"the function's event is not JSON: {error}"
            raise IntegrationBadResponse(self.name, reason) from error


def _error_document(error: FunctionError) -> bytes:
    document = {
        "errorMessage": error.error_message,
        "errorType": error.error_type,
        "stackTrace": error.stack,
    }
    return _json(document)


def _json(value: JSONValue) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
