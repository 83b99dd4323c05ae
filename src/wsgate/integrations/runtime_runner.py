"""Functions on Lambda's Runtime API: ``provided`` bootstraps and the bundled Node.js runtime.

The same pool as :mod:`wsgate.integrations.process_pool` (concurrency, waiting, timeouts,
kill-and-replace, Lambda's error mapping), with another kind of environment: a process that
polls its own Runtime API listener (:mod:`wsgate.server.runtime_api`) instead of speaking frames
over pipes. An environment is ready at its runtime's first ``/next``; a runtime that reports
``/init/error`` fails the invocation that waited for it with that error, and is replaced.

``provided``, ``provided.al2``, ``provided.al2023``
    The function's ``bootstrap`` executable, in its code folder.
``nodejs18.x`` ... ``nodejs24.x``
    ``node`` running wsgate's runtime (``runtimes/node/bootstrap.mjs``), with the AWS SDK for
    JavaScript that Lambda provides (:mod:`wsgate.integrations.node_sdk`).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from wsgate.errors import FunctionError
from wsgate.integrations.environment import Worker
from wsgate.integrations.lambda_context import FunctionInfo, dump_json
from wsgate.integrations.node_sdk import NodeRuntime, prepare_node
from wsgate.integrations.process_pool import ProcessRunner
from wsgate.integrations.runtime_protocol import (
    Verdict,
    build_trace_id,
    error_document,
    invocation_headers,
    judge_answer,
    judge_init_error,
    response_too_large,
)
from wsgate.integrations.worker import ERROR, RESULT
from wsgate.server.runtime_api import Invocation, RuntimeApiListener
from wsgate.types import JSONObject

if TYPE_CHECKING:
    from wsgate.config.model import FunctionConfig

__all__ = ["NODE_RUNTIME_DIR", "RuntimeApiRunner"]

NODE_RUNTIME_DIR = str(Path(__file__).parent / "runtimes" / "node")
_NODE_BOOTSTRAP = os.path.join(NODE_RUNTIME_DIR, "bootstrap.mjs")
_NODE_HOOKS = os.path.join(NODE_RUNTIME_DIR, "hooks.mjs")
# Sends the function's calls to the API's names to the gateway (integrations/callback.py).
_NODE_REDIRECT = os.path.join(NODE_RUNTIME_DIR, "redirect.cjs")


class _ApiWorker(Worker):
    """One environment: a runtime process and the Runtime API listener it polls."""

    def __init__(self, pool: RuntimeApiRunner, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(pool, loop)
        self._runner = pool
        self._eof = True  # no protocol pipe: the process's exit alone means it is gone
        self.listener = RuntimeApiListener(self)
        self._pending: Invocation | None = None
        self._polling: asyncio.Future[Invocation | None] | None = None
        self._current: str | None = None
        self._init_failure: FunctionError | None = None

    # -- what the pool asks ---------------------------------------------------------------------

    def start(self, init: bytes) -> None:
        """Nothing to send: the runtime asks for work itself."""

    def _deliver(self, frame: bytes) -> None:
        now = time.time()
        self._current = self._request_id
        headers = invocation_headers(
            self._request_id,
            int((now + self._runner.timeout) * 1000),
            self._runner.function_arn,
            build_trace_id(int(now), os.urandom(20).hex()),
        )
        invocation = Invocation(headers, frame)
        if self._polling is not None and not self._polling.done():
            self._polling.set_result(invocation)
        else:
            self._pending = invocation

    def close(self) -> None:
        """Retire the environment: its runtime never exits on its own, so stop it."""
        self.dead = True
        self._stop_polling()
        self._send_sigterm()

    def exit_error(self, request_id: str | None) -> FunctionError:
        """The runtime's own init error when it reported one, else Lambda's exit error."""
        if request_id is None and self._init_failure is not None:
            return self._init_failure
        return super().exit_error(request_id)

    def _on_gone(self) -> None:
        self._stop_polling()
        super()._on_gone()

    def _finish(self) -> None:
        task = self._loop.create_task(self.listener.stop())
        task.add_done_callback(lambda _: super(_ApiWorker, self)._finish())

    def _stop_polling(self) -> None:
        if self._polling is not None and not self._polling.done():
            self._polling.set_result(None)

    # -- what the runtime asks (RuntimeEnvironment) ---------------------------------------------

    async def next_invocation(self) -> Invocation | None:
        """The next invocation; the first call also ends the environment's init."""
        if self.dead:
            return None
        if not self.ready.done():
            self.ready.set_result(True)
        if self._pending is not None:
            invocation, self._pending = self._pending, None
            return invocation
        self._polling = self._loop.create_future()
        return await self._polling

    def post_answer(
        self, kind: str, request_id: str, body: bytes, error_type: str | None
    ) -> Verdict:
        """Take the answer to the invocation in flight."""
        verdict = judge_answer(request_id, self._current, len(body))
        if verdict.status == 413 and kind == "response":
            self._current = None
            error, message = response_too_large()
            self._on_frame(ERROR, dump_json(_error(error, message, request_id)))
        elif verdict.status == 202:
            self._current = None
            if kind == "response":
                self._on_frame(RESULT, body or b"null")
            else:
                document = error_document(body, error_type, request_id)
                self._on_frame(ERROR, dump_json(dict(document)))
        return verdict

    def post_init_error(self, body: bytes, error_type: str | None) -> Verdict:
        """Take the runtime's init failure; the environment is then stopped, as in Lambda."""
        verdict = judge_init_error(self.ready.done())
        if verdict.status == 202:
            document = error_document(body, error_type)
            self._init_failure = FunctionError(
                self._runner.name, document["errorType"], document["errorMessage"]
            )
            self.ready.set_result(False)
            self._loop.call_soon(self.kill)
        return verdict


