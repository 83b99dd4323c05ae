"""What a ``@connections`` (or fan-out) request addresses, read from its raw path (§7.2, §13.2).

Any prefix before the stage is accepted, ``%40`` stands for ``@``, and ids and group names are
percent-decoded, as botocore quotes them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal
from urllib.parse import unquote

__all__ = ["ManagementPath", "PathKind", "match_management_path"]

_CONNECTIONS: Final = re.compile(
    r"^(?P<prefix>.*?)/(?:@|%40)connections(?:/(?P<id>[^/]*))?/?$", re.I
)
_GROUPS: Final = re.compile(
    r"^(?P<prefix>.*?)/(?:@|%40)groups/(?P<group>[^/]+)(?:/(?P<id>[^/]+))?/?$"
)
_BROADCAST: Final = re.compile(r"^(?P<prefix>.*?)/(?:@|%40)broadcast/?$")

PathKind = Literal["connection", "connections", "group", "member", "broadcast"]


@dataclass(frozen=True, slots=True)
class ManagementPath:
    """What a management request addresses."""

    prefix: str  # everything before /@connections (ends with the stage)
    kind: PathKind
    connection_id: str = ""  # percent-decoded
    group: str = ""

    @property
    def stage(self) -> str:
        """The stage named by the path (its last segment before the ``@``)."""
        return self.prefix.rstrip("/").rsplit("/", 1)[-1]


def match_management_path(raw_path: str) -> ManagementPath | None:
    """What a raw request path addresses, or None when it is not a management path."""
    path = raw_path.split("?", 1)[0]
    match = _CONNECTIONS.match(path)
    if match is not None:
        if match["id"] is None:
            return ManagementPath(match["prefix"], "connections")
        return ManagementPath(match["prefix"], "connection", unquote(match["id"]))
    match = _GROUPS.match(path)
    if match is not None:
        group = unquote(match["group"])
        if match["id"] is None:
            return ManagementPath(match["prefix"], "group", group=group)
        return ManagementPath(match["prefix"], "member", unquote(match["id"]), group)
    match = _BROADCAST.match(path)
    if match is not None:
        return ManagementPath(match["prefix"], "broadcast")
    return None
