"""HTTP_PROXY and HTTP integrations: a route's call becomes one request to a backend (§3.4, §3.5).

``HTTP_PROXY`` sends the raw message as the body (no Lambda-style envelope) and hands the backend's
body back as is; on ``$connect`` it forwards the handshake's headers and query, and the
backend's status answers the handshake. ``HTTP`` shapes the request with a mapping template
(or passes the message through, per ``passthroughBehavior``) and the reply with the integration
response its status selects. Both map request parameters. The transport is pluggable: the
network (:class:`~wsgate.integrations.transport.HttpTransport`) or an ASGI app in process.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote, urlsplit, urlunsplit

from wsgate.config.model import IntegrationConfig
from wsgate.core.content import (
    ContentError,
    ContentHandling,
    client_message,
    request_body,
    template_text,
)
from wsgate.core.events import connect_headers, template_context
from wsgate.core.exchange import BackendReply, BackendRequest
from wsgate.core.mapping import (
    CompiledParameters,
    CompiledResponseKeys,
    ParameterSource,
    apply_request_parameters,
    compile_integration_response_keys,
    compile_request_parameters,
)
from wsgate.core.responses import ConnectDecision, is_group_name
from wsgate.core.routing import CONNECT, DISCONNECT, Expression, compile_expression
from wsgate.core.templates import (
    CompiledTemplate,
    RenderBudget,
    TemplateInput,
    compile_template,
    passthrough_allowed,
    render_template,
    select_response_template,
    select_template,
)
from wsgate.errors import IntegrationBadResponse, TemplateError, UnsupportedContent
from wsgate.integrations.base import Call
from wsgate.integrations.transport import Transport
from wsgate.types import JSONObject

__all__ = ["CompiledResponse", "HttpIntegration"]

logger = logging.getLogger(__name__)

_EVENT_TYPES: Final = {CONNECT: "CONNECT", DISCONNECT: "DISCONNECT"}
_PROTOCOL_HEADER: Final = "sec-websocket-protocol"
_GROUPS_HEADER: Final = "x-wsgate-groups"
# Templates render on the event loop: besides the work limits, bound their wall time.
_TEMPLATE_BUDGET: Final = RenderBudget(clock=time.monotonic)
_TRACED_TEXT: Final = 1024  # rendered templates are cut here in traces


@dataclass(frozen=True, slots=True)
class CompiledResponse:
    """One integration response, ready to render."""

    templates: Mapping[str, CompiledTemplate]
    selection: str | None
    content_handling: ContentHandling


class HttpIntegration:
    """An HTTP_PROXY or HTTP integration over a transport."""

    def __init__(
        self,
        name: str,
        config: IntegrationConfig,
        transport: Transport,
        *,
        api_id: str,
        uri: str,
        headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        self.name = name
        self._config = config
        self._transport = transport
        self._proxy = config.integration_type == "HTTP_PROXY"
        self._uri = uri  # stage variables already substituted
        # Headers of the integration's kind (an AWS service's Content-Type and X-Amz-Target):
        # they replace the defaults, and mapped request parameters replace them.
        self._headers = tuple(headers)
        self._api_id = api_id
        self._method = config.integration_method.upper()
        self._templates = {
            key: compile_template(text, place=f"integrations.{name}.requestTemplates.{key}")
            for key, text in config.request_templates.items()
        }
        self._selection: Expression | None = (
            compile_expression(config.template_selection_expression)
            if config.template_selection_expression
            else None
        )
        self._parameters: CompiledParameters = compile_request_parameters(config.request_parameters)
        self._response_keys: CompiledResponseKeys = compile_integration_response_keys(
            config.integration_responses
        )
        self._responses = {
            key: CompiledResponse(
                {
                    template_key: compile_template(
                        text, place=f"integrations.{name}.integrationResponses.{key}"
                    )
                    for template_key, text in response.response_templates.items()
                },
                response.template_selection_expression,
                response.content_handling_strategy,
            )
            for key, response in config.integration_responses.items()
        }

    async def start(self) -> None:
        """Nothing to start: the transport is shared and opens connections lazily."""

    async def stop(self) -> None:
        """Nothing to stop here: the gateway closes the shared transport."""

    # -- the three calls ----------------------------------------------------------------------

    async def connect(self, call: Call) -> ConnectDecision:
        """Call the backend for ``$connect``; its status answers the handshake."""
        reply = await self._exchange(call)
        if not 200 <= reply.status <= 299:
            return ConnectDecision(reply.status, problem=f"backend answered {reply.status}")
        # Beyond AWS: the backend may name groups for the connection to join.
        listed = reply.header(_GROUPS_HEADER) or ""
        groups = tuple(name.strip() for name in listed.split(",") if name.strip())
        if not all(is_group_name(name) for name in groups):
            reason = f"{_GROUPS_HEADER}: bad group names {listed!r}"
            raise IntegrationBadResponse(self.name, reason, status=reply.status)
        return ConnectDecision(101, subprotocol=reply.header(_PROTOCOL_HEADER), groups=groups)

    async def message(self, call: Call) -> str | bytes | None:
        """Call the backend for a message; returns what a route response sends."""
        reply = await self._exchange(call)
        if self._proxy and reply.status >= 500:
            # A failing proxy backend gets AWS's Internal server error frame, not its error
            # page; a non-proxy integration maps 5xx through its integration responses.
            raise IntegrationBadResponse(
                self.name, f"backend answered {reply.status}", status=reply.status
            )
        if not call.reply_wanted:
            return None
        try:
            if self._proxy:
                # Content handling converts requests only: a proxy's reply goes back as it is.
                return client_message(reply.body, None)
            return self.render_response(call, reply)
        except (ContentError, TemplateError) as error:
            raise IntegrationBadResponse(self.name, str(error), status=reply.status) from error

    async def disconnect(self, call: Call) -> None:
        """Tell the backend the connection has gone; its answer goes nowhere."""
        await self._exchange(call)

    # -- building the request -----------------------------------------------------------------

    async def _exchange(self, call: Call) -> BackendReply:
        request = self._request(call)
        trace = call.trace
        if trace is None:
            return await self._transport.send(
                request, timeout=call.timeout_ms / 1000, integration=self.name
            )
        trace.append(
            {
                "step": "integration request",
                "method": request.method,
                "url": request.url,
                "headers": [name for name, _ in request.headers],
                "bodyBytes": len(request.body),
            }
        )
        started = time.monotonic()
        reply = await self._transport.send(
            request, timeout=call.timeout_ms / 1000, integration=self.name
        )
        trace.append(
            {
                "step": "integration response",
                "status": reply.status,
                "bodyBytes": len(reply.body),
                "latencyMs": round((time.monotonic() - started) * 1000, 3),
            }
        )
        return reply

    def _request(self, call: Call) -> BackendRequest:
        context = self._context(call)
        handshake = call.handshake
        source = ParameterSource(
            headers=tuple(handshake.headers) if handshake is not None else (),
            query=tuple(handshake.query) if handshake is not None else (),
            body=call.body if isinstance(call.body, str) else None,
            context=context,
            stage_variables=call.facts.stage_variables,
        )
        mapped = apply_request_parameters(self._parameters, source)
        headers = self._base_headers(call)
        names = {name.lower() for name, _ in mapped.headers}
        headers = [(n, v) for n, v in headers if n.lower() not in names] + list(mapped.headers)
        query = list(mapped.querystring)
        if self._proxy and handshake is not None:
            query = list(handshake.query) + query
        url = _with_query(_with_path_parameters(self._uri, mapped.path), query)
        body = self._body(call, context)
        return BackendRequest(self._method, url, tuple(headers), body)

    def request_body(self, call: Call) -> bytes:
        """The body the backend would receive for this call (MOCK renders it for its status)."""
        return self._body(call, self._context(call))

    def _base_headers(self, call: Call) -> list[tuple[str, str]]:
        agent = f"AmazonAPIGateway_{self._api_id}"
        if call.handshake is not None and self._proxy:
            # §3.4: the client's handshake headers reach a proxy backend on $connect, with the
            # X-Forwarded-* ones API Gateway adds; Host is the backend's own.
            # The client's own trace context gives way to the gateway's span, its child.
            replaced = {"host", "user-agent", "content-length", *(n for n, _ in call.propagate)}
            forwarded = [
                (n, v)
                for n, v in connect_headers(call.facts, call.handshake)
                if n.lower() not in replaced
            ]
        else:
            forwarded = []
        defaults = [
            *forwarded,
            ("x-amzn-apigateway-api-id", self._api_id),
            ("User-Agent", agent),
            ("Content-Type", "application/json"),
            *call.propagate,
        ]
        if not self._headers:
            return defaults
        replaced = {name.lower() for name, _ in self._headers}
        return [(n, v) for n, v in defaults if n.lower() not in replaced] + list(self._headers)

    def _body(self, call: Call, context: JSONObject) -> bytes:
        message = call.body if call.body is not None else ""
        strategy = self._config.content_handling_strategy
        if self._proxy:
            return _convert(self.name, message, strategy)
        text = template_text(message)
        key = select_template(self._templates, self._selection, text)
        if key is None:
            if not passthrough_allowed(self._config.passthrough_behavior, bool(self._templates)):
                raise UnsupportedContent(
                    self.name,
                    "no request template matches and passthroughBehavior forbids passthrough",
                )
            return _convert(self.name, message, strategy)
        variables = TemplateInput(
            context=context,
            body=text,
            params=_params(call),
            stage_variables=call.facts.stage_variables,
        )
        try:
            rendered = render_template(self._templates[key], variables, budget=_TEMPLATE_BUDGET)
        except TemplateError as error:
            raise IntegrationBadResponse(self.name, f"request template: {error}") from error
        if call.trace is not None:
            call.trace.append(
                {"step": "request template", "key": key, "rendered": rendered[:_TRACED_TEXT]}
            )
        return rendered.encode("utf-8")

    def _context(self, call: Call) -> JSONObject:
        event_type = _EVENT_TYPES.get(call.route_key, "MESSAGE")
        context = template_context(
            call.facts,
            call.route_key,
            event_type,
            call.request_id,
            call.now_ms,
            message_id=call.message_id,
            is_base64_encoded=isinstance(call.body, bytes),
        )
        if event_type == "DISCONNECT":
            context["disconnectStatusCode"] = call.disconnect_status
            context["disconnectReason"] = call.disconnect_reason
        return context

    # -- the reply ----------------------------------------------------------------------------

    def render_response(self, call: Call, reply: BackendReply) -> str | bytes | None:
        """What the client gets from a non-proxy reply: its integration response, rendered."""
        return self.render_selected(call, reply, str(reply.status))

    def response_key(self, value: str | None) -> str | None:
        """The integration response that ``value`` selects (None: no error, ``$default``)."""
        return self._response_keys.match(value)

    def render_selected(
        self, call: Call, reply: BackendReply, value: str | None
    ) -> str | bytes | None:
        """The reply rendered by the integration response ``value`` selects: the status for
        HTTP, MOCK and AWS services, a Lambda custom function's errorMessage (None: none)."""
        if not self._responses:
            # No integration responses: the body goes back as the backend sent it.
            return client_message(reply.body, None)
        key = self._response_keys.match(value)
        if key is None:
            if value == str(reply.status):
                selected_by = f"status {value}"
            else:
                selected_by = "a success" if value is None else f"errorMessage {value!r}"
            raise IntegrationBadResponse(
                self.name, f"no integration response matches {selected_by}"
            )
        response = self._responses[key]
        text = reply.body.decode("utf-8", errors="replace")
        headers = {name: value for name, value in reply.headers}
        template_key = select_response_template(
            response.templates, response.selection, reply.status, headers, text
        )
        if template_key is None:
            return client_message(reply.body, response.content_handling)
        variables = TemplateInput(
            context=self._context(call),
            body=text,
            stage_variables=call.facts.stage_variables,
        )
        template = response.templates[template_key]
        rendered = render_template(template, variables, budget=_TEMPLATE_BUDGET)
        return client_message(rendered.encode("utf-8"), response.content_handling)


def _convert(name: str, message: str | bytes, strategy: ContentHandling) -> bytes:
    try:
        return request_body(message, strategy)
    except ContentError as error:
        raise IntegrationBadResponse(name, f"content handling: {error}") from error


def _params(call: Call) -> Mapping[str, Mapping[str, str]]:
    handshake = call.handshake
    if handshake is None:
        return {"path": {}, "querystring": {}, "header": {}}
    return {
        "path": {},
        "querystring": dict(handshake.query),
        "header": dict(handshake.headers),
    }


def _with_path_parameters(uri: str, path: Mapping[str, str]) -> str:
    for name, value in path.items():
        uri = uri.replace("{" + name + "}", quote(value, safe=""))
    return uri


def _with_query(uri: str, query: list[tuple[str, str]]) -> str:
    if not query:
        return uri
    parts = urlsplit(uri)
    extra = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in query)
    joined = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, joined, parts.fragment))
