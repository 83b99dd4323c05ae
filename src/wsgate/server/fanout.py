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
import json
import re
from typing import TYPE_CHECKING, Any, Final

from aiohttp import web

from wsgate.core.addressing import ManagementPath
from wsgate.core.events import format_iso_time
from wsgate.core.ids import is_valid_id
from wsgate.core.responses import is_group_name
from wsgate.errors import ManagementError
from wsgate.registry.base import ConnectionPage, ConnectionQuery, ConnectionRecord, decode_cursor
from wsgate.server.stamps import now_ms

if TYPE_CHECKING:
    from wsgate.server.cluster import Cluster
    from wsgate.server.delivery import DeliveryReport

__all__ = ["MAX_POST_BYTES", "answer", "as_frame", "read_body"]

MAX_POST_BYTES: Final = 128 * 1024  # PostToConnection's Data max (131072 bytes)
_MAX_IDS: Final = 10_000  # connection ids in one multi-send
_MAX_LIST_BODY: Final = _MAX_IDS * 24 + 2 * MAX_POST_BYTES
_MAX_PAGE: Final = 1000


async def answer(
    cluster: Cluster, request: web.BaseRequest, path: ManagementPath, body: bytes | None
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
        raise ManagementError(400, "BadRequestException", f"group names are {_GROUP_NAMES}")
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


async def read_body(request: web.BaseRequest, limit: int = MAX_POST_BYTES) -> bytes:
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
        # UTF-8 only (RFC 8259 §8.1): given bytes, the stdlib would also read UTF-16 and UTF-32.
        request = json.loads(body.decode())
    except (ValueError, RecursionError) as error:  # nesting past the parser's depth too
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
        except ValueError as error:  # binascii.Error, or a character outside ASCII
            raise ManagementError(400, "BadRequestException", "dataBase64 is not base64") from error
    else:
        raise ManagementError(400, "BadRequestException", "give data (text) or dataBase64")
    size = len(data.encode()) if isinstance(data, str) else len(data)
    if size > MAX_POST_BYTES:
        message = f"Message too long. Max size is {MAX_POST_BYTES} bytes"
        raise ManagementError(413, "PayloadTooLargeException", message)
    return ids, data


def _query(request: web.BaseRequest, stage: str, group: str | None) -> ConnectionQuery:
    """The listing a query string asks for; any malformed parameter is a 400 naming it."""
    params = request.query
    named_group = params.get("group")
    if named_group is not None and not is_group_name(named_group):
        raise _bad_parameter("group", f"must be a group name: {_GROUP_NAMES}")
    min_age = _min_age(params.get("minAgeSeconds", "0"))
    cursor = params.get("cursor")
    if cursor is not None:
        _check_cursor(cursor)
    return ConnectionQuery(
        stage=stage,
        group=group or named_group,
        principal=params.get("principal"),
        connected_before_ms=now_ms() - int(min_age * 1000) if min_age > 0 else None,
        limit=_limit(params.get("limit", "100")),
        cursor=cursor,
    )


def _limit(text: str) -> int:
    # ASCII digits only: int() would also take "1_0", " 5" and other scripts' digits.
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= _MAX_PAGE:
        raise _bad_parameter("limit", f"must be a whole number from 1 to {_MAX_PAGE}")
    return int(text)


def _min_age(text: str) -> float:
    # Plain decimals only: float() would also take inf, nan, -1 and 1e400 (inf again).
    seconds = float(text) if _DECIMAL.fullmatch(text) else -1.0
    if not 0 <= seconds <= _MAX_AGE_SECONDS:
        raise _bad_parameter(
            "minAgeSeconds", f"must be a number of seconds from 0 to {_MAX_AGE_SECONDS}"
        )
    return seconds


def _check_cursor(cursor: str) -> None:
    """Refuse what no listing handed out before a registry sees it: the time in a cursor becomes
    a Redis score, which takes only numbers a double holds."""
    try:
        connected_at_ms, _ = decode_cursor(cursor)
    except ValueError:
        connected_at_ms = -1
    if not 0 <= connected_at_ms <= _MAX_CURSOR_MS:
        raise _bad_parameter("cursor", "must be the nextCursor of an earlier page")


def _bad_parameter(name: str, rule: str) -> ManagementError:
    return ManagementError(400, "BadRequestException", f"{name} {rule}")


_DECIMAL: Final = re.compile(r"[0-9]{1,12}(?:\.[0-9]{1,9})?")
_MAX_AGE_SECONDS: Final = 10**9  # about 32 years: a bound that keeps the arithmetic exact
_MAX_CURSOR_MS: Final = 2**53  # the largest time a score (a double) holds exactly
_GROUP_NAMES: Final = "1-128 letters, digits and _ - . : @ /"


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
