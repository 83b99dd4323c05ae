"""The ids and times the I/O layer draws for the pure core."""

from __future__ import annotations

import re

from wsgate.core import ids
from wsgate.server.stamps import new_id, new_trace_id, now_ms

_TRACE = re.compile(r"Root=1-[0-9a-f]{8}-[0-9a-f]{24}")


def test_trace_ids_are_fresh_across_batches() -> None:
    drawn = [new_trace_id() for _ in range(3 * 256 + 1)]  # crosses batch boundaries
    assert all(_TRACE.fullmatch(trace) for trace in drawn)
    assert len(set(drawn)) == len(drawn)


def test_ids_are_aws_shaped_and_fresh() -> None:
    drawn = [new_id() for _ in range(600)]
    assert all(ids.is_valid_id(value) for value in drawn)
    assert len(set(drawn)) == len(drawn)
    assert now_ms() > 1_700_000_000_000
