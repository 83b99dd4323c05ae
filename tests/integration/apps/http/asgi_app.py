"""A Starlette app served in process through ``asgi:`` integration URIs.

``/echo`` answers the request body with its content type and records what it received in
:data:`RECEIVED`, so a test can compare it with what the network backend got for the same
message. ``/json`` answers ``{"sent": 2}`` like the network backend.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


@dataclass(frozen=True)
class Received:
    """One request as the app saw it (ASGI header names are lower case)."""

    method: str
    path: str
    query: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        values = [value for key, value in self.headers if key == name.lower()]
        return values[-1] if values else None


RECEIVED: list[Received] = []


async def _record(request: Request) -> bytes:
    body = await request.body()
    RECEIVED.append(
        Received(
            method=request.method,
            path=request.url.path,
            query=request.url.query,
            headers=tuple(
                (k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw
            ),
            body=body,
        )
    )
    return body


async def echo(request: Request) -> Response:
    body = await _record(request)
    return Response(body, headers={"Content-Type": request.headers.get("content-type", "")})


async def sent(request: Request) -> Response:
    await _record(request)
    return JSONResponse({"sent": 2})


app = Starlette(
    routes=[
        Route("/echo", echo, methods=["GET", "POST", "PUT"]),
        Route("/json", sent, methods=["POST"]),
    ]
)
