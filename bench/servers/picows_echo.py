"""Echo server on picows (any path) and uvloop.

picows uses aiofastnet's transports when that package is installed; ``--no-aiofastnet``
forces the event loop's own transports. Prints the bound port on the first line of stdout,
then serves until killed.

    python bench/servers/picows_echo.py [--port 0] [--no-aiofastnet]
"""

from __future__ import annotations

import argparse
import contextlib

import uvloop
from picows import WSFrame, WSListener, WSMsgType, WSTransport, WSUpgradeRequest, ws_create_server


class _Echo(WSListener):
    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        kind = frame.msg_type
        if kind is WSMsgType.TEXT or kind is WSMsgType.BINARY:
            transport.send(kind, frame.get_payload_as_memoryview())
        elif kind is WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()


def _listener(request: WSUpgradeRequest) -> _Echo:
    return _Echo()


async def _serve(host: str, port: int, use_aiofastnet: bool | None) -> None:
    server = await ws_create_server(_listener, host, port, use_aiofastnet=use_aiofastnet)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    """Parse the arguments and serve forever."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--no-aiofastnet", dest="aiofastnet", action="store_const", const=False, default=None
    )
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(_serve(args.host, args.port, args.aiofastnet))


if __name__ == "__main__":
    main()
