"""Identifiers and JSON aliases shared across the package."""

from __future__ import annotations

from typing import Any, NewType, TypeAlias

__all__ = ["ConnectionId", "JSONObject", "JSONValue", "RequestId", "RouteKey", "StageName"]

ConnectionId = NewType("ConnectionId", str)
RequestId = NewType("RequestId", str)
RouteKey = NewType("RouteKey", str)
StageName = NewType("StageName", str)

# JSON crosses the boundary to user code (handlers, templates); Any lives only here.
JSONValue: TypeAlias = Any
JSONObject: TypeAlias = dict[str, Any]
