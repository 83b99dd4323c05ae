"""Reading an upgrade request: the connection's facts, the handshake, refusal bodies, groups."""

from __future__ import annotations

import json
import os
import time
from http import HTTPStatus

from aiohttp import web

from wsgate.core import ids
from wsgate.core.events import ConnectionFacts, Handshake
from wsgate.core.responses import is_group_name
from wsgate.server.stage import StageRuntime
from wsgate.server.stamps import new_id

__all__ = ["authorizer_groups", "connection_facts", "read_handshake", "status_body"]


def connection_facts(
    request: web.Request, stage: StageRuntime, wall_ms: int, api_id: str, domain_name: str | None
) -> ConnectionFacts:
    """The facts every event of a new connection carries (a fresh connection id)."""
    return ConnectionFacts(
        connection_id=new_id(),
        connected_at=wall_ms,
        source_ip=request.remote or "127.0.0.1",
        user_agent=request.headers.get("User-Agent"),
        api_id=api_id,
        stage=stage.name,
        domain_name=domain_name or request.host,
        stage_variables=dict(stage.config.stage_variables),
    )


def authorizer_groups(key: str | None, facts: ConnectionFacts) -> set[str]:
    """Groups named by the authorizer's context (``groupsFromAuthorizer``), comma-separated."""
    context = facts.authorizer
    if key is None or context is None or not isinstance(context.get(key), str):
        return set()
    names = {name.strip() for name in str(context[key]).split(",")}
    return {name for name in names if is_group_name(name)}


def read_handshake(request: web.Request) -> Handshake:
    """The upgrade request as integrations and authorizers see it."""
    return Handshake(
        headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.raw_headers],
        query=list(request.query.items()),
        trace_id=ids.format_trace_id(int(time.time()), os.urandom(ids.TRACE_RANDOM_BYTES)),
        forwarded_port=str(_local_port(request)),
        forwarded_proto=request.scheme,
    )


def status_body(status: int) -> bytes:
    """AWS's body for a refused handshake: ``{"message": "Unauthorized"}`` and the like."""
    return json.dumps({"message": HTTPStatus(status).phrase}).encode()


def _local_port(request: web.Request) -> int:
    transport = request.transport
    sockname = transport.get_extra_info("sockname") if transport is not None else None
    if isinstance(sockname, tuple) and len(sockname) >= 2:
        return int(sockname[1])
    return 0
