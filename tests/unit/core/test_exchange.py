"""Backend replies: header lookup by name, as HTTP reads them."""

from __future__ import annotations

import pytest

from wsgate.core.exchange import BackendReply


@pytest.mark.parametrize(
    ("name", "value"),
    [("content-type", "text/plain"), ("X-Many", "second"), ("absent", None)],
)
def test_header_is_case_insensitive_and_last_wins(name: str, value: str | None) -> None:
    reply = BackendReply(
        200,
        (("Content-Type", "text/plain"), ("x-many", "first"), ("X-MANY", "second")),
        b"",
    )
    assert reply.header(name) == value
