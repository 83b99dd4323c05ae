"""What crosses the boundary to an HTTP (or ASGI) backend: one request out, one reply back.

The pure core builds :class:`BackendRequest` from a route's integration settings (templates,
request parameters, content handling) and interprets :class:`BackendReply`; the I/O layer only
carries them (``integrations/transport.py`` over the network, ``integrations/asgi.py`` in process).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BackendReply", "BackendRequest"]


@dataclass(frozen=True, slots=True)
class BackendRequest:
    """One HTTP request to a backend.

    ``url`` is absolute and already carries the query string; ``headers`` keep their order and
    casing and may repeat a name.
    """

    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    body: bytes


@dataclass(frozen=True, slots=True)
class BackendReply:
    """The backend's answer, read in full (bounded by the transport)."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        """The last value of a header, matched case-insensitively."""
        wanted = name.lower()
        found = None
        for key, value in self.headers:
            if key.lower() == wanted:
                found = value
        return found
