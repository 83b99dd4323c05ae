"""The local Lambda runtime: real worker processes (and in-process mode) on real handler files."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from wsgate.config.model import FunctionConfig
from wsgate.errors import FunctionError, IntegrationTimeout, IntegrationUnavailable
from wsgate.integrations import process_pool, sync_calls
from wsgate.integrations.base import IntegrationRequest
from wsgate.integrations.function import FunctionIntegration

FUNCTIONS = str(Path(__file__).parent / "functions")
HANDLERS = "runtime_handlers"
BOTH = pytest.mark.parametrize("isolation", ["process", "inprocess"])
TIMED_OUT = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \S+ Task timed out after 0\.50 seconds$"
)

MakeFunction = Callable[..., Awaitable[FunctionIntegration]]


def request(event: Any = None, *, timeout_ms: int = 10_000) -> IntegrationRequest:
    return IntegrationRequest(
        event=event if event is not None else {"body": "hi"},
        invocation_id=str(uuid.uuid4()),
        timeout_ms=timeout_ms,
    )


async def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
async def make_function(tmp_path: Path) -> AsyncIterator[MakeFunction]:
    made: list[FunctionIntegration] = []
    saved_path = list(sys.path)
    saved_modules = set(sys.modules)

    async def make(
        handler: str, *, code_uri: str = FUNCTIONS, reload: bool = False, **settings: Any
    ) -> FunctionIntegration:
        config = FunctionConfig(handler=handler, code_uri=code_uri, **settings)
        function = FunctionIntegration(
            "chat-integration",
            "chat",
            config,
            region="eu-west-1",
            account_id="123456789012",
            reload=reload,
        )
        await function.start()
        made.append(function)
        return function

    yield make
    for function in made:
        await function.stop()
    # In-process functions import into this process: forget their modules and paths.
    sys.path[:] = saved_path
    for name in set(sys.modules) - saved_modules:
        path = getattr(sys.modules[name], "__file__", None) or ""
        if path.startswith((FUNCTIONS, str(tmp_path))):
            del sys.modules[name]


def write_module(directory: Path, source: str) -> str:
    """Write a handler module with a unique name (in-process tests share sys.modules)."""
    name = f"fn_{uuid.uuid4().hex}"
    (directory / f"{name}.py").write_text(source)
    return name


@BOTH
@pytest.mark.parametrize("handler", ["echo", "echo_async"])
async def test_echo(make_function: MakeFunction, isolation: str, handler: str) -> None:
    function = await make_function(f"{HANDLERS}.{handler}", isolation=isolation)
    result = await function.invoke(request({"body": "hello", "n": [1, 2]}))
    assert result.payload["event"] == {"body": "hello", "n": [1, 2]}
    assert (result.payload["pid"] == os.getpid()) == (isolation == "inprocess")


async def test_context_and_environment(
    make_function: MakeFunction, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WSGATE_TEST_PASSTHROUGH", "from-parent")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    function = await make_function(
        f"{HANDLERS}.describe", environment={"GREETING": "hello"}, timeout=5, memory_size=256
    )
    call = request()
    payload = (await function.invoke(call)).payload
    env = payload.pop("env")
    stream = payload.pop("log_stream_name")
    remaining = payload.pop("remaining")
    assert payload == {
        "aws_request_id": call.invocation_id,
        "function_name": "chat",
        "function_version": "$LATEST",
        "invoked_function_arn": "arn:aws:lambda:eu-west-1:123456789012:function:chat",
        "memory_limit_in_mb": 256,
        "log_group_name": "/aws/lambda/chat",
        "identity": None,
        "client_context": None,
        "cwd": FUNCTIONS,
    }
    assert re.fullmatch(r"\d{4}/\d\d/\d\d/\[\$LATEST\][0-9a-f]{32}", stream)
    assert 4000 < remaining <= 5000
    assert env == {
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_LAMBDA_FUNCTION_NAME": "chat",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/chat",
        "AWS_LAMBDA_LOG_STREAM_NAME": stream,
        "AWS_EXECUTION_ENV": f"AWS_Lambda_python{sys.version_info[0]}.{sys.version_info[1]}",
        "LAMBDA_TASK_ROOT": FUNCTIONS,
        "LAMBDA_RUNTIME_DIR": env["LAMBDA_RUNTIME_DIR"],
        "TZ": ":UTC",
        "_HANDLER": f"{HANDLERS}.describe",
        "AWS_ACCESS_KEY_ID": "wsgate",
        "AWS_SECRET_ACCESS_KEY": "wsgate",
        "GREETING": "hello",
        "WSGATE_TEST_PASSTHROUGH": "from-parent",
    }


async def test_inprocess_context_and_environment(
    make_function: MakeFunction, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GREETING", raising=False)  # restored (removed) at teardown
    monkeypatch.setenv("WSGATE_TEST_PASSTHROUGH", "kept")
    function = await make_function(
        f"{HANDLERS}.describe",
        isolation="inprocess",
        environment={"GREETING": "hello", "WSGATE_TEST_PASSTHROUGH": "ignored"},
    )
    call = request()
    payload = (await function.invoke(call)).payload
    assert payload["aws_request_id"] == call.invocation_id
    assert payload["invoked_function_arn"] == "arn:aws:lambda:eu-west-1:123456789012:function:chat"
    assert 2000 < payload["remaining"] <= 3000
    assert payload["env"]["GREETING"] == "hello"  # set at start, as it was unset
    assert payload["env"]["WSGATE_TEST_PASSTHROUGH"] == "kept"  # never overridden


@BOTH
async def test_handler_error_keeps_the_worker(make_function: MakeFunction, isolation: str) -> None:
    function = await make_function(f"{HANDLERS}.maybe_fail", isolation=isolation, concurrency=1)
    first = (await function.invoke(request({}))).payload
    with pytest.raises(FunctionError) as caught:
        await function.invoke(request({"fail": "gone"}))
    error = caught.value
    assert (error.integration, error.error_type, error.error_message) == (
        "chat-integration",
        "KeyError",
        "'gone'",
    )
    assert len(error.stack) == 1
    assert "runtime_handlers.py" in error.stack[0] and "in maybe_fail" in error.stack[0]
    assert (await function.invoke(request({}))).payload == first


async def test_errors_do_not_replace_the_worker(make_function: MakeFunction) -> None:
    function = await make_function(f"{HANDLERS}.fail", concurrency=1)
    for _ in range(3):
        with pytest.raises(FunctionError, match="ValueError: boom"):
            await function.invoke(request())
    assert len(function._runner._workers) == 1  # type: ignore[union-attr]


@BOTH
async def test_function_timeout(make_function: MakeFunction, isolation: str) -> None:
    function = await make_function(
        f"{HANDLERS}.sleep", isolation=isolation, timeout=0.5, concurrency=1
    )
    started = time.monotonic()
    with pytest.raises(FunctionError) as caught:
        await function.invoke(request({"seconds": 3}))
    assert time.monotonic() - started < 2.5
    assert caught.value.error_type == "Sandbox.Timedout"
    assert TIMED_OUT.match(caught.value.error_message), caught.value.error_message


async def test_function_timeout_kills_and_replaces_the_worker(make_function: MakeFunction) -> None:
    function = await make_function(f"{HANDLERS}.sleep", timeout=0.5, concurrency=1)
    first = (await function.invoke(request({"seconds": 0}))).payload["pid"]
    with pytest.raises(FunctionError, match="Task timed out"):
        await function.invoke(request({"seconds": 30}))
    second = (await function.invoke(request({"seconds": 0}))).payload["pid"]
    assert second != first
    await wait_until(lambda: not alive(first))


@BOTH
async def test_integration_timeout_before_function_timeout(
    make_function: MakeFunction, isolation: str
) -> None:
    function = await make_function(f"{HANDLERS}.sleep", isolation=isolation, timeout=5)
    started = time.monotonic()
    with pytest.raises(IntegrationTimeout):
        await function.invoke(request({"seconds": 0.6}, timeout_ms=100))
    assert time.monotonic() - started < 0.5


async def test_integration_timeout_keeps_the_worker_busy_until_it_finishes(
    make_function: MakeFunction,
) -> None:
    function = await make_function(f"{HANDLERS}.sleep", timeout=5, concurrency=1)
    first = (await function.invoke(request({"seconds": 0}))).payload["pid"]
    started = time.monotonic()
    with pytest.raises(IntegrationTimeout):
        await function.invoke(request({"seconds": 0.6}, timeout_ms=100))
    # The only worker is still busy: the next call waits for it rather than interrupting it.
    payload = (await function.invoke(request({"seconds": 0}))).payload
    assert time.monotonic() - started >= 0.6
    assert payload["pid"] == first


async def test_wedged_handler_does_not_stall_other_workers(
    make_function: MakeFunction, tmp_path: Path
) -> None:
    function = await make_function(f"{HANDLERS}.spin", timeout=1.5, concurrency=2)
    marker = tmp_path / "spinning"
    wedged = asyncio.create_task(function.invoke(request({"spin": True, "marker": str(marker)})))
    await wait_until(marker.exists)
    spinner = int(marker.read_text())
    for _ in range(5):  # served by the other worker while the first one spins
        assert (await function.invoke(request({}, timeout_ms=1000))).payload != spinner
    assert not wedged.done()
    with pytest.raises(FunctionError, match=r"Task timed out after 1\.50 seconds"):
        await wedged
    await wait_until(lambda: not alive(spinner))  # killed, then reaped
    assert (await function.invoke(request({}))).payload != spinner


@pytest.mark.parametrize(
    ("handler", "reason"),
    [
        ("exit_now", "exit status 1"),
        ("kill_self", "signal: killed"),
        ("bad_sys_exit", "exit status 3"),
    ],
)
async def test_worker_death_is_an_exit_error(
    make_function: MakeFunction, handler: str, reason: str
) -> None:
    dying = await make_function(f"{HANDLERS}.{handler}", concurrency=1)
    call = request()
    with pytest.raises(FunctionError) as caught:
        await dying.invoke(call)
    assert caught.value.error_type == "Runtime.ExitError"
    assert caught.value.error_message == (
        f"RequestId: {call.invocation_id} Error: Runtime exited with error: {reason}"
    )
    with pytest.raises(FunctionError):  # a fresh worker serves (and dies on) the next call
        await dying.invoke(request())


async def test_exit_then_next_call_works(make_function: MakeFunction, tmp_path: Path) -> None:
    name = write_module(
        tmp_path,
        "import os\n\ndef handler(event, context):\n"
        "    if event.get('die'):\n        os._exit(1)\n    return os.getpid()\n",
    )
    function = await make_function(f"{name}.handler", code_uri=str(tmp_path), concurrency=1)
    first = (await function.invoke(request({}))).payload
    with pytest.raises(FunctionError, match="exit status 1"):
        await function.invoke(request({"die": True}))
    assert (await function.invoke(request({}))).payload != first


async def test_inprocess_sys_exit_does_not_end_the_gateway(make_function: MakeFunction) -> None:
    function = await make_function(f"{HANDLERS}.bad_sys_exit", isolation="inprocess")
    with pytest.raises(FunctionError) as caught:
        await function.invoke(request())
    assert caught.value.error_type == "Runtime.ExitError"
    assert caught.value.error_message.endswith("exit status 3")


async def test_crash_during_init_is_an_exit_error(make_function: MakeFunction) -> None:
    function = await make_function("runtime_crash_on_import.handler", concurrency=1)
    with pytest.raises(FunctionError) as caught:
        await function.invoke(request())
    assert caught.value.error_type == "Runtime.ExitError"
    assert caught.value.error_message == "Error: Runtime exited with error: exit status 7"


@BOTH
async def test_unserialisable_result_is_a_marshal_error(
    make_function: MakeFunction, isolation: str
) -> None:
    function = await make_function(f"{HANDLERS}.not_json", isolation=isolation)
    with pytest.raises(FunctionError) as caught:
        await function.invoke(request())
    assert caught.value.error_type == "Runtime.MarshalError"
    assert caught.value.error_message == (
        "Unable to marshal response: Object of type datetime is not JSON serializable"
    )


@BOTH
@pytest.mark.parametrize(
    ("handler", "error_type", "message"),
    [
        (
            "runtime_broken.handler",
            "Runtime.ImportModuleError",
            "Unable to import module 'runtime_broken': No module named 'wsgate_no_such_module'",
        ),
        (
            f"{HANDLERS}.missing",
            "Runtime.HandlerNotFound",
            f"Handler 'missing' missing on module '{HANDLERS}'",
        ),
    ],
)
async def test_load_errors(
    make_function: MakeFunction, isolation: str, handler: str, error_type: str, message: str
) -> None:
    function = await make_function(handler, isolation=isolation)
    for _ in range(2):  # reported on every call: each one retries the import
        with pytest.raises(FunctionError) as caught:
            await function.invoke(request())
        assert (caught.value.error_type, caught.value.error_message) == (error_type, message)


@BOTH
async def test_failed_import_is_retried_by_the_next_call(
    make_function: MakeFunction, isolation: str, tmp_path: Path
) -> None:
    name = write_module(tmp_path, "import wsgate_not_yet_there\n")
    function = await make_function(
        f"{name}.handler", code_uri=str(tmp_path), isolation=isolation, concurrency=1
    )
    with pytest.raises(FunctionError, match=r"Runtime\.ImportModuleError"):
        await function.invoke(request())
    (tmp_path / f"{name}.py").write_text("def handler(event, context):\n    return 'fixed'\n")
    assert (await function.invoke(request())).payload == "fixed"


@BOTH
async def test_syntax_error(make_function: MakeFunction, isolation: str, tmp_path: Path) -> None:
    name = write_module(tmp_path, "def handler(event, context)\n    return 1\n")
    function = await make_function(f"{name}.handler", code_uri=str(tmp_path), isolation=isolation)
    with pytest.raises(FunctionError) as caught:
        await function.invoke(request())
    assert caught.value.error_type == "Runtime.UserCodeSyntaxError"
    assert caught.value.error_message.startswith(f"Syntax error in module '{name}'")


@BOTH
async def test_reload_picks_up_an_edited_file(
    make_function: MakeFunction,
    isolation: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="wsgate.integrations.function")
    name = write_module(tmp_path, "def handler(event, context):\n    return 'v1'\n")
    function = await make_function(
        f"{name}.handler", code_uri=str(tmp_path), isolation=isolation, reload=True
    )
    assert (await function.invoke(request())).payload == "v1"
    (tmp_path / f"{name}.py").write_text("def handler(event, context):\n    return 'v2 edited'\n")
    deadline = time.monotonic() + 15
    while (await function.invoke(request())).payload == "v1":
        assert time.monotonic() < deadline, "the edit was not picked up"
        await asyncio.sleep(0.05)
    assert (await function.invoke(request())).payload == "v2 edited"
    assert any("reloading function chat" in record.getMessage() for record in caplog.records)


async def test_reload_lets_in_flight_calls_finish(
    make_function: MakeFunction, tmp_path: Path
) -> None:
    source = "import time\n\ndef handler(event, context):\n    time.sleep(event)\n    return '{}'\n"
    name = write_module(tmp_path, source.format("old"))
    function = await make_function(
        f"{name}.handler", code_uri=str(tmp_path), reload=True, concurrency=1
    )
    assert (await function.invoke(request(0))).payload == "old"
    in_flight = asyncio.create_task(function.invoke(request(1.0)))
    (tmp_path / f"{name}.py").write_text(source.format("new code"))
    assert (await in_flight).payload == "old"
    deadline = time.monotonic() + 15
    while (await function.invoke(request(0))).payload == "old":
        assert time.monotonic() < deadline, "the edit was not picked up"
        await asyncio.sleep(0.05)


@BOTH
async def test_concurrency_cap_queues_calls(make_function: MakeFunction, isolation: str) -> None:
    function = await make_function(f"{HANDLERS}.sleep", isolation=isolation, concurrency=1)
    await function.invoke(request({"seconds": 0}))  # warm: measure the queueing, not a cold start
    started = time.monotonic()
    first, second = await asyncio.gather(
        function.invoke(request({"seconds": 0.2})), function.invoke(request({"seconds": 0.2}))
    )
    assert time.monotonic() - started >= 0.4
    assert first.payload["pid"] == second.payload["pid"]


async def test_queued_call_times_out_while_waiting(
    make_function: MakeFunction, tmp_path: Path
) -> None:
    function = await make_function(f"{HANDLERS}.sleep", concurrency=1)
    marker = tmp_path / "started"
    busy = asyncio.create_task(function.invoke(request({"seconds": 0.5, "marker": str(marker)})))
    await wait_until(marker.exists)
    with pytest.raises(IntegrationTimeout):
        await function.invoke(request({"seconds": 0}, timeout_ms=100))
    assert (await busy).payload["slept"] == 0.5
    assert (await function.invoke(request({"seconds": 0}))).payload["slept"] == 0


async def test_handler_output_does_not_corrupt_the_protocol(
    make_function: MakeFunction, capfd: pytest.CaptureFixture[str]
) -> None:
    function = await make_function(f"{HANDLERS}.noisy")
    for _ in range(3):
        assert (await function.invoke(request())).payload == "quiet answer"
    err = capfd.readouterr().err
    assert "hello from a handler" in err and "raw bytes on fd 1" in err


@BOTH
async def test_stop_fails_pending_calls(
    make_function: MakeFunction, isolation: str, tmp_path: Path
) -> None:
    function = await make_function(f"{HANDLERS}.sleep", isolation=isolation, concurrency=1)
    marker = tmp_path / "started"
    running = asyncio.create_task(function.invoke(request({"seconds": 2, "marker": str(marker)})))
    await wait_until(marker.exists)
    queued = asyncio.create_task(function.invoke(request({"seconds": 0})))
    await asyncio.sleep(0)  # let the second call reach the queue
    started = time.monotonic()
    await function.stop()
    assert time.monotonic() - started < 1.5
    for call in (running, queued):
        with pytest.raises(IntegrationUnavailable):
            await call
    with pytest.raises(IntegrationUnavailable):
        await function.invoke(request({"seconds": 0}))
    if isolation == "process":
        assert not alive(int(marker.read_text()))  # stop() waits until workers are reaped


async def test_inprocess_sync_handler_does_not_block_the_loop(make_function: MakeFunction) -> None:
    blocking = await make_function(f"{HANDLERS}.sleep", isolation="inprocess")
    echo = await make_function(f"{HANDLERS}.echo_async", isolation="inprocess")
    call = asyncio.create_task(blocking.invoke(request({"seconds": 0.5})))
    gaps = []
    while not call.done():
        before = time.monotonic()
        assert (await echo.invoke(request())).payload["async"] is True
        await asyncio.sleep(0.01)
        gaps.append(time.monotonic() - before)
    assert (await call).payload["slept"] == 0.5
    assert len(gaps) > 10 and max(gaps) < 0.2


async def test_many_concurrent_calls_share_the_capped_pool(make_function: MakeFunction) -> None:
    function = await make_function(f"{HANDLERS}.echo", concurrency=3)
    results = await asyncio.gather(*(function.invoke(request({"n": n})) for n in range(150)))
    assert [result.payload["event"]["n"] for result in results] == list(range(150))
    assert 1 <= len({result.payload["pid"] for result in results}) <= 3


async def test_calls_that_give_up_waiting_leave_no_trace(
    make_function: MakeFunction, tmp_path: Path
) -> None:
    function = await make_function(f"{HANDLERS}.sleep", concurrency=1)
    marker = tmp_path / "started"
    busy = asyncio.create_task(function.invoke(request({"seconds": 0.3, "marker": str(marker)})))
    await wait_until(marker.exists)
    impatient = [function.invoke(request({"seconds": 0}, timeout_ms=50)) for _ in range(5)]
    outcomes = await asyncio.gather(*impatient, return_exceptions=True)
    assert all(isinstance(outcome, IntegrationTimeout) for outcome in outcomes)
    assert not function._runner._waiters  # type: ignore[union-attr]
    await busy
    assert (await function.invoke(request({"seconds": 0}))).payload["slept"] == 0
    assert len(function._runner._workers) == 1  # type: ignore[union-attr]


@BOTH
async def test_large_payloads_cross_intact(make_function: MakeFunction, isolation: str) -> None:
    function = await make_function(f"{HANDLERS}.echo", isolation=isolation)
    body = "é" * 300_000 + "x" * 400_000  # well past a pipe's buffer, multi-byte characters
    assert (await function.invoke(request({"body": body}))).payload["event"]["body"] == body


async def test_missing_code_directory_is_unavailable(
    make_function: MakeFunction, tmp_path: Path
) -> None:
    function = await make_function(f"{HANDLERS}.echo", code_uri=str(tmp_path / "missing"))
    with pytest.raises(IntegrationUnavailable, match="cannot start a worker"):
        await function.invoke(request())


async def test_slow_init_times_out(
    make_function: MakeFunction, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(process_pool, "_INIT_LIMIT", 0.3)
    name = write_module(tmp_path, "import time\n\ntime.sleep(30)\n")
    function = await make_function(f"{name}.handler", code_uri=str(tmp_path), concurrency=1)
    with pytest.raises(FunctionError) as caught:
        await function.invoke(request())
    assert caught.value.error_type == "Sandbox.Timedout"
    assert caught.value.error_message == "Init timed out after 0.30 seconds"


async def test_stop_kills_a_worker_that_ignores_sigterm(
    make_function: MakeFunction, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(process_pool, "_STOP_GRACE", 0.2)
    function = await make_function(f"{HANDLERS}.ignore_sigterm", timeout=60)
    marker = tmp_path / "started"
    call = asyncio.create_task(function.invoke(request({"marker": str(marker)})))
    await wait_until(marker.exists)
    await function.stop()
    assert not alive(int(marker.read_text()))
    with pytest.raises(IntegrationUnavailable):
        await call


@BOTH
async def test_async_handler_timeouts(make_function: MakeFunction, isolation: str) -> None:
    function = await make_function(
        f"{HANDLERS}.sleep_async", isolation=isolation, timeout=0.5, concurrency=2
    )
    with pytest.raises(FunctionError) as caught:
        await function.invoke(request({"seconds": 3}))
    assert caught.value.error_type == "Sandbox.Timedout"
    assert TIMED_OUT.match(caught.value.error_message)
    with pytest.raises(IntegrationTimeout):
        await function.invoke(request({"seconds": 0.4}, timeout_ms=100))
    assert (await function.invoke(request({"seconds": 0.01}))).payload == {"slept": 0.01}


@BOTH
@pytest.mark.parametrize(
    ("handler", "error_type"),
    [("fail_after_waiting", "ValueError"), ("own_timeout", "TimeoutError")],
)
async def test_async_handler_errors_after_waiting(
    make_function: MakeFunction, isolation: str, handler: str, error_type: str
) -> None:
    function = await make_function(f"{HANDLERS}.{handler}", isolation=isolation)
    with pytest.raises(FunctionError) as caught:
        await function.invoke(request({}))
    assert caught.value.error_type == error_type


@BOTH
async def test_answers_are_marshalled_as_lambda_does(
    make_function: MakeFunction, isolation: str
) -> None:
    keys = await make_function(f"{HANDLERS}.int_keys", isolation=isolation)
    assert (await keys.invoke(request({}))).payload == {"1": "one", "ok": True}


async def warm_pipeline(function: FunctionIntegration) -> Any:
    """Quick calls one at a time, until the only worker has learnt that calls are quick and
    takes several at once; returns that worker."""
    for _ in range(20):
        await function.invoke(request({"seconds": 0}))
    (worker,) = function._runner._workers  # type: ignore[union-attr]
    return worker


async def held_by(worker: Any) -> int:
    """How many calls the worker holds once the calls just made have taken their first step."""
    await asyncio.sleep(0)  # each one is sent to the worker, or queued in the pool
    return len(worker.calls)


async def test_calls_behind_a_timed_out_invocation_run_on_a_new_worker(
    make_function: MakeFunction,
) -> None:
    function = await make_function(f"{HANDLERS}.sleep", timeout=0.5, concurrency=1)
    worker = await warm_pipeline(function)
    first = (await function.invoke(request({"seconds": 0}))).payload["pid"]
    hanging = asyncio.create_task(function.invoke(request({"seconds": 30})))
    queued = [asyncio.create_task(function.invoke(request({"seconds": 0}))) for _ in range(3)]
    assert await held_by(worker) >= 2  # waiting in the worker's pipe
    with pytest.raises(FunctionError, match="Task timed out"):
        await hanging
    # None of them had begun: they run, once each, on the worker that replaces it.
    pids = {(await call).payload["pid"] for call in queued}
    assert first not in pids and len(pids) == 1


async def test_calls_behind_a_crashed_invocation_run_on_a_new_worker(
    make_function: MakeFunction, tmp_path: Path
) -> None:
    name = write_module(
        tmp_path,
        "import os\n\ndef handler(event, context):\n"
        "    if event.get('die'):\n        os._exit(1)\n    return {'pid': os.getpid()}\n",
    )
    function = await make_function(f"{name}.handler", code_uri=str(tmp_path), concurrency=1)
    worker = await warm_pipeline(function)
    first = (await function.invoke(request({}))).payload["pid"]
    dying = asyncio.create_task(function.invoke(request({"die": True})))
    queued = [asyncio.create_task(function.invoke(request({}))) for _ in range(3)]
    assert await held_by(worker) >= 2
    with pytest.raises(FunctionError, match="exit status 1"):
        await dying
    pids = {(await call).payload["pid"] for call in queued}
    assert first not in pids and len(pids) == 1


async def test_a_call_given_up_in_a_worker_pipe_never_runs(
    make_function: MakeFunction, tmp_path: Path
) -> None:
    function = await make_function(f"{HANDLERS}.sleep", timeout=5, concurrency=1)
    worker = await warm_pipeline(function)
    marker = tmp_path / "ran"
    busy = asyncio.create_task(function.invoke(request({"seconds": 0.3})))
    impatient = asyncio.create_task(
        function.invoke(request({"seconds": 0, "marker": str(marker)}, timeout_ms=100))
    )
    assert await held_by(worker) == 2
    with pytest.raises(IntegrationTimeout):
        await impatient
    assert (await busy).payload["slept"] == 0.3
    # The worker read it after its deadline and skipped it; the next call finds it free.
    assert (await function.invoke(request({"seconds": 0}))).payload["slept"] == 0
    assert not marker.exists()


@pytest.mark.parametrize("isolation", ["process", "inprocess"])
async def test_many_quick_calls_at_once(make_function: MakeFunction, isolation: str) -> None:
    function = await make_function(f"{HANDLERS}.echo", isolation=isolation, concurrency=1)
    for _ in range(40):  # in process: the calls move onto the loop once proven quick
        await function.invoke(request({"n": -1}))
    results = await asyncio.gather(*(function.invoke(request({"n": n})) for n in range(500)))
    assert [result.payload["event"]["n"] for result in results] == list(range(500))


async def test_inprocess_sync_handler_that_returns_a_coroutine(
    make_function: MakeFunction, tmp_path: Path
) -> None:
    name = write_module(
        tmp_path,
        "import asyncio\n\nasync def later(event):\n    await asyncio.sleep(0)\n"
        "    return {'later': event['n']}\n\n"
        "def handler(event, context):\n    return later(event)\n",
    )
    function = await make_function(f"{name}.handler", code_uri=str(tmp_path), isolation="inprocess")
    for n in range(40):  # on threads first, then on the loop
        assert (await function.invoke(request({"n": n}))).payload == {"later": n}


async def test_inprocess_calls_on_the_loop_keep_the_concurrency_cap(
    make_function: MakeFunction, tmp_path: Path
) -> None:
    name = write_module(
        tmp_path,
        "import threading\nimport time\n\ndef handler(event, context):\n"
        "    time.sleep(event.get('sleep', 0))\n    return threading.current_thread().name\n",
    )
    function = await make_function(
        f"{name}.handler", code_uri=str(tmp_path), isolation="inprocess", concurrency=1
    )
    quick = {"requestContext": {"routeKey": "quick"}}
    for _ in range(sync_calls.PROBATION + 1):
        ran_on = (await function.invoke(request(quick))).payload
    assert ran_on == threading.current_thread().name  # the quick route runs on the loop
    slow = asyncio.create_task(
        function.invoke(request({"requestContext": {"routeKey": "slow"}, "sleep": 0.3}))
    )
    await asyncio.sleep(0)  # the slow route's call is on the only thread
    started = time.monotonic()
    ran_on = (await function.invoke(request(quick))).payload
    # concurrency 1: the call for the loop waited for the thread's call to end.
    assert slow.done() and time.monotonic() - started >= 0.2
    assert ran_on == threading.current_thread().name
