"""AWS_PROXY integrations backed by local functions, run the way Lambda runs them.

Node.js and ``provided`` functions run in :mod:`wsgate.integrations.runtime_runner` (the same
pool of environments, over Lambda's Runtime API; see ``docs/runtimes.md``). A function with a
``lambdaEndpoint`` is invoked there (:mod:`wsgate.integrations.lambda_invoke`). For Python
functions, ``FunctionConfig.isolation`` picks one of two runners:

``process`` (the default)
    A pool of up to ``concurrency`` worker processes (:mod:`wsgate.integrations.worker`), each one
    Lambda execution environment: started when calls need it, kept warm, serving one invocation
    at a time with the function's own environment variables. Extra calls wait for a free worker,
    and the wait counts against the integration timeout. Once every worker is busy, a worker
    whose calls are quick also holds the next few calls in its pipe (about 2 ms of its work),
    so a busy function costs one pipe write and one wake-up per batch, not per call; it still
    runs them one at a time, and skips one whose integration timeout passed while it waited. A
    worker that passes the function's timeout is killed (``Sandbox.Timedout``); one that dies
    mid-call reports ``Runtime.ExitError``; either way the pool replaces it, the calls it held
    but had not begun go to another worker, and the gateway carries on.

``inprocess``
    The handler is imported into the gateway itself, for speed. Async handlers are awaited on
    the gateway's loop (cancelled at the first timeout to expire). Sync handlers start on up to
    ``concurrency`` daemon threads, so that one doing blocking I/O never stalls the loop; a
    route whose calls keep returning at once without waiting moves onto the loop itself, one
    call at a time and counted within ``concurrency``, where a thread hop would cost more than
    the call. A call there that takes more than 2 ms sends the route back to threads (see
    :mod:`wsgate.integrations.inprocess`).
    The function shares the gateway's process and environment: its ``environment`` is copied
    into ``os.environ`` at start for names not already set, and never applied per call;
    Lambda's reserved variables are not set. A timeout cannot stop a sync handler's thread,
    only stop waiting for it, and ``stop`` fails the calls waiting on threads but leaves
    in-flight async handlers to their own timeouts.

With ``reload=True`` the code directory is watched: a change to a ``.py`` file retires the
process workers (in-flight calls finish first) or re-imports the in-process modules.

This module is the facade; the runners live in :mod:`wsgate.integrations.process_pool` and
:mod:`wsgate.integrations.inprocess`, the watcher in :mod:`wsgate.integrations.reload`.
"""

from __future__ import annotations

import base64
import logging
import sys
from collections.abc import Coroutine, Mapping
from typing import TYPE_CHECKING, Any

from wsgate.config.model import runtime_version
from wsgate.core.events import build_connect_event, build_disconnect_event, build_message_event
from wsgate.core.responses import ConnectDecision, UnusableAnswer, decide_connect, route_response
from wsgate.errors import IntegrationBadResponse
from wsgate.integrations.base import Call, IntegrationRequest, IntegrationResult, request_for
from wsgate.integrations.inprocess import InProcessRunner
from wsgate.integrations.lambda_invoke import LambdaInvokeRunner
from wsgate.integrations.process_pool import ProcessRunner
from wsgate.integrations.reload import CodeWatcher
from wsgate.integrations.runtime_runner import RuntimeApiRunner
from wsgate.types import JSONObject

if TYPE_CHECKING:
    from wsgate.config.model import FunctionConfig

__all__ = ["FunctionIntegration"]

logger = logging.getLogger(__name__)


