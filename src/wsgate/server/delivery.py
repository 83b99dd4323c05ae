"""What a delivery across nodes leaves behind: reports, remembered ids, the wire forms.

A fan-out answers with a :class:`DeliveryReport` (merged from every node's part); a node
remembers the idempotency ids of the posts it delivered (:class:`DeliveredIds`), so that a
retried post is delivered once; forwarded requests carry messages and refusals in JSON.
"""

from __future__ import annotations

import base64
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from wsgate.errors import ConnectionNotFound, ManagementError

__all__ = [
    "DeliveredIds",
    "DeliveryReport",
    "data_of",
    "delivery_key",
    "frame_of",
    "raise_refusal",
    "refusal_reply",
]

# Idempotency ids a node remembers at most (about 100 bytes each); the oldest go first.
_IDEMPOTENCY_LIMIT: Final = 100_000


@dataclass(slots=True)
class DeliveryReport:
    """Which connections a fan-out reached: delivered, gone, or failed (with why)."""

    delivered: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    def merge(self, other: DeliveryReport) -> None:
        """Add another node's part of the report."""
        self.delivered += other.delivered
        self.gone += other.gone
        self.failed.update(other.failed)

    def to_json(self) -> dict[str, Any]:
        """The report as the management API answers it."""
        return {
            "delivered": len(self.delivered),
            "gone": len(self.gone),
            "failed": len(self.failed),
            "deliveredIds": self.delivered,
            "goneIds": self.gone,
            "failedIds": self.failed,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DeliveryReport:
        """A report another node sent."""
        return cls(list(data["deliveredIds"]), list(data["goneIds"]), dict(data["failedIds"]))


class DeliveredIds:
    """The idempotency ids of posts this node delivered lately: a retry is not delivered again.

    Args:
        seconds: how long an id is remembered.
        limit: how many ids at most; past it the oldest are forgotten first.
        clock: monotonic seconds (tests replace it).
    """

    def __init__(
        self,
        seconds: float,
        limit: int = _IDEMPOTENCY_LIMIT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._seconds = seconds
        self._limit = limit
        self._clock = clock
        self._added: OrderedDict[str, float] = OrderedDict()  # oldest first

    def seen(self, key: str) -> bool:
        """Whether a post with this id was delivered within the last ``seconds``."""
        horizon = self._clock() - self._seconds
        while self._added and next(iter(self._added.values())) <= horizon:
            self._added.popitem(last=False)
        return key in self._added

    def add(self, key: str) -> None:
        """Remember a delivered post's id."""
        self._added[key] = self._clock()
        self._added.move_to_end(key)
        while len(self._added) > self._limit:
            self._added.popitem(last=False)


def frame_of(data: str | bytes) -> dict[str, str]:
    """A message as a forwarded request carries it: text as is, bytes in base64."""
    if isinstance(data, str):
        return {"text": data}
    return {"b64": base64.b64encode(data).decode("ascii")}


def data_of(request: dict[str, Any]) -> str | bytes:
    """The message a forwarded request carries (see :func:`frame_of`)."""
    if "text" in request:
        text: str = request["text"]
        return text
    return base64.b64decode(request["b64"])


def delivery_key(stage: str, connection_id: str, idempotency_id: str | None) -> str | None:
    """What :class:`DeliveredIds` remembers of one post; None without an idempotency id."""
    if idempotency_id is None:
        return None
    return f"{stage}/{connection_id}/{idempotency_id}"


def refusal_reply(refused: ManagementError) -> dict[str, Any]:
    """How the node that holds a connection tells the caller it refused a call."""
    return {"status": refused.status, "errorType": refused.error_type, "message": refused.message}


def raise_refusal(reply: dict[str, Any], connection_id: str) -> None:
    """Raise what another node's reply says went wrong, if anything.

    Raises:
        ConnectionNotFound: it does not hold the connection (410).
        ManagementError: it refused the call (e.g. 429 for a client too far behind).
    """
    status = reply.get("status")
    if status == 410:
        raise ConnectionNotFound(connection_id)
    if isinstance(status, int) and status >= 400 and "errorType" in reply:
        raise ManagementError(status, str(reply["errorType"]), reply.get("message"))
