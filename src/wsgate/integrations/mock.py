"""MOCK integrations: answers from templates, with no backend at all (§3.6).

The request template's output names the status (``{"statusCode": 200}``); the integration
response whose key matches that status renders the answer. Useful for ``$connect`` checks and
for tests of clients.
"""

from __future__ import annotations

import json
from typing import Final

from wsgate.config.model import IntegrationConfig
from wsgate.core.exchange import BackendReply
from wsgate.core.responses import ConnectDecision
from wsgate.errors import IntegrationBadResponse, TemplateError
from wsgate.integrations.base import Call
from wsgate.integrations.http import HttpIntegration
from wsgate.integrations.transport import NoTransport

__all__ = ["MockIntegration"]

_DEFAULT_STATUS: Final = 200


class MockIntegration:
    """A MOCK integration: the request template decides the status, responses render replies."""

    def __init__(self, name: str, config: IntegrationConfig, *, api_id: str) -> None:
        self.name = name
        # The template and response machinery is the HTTP integration's, minus the transport.
        self._shape = HttpIntegration(name, config, NoTransport(), api_id=api_id, uri="mock://")

    async def start(self) -> None:
        """Nothing to start."""

    async def stop(self) -> None:
        """Nothing to stop."""

    async def connect(self, call: Call) -> ConnectDecision:
        """The mocked status answers the handshake (2xx accepts)."""
        status = self._status(call)
        if not 200 <= status <= 299:
            return ConnectDecision(status, problem=f"mock answered {status}")
        return ConnectDecision(101)

    async def message(self, call: Call) -> str | bytes | None:
        """The integration response for the mocked status, rendered."""
        status = self._status(call)
        if not call.reply_wanted:
            return None
        try:
            return self._shape.render_response(call, BackendReply(status, (), b""))
        except TemplateError as error:
            raise IntegrationBadResponse(self.name, str(error), status=status) from error

    async def disconnect(self, call: Call) -> None:
        """Nothing to tell anyone."""
        self._status(call)

    def _status(self, call: Call) -> int:
        rendered = self._shape.request_body(call).decode("utf-8", errors="replace")
        return mocked_status(rendered)


def mocked_status(rendered: str) -> int:
    """The status a MOCK request template asked for; 200 when it names none."""
    try:
        document = json.loads(rendered) if rendered.strip() else {}
    except (ValueError, RecursionError):
        return _DEFAULT_STATUS
    status = document.get("statusCode") if isinstance(document, dict) else None
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if isinstance(status, int) and not isinstance(status, bool) and 100 <= status <= 599:
        return status
    return _DEFAULT_STATUS
