"""A small web backend behind wsgate's HTTP integrations: the chat, without any function.

It keeps connection ids in SQLite and answers through the @connections API, like a service
behind API Gateway's HTTP integrations would. The same backend serves both configs:
``wsgate-proxy.yaml`` (HTTP_PROXY: the raw message arrives as the body) and
``wsgate-templates.yaml`` (HTTP: a mapping template shapes the body).

    python examples/http-backend/backend.py --port 9000 [--database chat.sqlite3]
"""

from __future__ import annotations

import argparse
import sqlite3
from pathlib import Path
from urllib.parse import quote

from aiohttp import ClientSession, web

_FORGET = "DELETE FROM connections WHERE connection_id = ?"
DATABASE = web.AppKey("database", sqlite3.Connection)
CLIENT = web.AppKey("client", ClientSession)


def _callback_url(request: web.Request, connection_id: str) -> str:
    # The gateway tells the backend where it is through mapped headers (domainName, stage).
    domain = request.headers["X-Domain-Name"]
    stage = request.headers["X-Stage"]
    return f"http://{domain}/{stage}/@connections/{quote(connection_id, safe='')}"


async def on_connect(request: web.Request) -> web.Response:
    connection_id = request.headers["X-Connection-Id"]
    request.app[DATABASE].execute("INSERT OR REPLACE INTO connections VALUES (?)", (connection_id,))
    return web.Response(status=200)


async def on_disconnect(request: web.Request) -> web.Response:
    connection_id = request.headers["X-Connection-Id"]
    request.app[DATABASE].execute(
        "DELETE FROM connections WHERE connection_id = ?", (connection_id,)
    )
    return web.Response(status=200)


async def send_message(request: web.Request) -> web.Response:
    body = await request.json()
    # HTTP_PROXY sends the client's message as is ({"action": ..., "data": ...}); the templated
    # HTTP integration sends {"data": ..., "sender": ...}: both carry "data".
    data = str(body.get("data", ""))
    database = request.app[DATABASE]
    ids = [row[0] for row in database.execute("SELECT connection_id FROM connections")]
    for connection_id in ids:
        url = _callback_url(request, connection_id)
        async with request.app[CLIENT].post(url, data=data.encode()) as reply:
            if reply.status == 410:  # gone: $disconnect is best effort, prune on 410
                database.execute(
                    "DELETE FROM connections WHERE connection_id = ?", (connection_id,)
                )
    return web.json_response({"sent": len(ids)})


async def echo(request: web.Request) -> web.Response:
    return web.Response(body=await request.read(), content_type=request.content_type)


def build_app(database_path: str) -> web.Application:
    """The backend's routes, with a SQLite table of connection ids."""
    app = web.Application()
    database = sqlite3.connect(database_path, isolation_level=None, check_same_thread=False)
    database.execute("CREATE TABLE IF NOT EXISTS connections (connection_id TEXT PRIMARY KEY)")
    app[DATABASE] = database

    async def client_context(app: web.Application):  # type: ignore[no-untyped-def]
        app[CLIENT] = ClientSession()
        yield
        await app[CLIENT].close()
        database.close()

    app.cleanup_ctx.append(client_context)
    app.router.add_post("/connect", on_connect)
    app.router.add_post("/disconnect", on_disconnect)
    app.router.add_post("/sendmessage", send_message)
    app.router.add_post("/echo", echo)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--database", default=str(Path(__file__).with_name("chat.sqlite3")))
    args = parser.parse_args()
    web.run_app(build_app(args.database), host=args.host, port=args.port, print=print)


if __name__ == "__main__":
    main()
