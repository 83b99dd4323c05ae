"""Request parameters (§3.7) and integration response selection (§5.1)."""

from __future__ import annotations

import re
from types import MappingProxyType

import pytest

from wsgate.core.mapping import (
    CompiledParameters,
    MappedParameters,
    MappingError,
    ParameterMapping,
    ParameterSource,
    Problem,
    apply_request_parameters,
    compile_integration_response_keys,
    compile_request_parameters,
)

_HEADER = "integration.request.header.X-Out"

# A $connect-like request with every kind of source filled in.
_SOURCE = ParameterSource(
    headers=(
        ("Host", "example.com"),
        ("X-Multi", "a"),
        ("x-multi", "b"),
        ("X-MULTI", "c"),
        ("X-Empty", ""),
        ("Sec-WebSocket-Version", "13"),
    ),
    query=(("room", "1"), ("room", "2"), ("Token", "t"), ("empty", "")),
    body=(
        '{"action":"join","data":{"room":"r1","n":7,"f":1.5,"ok":true,"no":false,"nil":null,'
        '"list":[1,"x",true],"obj":{"a":1,"b":"c"}},"items":[{"id":"i0"},{"id":"i1"}],'
        '"weird key":"w","big":123456789012345678901234567890}'
    ),
    context={
        "connectionId": "abc=",
        "requestTimeEpoch": 1700000000000,
        "identity": {"sourceIp": "1.2.3.4", "apiKey": None},
        "authorizer": {"principalId": "me", "count": 1, "admin": True, "nested": {"k": "v"}},
        "error": MappingProxyType({"messageString": '"Forbidden"'}),
        "list": [1, 2],
    },
    stage_variables={"backend": "api.internal", "empty": ""},
)


def _resolve(expression: str, source: ParameterSource = _SOURCE) -> str | None:
    mapped = apply_request_parameters(compile_request_parameters({_HEADER: expression}), source)
    assert mapped.querystring == ()
    assert mapped.path == {}
    return dict(mapped.headers).get("X-Out")


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        # Static values.
        ("'application/json'", "application/json"),
        ("''", ""),
        ("'it''s'", "it''s"),
        ("'0'", "0"),
        # Handshake headers: case-insensitive names, last value, or all joined with ",".
        ("route.request.header.host", "example.com"),
        ("route.request.header.HOST", "example.com"),
        ("route.request.header.x-multi", "c"),
        ("route.request.multivalueheader.X-Multi", "a,b,c"),
        ("route.request.multivalueheader.Host", "example.com"),
        ("route.request.header.X-Empty", ""),
        ("route.request.multivalueheader.x-empty", ""),
        ("route.request.header.Sec-WebSocket-Version", "13"),
        ("route.request.header.Missing", None),
        ("route.request.multivalueheader.Missing", None),
        # Handshake query: names match exactly, as in a URL.
        ("route.request.querystring.room", "2"),
        ("route.request.multivaluequerystring.room", "1,2"),
        ("route.request.querystring.Token", "t"),
        ("route.request.querystring.token", None),
        ("route.request.multivaluequerystring.token", None),
        ("route.request.querystring.empty", ""),
        ("route.request.querystring.missing", None),
        # Body JSONPaths, stringified like selection expressions.
        ("route.request.body.action", "join"),
        ("route.request.body.data.room", "r1"),
        ("route.request.body.$.action", "join"),
        ("route.request.body['weird key']", "w"),
        ("route.request.body.items[1].id", "i1"),
        ("route.request.body.items[-1].id", "i1"),
        ("route.request.body.items[2].id", None),
        ("route.request.body.data.n", "7"),
        ("route.request.body.data.f", "1.5"),
        ("route.request.body.data.ok", "true"),
        ("route.request.body.data.no", "false"),
        ("route.request.body.data.list", "[1, x, true]"),
        ("route.request.body.data.obj", '{"a":1,"b":"c"}'),
        ("route.request.body.big", "123456789012345678901234567890"),
        ("route.request.body.data.nil", None),
        ("route.request.body.data.missing", None),
        ("route.request.body.action.deeper", None),
        # The whole body, as sent.
        ("route.request.body", _SOURCE.body),
        ("route.request.body.$", _SOURCE.body),
        # Context variables, nested by dots.
        ("context.connectionId", "abc="),
        ("context.requestTimeEpoch", "1700000000000"),
        ("context.identity.sourceIp", "1.2.3.4"),
        ("context.authorizer.principalId", "me"),
        ("context.authorizer.count", "1"),
        ("context.authorizer.admin", "true"),
        ("context.error.messageString", '"Forbidden"'),
        ("context.identity.apiKey", None),  # null
        ("context.identity", None),  # a group, not a variable
        ("context.authorizer.nested", None),
        ("context.list", None),
        ("context.unknown", None),
        ("context.identity.unknown", None),
        ("context.connectionId.deeper", None),
        # Stage variables.
        ("stageVariables.backend", "api.internal"),
        ("stageVariables.empty", ""),
        ("stageVariables.missing", None),
    ],
)
def test_sources(expression, value):
    assert _resolve(expression) == value


