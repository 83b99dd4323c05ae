"""What the Redis registry writes and reads, as plain values: records as hashes, requests as bytes.

A connection record is the hash ``conn:{id}`` and its groups the set ``conn:{id}:groups`` (the
layout is drawn in :mod:`wsgate.registry.redis`); :func:`encode_record` gives the hash's fields
and :func:`decode_record` rebuilds the record from them. Requests and replies between nodes are
packed with :data:`REQUEST` and :data:`REPLY`, in the byte layout drawn in
:mod:`wsgate.registry.redis_bus`. Pure: no Redis client here (only those two import it).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from wsgate.registry.base import ConnectionRecord

__all__ = [
    "FAILED",
    "OK",
    "REPLY",
    "REQUEST",
    "decode_record",
    "encode_record",
    "pairs",
    "to_ms",
]

REQUEST: Final = struct.Struct("!cQQH")
REPLY: Final = struct.Struct("!cQB")
OK: Final = 0
FAILED: Final = 1


def to_ms(seconds: float) -> int:
    """A duration as the whole milliseconds Redis and the requests take (at least 1)."""
    return max(1, round(seconds * 1000))


def pairs(flat: Sequence[Any]) -> dict[Any, Any]:
    """A flat ``[key, value, key, value, ...]`` reply as a dict."""
    return dict(zip(flat[::2], flat[1::2], strict=True))


def encode_record(record: ConnectionRecord) -> dict[str, str | int]:
    """The fields of a record's hash (its groups are kept apart)."""
    fields: dict[str, str | int] = {
        "stage": record.stage,
        "node": record.node_id,
        "connectedAt": record.connected_at_ms,
        "lastActiveAt": record.last_active_at_ms,
        "sourceIp": record.source_ip,
    }
    if record.incarnation:
        fields["incarnation"] = record.incarnation
    if record.user_agent is not None:
        fields["userAgent"] = record.user_agent
    if record.principal is not None:
        fields["principal"] = record.principal
    if record.authorizer is not None:
        fields["authorizer"] = json.dumps(dict(record.authorizer), separators=(",", ":"))
    return fields


def decode_record(
    connection_id: str, fields: Mapping[bytes, bytes], groups: Iterable[bytes]
) -> ConnectionRecord:
    """The record of a hash's fields and the members of its groups set, as Redis returns them."""
    text = {key.decode(): value.decode() for key, value in fields.items()}
    authorizer = text.get("authorizer")
    return ConnectionRecord(
        connection_id=connection_id,
        stage=text["stage"],
        node_id=text["node"],
        connected_at_ms=int(text["connectedAt"]),
        source_ip=text.get("sourceIp", ""),
        user_agent=text.get("userAgent"),
        principal=text.get("principal"),
        authorizer=json.loads(authorizer) if authorizer is not None else None,
        last_active_at_ms=int(text.get("lastActiveAt", "0")),
        groups=frozenset(group.decode() for group in groups),
        incarnation=text.get("incarnation", ""),
    )
