"""The suite's own rule: in CI a missing system tool fails the test instead of skipping it."""

from __future__ import annotations

import pytest

from tests.helpers import missing_tool


def test_a_missing_tool_skips_outside_ci(monkeypatch):
    monkeypatch.delenv("WSGATE_REQUIRE_TOOLS", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no haproxy"):
        missing_tool("no haproxy")


def test_a_missing_tool_fails_where_tools_are_required(monkeypatch):
    monkeypatch.setenv("WSGATE_REQUIRE_TOOLS", "1")
    with pytest.raises(pytest.fail.Exception, match="no haproxy"):
        missing_tool("no haproxy")
