"""Echo server on the ``websockets`` library's asyncio server and the default event loop.

This is the baseline wsgate's throughput target is expressed against. Prints the bound port
on the first line of stdout, then serves until killed.

    python bench/servers/websockets_echo.py [--port 0]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from websockets.asyncio.server import ServerConnection, serve


async def _echo(connection: ServerConnection) -> None:
    async for message in connection:
        await connection.send(message)


async def _serve(host: str, port: int) -> None:
    async with serve(_echo, host, port) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await server.serve_forever()


def main() -> None:
    """Parse the arguments and serve forever."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.host, args.port))


if __name__ == "__main__":
    main()