@pytest.mark.parametrize(
    "expression",
    [
        "route.request.header.Host",
        "route.request.multivalueheader.Host",
        "route.request.querystring.room",
        "route.request.multivaluequerystring.room",
        "route.request.body",
        "route.request.body.action",
        "context.connectionId",
        "stageVariables.backend",
    ],
)
def test_absent_sources_send_nothing(expression):
    assert _resolve(expression, ParameterSource()) is None


@pytest.mark.parametrize(
    "body",
    [None, "", "not json", "{", '{"action":', "[1,2", "{'action':'join'}", '"text"', "42"],
)
def test_body_paths_need_json_holding_the_path(body):
    source = ParameterSource(body=body)
    assert _resolve("route.request.body.action", source) is None
    # The whole body needs no JSON.
    assert _resolve("route.request.body", source) == body


@pytest.mark.parametrize(
    ("body", "expression", "value"),
    [
        ('[{"a":"x"}]', "route.request.body[0].a", "x"),
        ('{"n":NaN}', "route.request.body.n", "NaN"),  # stdlib fallback: orjson refuses NaN
        ('{"s":"caf\\u00e9"}', "route.request.body.s", "café"),
    ],
)
def test_body_documents(body, expression, value):
    assert _resolve(expression, ParameterSource(body=body)) == value


@pytest.mark.parametrize(
    ("source", "expression"),
    [
        (ParameterSource(body='{"a":"x\\r\\nSet-Cookie: y"}'), "route.request.body.a"),
        (ParameterSource(body='{"a":"x\\ny"}'), "route.request.body.a"),
        (ParameterSource(body='{"a":"x\\u0000"}'), "route.request.body.a"),
        (ParameterSource(body="line1\nline2"), "route.request.body"),
        (ParameterSource(stage_variables={"v": "a\rb"}), "stageVariables.v"),
        (ParameterSource(context={"v": "a\nb"}), "context.v"),
    ],
)
def test_values_that_would_forge_headers_are_not_sent(source, expression):
    assert _resolve(expression, source) is None


def test_unsafe_values_still_reach_query_and_path():
    compiled = compile_request_parameters(
        {
            "integration.request.querystring.q": "route.request.body",
            "integration.request.path.p": "route.request.body",
        }
    )
    mapped = apply_request_parameters(compiled, ParameterSource(body="a\nb"))
    assert mapped == MappedParameters((), (("q", "a\nb"),), {"p": "a\nb"})


def test_targets_keep_config_order_and_names():
    compiled = compile_request_parameters(
        {
            "integration.request.header.connectionId": "context.connectionId",
            "integration.request.querystring.room": "route.request.body.data.room",
            "integration.request.path.action": "route.request.body.action",
            "integration.request.header.Sec-WebSocket-Version": "'0'",
            "integration.request.querystring.missing": "route.request.body.nothing",
            "integration.request.path.stage": "stageVariables.backend",
            "integration.request.querystring.rooms": "route.request.multivaluequerystring.room",
            "integration.request.header.X-Absent": "route.request.header.absent",
        }
    )
    assert apply_request_parameters(compiled, _SOURCE) == MappedParameters(
        headers=(("connectionId", "abc="), ("Sec-WebSocket-Version", "0")),
        querystring=(("room", "r1"), ("rooms", "1,2")),
        path={"action": "join", "stage": "api.internal"},
    )


