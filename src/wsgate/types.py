"""Identifiers and JSON aliases shared across the package."""

from __future__ import annotations

from typing import Any, Final, NewType, TypeAlias

__all__ = [
    "ConnectionId",
    "JSONObject",
    "JSONValue",
    "RequestId",
    "RouteKey",
    "StageName",
    "new_tuple",
]

ConnectionId = NewType("ConnectionId", str)
RequestId = NewType("RequestId", str)
RouteKey = NewType("RouteKey", str)
StageName = NewType("StageName", str)

# JSON crosses the boundary to user code (handlers, templates); Any lives only here.
JSONValue: TypeAlias = Any
JSONObject: TypeAlias = dict[str, Any]

# ``new_tuple(SomeNamedTuple, (every field, in order))`` builds a named tuple without its
# ``__new__``, whose argument handling runs in Python and costs 200-400 ns. Used where one is
# made per message or per handshake; tests/unit/test_fast_tuples.py checks each such builder
# against the class's own constructor, so a field added to the class cannot be missed.
new_tuple: Final = tuple.__new__
