"""The gateway's engine layer without its steps: the floor of the handshake section.

What the gateway's listeners run, and nothing of what the data plane does around it: the
listener ``server/sites.py`` starts (aiohttp's low-level server, each connection's request
deadline), with the default listener limits, the upgrade answered by the gateway's own
``GatewayWebSocket`` (the 101 in one write, the frame guard, corked writes), and a loop that
echoes and answers a close. No handshake check, connection id, facts, session, registry record,
timers, ``$connect``, ``$disconnect`` or logs. Beside bare aiohttp, it shows what the engine
layer costs; beside the gateway, what its steps cost. Not a server for anything else.

Prints the bound port on the first line of stdout, then serves until killed.

    python bench/servers/wsgate_floor.py [--port 0]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools

import uvloop
from aiohttp import WSMsgType, web

from wsgate.config.security import ListenerProtection
from wsgate.server.listener import RequestDeadline
from wsgate.server.sites import start_site
from wsgate.server.websocket import GatewayWebSocket

# The gateway's default limits (AWS's): 32 KB frames, 128 KB messages.
_FRAME_LIMIT = 32 * 1024
_MESSAGE_LIMIT = 128 * 1024


async def _serve_socket(deadline: RequestDeadline, request: web.BaseRequest) -> web.StreamResponse:
    deadline.arrived(request)
    ws = GatewayWebSocket(
        frame_limit=_FRAME_LIMIT,
        message_limit=_MESSAGE_LIMIT,
        autoping=True,
        compress=False,
        timeout=5.0,
    )
    await ws.prepare(request)
    while True:
        message = await ws.receive()
        if message.type is WSMsgType.TEXT or message.type is WSMsgType.BINARY:
            ws.send_now(message.data)
        elif message.type is WSMsgType.CLOSE:
            await ws.close(code=message.data or 1000, drain=False)
            return ws
        else:
            return ws


async def _serve(host: str, port: int) -> None:
    limits = ListenerProtection()
    deadline = RequestDeadline(limits.handshake_timeout_seconds)
    runner, _, bound = await start_site(
        functools.partial(_serve_socket, deadline),
        host,
        port,
        deadline=deadline,
        limits=limits,
        tls=None,
    )
    print(bound, flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main() -> None:
    """Parse the arguments and serve forever."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(_serve(args.host, args.port))


if __name__ == "__main__":
    main()