def test_no_parameters():
    compiled = compile_request_parameters({})
    assert compiled == CompiledParameters()
    assert apply_request_parameters(compiled, _SOURCE) == MappedParameters((), (), {})


@pytest.mark.parametrize(
    ("key", "value", "mapping"),
    [
        (
            "integration.request.header.X-Id",
            "route.request.header.X-Client-ID",
            ParameterMapping(
                "integration.request.header.X-Id", "header", "X-Id", "header", "x-client-id"
            ),
        ),
        (
            "integration.request.querystring.a.b",
            "route.request.multivalueheader.Accept",
            ParameterMapping(
                "integration.request.querystring.a.b",
                "querystring",
                "a.b",
                "multivalueheader",
                "accept",
            ),
        ),
        (
            "integration.request.path.$id",
            "route.request.querystring.Id",
            ParameterMapping("integration.request.path.$id", "path", "$id", "querystring", "Id"),
        ),
        (
            "integration.request.path.id",
            "route.request.multivaluequerystring.Id",
            ParameterMapping(
                "integration.request.path.id", "path", "id", "multivaluequerystring", "Id"
            ),
        ),
        (
            "integration.request.path.id",
            "stageVariables.Name_1",
            ParameterMapping(
                "integration.request.path.id", "path", "id", "stage_variable", "Name_1"
            ),
        ),
        (
            "integration.request.path.id",
            "'a b'",
            ParameterMapping("integration.request.path.id", "path", "id", "static", "a b"),
        ),
        (
            "integration.request.path.id",
            "context.authorizer.principalId",
            ParameterMapping(
                "integration.request.path.id",
                "path",
                "id",
                "context",
                "context.authorizer.principalId",
                ("authorizer", "principalId"),
            ),
        ),
        (
            "integration.request.path.id",
            "route.request.body.data.items[0]",
            ParameterMapping(
                "integration.request.path.id",
                "path",
                "id",
                "body",
                "route.request.body.data.items[0]",
                ("data", "items", 0),
            ),
        ),
        (
            "integration.request.path.id",
            "route.request.body",
            ParameterMapping(
                "integration.request.path.id", "path", "id", "body", "route.request.body"
            ),
        ),
    ],
)
def test_compile_entries(key, value, mapping):
    assert compile_request_parameters({key: value}).mappings == (mapping,)


