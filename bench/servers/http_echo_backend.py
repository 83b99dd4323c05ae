"""A minimal HTTP backend: POST /echo answers with the request's body (aiohttp + uvloop).

A body of WebSocket events (Pushpin's WebSocket-over-HTTP, ``application/websocket-events``)
comes back as it came, with that type: the connection is accepted (``OPEN``) and each message
is echoed. Any other body is answered as JSON.

Prints the bound port on the first line of stdout, then serves until killed.

    python bench/servers/http_echo_backend.py [--port 0]
"""

from __future__ import annotations

import argparse
import asyncio
import socket

import uvloop
from aiohttp import web

_EVENTS = "application/websocket-events"


async def _echo(request: web.Request) -> web.Response:
    kind = _EVENTS if request.content_type == _EVENTS else "application/json"
    return web.Response(body=await request.read(), content_type=kind)


async def _serve(port: int) -> None:
    app = web.Application()
    app.router.add_post("/echo", _echo)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = socket.create_server(("127.0.0.1", port))
    await web.SockSite(runner, sock).start()
    print(sock.getsockname()[1], flush=True)
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    uvloop.run(_serve(parser.parse_args().port))


if __name__ == "__main__":
    main()