def _error(error_type: str, message: str, request_id: str) -> JSONObject:
    return {"errorMessage": message, "errorType": error_type, "requestId": request_id}


class RuntimeApiRunner(ProcessRunner):
    """A pool of Runtime API environments for a ``provided`` or Node.js function."""

    def __init__(
        self, name: str, function_name: str, config: FunctionConfig, *, region: str, account_id: str
    ) -> None:
        super().__init__(name, function_name, config, region=region, account_id=account_id)
        self.function_arn = f"arn:aws:lambda:{region}:{account_id}:function:{function_name}"
        self._node: NodeRuntime | None = None
        if config.family == "nodejs":
            self._runtime_dir = NODE_RUNTIME_DIR

    async def start(self) -> None:
        """Find ``node`` and its SDK for a Node.js function (installed once, when missing).

        Raises:
            ConfigError: ``node`` is missing or the SDK cannot be installed.
        """
        await super().start()
        if self._config.family == "nodejs":
            self._node = await prepare_node({self._function_name: self._config})

    def _new_worker(self, loop: asyncio.AbstractEventLoop) -> Worker:
        return _ApiWorker(self, loop)

    def _invocation_frame(self, invocation_id: str, event: JSONObject, deadline: float) -> bytes:
        return dump_json(event)

    async def _launch(
        self, worker: Worker, info: FunctionInfo, environment: dict[str, str]
    ) -> None:
        assert isinstance(worker, _ApiWorker)
        await worker.listener.start()
        environment["AWS_LAMBDA_RUNTIME_API"] = worker.listener.address
        command = self._command(environment)
        try:
            await asyncio.get_running_loop().subprocess_exec(
                lambda: worker,
                *command,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=sys.stderr.fileno(),  # console output joins the gateway's log, as Python's
                stderr=None,
                env=environment,
                cwd=self._config.code_uri,
                start_new_session=True,
            )
        except OSError:
            await worker.listener.stop()
            raise

    def _command(self, environment: dict[str, str]) -> list[str]:
        if self._node is None:
            return [os.path.join(self._config.code_uri, "bootstrap")]
        paths = [self._node.node_modules, environment.get("NODE_PATH", "")]
        environment["NODE_PATH"] = os.pathsep.join(path for path in paths if path)
        if _has_register(self._node.version):
            return [self._node.node, "--require", _NODE_REDIRECT, _NODE_BOOTSTRAP]
        return [
            self._node.node,
            "--require",
            _NODE_REDIRECT,
            "--no-warnings",
            "--experimental-loader",
            _NODE_HOOKS,
            _NODE_BOOTSTRAP,
        ]


def _has_register(version: tuple[int, int, int]) -> bool:
    """``module.register`` exists from Node.js 20.6 and 18.19."""
    major, minor, _ = version
    return (major, minor) >= (20, 6) or (major == 18 and minor >= 19)
