"""The JSONPath subset used by selection expressions."""

from __future__ import annotations

import pytest

from wsgate.core.jsonpath import (
    MAX_SELECTED_TEXT,
    MISSING,
    compile_path,
    evaluate_path,
    stringify,
)


@pytest.mark.parametrize(
    ("path", "segments"),
    [
        ("", ()),
        ("$", ()),
        ("a", ("a",)),
        ("$a", ("a",)),
        ("$.a", ("a",)),
        (".a.b", ("a", "b")),
        ("a.b.c", ("a", "b", "c")),
        ("  a.b  ", ("a", "b")),
        ("a[0]", ("a", 0)),
        ("a[-1]", ("a", -1)),
        ("a[ 2 ]", ("a", 2)),
        ("[3]", (3,)),
        ("$[0].x", (0, "x")),
        ("a['c d']", ("a", "c d")),
        ('a["c.d"]', ("a", "c.d")),
        ("a[ 'x' ]", ("a", "x")),
        ("['']", ("",)),
        ("a.b-c.d_e", ("a", "b-c", "d_e")),
        ("a.0", ("a", "0")),
        ("data.room", ("data", "room")),
    ],
)
def test_compile_path(path, segments):
    assert compile_path(path) == segments


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        (".*", "wildcards"),
        ("a.*", "wildcards"),
        ("a['*']", "wildcards"),
        ("a['..']", "wildcards"),
        ("a.?x", "wildcards"),
        ("..a", "unsupported JSONPath syntax"),
        ("a..b", "unsupported JSONPath syntax"),
        ("a[", "unsupported JSONPath syntax"),
        ("a[*]", "unsupported JSONPath syntax"),
        ("a[0:2]", "unsupported JSONPath syntax"),
        ("a[?(@.x)]", "unsupported JSONPath syntax"),
        ("a[x]", "unsupported JSONPath syntax"),
        ("a.", "unsupported JSONPath syntax"),
    ],
)
def test_compile_path_rejects_unsupported_syntax(path, fragment):
    with pytest.raises(ValueError, match=fragment):
        compile_path(path)


_DOCUMENT = {
    "action": "join",
    "data": {"room": "room1234", "tags": ["a", "b", "c"], "none": None},
    "list": [{"x": 1}, {"x": 2}],
    "c d": 5,
}


@pytest.mark.parametrize(
    ("segments", "value"),
    [
        ((), _DOCUMENT),
        (("action",), "join"),
        (("data", "room"), "room1234"),
        (("data", "tags"), ["a", "b", "c"]),
        (("data", "tags", 0), "a"),
        (("data", "tags", 2), "c"),
        (("data", "tags", -1), "c"),
        (("data", "tags", -3), "a"),
        (("data", "none"), None),
        (("list", 1, "x"), 2),
        (("c d",), 5),
        # Every way a step can fail to exist.
        (("missing",), MISSING),
        (("data", "missing"), MISSING),
        (("action", "x"), MISSING),
        (("data", "tags", 3), MISSING),
        (("data", "tags", -4), MISSING),
        (("data", 0), MISSING),
        (("data", "tags", "0"), MISSING),
        (("data", "none", "x"), MISSING),
    ],
)
def test_evaluate_path(segments, value):
    assert evaluate_path(_DOCUMENT, segments) == value


@pytest.mark.parametrize(
    ("document", "segments"),
    [
        ("text", ("a",)),
        (5, (0,)),
        (None, ("a",)),
        ([], (0,)),
    ],
)
def test_evaluate_path_on_non_containers_is_missing(document, segments):
    assert evaluate_path(document, segments) is MISSING


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (MISSING, ""),
        (None, ""),
        ("", ""),
        ("join", "join"),
        ("é", "é"),
        (True, "true"),
        (False, "false"),
        (0, "0"),
        (1, "1"),
        (-3, "-3"),
        (1.5, "1.5"),
        (12345678901234567890, "12345678901234567890"),
        ([], "[]"),
        (["item1", "item2"], "[item1, item2]"),
        ([1, True, None, "a"], "[1, true, , a]"),
        ([[1, 2], [3]], "[[1, 2], [3]]"),
        ({}, "{}"),
        ({"a": 1, "b": [1, 2]}, '{"a":1,"b":[1,2]}'),
        ({"é": "ü"}, '{"é":"ü"}'),
        ({"a": {"b": [None, "x", 1.5, False]}}, '{"a":{"b":[null,"x",1.5,false]}}'),
        ([{"a": [None, "x"]}, [None, "y"]], '[{"a":[null,"x"]}, [, y]]'),
    ],
)
def test_stringify(value, text):
    assert stringify(value) == text


def _nested(depth):
    value: list[object] = []
    for _ in range(depth - 1):
        value = [value]
    return value


@pytest.mark.parametrize("depth", [1, 500, 1024, 5000])
def test_stringify_any_nesting_without_recursion(depth):
    text = stringify(_nested(depth))
    expected = "[" * depth + "]" * depth
    if len(expected) <= MAX_SELECTED_TEXT:
        assert text == expected
    else:  # cut: no route key is that long, so the cut changes no match
        assert text == expected[:MAX_SELECTED_TEXT] + "\N{HORIZONTAL ELLIPSIS}"


def test_stringify_cuts_long_values():
    assert stringify(["x" * MAX_SELECTED_TEXT]) == "[" + "x" * (MAX_SELECTED_TEXT - 1) + "…"
    assert stringify({"k": "v" * 10_000}).endswith("…")
    assert len(stringify(list(range(100_000)))) == MAX_SELECTED_TEXT + 1


def test_missing_repr():
    assert repr(MISSING) == "MISSING"
