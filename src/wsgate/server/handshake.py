"""Reading an upgrade request: its validity, the connection's facts, the handshake, groups."""

from __future__ import annotations

import binascii
import json
from http import HTTPStatus
from typing import Final

from aiohttp import HttpVersion11, web

from wsgate.core.events import ConnectionFacts, Handshake
from wsgate.core.responses import is_group_name
from wsgate.server.stage import StageRuntime
from wsgate.server.stamps import new_id, new_trace_id
from wsgate.types import new_tuple

__all__ = [
    "authorizer_groups",
    "connection_facts",
    "header_text",
    "read_handshake",
    "refuse_upgrade",
    "status_body",
]

# The only version RFC 6455 defines; drafts 7 and 8 (which aiohttp would take) frame differently.
_VERSION: Final = "13"
_KEY_BYTES: Final = 16
_KEY_CHARS: Final = 24  # base64 of 16 bytes, with its padding
_UPGRADE_HEADERS: Final = {"Upgrade": "websocket", "Connection": "Upgrade"}


def refuse_upgrade(request: web.BaseRequest) -> web.Response | None:
    """The answer to an upgrade request that is no RFC 6455 handshake, or None for a valid one.

    Runs before ``$connect``, so a handshake that can never open costs no integration call.
    It is the only check: the upgrade itself (``GatewayWebSocket.prepare``) relies on it and
    does not repeat aiohttp's own, which are weaker.

    Returns:
        400 for anything but a GET over HTTP/1.1 with ``Upgrade: websocket``, ``Connection:
        upgrade`` and a key that is base64 of 16 bytes (§4.2.1); then 426 with
        ``Sec-WebSocket-Version: 13`` for any other version, or none (§4.4).
    """
    headers = request.headers
    if (
        request.method != "GET"
        or request.version < HttpVersion11
        or headers.get("Upgrade", "").strip().lower() != "websocket"
        or not _has_token(headers.getall("Connection", ()), "upgrade")
        or not _is_key(headers.getall("Sec-WebSocket-Key", ()))
    ):
        return web.json_response({"message": "Bad Request: not a WebSocket handshake"}, status=400)
    if headers.getall("Sec-WebSocket-Version", ()) != [_VERSION]:
        return web.json_response(
            {"message": HTTPStatus.UPGRADE_REQUIRED.phrase},
            status=HTTPStatus.UPGRADE_REQUIRED,
            # RFC 9110 §15.5.22 and §7.8: a 426 names the protocol to upgrade to.
            headers={"Sec-WebSocket-Version": _VERSION, **_UPGRADE_HEADERS},
        )
    return None


def connection_facts(
    request: web.BaseRequest,
    stage: StageRuntime,
    wall_ms: int,
    api_id: str,
    domain_name: str | None,
) -> ConnectionFacts:
    """The facts every event of a new connection carries (a fresh connection id).

    The stage's variables are shared, not copied: nothing changes them, and events copy them.
    The peer's address and the Host header are read where aiohttp keeps them, rather than
    through the request's cached properties, which would grow its cache for each connection.
    """
    headers = request.headers
    fields = (
        new_id(),
        wall_ms,
        _peer_address(request) or "127.0.0.1",
        header_text(headers.get("User-Agent")),
        api_id,
        stage.name,
        domain_name or headers.get("Host") or request.host,
        stage.config.stage_variables,
        None,
        None,
    )
    return new_tuple(ConnectionFacts, fields)  # one per handshake: no __new__ argument handling


def header_text(value: str | None) -> str | None:
    """A header value as valid text: bytes that are not UTF-8, which aiohttp hands over as lone
    surrogates (surrogateescape), become U+FFFD, as JSON and every encoder downstream need."""
    if value is None or value.isascii():
        return value
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def authorizer_groups(key: str | None, facts: ConnectionFacts) -> set[str]:
    """Groups named by the authorizer's context (``groupsFromAuthorizer``), comma-separated."""
    context = facts.authorizer
    if key is None or context is None or not isinstance(context.get(key), str):
        return set()
    names = {name.strip() for name in str(context[key]).split(",")}
    return {name for name in names if is_group_name(name)}


def read_handshake(request: web.BaseRequest) -> Handshake:
    """The upgrade request as integrations and authorizers see it."""
    fields = (
        [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.raw_headers],
        list(request.query.items()) if "?" in request.raw_path else [],
        new_trace_id(),
        str(_local_port(request)),
        "https" if request.protocol.ssl_context is not None else "http",
    )
    return new_tuple(Handshake, fields)  # one per handshake with $connect, as the facts


def status_body(status: int) -> bytes:
    """AWS's body for a refused handshake: ``{"message": "Unauthorized"}`` and the like."""
    return json.dumps({"message": HTTPStatus(status).phrase}).encode()


def _has_token(values: list[str] | tuple[()], token: str) -> bool:
    """True when a comma-separated header (RFC 9110 §5.6.1) lists ``token``, in any case."""
    if len(values) == 1 and values[0].lower() == token:  # what clients send
        return True
    return any(part.strip(" \t").lower() == token for value in values for part in value.split(","))


def _is_key(values: list[str] | tuple[()]) -> bool:
    """True for exactly one ``Sec-WebSocket-Key``, strict base64 of 16 bytes."""
    if len(values) != 1:
        return False
    key = values[0]
    if len(key) != _KEY_CHARS or not key.isascii():
        return False
    try:
        return len(binascii.a2b_base64(key, strict_mode=True)) == _KEY_BYTES
    except binascii.Error:
        return False


def _local_port(request: web.BaseRequest) -> int:
    sockname = request.protocol.sockname  # read once per connection by aiohttp
    if isinstance(sockname, tuple) and len(sockname) >= 2:
        return int(sockname[1])
    return 0


def _peer_address(request: web.BaseRequest) -> str | None:
    """The client's address, as ``request.remote`` gives it."""
    peername = request.protocol.peername  # read once per connection by aiohttp
    if isinstance(peername, (list, tuple)):
        return str(peername[0])
    return None if peername is None else str(peername)
