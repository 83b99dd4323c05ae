"""The @connections API through the unmodified boto3 client and raw HTTP."""

from __future__ import annotations

import asyncio
import datetime
import json
from urllib.parse import quote

import aiohttp
import pytest
from botocore.exceptions import ClientError
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from tests.helpers import (
    RunningGateway,
    SignedHttp,
    admin_headers,
    eventually,
    management_client,
    signed_headers,
    ws_client as client,
)


async def open_connection(
    basic: RunningGateway, stage: str = "dev"
) -> tuple[ClientConnection, str]:
    before = set(basic.gateway.dataplane.live)
    ws = await client(basic.ws_url(stage), user_agent_header="mgmt-test/1")
    new = await eventually(lambda: set(basic.gateway.dataplane.live) - before)
    return ws, next(iter(new))


async def test_post_get_delete_with_boto3(basic: RunningGateway) -> None:
    ws, connection_id = await open_connection(basic)
    api = management_client(basic.endpoint())
    await asyncio.to_thread(api.post_to_connection, ConnectionId=connection_id, Data=b"hello")
    assert await asyncio.wait_for(ws.recv(), 10) == "hello"
    await asyncio.to_thread(api.post_to_connection, ConnectionId=connection_id, Data=b"\xff\x00")
    assert await asyncio.wait_for(ws.recv(), 10) == b"\xff\x00"

    info = await asyncio.to_thread(api.get_connection, ConnectionId=connection_id)
    assert isinstance(info["ConnectedAt"], datetime.datetime)
    assert isinstance(info["LastActiveAt"], datetime.datetime)
    assert info["LastActiveAt"] >= info["ConnectedAt"]
    assert info["Identity"] == {"SourceIp": "127.0.0.1", "UserAgent": "mgmt-test/1"}
    assert info["ResponseMetadata"]["RequestId"]

    result = await asyncio.to_thread(api.delete_connection, ConnectionId=connection_id)
    assert result["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ConnectionClosed) as caught:
        await asyncio.wait_for(ws.recv(), 10)
    assert caught.value.rcvd is not None and caught.value.rcvd.code == 1000
    event = (await eventually(lambda: basic.events_for(connection_id, "DISCONNECT")))[0]
    assert event["requestContext"]["disconnectStatusCode"] == 1000
    assert event["requestContext"]["disconnectReason"] == "Connection Closed Normally"

    for call in (api.post_to_connection, api.get_connection, api.delete_connection):
        kwargs: dict[str, object] = {"ConnectionId": connection_id}
        if call == api.post_to_connection:
            kwargs["Data"] = b"late"
        with pytest.raises(api.exceptions.GoneException):
            await asyncio.to_thread(call, **kwargs)


async def test_unknown_id_is_gone(basic: RunningGateway) -> None:
    api = management_client(basic.endpoint())
    with pytest.raises(api.exceptions.GoneException):
        await asyncio.to_thread(api.post_to_connection, ConnectionId="AAAAAAAAAAAAAAA=", Data=b"x")


async def test_payload_too_large(basic: RunningGateway) -> None:
    ws, connection_id = await open_connection(basic)
    api = management_client(basic.endpoint())
    with pytest.raises(api.exceptions.PayloadTooLargeException):
        await asyncio.to_thread(
            api.post_to_connection, ConnectionId=connection_id, Data=b"x" * (128 * 1024 + 1)
        )
    # Exactly 128 KB is allowed.
    await asyncio.to_thread(api.post_to_connection, ConnectionId=connection_id, Data=b"y" * 131072)
    assert len(await asyncio.wait_for(ws.recv(), 10)) == 131072
    await ws.close()


async def test_post_during_connect_is_gone(basic: RunningGateway) -> None:
    async with client(basic.ws_url(query="mode=post-self")):
        pass
    outcome = basic.events_file.with_name(basic.events_file.name + ".post")
    assert (await eventually(lambda: outcome.exists() and outcome.read_text())) == "GoneException"


async def test_wrong_stage_is_forbidden(basic: RunningGateway) -> None:
    _, connection_id = await open_connection(basic)
    api = management_client(f"http://127.0.0.1:{basic.port}/nostage")
    with pytest.raises(api.exceptions.ForbiddenException):
        await asyncio.to_thread(api.get_connection, ConnectionId=connection_id)
    # The right id on another stage of the same API is not there.
    other = management_client(basic.endpoint("strict"))
    with pytest.raises(other.exceptions.GoneException):
        await asyncio.to_thread(other.get_connection, ConnectionId=connection_id)


async def test_malformed_id_is_bad_request(basic: RunningGateway) -> None:
    api = management_client(basic.endpoint())
    with pytest.raises(ClientError) as caught:
        await asyncio.to_thread(api.get_connection, ConnectionId="not-an-id")
    assert caught.value.response["Error"]["Code"] == "BadRequestException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


async def test_raw_http_paths_and_methods(basic: RunningGateway) -> None:
    ws, connection_id = await open_connection(basic)
    encoded = quote(connection_id, safe="-._~")
    base = f"http://127.0.0.1:{basic.port}"
    async with aiohttp.ClientSession() as session:
        http = SignedHttp(session)
        # %40connections and a path prefix before the stage both work.
        async with http.post(f"{base}/prefix/dev/%40connections/{encoded}", data=b"raw") as reply:
            assert reply.status == 200
        assert await asyncio.wait_for(ws.recv(), 10) == "raw"
        async with http.put(f"{base}/dev/@connections/{encoded}", data=b"x") as reply:
            assert reply.status == 403
            assert reply.headers["x-amzn-ErrorType"] == "ForbiddenException"
            assert "PUT" in (await reply.json())["message"]
        async with http.get(f"{base}/dev/@connections/AAAAAAAAAAAAAAA%3D") as reply:
            assert reply.status == 410
            assert reply.headers["x-amzn-ErrorType"] == "GoneException"
            assert reply.headers["x-amzn-RequestId"]
        async with http.get(f"{base}/dev/@connections/{encoded}") as reply:
            body = await reply.json()
            assert set(body) == {"connectedAt", "identity", "lastActiveAt"}
            assert body["connectedAt"].endswith("Z")
        async with http.get(f"{base}/dev") as reply:  # not an upgrade
            assert reply.status == 400
    await ws.close()


async def test_slow_reader_is_closed_while_others_flow(basic: RunningGateway) -> None:
    slow, slow_id = await open_connection(basic, "tight")
    fast, fast_id = await open_connection(basic, "tight")
    # Stop reading on the slow client: pause its transport so the kernel buffers fill up.
    slow.transport.pause_reading()
    api = management_client(basic.endpoint("tight"))
    chunk = b"z" * 60000
    outcomes = []
    for _ in range(200):
        try:
            await asyncio.to_thread(api.post_to_connection, ConnectionId=slow_id, Data=chunk)
            outcomes.append("ok")
        except api.exceptions.LimitExceededException:
            # The gateway holds twice sendBufferBytes for it at most; the poster is told.
            outcomes.append("full")
            break
        # Other connections keep flowing meanwhile.
        await asyncio.to_thread(api.post_to_connection, ConnectionId=fast_id, Data=b"ping")
        assert await asyncio.wait_for(fast.recv(), 10) == "ping"
    assert outcomes[-1] == "full"
    # Reading nothing for slowReaderSeconds (1 s here) drops it as a slow reader.
    event = (await eventually(lambda: basic.events_for(slow_id, "DISCONNECT")))[0]
    assert event["requestContext"]["disconnectStatusCode"] == 1008
    with pytest.raises(api.exceptions.GoneException):
        await asyncio.to_thread(api.post_to_connection, ConnectionId=slow_id, Data=b"x")
    await fast.close()
    slow.transport.abort()


async def test_get_reports_last_activity(basic: RunningGateway) -> None:
    ws, connection_id = await open_connection(basic)
    api = management_client(basic.endpoint())
    first = await asyncio.to_thread(api.get_connection, ConnectionId=connection_id)
    await asyncio.sleep(0.05)
    await ws.send(json.dumps({"action": "echo"}))
    await asyncio.wait_for(ws.recv(), 10)
    second = await asyncio.to_thread(api.get_connection, ConnectionId=connection_id)
    assert second["LastActiveAt"] > first["LastActiveAt"]
    assert second["ConnectedAt"] == first["ConnectedAt"]
    await ws.close()


async def test_admin_listener_alone(tmp_path, monkeypatch) -> None:
    from tests.conftest import APPS
    from wsgate.config.load import load_config
    from wsgate.server.app import Gateway

    monkeypatch.setenv("EVENTS_FILE", str(tmp_path / "events.jsonl"))
    config = load_config(APPS / "basic" / "wsgate.yaml")
    server = config.server.model_copy(update={"admin_port": 0, "management_on_public": False})
    gateway = Gateway(config.model_copy(update={"server": server}))
    await gateway.start(port=0)
    try:
        admin = next(x.port for x in gateway.listeners if x.role == "admin")
        assert admin != gateway.port
        async with client(f"ws://127.0.0.1:{gateway.port}/dev") as ws:
            connection_id = await eventually(lambda: next(iter(gateway.dataplane.live), None))
            public = management_client(f"http://127.0.0.1:{gateway.port}/dev")
            with pytest.raises(public.exceptions.ForbiddenException):
                await asyncio.to_thread(public.get_connection, ConnectionId=connection_id)
            private = management_client(f"http://127.0.0.1:{admin}/dev")
            await asyncio.to_thread(
                private.post_to_connection, ConnectionId=connection_id, Data=b"a"
            )
            assert await asyncio.wait_for(ws.recv(), 10) == "a"
            async with aiohttp.ClientSession(headers=admin_headers()) as http:
                async with http.get(f"http://127.0.0.1:{admin}/dev") as reply:
                    assert reply.status == 404  # the admin listener serves no WebSocket
        urls = gateway.urls()
        assert urls["management:dev:admin"] == f"http://127.0.0.1:{admin}/dev"
        assert "management:dev:public" not in urls
    finally:
        await gateway.stop(timeout=5)


async def test_a_client_that_reads_is_never_a_slow_reader(basic: RunningGateway) -> None:
    # Once one reply larger than sendBufferBytes, or a quick burst, dropped a client that was
    # reading with 1008. The "tight" stage holds 64 KB and messages of up to 4 KB.
    ws, connection_id = await open_connection(basic, "tight")
    api = management_client(basic.endpoint("tight"))
    big = b"b" * 100_000  # over sendBufferBytes in one frame
    await asyncio.to_thread(api.post_to_connection, ConnectionId=connection_id, Data=big)
    burst = [f"{n:06d}".encode() * 2000 for n in range(10)]  # 120 KB at once
    for data in burst:
        await asyncio.to_thread(api.post_to_connection, ConnectionId=connection_id, Data=data)
    received = [await asyncio.wait_for(ws.recv(), 10) for _ in range(11)]
    assert received == [big.decode()] + [data.decode() for data in burst]
    await asyncio.sleep(1.5)  # past slowReaderSeconds and its first check: still open
    assert connection_id in basic.gateway.dataplane.live
    await ws.close()


async def test_expect_100_continue_is_answered_before_the_body(basic: RunningGateway) -> None:
    """curl sends ``Expect: 100-continue`` for bodies past 1 KiB and waits for the interim
    answer before sending the body; any other expectation is refused with 417."""
    ws, connection_id = await open_connection(basic)
    path = f"/dev/@connections/{quote(connection_id, safe='-._~')}"
    body = b"y" * 2048
    signed = signed_headers("POST", f"http://127.0.0.1:{basic.port}{path}", body)
    head = "".join(f"{name}: {value}\r\n" for name, value in signed.items())

    async def send_head(expect: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection("127.0.0.1", basic.port)
        writer.write(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{basic.port}\r\n{head}"
            f"Content-Length: {len(body)}\r\nExpect: {expect}\r\n\r\n".encode()
        )
        await writer.drain()
        return reader, writer

    reader, writer = await send_head("100-continue")
    interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    writer.write(body)
    status = await asyncio.wait_for(reader.readline(), 5)
    assert status.startswith(b"HTTP/1.1 200")
    assert await asyncio.wait_for(ws.recv(), 10) == body.decode()
    writer.close()

    reader, writer = await send_head("something-else")
    status = await asyncio.wait_for(reader.readline(), 5)
    assert status.startswith(b"HTTP/1.1 417")
    writer.close()
    await ws.close()