class FunctionIntegration:
    """A local function standing in for a Lambda function behind an AWS_PROXY integration.

    Process isolation (the default) gives each call a Lambda-like sandbox; in-process isolation
    is faster but shares the gateway's process and environment (see the module docstring).

    Args:
        name: the integration's name, used in errors.
        function_name: the function's name (``AWS_LAMBDA_FUNCTION_NAME``, the ARN, log names).
        config: the function's config; ``code_uri`` must be an absolute directory.
        region, account_id: used in the ARN and the environment.
        reload: watch ``code_uri`` and pick up edited ``.py`` files.
    """

    def __init__(
        self,
        name: str,
        function_name: str,
        config: FunctionConfig,
        *,
        region: str,
        account_id: str,
        reload: bool = False,
        callback_environment: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.function_name = function_name
        runner_class: type[ProcessRunner | InProcessRunner | LambdaInvokeRunner]
        if config.remote:
            runner_class = LambdaInvokeRunner
        elif config.family != "python":
            runner_class = RuntimeApiRunner
        elif config.isolation == "inprocess":
            runner_class = InProcessRunner
        else:
            runner_class = ProcessRunner
        if not config.remote:
            _check_python(function_name, config.runtime)
        self._runner = runner_class(
            name, function_name, config, region=region, account_id=account_id
        )
        if isinstance(self._runner, ProcessRunner) and callback_environment is not None:
            # In-process functions share the gateway's process: their calls are left alone.
            self._runner.callback_environment = callback_environment
        watch = reload and not config.remote  # remote code is not here to watch
        self._watcher = CodeWatcher(name, config.code_uri, self._on_change) if watch else None

    async def start(self) -> None:
        """Load the function (in-process) and start watching its code when asked to."""
        await self._runner.start()
        if self._watcher is not None:
            await self._watcher.start()

    async def stop(self) -> None:
        """Stop watching and stop the runner; pending calls raise IntegrationUnavailable."""
        if self._watcher is not None:
            await self._watcher.stop()
        await self._runner.stop()

    def invoke(self, request: IntegrationRequest) -> Coroutine[Any, Any, IntegrationResult]:
        """Invoke the function once with a ready event (an authorizer's, say).

        Returns the runner's coroutine itself: no extra frame on the caller's path.
        """
        return self._runner.invoke(request)

    async def connect(self, call: Call) -> ConnectDecision:
        """Run the function with the CONNECT event; its ``statusCode`` answers the handshake."""
        assert call.handshake is not None
        event = build_connect_event(call.facts, call.handshake, call.request_id, call.now_ms)
        result = await self._runner.invoke(self._request(event, call))
        try:
            return decide_connect(result.payload)
        except UnusableAnswer as error:
            raise IntegrationBadResponse(self.name, str(error)) from error

    async def message(self, call: Call) -> str | bytes | None:
        """Run the function with the MESSAGE event; its ``body`` is the route response."""
        body = call.body
        binary = isinstance(body, bytes)
        text = base64.b64encode(body).decode("ascii") if isinstance(body, bytes) else body or ""
        request_id = call.request_id
        event = build_message_event(
            call.facts,
            call.route_key,
            text,
            is_base64_encoded=binary,
            request_id=request_id,
            message_id=call.message_id or request_id,
            now_ms=call.now_ms,
        )
        if call.trace is not None:
            call.trace.append({"step": "function call", "function": self.function_name})
        result = await self._runner.invoke(request_for(event, call.timeout_ms))
        if not call.reply_wanted:
            return None  # without a route response AWS never reads the answer (§5.2)
        try:
            return route_response(result.payload)
        except UnusableAnswer as error:
            raise IntegrationBadResponse(self.name, str(error)) from error

    async def disconnect(self, call: Call) -> None:
        """Run the function with the DISCONNECT event; its answer goes nowhere."""
        event = build_disconnect_event(
            call.facts, call.request_id, call.now_ms, call.disconnect_status, call.disconnect_reason
        )
        await self._runner.invoke(self._request(event, call))

    @staticmethod
    def _request(event: JSONObject, call: Call) -> IntegrationRequest:
        return request_for(event, call.timeout_ms)

    def _on_change(self, changed: list[str]) -> None:
        logger.info("reloading function %s: %s changed", self.function_name, changed[0])
        self._runner.reload()


def _check_python(function_name: str, runtime: str | None) -> None:
    """Say so when a Python function asks for a newer Python than the gateway's own."""
    wanted = runtime_version(runtime) if runtime and runtime.startswith("python") else None
    if wanted is not None and wanted > sys.version_info[:2]:
        logger.warning(
            "function %s asks for %s; it runs on the local Python %d.%d",
            function_name,
            runtime,
            *sys.version_info[:2],
        )
