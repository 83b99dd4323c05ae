"""Beyond AWS, in the ``@connections`` style: groups, fan-out with delivery reports, listings.

- ``PUT|DELETE /{stage}/@groups/{group}/{connectionId}``: join or leave a group (204).
- ``POST /{stage}/@groups/{group}``: send the body to every member.
- ``POST /{stage}/@broadcast``: send the body to every connection on the stage.
- ``POST /{stage}/@connections`` with ``{"connectionIds": [...], "data": "text"}`` (or
  ``"dataBase64"``): send one message to a list of connections.
- ``GET /{stage}/@connections?group=&principal=&minAgeSeconds=&limit=&cursor=`` and
  ``GET /{stage}/@groups/{group}``: page through the connections, oldest first.

Sends answer 200 with a delivery report: how many were delivered, gone (closed or unknown) and
failed (their node did not answer), and their ids.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import TYPE_CHECKING, Any, Final

from aiohttp import web

from wsgate.core.addressing import ManagementPath
from wsgate.core.events import format_iso_time
from wsgate.core.ids import is_valid_id
from wsgate.core.responses import is_group_name
from wsgate.errors import ManagementError
from wsgate.registry.base import ConnectionPage, ConnectionQuery, ConnectionRecord
from wsgate.server.stamps import now_ms

if TYPE_CHECKING:
    from wsgate.server.cluster import Cluster, DeliveryReport

__all__ = ["MAX_POST_BYTES", "answer", "as_frame", "read_body"]

MAX_POST_BYTES: Final = 128 * 1024  # PostToConnection's Data max (131072 bytes)
_MAX_IDS: Final = 10_000  # connection ids in one multi-send
_MAX_LIST_BODY: Final = _MAX_IDS * 24 + 2 * MAX_POST_BYTES
_MAX_PAGE: Final = 1000


async def answer(
    cluster: Cluster, request: web.Request, path: ManagementPath, body: bytes | None
) -> web.Response:
    """Answer one fan-out, group or listing request (the stage is known to exist)."""
    method, kind, stage = request.method, path.kind, path.stage
    if kind == "connections" and method == "GET":
        return _page(await cluster.listing(_query(request, stage, None)))
    if kind == "connections" and method == "POST":
        ids, data = _targets(body if body is not None else await read_body(request, _MAX_LIST_BODY))
        return _report(await cluster.send(stage, ids, data))
    if kind == "broadcast" and method == "POST":
        data = as_frame(body if body is not None else await read_body(request))
        return _report(await cluster.broadcast(stage, data))
    group = path.group
    if kind in ("group", "member") and not is_group_name(group):
        message = "group names are 1-128 letters, digits and _ - . : @ /"
        raise ManagementError(400, "BadRequestException", message)
    if kind == "group" and method == "POST":
        data = as_frame(body if body is not None else await read_body(request))
        return _report(await cluster.send_group(stage, group, data))
    if kind == "group" and method == "GET":
        return _page(await cluster.listing(_query(request, stage, group)))
    if kind == "member" and method in ("PUT", "DELETE"):
        if not is_valid_id(path.connection_id):
            raise ManagementError(400, "BadRequestException", "Invalid connectionId")
        if method == "PUT":
            await cluster.join(stage, group, path.connection_id)
        else:
            await cluster.leave(stage, group, path.connection_id)
        return web.Response(status=204)
    raise ManagementError(403, "ForbiddenException", f"{method} is not supported here")


async def read_body(request: web.Request, limit: int = MAX_POST_BYTES) -> bytes:
    """Read at most ``limit`` bytes; larger bodies get 413 before they are buffered."""
    too_large = ManagementError(
        413, "PayloadTooLargeException", f"Message too long. Max size is {limit} bytes"
    )
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    chunks = bytearray()
    while True:
        chunk = await request.content.read(limit + 1 - len(chunks))
        if not chunk:
            return bytes(chunks)
        chunks.extend(chunk)
        if len(chunks) > limit:
            raise too_large


def as_frame(data: bytes) -> str | bytes:
    """Valid UTF-8 goes out as a text frame, anything else as binary."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data


def _targets(body: bytes) -> tuple[list[str], str | bytes]:
    """The ids and message of a multi-send body."""
    try:
        request = json.loads(body)
    except ValueError as error:
        raise ManagementError(
            400, "BadRequestException", f"the body is not JSON: {error}"
        ) from error
    ids = request.get("connectionIds") if isinstance(request, dict) else None
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise ManagementError(400, "BadRequestException", "connectionIds must be a list of ids")
    if len(ids) > _MAX_IDS:
        raise ManagementError(400, "BadRequestException", f"at most {_MAX_IDS} connectionIds")
    if isinstance(request.get("data"), str):
        data: str | bytes = request["data"]
    elif isinstance(request.get("dataBase64"), str):
        try:
            data = base64.b64decode(request["dataBase64"], validate=True)
        except binascii.Error as error:
            raise ManagementError(400, "BadRequestException", "dataBase64 is not base64") from error
    else:
        raise ManagementError(400, "BadRequestException", "give data (text) or dataBase64")
    size = len(data.encode()) if isinstance(data, str) else len(data)
    if size > MAX_POST_BYTES:
        message = f"Message too long. Max size is {MAX_POST_BYTES} bytes"
        raise ManagementError(413, "PayloadTooLargeException", message)
    return ids, data


def _query(request: web.Request, stage: str, group: str | None) -> ConnectionQuery:
    params = request.query
    try:
        limit = min(int(params.get("limit", "100")), _MAX_PAGE)
        min_age = float(params.get("minAgeSeconds", "0"))
    except ValueError as error:
        raise ManagementError(
            400, "BadRequestException", "limit and minAgeSeconds are numbers"
        ) from error
    if limit < 1:
        raise ManagementError(400, "BadRequestException", "limit must be at least 1")
    return ConnectionQuery(
        stage=stage,
        group=group or params.get("group"),
        principal=params.get("principal"),
        connected_before_ms=now_ms() - int(min_age * 1000) if min_age > 0 else None,
        limit=limit,
        cursor=params.get("cursor"),
    )


def _page(page: ConnectionPage) -> web.Response:
    items = [_describe(record) for record in page.records]
    return web.json_response({"items": items, "nextCursor": page.next_cursor})


def _describe(record: ConnectionRecord) -> dict[str, Any]:
    return {
        "connectionId": record.connection_id,
        "connectedAt": format_iso_time(record.connected_at_ms),
        "lastActiveAt": format_iso_time(record.last_active_at_ms or record.connected_at_ms),
        "identity": {"sourceIp": record.source_ip, "userAgent": record.user_agent},
        "principal": record.principal,
        "groups": sorted(record.groups),
        "node": record.node_id,
    }


def _report(report: DeliveryReport) -> web.Response:
    return web.json_response(report.to_json())
