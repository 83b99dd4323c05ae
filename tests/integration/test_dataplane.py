"""The data plane against a real gateway, real worker processes and a real WebSocket client."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import socket
import uuid
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser.models import (
    APIGatewayWebSocketConnectEventModel,
    APIGatewayWebSocketDisconnectEventModel,
    APIGatewayWebSocketMessageEventModel,
)
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.helpers import RunningGateway, eventually, ws_client as client

FORBIDDEN = '{{"message": "Forbidden", "connectionId":"{cid}", "requestId":"{rid}"}}'


async def test_echo_route_response(basic: RunningGateway) -> None:
    async with client(basic.ws_url()) as ws:
        await ws.send(json.dumps({"action": "echo", "data": "hi"}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 10)) == {"action": "echo", "data": "hi"}
        await ws.send(json.dumps({"action": "asyncecho"}))
        assert await asyncio.wait_for(ws.recv(), 10) == 'async:{"action": "asyncecho"}'


async def test_lambda_events_match_published_models(basic: RunningGateway) -> None:
    async with client(basic.ws_url(query="a=1&a=2&b=x"), user_agent_header="tester/1.0") as ws:
        await ws.send(json.dumps({"action": "echo"}))
        await asyncio.wait_for(ws.recv(), 10)
    disconnects = await eventually(lambda: basic.events("DISCONNECT"))
    connect_event = basic.events("CONNECT")[0]
    message_event = basic.events("MESSAGE")[0]
    APIGatewayWebSocketConnectEventModel.model_validate(connect_event)
    APIGatewayWebSocketMessageEventModel.model_validate(message_event)
    APIGatewayWebSocketDisconnectEventModel.model_validate(disconnects[0])

    assert connect_event["queryStringParameters"] == {"a": "2", "b": "x"}
    assert connect_event["multiValueQueryStringParameters"] == {"a": ["1", "2"], "b": ["x"]}
    assert "Connection" not in connect_event["headers"]
    assert "Upgrade" not in connect_event["headers"]
    assert connect_event["headers"]["X-Forwarded-For"] == "127.0.0.1"
    assert connect_event["headers"]["X-Amzn-Trace-Id"].startswith("Root=1-")
    assert connect_event["stageVariables"] == {"color": "blue"}
    context = connect_event["requestContext"]
    assert context["identity"] == {"sourceIp": "127.0.0.1", "userAgent": "tester/1.0"}
    assert context["requestId"] == context["extendedRequestId"]
    assert context["domainName"] == f"127.0.0.1:{basic.port}"

    assert set(message_event) == {"requestContext", "body", "isBase64Encoded", "stageVariables"}
    assert message_event["requestContext"]["routeKey"] == "echo"
    assert message_event["requestContext"]["messageId"]
    ids = {e["requestContext"]["connectionId"] for e in basic.events()}
    assert len(ids) == 1
    assert disconnects[0]["headers"] == {
        "Host": f"127.0.0.1:{basic.port}",
        "x-api-key": "",
        "X-Forwarded-For": "",
        "x-restapi": "",
    }
    assert disconnects[0]["requestContext"]["disconnectStatusCode"] == 1000


async def test_query_absent_without_query_string(basic: RunningGateway) -> None:
    async with client(basic.ws_url("strict"), user_agent_header=None):
        pass
    await eventually(lambda: basic.events("DISCONNECT"))
    event = basic.events("CONNECT")[0]
    assert "queryStringParameters" not in event
    assert "multiValueQueryStringParameters" not in event
    assert "stageVariables" not in event
    assert event["requestContext"]["identity"] == {"sourceIp": "127.0.0.1"}


@pytest.mark.parametrize(
    ("query", "status"),
    [("mode=refuse&status=403", 403), ("mode=refuse&status=401", 401), ("mode=raise", 502)],
)
async def test_connect_refusals(basic: RunningGateway, query: str, status: int) -> None:
    with pytest.raises(InvalidStatus) as caught:
        async with client(basic.ws_url(query=query)):
            pass
    assert caught.value.response.status_code == status
    assert basic.gateway.dataplane.live == {}
    # A refused connection never opened, so it has no $disconnect.
    await asyncio.sleep(0.2)
    assert basic.events("DISCONNECT") == []


async def test_connect_timeout_answers_504(basic: RunningGateway) -> None:
    with pytest.raises(InvalidStatus) as caught:
        async with client(basic.ws_url(query="mode=sleep&seconds=5")):
            pass
    # The function's own 2 s timeout fires: a function failure, 502 as AWS.
    assert caught.value.response.status_code == 502


async def test_only_subprotocol_is_echoed(basic: RunningGateway) -> None:
    async with client(basic.ws_url(), subprotocols=["chat.v2", "chat.v1"]) as ws:
        assert ws.subprotocol == "chat.v2"


async def test_unknown_stage_is_403(basic: RunningGateway) -> None:
    with pytest.raises(InvalidStatus) as caught:
        async with client(f"ws://127.0.0.1:{basic.port}/nostage"):
            pass
    assert caught.value.response.status_code == 403


async def test_path_prefix_is_allowed(basic: RunningGateway) -> None:
    async with client(f"ws://127.0.0.1:{basic.port}/some/prefix/dev") as ws:
        await ws.send(json.dumps({"action": "echo"}))
        assert await asyncio.wait_for(ws.recv(), 10)


async def test_forbidden_frame_without_default(basic: RunningGateway) -> None:
    # The strict stage shares routes; remove $default by selecting a stage-less API is not
    # possible here, so check the exact frame through a route table without $default.
    stage = basic.gateway.dataplane.stages["dev"]
    del stage.routes["$default"]
    async with client(basic.ws_url()) as ws:
        await ws.send("not json at all")
        frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert list(frame) == ["message", "connectionId", "requestId"]
        assert frame["message"] == "Forbidden"
        raw = FORBIDDEN.format(cid=frame["connectionId"], rid=frame["requestId"])
        await ws.send(json.dumps({"action": "nosuchroute"}))
        second = await asyncio.wait_for(ws.recv(), 10)
        second_id = json.loads(second)["requestId"]
        assert second == FORBIDDEN.format(cid=frame["connectionId"], rid=second_id)
        assert second_id != frame["requestId"]
        assert raw.startswith('{"message": "Forbidden", "connectionId":"')
        # The socket stays open.
        await ws.send(json.dumps({"action": "echo"}))
        assert await asyncio.wait_for(ws.recv(), 10) == json.dumps({"action": "echo"})


async def test_non_json_and_missing_key_go_to_default(basic: RunningGateway) -> None:
    async with client(basic.ws_url()) as ws:
        await ws.send("plain text")
        assert await asyncio.wait_for(ws.recv(), 10) == "plain text"
        await ws.send(json.dumps({"noaction": 1}))
        assert await asyncio.wait_for(ws.recv(), 10) == json.dumps({"noaction": 1})
        await ws.send(json.dumps({"action": "Echo"}))  # route keys are case-sensitive
        assert await asyncio.wait_for(ws.recv(), 10) == json.dumps({"action": "Echo"})
    events = basic.events("MESSAGE")
    assert [e["requestContext"]["routeKey"] for e in events] == ["$default"] * 3


async def test_handler_error_sends_internal_server_error(basic: RunningGateway) -> None:
    async with client(basic.ws_url()) as ws:
        for action in ("fail", "failsilent", "garbage"):
            await ws.send(json.dumps({"action": action}))
            frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert frame["message"] == "Internal server error", action
            assert list(frame) == ["message", "connectionId", "requestId"]
        await ws.send(json.dumps({"action": "echo"}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 10)) == {"action": "echo"}


async def test_return_value_needs_route_response(basic: RunningGateway) -> None:
    async with client(basic.ws_url()) as ws:
        await ws.send(json.dumps({"action": "silent"}))
        await ws.send(json.dumps({"action": "echo", "n": 2}))
        # Only the echo's answer arrives; the silent route's return value is discarded.
        assert json.loads(await asyncio.wait_for(ws.recv(), 10)) == {"action": "echo", "n": 2}
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(ws.recv(), 0.5)


async def test_timeouts(basic: RunningGateway) -> None:
    async with client(basic.ws_url()) as ws:
        # Integration timeout (300 ms) before the function's own (1 s).
        await ws.send(json.dumps({"action": "quick", "seconds": 0.8}))
        frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert frame["message"] == "Endpoint request timed out"
        # The function's own timeout (1 s) is a function error.
        await ws.send(json.dumps({"action": "slow", "seconds": 3}))
        frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert frame["message"] == "Internal server error"
        await ws.send(json.dumps({"action": "echo"}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 10)) == {"action": "echo"}


async def test_slow_handler_does_not_stall_other_connections(basic: RunningGateway) -> None:
    async with client(basic.ws_url()) as slow_ws, client(basic.ws_url()) as fast_ws:
        await slow_ws.send(json.dumps({"action": "slow", "seconds": 0.9}))
        for n in range(5):
            await fast_ws.send(json.dumps({"action": "echo", "n": n}))
            assert json.loads(await asyncio.wait_for(fast_ws.recv(), 0.8))["n"] == n
        assert await asyncio.wait_for(slow_ws.recv(), 10) == "slow done"


async def test_context_and_environment(basic: RunningGateway) -> None:
    async with client(basic.ws_url()) as ws:
        await ws.send(json.dumps({"action": "context"}))
        info = json.loads(await asyncio.wait_for(ws.recv(), 10))
        await ws.send(json.dumps({"action": "context"}))
        again = json.loads(await asyncio.wait_for(ws.recv(), 10))
    # Lambda's own id: a fresh version 4 UUID per invocation, never API Gateway's requestId.
    ids = {info["aws_request_id"], again["aws_request_id"]}
    assert len(ids) == 2
    assert all(uuid.UUID(value).version == 4 for value in ids)
    assert not ids & {info["requestId"], again["requestId"]}
    assert info["function_name"] == "context"
    assert info["function_version"] == "$LATEST"
    assert info["invoked_function_arn"] == "arn:aws:lambda:us-east-1:000000000000:function:context"
    assert info["memory_limit_in_mb"] == 256
    assert info["log_group_name"] == "/aws/lambda/context"
    assert info["log_stream_name"]
    assert 0 < info["remaining"] <= 3000
    assert info["env"] == {
        "AWS_REGION": "us-east-1",
        "AWS_LAMBDA_FUNCTION_NAME": "context",
        "GREETING": "hello",
    }


async def test_binary_frames_delivered_base64(basic: RunningGateway) -> None:
    async with client(basic.ws_url()) as ws:
        await ws.send(b"\x00\x01binary\xff")
        assert await asyncio.wait_for(ws.recv(), 10) == b"\x00\x01binary\xff"
    event = basic.events("MESSAGE")[0]
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\x00\x01binary\xff"
    assert event["requestContext"]["routeKey"] == "$default"


async def test_binary_frames_refused_when_strict(basic: RunningGateway) -> None:
    async with client(basic.ws_url("strict")) as ws:
        await ws.send(b"\x00\x01")
        with pytest.raises(ConnectionClosed) as caught:
            await asyncio.wait_for(ws.recv(), 10)
    assert caught.value.rcvd is not None and caught.value.rcvd.code == 1003
    event = (await eventually(lambda: basic.events("DISCONNECT")))[0]
    assert event["requestContext"]["disconnectStatusCode"] == 1003


@pytest.mark.parametrize(
    ("size", "fragment"),
    [(1025, False), (4097, True)],
    ids=["frame-over-limit", "message-over-limit"],
)
async def test_size_limits_close_1009(basic: RunningGateway, size: int, fragment: bool) -> None:
    async with client(basic.ws_url("tight"), max_size=None) as ws:
        if fragment:
            # 5 fragments of 1000 bytes: each frame fits, the message does not.
            await ws.send(iter(["x" * 1000] * 5))
        else:
            await ws.send("x" * size)
        with pytest.raises(ConnectionClosed) as caught:
            await asyncio.wait_for(ws.recv(), 10)
    assert caught.value.rcvd is not None and caught.value.rcvd.code == 1009
    event = (await eventually(lambda: basic.events("DISCONNECT")))[0]
    assert event["requestContext"]["disconnectStatusCode"] == 1009


async def test_fragmented_message_within_limits_is_routed(basic: RunningGateway) -> None:
    async with client(basic.ws_url("tight")) as ws:
        parts = ['{"action": "echo", "pad": "', "y" * 900, "y" * 900, '"}']
        await ws.send(iter(parts))
        assert await asyncio.wait_for(ws.recv(), 10) == "".join(parts)


@pytest.mark.parametrize(
    ("close", "code", "reason"),
    [
        ((1000, "bye"), 1000, "bye"),
        ((1001, ""), 1001, ""),
        ((None, None), 1005, "Client-side close frame status not set"),
    ],
)
async def test_client_close_codes(
    basic: RunningGateway, close: tuple[int | None, str | None], code: int, reason: str
) -> None:
    ws = await client(basic.ws_url())
    if close[0] is None:
        # A close frame without a status code.
        await _close_no_status(ws)
    else:
        await ws.close(close[0], close[1] or "")
    event = (await eventually(lambda: basic.events("DISCONNECT")))[0]
    assert event["requestContext"]["disconnectStatusCode"] == code
    assert event["requestContext"]["disconnectReason"] == reason


async def _close_no_status(ws: ClientConnection) -> None:
    from websockets.frames import Frame, Opcode

    ws.protocol.send_frame(Frame(Opcode.CLOSE, b""))
    ws.send_data()
    await asyncio.wait_for(ws.wait_closed(), 10)


async def test_client_vanishing_runs_disconnect(basic: RunningGateway) -> None:
    ws = await client(basic.ws_url())
    await ws.send(json.dumps({"action": "echo"}))
    await asyncio.wait_for(ws.recv(), 10)
    sock = ws.transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    ws.transport.abort()
    event = (await eventually(lambda: basic.events("DISCONNECT")))[0]
    assert event["requestContext"]["disconnectStatusCode"] == 1006
    # The reason docs/decisions.md gives an abrupt drop, not an empty one.
    assert event["requestContext"]["disconnectReason"] == "Connection closed abnormally"
    assert basic.gateway.dataplane.live == {}


async def test_invalid_utf8_closes_1007(basic: RunningGateway) -> None:
    from websockets.frames import Frame, Opcode

    ws = await client(basic.ws_url())
    ws.protocol.send_frame(Frame(Opcode.TEXT, b'{"action": "echo", "x": "\xff"}'))
    ws.send_data()
    with pytest.raises(ConnectionClosed) as caught:
        await asyncio.wait_for(ws.recv(), 10)
    # The code on the wire and the one $disconnect reports are the same (docs/decisions.md).
    assert caught.value.rcvd is not None and caught.value.rcvd.code == 1007
    event = (await eventually(lambda: basic.events("DISCONNECT")))[0]
    assert event["requestContext"]["disconnectStatusCode"] == 1007
    assert event["requestContext"]["disconnectReason"] == "Invalid frame payload data"
    assert basic.events("MESSAGE") == []


async def test_idle_timeout_closes_1001(basic: RunningGateway) -> None:
    async with client(basic.ws_url("short"), ping_interval=None) as ws:
        # Warm the function first: a cold start alone may outlast the idle timeout.
        await ws.send(json.dumps({"action": "echo"}))
        await asyncio.wait_for(ws.recv(), 10)
        # Traffic keeps it alive past one idle period.
        for _ in range(3):
            await asyncio.sleep(0.4)
            await ws.send(json.dumps({"action": "echo"}))
            await asyncio.wait_for(ws.recv(), 10)
        with pytest.raises(ConnectionClosed) as caught:
            await asyncio.wait_for(ws.recv(), 10)
    assert caught.value.rcvd is not None and caught.value.rcvd.code == 1001
    event = (await eventually(lambda: basic.events("DISCONNECT")))[0]
    assert event["requestContext"]["disconnectStatusCode"] == 1001
    assert event["requestContext"]["disconnectReason"] == "Going away"


async def test_max_duration_closes_despite_traffic(basic: RunningGateway) -> None:
    async with client(basic.ws_url("brief")) as ws:
        with pytest.raises(ConnectionClosed) as caught:
            while True:
                await ws.send(json.dumps({"action": "echo"}))
                await asyncio.wait_for(ws.recv(), 10)
                await asyncio.sleep(0.1)
    assert caught.value.rcvd is not None and caught.value.rcvd.code == 1001
    await eventually(lambda: basic.events("DISCONNECT"))


async def test_shutdown_closes_1001_and_runs_disconnect(basic: RunningGateway) -> None:
    sockets = [await client(basic.ws_url()) for _ in range(3)]
    await eventually(lambda: len(basic.gateway.dataplane.live) == 3)
    await basic.gateway.stop(timeout=5)
    for ws in sockets:
        with pytest.raises(ConnectionClosed) as caught:
            await asyncio.wait_for(ws.recv(), 10)
        assert caught.value.rcvd is not None and caught.value.rcvd.code == 1001
    events = basic.events("DISCONNECT")
    assert len(events) == 3
    assert {e["requestContext"]["disconnectStatusCode"] for e in events} == {1001}


async def test_client_vanishing_mid_message(basic: RunningGateway) -> None:
    from websockets.frames import Frame, Opcode

    ws = await client(basic.ws_url())
    # The first fragment of a message whose end never comes.
    ws.protocol.send_frame(Frame(Opcode.TEXT, b'{"action": "echo", "pad": "', fin=False))
    ws.send_data()
    await asyncio.sleep(0.05)
    ws.transport.abort()
    event = (await eventually(lambda: basic.events("DISCONNECT")))[0]
    assert event["requestContext"]["disconnectStatusCode"] == 1006
    assert event["requestContext"]["disconnectReason"] == "Connection closed abnormally"
    assert basic.events("MESSAGE") == []
    # The gateway keeps serving.
    async with client(basic.ws_url()) as other:
        await other.send(json.dumps({"action": "echo"}))
        assert await asyncio.wait_for(other.recv(), 10) == json.dumps({"action": "echo"})


async def test_shutdown_waits_for_disconnects_already_running(basic: RunningGateway) -> None:
    ws = await client(basic.ws_url())
    await ws.close()  # the server has the close; its $disconnect is starting
    await basic.gateway.stop(timeout=5)
    events = basic.events("DISCONNECT")
    assert len(events) == 1
    assert events[0]["requestContext"]["disconnectStatusCode"] == 1000


async def test_client_leaving_during_connect(basic: RunningGateway) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", basic.port)
    writer.write(
        b"GET /dev?mode=sleep&seconds=0.3 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n"
    )
    await writer.drain()
    await eventually(lambda: basic.events("CONNECT"))
    writer.close()  # gone before $connect answers
    await writer.wait_closed()
    # The gateway keeps serving, and a connection that never opened has no $disconnect.
    async with client(basic.ws_url()) as ws:
        await ws.send(json.dumps({"action": "echo"}))
        assert await asyncio.wait_for(ws.recv(), 10) == json.dumps({"action": "echo"})
    await eventually(lambda: len(basic.events("DISCONNECT")) == 1)
    assert len(basic.events("CONNECT")) == 2
    del reader


@pytest.mark.parametrize("depth", [500, 1023, 5000, 15_000])  # under the 32 KB frame limit
async def test_deeply_nested_json_is_routed_and_the_socket_stays_open(
    basic: RunningGateway, depth: int, caplog: pytest.LogCaptureFixture
) -> None:
    # Once a RecursionError: 1011, and a 135 KB traceback in the log per 1 KB message.
    message = '{"action": ' + "[" * depth + "]" * depth + "}"
    async with client(basic.ws_url(), max_size=None) as ws:
        await ws.send(message)
        # $default answers with the message itself, which it got whole.
        assert await asyncio.wait_for(ws.recv(), 10) == message
        await ws.send(json.dumps({"action": "echo"}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 10)) == {"action": "echo"}
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_an_open_connection_keeps_only_what_it_needs(basic: RunningGateway) -> None:
    # aiohttp keeps its HTTP parser until the socket closes; an open one has no use for it.
    # Nor does an idle connection need a task set, an end event or a timer of its own.
    async with client(basic.ws_url()) as ws:
        live = await eventually(lambda: list(basic.gateway.dataplane.live.values()))
        conn = live[0]
        assert conn.ws._req is not None and conn.ws._req.protocol._parser is None
        assert conn.tasks is None and conn.ended is None and conn.tick != 0
        # The coroutines it waits in: from the listener's handler to the read, nothing between.
        waiting: list[str] = []
        coroutine: Any = conn.handler.get_coro() if conn.handler else None
        while coroutine is not None and hasattr(coroutine, "cr_code"):
            waiting.append(coroutine.cr_code.co_name)
            coroutine = coroutine.cr_await
        start = waiting.index("_public")
        assert waiting[start : start + 3] == ["_public", "handle_upgrade", "_receive_loop"]
        await ws.send(json.dumps({"action": "echo", "data": "still here"}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["data"] == "still here"