@pytest.mark.parametrize(
    ("value", "parses_body"),
    [
        ("route.request.body", False),  # the raw text, never parsed
        ("route.request.body.$", False),
        ("route.request.body.a", True),
        ("route.request.body[0]", True),
        ("context.connectionId", False),
    ],
)
def test_body_parsed_only_for_paths(value, parses_body):
    assert compile_request_parameters({_HEADER: value}).parses_body is parses_body


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        # Targets.
        ("integration.request.hdr.x", "'v'", "unknown target; expected integration.request."),
        ("integration.request.header", "'v'", "unknown target"),
        ("Integration.request.header.x", "'v'", "unknown target"),
        ("method.request.header.x", "'v'", "unknown target"),
        ("integration.request.header.", "'v'", "invalid name ''"),
        ("integration.request.header.a b", "'v'", "invalid name 'a b'"),
        ("integration.request.querystring.a/b", "'v'", "invalid name 'a/b'"),
        ("integration.request.path.{id}", "'v'", "invalid name '{id}'"),
        # Sources.
        (_HEADER, "foo.bar", "unknown source 'foo.bar'; expected route.request."),
        (_HEADER, "", "unknown source ''"),
        (_HEADER, "route.request.headers.x", "unknown source"),
        (_HEADER, "route.request.bodyx", "unknown source"),
        (_HEADER, "method.request.header.x", "unknown source"),
        (_HEADER, "$context.connectionId", "unknown source"),
        (_HEADER, "stagevariables.x", "unknown source"),
        (_HEADER, "context", "unknown source"),
        (_HEADER, "route.request.header.", "invalid name ''"),
        (_HEADER, "route.request.header.a:b", "invalid name 'a:b'"),
        (_HEADER, "route.request.multivalueheader.a b", "invalid name 'a b'"),
        (_HEADER, "route.request.querystring.a&b", "invalid name 'a&b'"),
        (_HEADER, "route.request.multivaluequerystring.", "invalid name ''"),
        (_HEADER, "stageVariables.a b", "invalid name 'a b'"),
        (_HEADER, "context.", "invalid context variable 'context.'"),
        (_HEADER, "context.a..b", "invalid context variable"),
        (_HEADER, "context.a.", "invalid context variable"),
        (_HEADER, "context.a b", "invalid context variable"),
        (_HEADER, "route.request.body.", "empty JSONPath after route.request.body."),
        (_HEADER, "route.request.body.a[*]", "invalid JSONPath 'a\\[\\*\\]': unsupported"),
        (_HEADER, "route.request.body.*", "invalid JSONPath '\\*': wildcards"),
        (_HEADER, "route.request.body..a", "invalid JSONPath '.a': recursive descent"),
        (_HEADER, "'", 'unterminated static value "\'"'),
        (_HEADER, "'abc", "unterminated static value"),
        (_HEADER, "'a\r\nSet-Cookie: x'", "a header value cannot hold CR, LF or NUL"),
        (_HEADER, "'a\nb'", "a header value cannot hold CR, LF or NUL"),
        (_HEADER, "'a\0'", "a header value cannot hold CR, LF or NUL"),
    ],
)
def test_compile_errors(key, value, message):
    with pytest.raises(MappingError, match=re.escape(f"{key}: ") + message) as caught:
        compile_request_parameters({key: value})
    assert [problem.key for problem in caught.value.problems] == [key]
    assert isinstance(caught.value, ValueError)


def test_static_newlines_allowed_outside_headers():
    compiled = compile_request_parameters({"integration.request.querystring.q": "'a\nb'"})
    assert apply_request_parameters(compiled, ParameterSource()).querystring == (("q", "a\nb"),)


def test_compile_errors_list_every_bad_entry():
    with pytest.raises(MappingError) as caught:
        compile_request_parameters(
            {
                "integration.request.header.ok": "context.connectionId",
                "integration.request.header.x": "foo.bar",
                "integration.request.nowhere.y": "'v'",
                "integration.request.querystring.z": "route.request.body.a[*]",
                "integration.request.header.OK": "'dup'",
                "integration.request.path.fine": "'v'",
            }
        )
    assert caught.value.problems == (
        Problem("integration.request.header.x", caught.value.problems[0].message),
        Problem(
            "integration.request.nowhere.y",
            "unknown target; expected integration.request.{header,querystring,path}.<name>",
        ),
        Problem(
            "integration.request.querystring.z",
            "invalid JSONPath 'a[*]': unsupported JSONPath syntax at '[*]'",
        ),
        Problem(
            "integration.request.header.OK",
            "same header as integration.request.header.ok (names ignore case)",
        ),
    )
    assert caught.value.problems[0].message.startswith("unknown source 'foo.bar'; expected ")
    text = str(caught.value)
    assert text.startswith("integration.request.header.x: unknown source 'foo.bar'")
    assert text.count("; integration.request.") == 3


def test_same_name_in_different_targets_is_fine():
    compiled = compile_request_parameters(
        {
            "integration.request.header.id": "'h'",
            "integration.request.querystring.id": "'q'",
            "integration.request.querystring.ID": "'Q'",
            "integration.request.path.id": "'p'",
        }
    )
    assert apply_request_parameters(compiled, ParameterSource()) == MappedParameters(
        (("id", "h"),), (("id", "q"), ("ID", "Q")), {"id": "p"}
    )


