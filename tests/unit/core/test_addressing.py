"""What a management request's raw path addresses."""

from __future__ import annotations

import pytest

from wsgate.core.addressing import ManagementPath, match_management_path


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/dev/@connections/abc%3D", ManagementPath("/dev", "connection", "abc=")),
        ("/dev/%40connections/abc%3D", ManagementPath("/dev", "connection", "abc=")),
        ("/dev/%40Connections/x?y=1", ManagementPath("/dev", "connection", "x")),
        ("/base/prod/@connections/x/", ManagementPath("/base/prod", "connection", "x")),
        ("/dev/@connections/", ManagementPath("/dev", "connection", "")),
        ("/dev/@connections", ManagementPath("/dev", "connections")),
        ("/dev/@connections?limit=5", ManagementPath("/dev", "connections")),
        ("/dev/@groups/room%3A1", ManagementPath("/dev", "group", group="room:1")),
        ("/dev/@groups/room/abc%3D", ManagementPath("/dev", "member", "abc=", "room")),
        ("/dev/%40groups/room/", ManagementPath("/dev", "group", group="room")),
        ("/dev/@broadcast", ManagementPath("/dev", "broadcast")),
        ("/dev/%40broadcast/", ManagementPath("/dev", "broadcast")),
        ("/dev", None),
        ("/dev/connections/x", None),
        ("/dev/@groups", None),
        ("/dev/@broadcast/more", None),
    ],
)
def test_match_management_path(raw, expected):
    assert match_management_path(raw) == expected


@pytest.mark.parametrize(
    ("prefix", "stage"), [("/dev", "dev"), ("/base/prod", "prod"), ("/dev/", "dev"), ("", "")]
)
def test_stage_is_the_last_segment(prefix, stage):
    assert ManagementPath(prefix, "connections").stage == stage