@pytest.mark.parametrize(
    ("keys", "value", "selected"),
    [
        # The whole value must match, as Java's String.matches.
        (["/2\\d\\d/"], "200", "/2\\d\\d/"),
        (["/2\\d\\d/"], "2000", None),
        (["/2\\d\\d/"], "1200", None),
        (["/2\\d\\d/"], "20", None),
        (["/2\\d\\d/", "$default"], "2000", "$default"),
        (["/4\\d\\d/", "$default"], "404", "/4\\d\\d/"),
        (["/4\\d\\d/", "$default"], "500", "$default"),
        (["/.*Error.*/"], "TypeError: x", "/.*Error.*/"),
        (["/Error/"], "TypeError", None),
        (["/.*Error.*/"], "line one\nError", None),  # "." stops at a newline, as in Java
        (["/(?s).*Error.*/"], "line one\nError", "/(?s).*Error.*/"),
        (["/abc/"], "ABC", None),
        (["/(?i)abc/"], "ABC", "/(?i)abc/"),
        (["//"], "", "//"),
        (["//"], "x", None),
        # Several matches: the first in the given order.
        (["/2\\d\\d/", "/20\\d/", "$default"], "200", "/2\\d\\d/"),
        (["/20\\d/", "/2\\d\\d/", "$default"], "200", "/20\\d/"),
        (["$default", "/20\\d/", "/2\\d\\d/"], "201", "/20\\d/"),
        (["/2\\d\\d/", "/4\\d\\d/", "/5\\d\\d/"], "503", "/5\\d\\d/"),
        # No match, no $default.
        ([], "200", None),
        (["/4\\d\\d/", "/5\\d\\d/"], "200", None),
        (["$default"], "200", "$default"),
        (["$default", "$default"], "", "$default"),
        # No value (a call that reported no error): $default only.
        (["/.*/", "$default"], None, "$default"),
        (["/.*/"], None, None),
    ],
)
def test_select_integration_response(keys, value, selected):
    assert compile_integration_response_keys(iter(keys)).match(value) == selected


def test_compiled_response_keys_keep_order():
    compiled = compile_integration_response_keys(("$default", "/4\\d\\d/", "/2\\d\\d/"))
    assert compiled.keys == ("$default", "/4\\d\\d/", "/2\\d\\d/")
    assert [key for key, _ in compiled.patterns] == ["/4\\d\\d/", "/2\\d\\d/"]
    assert compiled.has_default


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("/", "expected $default or a regex wrapped in /.../"),
        ("", "expected $default or a regex wrapped in /.../"),
        ("2\\d\\d", "expected $default or a regex wrapped in /.../"),
        ("/2\\d\\d", "expected $default or a regex wrapped in /.../"),
        ("2\\d\\d/", "expected $default or a regex wrapped in /.../"),
        ("default", "expected $default or a regex wrapped in /.../"),
        ("$DEFAULT", "expected $default or a regex wrapped in /.../"),
        ("/[/", "invalid regex: "),
        ("/(/", "invalid regex: "),
        ("/*/", "invalid regex: "),
        # Found by fuzzing: these raised OverflowError and RecursionError out of the config load.
        ("/a{4294967296}/", "invalid regex: the repetition number is too large"),
        ("/" + "(" * 5000 + ")" * 5000 + "/", "invalid regex: it nests too deeply"),
    ],
)
def test_bad_integration_response_keys(key, message):
    with pytest.raises(MappingError) as caught:
        compile_integration_response_keys(["$default", key])
    assert caught.value.problems == (Problem(key, caught.value.problems[0].message),)
    assert caught.value.problems[0].message.startswith(message)
    assert isinstance(caught.value, ValueError)
    assert str(caught.value).startswith(f"{key}: {message}")


def test_bad_integration_response_keys_all_listed():
    with pytest.raises(MappingError) as caught:
        compile_integration_response_keys(["/[/", "/2\\d\\d/", "nope", "$default", "/(/"])
    assert [problem.key for problem in caught.value.problems] == ["/[/", "nope", "/(/"]


def test_a_body_nested_past_the_parsers_depth_maps_nothing():
    compiled = compile_request_parameters({"integration.request.header.a": "route.request.body.x"})
    body = '{"x": ' + "[" * 100_000 + "]" * 100_000 + "}"
    mapped = apply_request_parameters(compiled, ParameterSource(body=body))
    assert mapped.headers == ()
