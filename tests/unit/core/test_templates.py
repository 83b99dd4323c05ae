"""Mapping templates (§4 of the AWS reference): variables, functions, selection and passthrough."""

from __future__ import annotations

import json

import pytest

from wsgate.core.jsonpath import WILDCARD, compile_query, evaluate_query
from wsgate.core.routing import compile_expression
from wsgate.core.templates import (
    JSON_CONTENT_TYPE,
    MAX_TEMPLATE_BYTES,
    CompiledTemplate,
    TemplateInput,
    compile_response_expression,
    compile_template,
    passthrough_allowed,
    render_template,
    select_response_template,
    select_template,
)
from wsgate.core.vtl import position
from wsgate.core.vtl_input import escape_javascript
from wsgate.core.vtl_value import VtlList, VtlMap, to_text, to_vtl
from wsgate.errors import RoutingError, TemplateError

# A MESSAGE-event context shaped like a 2024 capture (§3.2), plus a Lambda authorizer's output.
_CONTEXT = {
    "routeKey": "sendmessage",
    "messageId": "Xa1bDqrsIAMCKlQ=",
    "eventType": "MESSAGE",
    "extendedRequestId": "Xa1bDtuvIAMF4ij=",
    "requestTime": "09/Feb/2024:18:23:30 +0000",
    "messageDirection": "IN",
    "stage": "prod",
    "connectedAt": 1707503007396,
    "requestTimeEpoch": 1707503010002,
    "identity": {"sourceIp": "203.0.113.7", "userAgent": "Mozilla/5.0"},
    "requestId": "Xa1bDtuvIAMF4ij=",
    "domainName": "abc123defg.execute-api.us-east-1.amazonaws.com",
    "connectionId": "abc=",
    "apiId": "abc123defg",
    "isBase64Encoded": False,
    "authorizer": {"principalId": "user-1", "token": "hello", "count": 1, "admin": True},
    "error": {"messageString": '"Forbidden"', "validationErrorString": ""},
}
_BODY = json.dumps(
    {
        "a": "x",
        "n": 1.5,
        "i": 7,
        "t": True,
        "z": None,
        "obj": {"b": "deep", "list": [1, {"c": 5}], "none": None},
        "items": ["p", "q", "r"],
        "pets": [{"id": 1, "type": "dog"}, {"id": 2, "type": "cat"}, {"id": 3, "type": "fish"}],
        "text": 'it\'s "quoted"',
    }
)
_PARAMS = {
    "path": {"id": "from-path"},
    "querystring": {"id": "from-query", "token": "t0k", "q": "query"},
    "header": {"Host": "example.com", "X-Token": "h"},
}


def _render(text, body=_BODY, context=None, **fields):
    variables = TemplateInput(context=_CONTEXT if context is None else context, body=body, **fields)
    return render_template(compile_template(text), variables)


# -- The AWS templates that must work verbatim -------------------------------------------------


def test_seed_template_from_the_console():
    template = '{"connection-id": "$context.connectionId", "event-type": "$context.eventType"}'
    assert _render(template) == '{"connection-id": "abc=", "event-type": "MESSAGE"}'


# aws-samples/serverless-patterns apigw-websocket-mapping-template-authorizer/template.yaml
_SAMPLE = """{
  "requestContext": {
    "routeKey": "$context.routeKey",
    "messageId": "$context.messageId",
    "auth": "$context.authorizer.principalId",
    "token": "$context.authorizer.token",
    "eventType": "$context.eventType",
    "extendedRequestId": "$context.extendedRequestId",
    "requestTime": "$context.requestTime",
    "messageDirection": "$context.messageDirection",
    "stage": "$context.stage",
    "connectedAt": "$context.connectedAt",
    "requestTimeEpoch": "$context.requestTimeEpoch",
    "sourceIp": "$context.identity.sourceIp",
    "requestId": "$context.requestId",
    "domainName": "$context.domainName",
    "connectionId": "$context.connectionId",
    "apiId": "$context.apiId"
  },
    "body": "$util.escapeJavaScript($input.body)",
    "isBase64Encoded": "$context.isBase64Encoded"
}
"""


def test_serverless_patterns_sample_renders_json():
    message = '{"action": "sendmessage","message" : "hey queen"}'
    payload = json.loads(_render(_SAMPLE, body=message))
    assert payload == {
        "requestContext": {
            "routeKey": "sendmessage",
            "messageId": "Xa1bDqrsIAMCKlQ=",
            "auth": "user-1",
            "token": "hello",
            "eventType": "MESSAGE",
            "extendedRequestId": "Xa1bDtuvIAMF4ij=",
            "requestTime": "09/Feb/2024:18:23:30 +0000",
            "messageDirection": "IN",
            "stage": "prod",
            "connectedAt": "1707503007396",
            "requestTimeEpoch": "1707503010002",
            "sourceIp": "203.0.113.7",
            "requestId": "Xa1bDtuvIAMF4ij=",
            "domainName": "abc123defg.execute-api.us-east-1.amazonaws.com",
            "connectionId": "abc=",
            "apiId": "abc123defg",
        },
        "body": message,
        "isBase64Encoded": "false",
    }


def test_escaped_single_quote_breaks_json_as_on_aws():
    # §4.3: escapeJavaScript turns ' into \' which JSON rejects; AWS's documented fix follows.
    with pytest.raises(json.JSONDecodeError):
        json.loads(_render(_SAMPLE, body="it's"))
    fixed = r"""{"body": "$util.escapeJavaScript($input.body).replaceAll("\\'","'")"}"""
    assert json.loads(_render(fixed, body='it\'s "x"')) == {"body": 'it\'s "x"'}


# -- $context, $stageVariables -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("$context.connectionId", "abc="),
        ("${context.eventType}", "MESSAGE"),
        ("$context.routeKey/$context.stage/$context.apiId", "sendmessage/prod/abc123defg"),
        ("$context.connectedAt", "1707503007396"),
        ("$context.isBase64Encoded", "false"),
        ("$context.identity.sourceIp", "203.0.113.7"),
        ("$context.identity.userAgent", "Mozilla/5.0"),
        ("$context.authorizer.principalId", "user-1"),
        # §4.1: authorizer values are stringified.
        ("$context.authorizer.count", "1"),
        ("$context.authorizer.admin", "true"),
        ("#if($context.authorizer.count == '1')string#end", "string"),
        ("$context.error.messageString", '"Forbidden"'),
        # Undefined references render empty (module docstring), at any depth.
        ("[$context.nothing]", "[]"),
        ("[$context.identity.accountId]", "[]"),
        ("[$context.authorizer.missing]", "[]"),
        ("[$context.nothing.deeper.still]", "[]"),
        ("[$undefinedVariable]", "[]"),
        ("[${undefinedVariable}]", "[]"),
        ("[$!context.nothing]", "[]"),
        ("${context.nothing|'fallback'}", "fallback"),
        ("${context.stage|'fallback'}", "prod"),
        ("#if($context.nothing)yes#{else}no#end", "no"),
        ("$context.identity", "{sourceIp=203.0.113.7, userAgent=Mozilla/5.0}"),
        # A "$" that starts no reference stays text.
        ("costs $5 or \\$context.stage", "costs $5 or $context.stage"),
    ],
)
def test_context_variables(template, expected):
    assert _render(template) == expected


def test_context_without_authorizer():
    assert _render("[$context.authorizer.principalId]", context={"stage": "dev"}) == "[]"


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("$stageVariables.fn", "my-function"),
        ("$stageVariables['fn']", "my-function"),
        ("${stageVariables['fn']}", "my-function"),
        ("${stageVariables.fn}", "my-function"),
        ("[$stageVariables.missing]", "[]"),
        ("[$stageVariables['missing']]", "[]"),
    ],
)
def test_stage_variables(template, expected):
    assert _render(template, stage_variables={"fn": "my-function"}) == expected


# -- $input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("$input.body", _BODY),
        # $input.json: JSON text; a string keeps its quotes (AWS docs).
        ("$input.json('$.a')", '"x"'),
        ("$input.json('$')", json.dumps(json.loads(_BODY), separators=(",", ":"))),
        ("$input.json('$.n')|$input.json('$.i')|$input.json('$.t')", "1.5|7|true"),
        ("$input.json('$.z')", "null"),
        ("$input.json('$.obj')", '{"b":"deep","list":[1,{"c":5}],"none":null}'),
        ("$input.json('$.items[1]')", '"q"'),
        ("$input.json('$.pets[*].type')", '["dog","cat","fish"]'),
        ("[$input.json('$.missing')]", "[]"),
        # $input.path: native objects.
        ("$input.path('$.a')", "x"),
        ("$input.path('$.obj.b')", "deep"),
        ("$input.path('$.pets').size()", "3"),
        ("$input.path('$.pets')[0].type", "dog"),
        ("$input.path('$.pets').get(2).type", "fish"),
        ("$input.path('$.items').isEmpty()|$input.path('$.items').contains('q')", "false|true"),
        ("$input.path('$.pets[*].id')", "[1,2,3]"),
        ("$input.path('$.obj.*').size()", "3"),
        ("$input.path('$.obj')", '{b=deep, list=[1,{"c":5}], none=null}'),
        ("$input.path('$.obj').size()|$input.path('$.obj').containsKey('b')", "3|true"),
        ("$input.path('$.obj').keySet()", '["b","list","none"]'),
        ("$input.path('$.obj').isEmpty()", "false"),
        ("$input.path('$.obj.list')", '[1,{"c":5}]'),
        ("$input.path('$.t')|$input.path('$.n')|$input.path('$.i')", "true|1.5|7"),
        ("[$input.path('$.z')]|[$input.path('$.missing')]|[$input.path('$.a.b')]", "[]|[]|[]"),
        ("#if($input.path('$.missing'))yes#{else}no#end", "no"),
        ('$input.path("$.text")', 'it\'s "quoted"'),
        ("#set($p = '$.a')$input.path($p)", "x"),
        # $input.params
        ("$input.params('id')", "from-path"),
        ("$input.params('token')", "t0k"),
        ("$input.params('x-token')|$input.params('HOST')", "h|example.com"),
        ("[$input.params('absent')]", "[]"),
        ("$input.params().querystring.q", "query"),
        ("$input.params().header.get('Host')", "example.com"),
        ("$input.params().path", "{id=from-path}"),
        # Objects without a value print as AWS prints them.
        ("$input|$util|$input.json|$util.urlEncode", "{}|{}|{}|{}"),
    ],
)
def test_input(template, expected):
    assert _render(template, params=_PARAMS) == expected


def test_input_params_all_as_aws_prints_them():
    expected = (
        "{path={id=from-path}, querystring={id=from-query, token=t0k, q=query}, "
        "header={Host=example.com, X-Token=h}}"
    )
    assert _render("$input.params()", params=_PARAMS) == expected


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"path": {}, "querystring": {}, "header": {}}, "{path={}, querystring={}, header={}}|"),
        ({"header": {"A": "1"}}, "{path={}, querystring={}, header={A=1}}|1"),
        ({}, "{path={}, querystring={}, header={}}|"),
    ],
)
def test_input_params_with_missing_kinds(params, expected):
    assert _render("$input.params()|$input.params('a')", params=params) == expected


def test_input_params_default_is_empty():
    assert _render("$input.params()") == "{path={}, querystring={}, header={}}"


@pytest.mark.parametrize(
    ("body", "template", "expected"),
    [
        # Observed on AWS (ToQoz/api-gateway-mapping-template test/_.md).
        ("a=b", "$input.path('$')|$input.json('$')", 'a=b|"a=b"'),
        ('"a=b"', "$input.path('$')|$input.json('$')", 'a=b|"a=b"'),
        ("{}", "$input.path('$')|$input.json('$')", "{}|{}"),
        ("", "$input.json('$')|$input.path('$').size()", "{}|0"),
        ("  ", "$input.json('$')", "{}"),
        ("a{b", "$input.path('$')", "a{b"),
        ("null{", "$input.path('$')", "null{"),
        ("[1, 2]", "$input.path('$').size()|$input.json('$[0]')", "2|1"),
        ("42", "$input.json('$')", "42"),
        ("", "[$input.body]", "[]"),
    ],
)
def test_input_bodies(body, template, expected):
    assert _render(template, body=body) == expected


# -- $util -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("$util.escapeJavaScript($input.path('$.text'))", 'it\\\'s \\"quoted\\"'),
        ("$util.escapeJavaScript($input.path('$.i'))", "7"),
        ("[$util.escapeJavaScript($input.path('$.missing'))]", "[]"),
        ("$util.urlEncode('a b&c')", "a+b%26c"),
        ("$util.urlEncode('ü/~*._-')", "%C3%BC%2F%7E*._-"),
        ("$util.urlDecode('a+b%26c%C3%BC')", "a b&cü"),
        ("$util.base64Encode('hello wörld')", "aGVsbG8gd8O2cmxk"),
        ("$util.base64Decode('aGVsbG8gd8O2cmxk')", "hello wörld"),
        ("$util.base64Decode('aGk')", "hi"),
        ('$util.parseJson(\'{"a": {"b": [1, 2]}}\').a.b.size()', "2"),
        ("$util.parseJson($input.json('$.obj')).b", "deep"),
        ("$util.parseJson('\"text\"')", "text"),
        ("#set($o = $util.parseJson($input.body))$o.pets[1].type", "cat"),
    ],
)
def test_util(template, expected):
    assert _render(template) == expected


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("plain", "plain"),
        ('say "hi"', 'say \\"hi\\"'),
        ("it's", "it\\'s"),
        ("back\\slash", "back\\\\slash"),
        ("a\nb\rc\td\be\ff", "a\\nb\\rc\\td\\be\\ff"),
        ("\x00\x01\x1f", "\\u0000\\u0001\\u001F"),
        ("é ü 😀 / <", "é ü 😀 / <"),
        ("", ""),
    ],
)
def test_escape_javascript(text, escaped):
    assert escape_javascript(text) == escaped


# -- Directives --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        (
            "[#foreach($item in $input.path('$.items'))\"$item\"#if($foreach.hasNext),#end#end]",
            '["p","q","r"]',
        ),
        (
            "[#foreach($item in $input.path('$.items'))\"$item\"#if($velocityHasNext),#end#end]",
            '["p","q","r"]',
        ),
        ("#foreach($p in $input.path('$.pets'))$foreach.count:$p.type #end", "1:dog 2:cat 3:fish "),
        ("#foreach($p in $input.path('$.missing'))x#end", ""),
        ("#set($x = $input.path('$.i') * 2)$x", "14"),
        ('#set($name = "n-$context.stage")$name', "n-prod"),
        ("#if($input.path('$.a') == 'x')X#elseif($x)Y#{else}Z#end", "X"),
        ("#if($input.path('$.a') == 'y')X#elseif(true)Y#{else}Z#end", "Y"),
        ("#set($m = {'a': 1, 'b': [true, $null]})$m", "{a=1, b=[true, null]}"),
        ("#set($l = [1, 'two'])$l $l.size()", "[1, two] 2"),
        ("#macro(greet $who)hi $who#end#greet('there')", "hi there"),
        ("## a comment\nkept", "kept"),
        ("#* block *#kept", "kept"),
        ("a#stop b", "a"),
        # Velocity 1.7 keeps backslashes in string literals (airspeed would unescape them).
        ('#set($s = "a\\\\b")$s', "a\\\\b"),
        ("#set($s = 'a\\\\b')$s", "a\\\\b"),
    ],
)
def test_directives(template, expected):
    assert _render(template) == expected


# -- Value rendering ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        ("text", "text"),
        (True, "true"),
        (False, "false"),
        (3, "3"),
        (1.5, "1.5"),
        ({"a": None, "b": [1, None], "c": {"d": False}}, "{a=null, b=[1, null], c={d=false}}"),
        (VtlList(["a", None]), '["a",null]'),
        (VtlMap({"k": VtlList([1])}), "{k=[1]}"),
        ((1, "x"), "[1, x]"),
    ],
)
def test_to_text(value, text):
    assert to_text(value) == text


def test_to_vtl_wraps_containers():
    value = to_vtl({"a": [{"b": 1}], "t": (1,)})
    assert type(value) is VtlMap
    assert type(value["a"]) is VtlList
    assert type(value["a"][0]) is VtlMap
    assert type(value["t"]) is VtlList
    assert to_vtl("s") == "s"


def test_wrapped_values_print_as_java():
    # Their Java methods are the allow-list's (test_template_sandbox.py), not Python methods.
    assert str(VtlList([1, "a"])) == '[1,"a"]'
    assert str(VtlMap({"a": 1, "b": None})) == "{a=1, b=null}"
    assert not hasattr(VtlList(), "size")


@pytest.mark.parametrize(
    ("text", "offset", "where"),
    [("abc", 0, (1, 1)), ("abc", 2, (1, 3)), ("a\nbc", 2, (2, 1)), ("a\nbc\nd", 4, (2, 3))],
)
def test_position(text, offset, where):
    assert position(text, offset) == where


# -- Compile errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "fragment"),
    [
        ("a\n#if($x\nb", "line 2, column 7: expected ) in parenthesized expression"),
        ("#if(true)x", "line 1, column 11: expected #else, #elseif or #end"),
        ("#foreach($i in $l)x", "expected #end"),
        ("x\n#end", "line 2, column 1: expected block element"),
        ("${context.stage", "line 1, column 16: expected }"),
        ("$input.json('$.a'", "expected ) in parameter list"),
        ("#set($x 1)", "expected ="),
        ("#include('other.vtl')", "line 1, column 1: #include is not supported"),
        ("ok\n  #parse('other.vtl')", "line 2, column 3: #parse is not supported"),
        ("#evaluate($input.body)", "#evaluate is not supported"),
        ("$util.__class__", "line 1, column 7: identifier '__class__' must start with a letter"),
        ("$_private", "identifier '_private' must start with a letter"),
        ("x $input.path('$..a')", "line 1, column 15: invalid JSONPath '$..a'"),
        ("$input.json('$.a[?(@.b)]')", "invalid JSONPath"),
        ('#set($s = "a#end")', 'cannot parse the string "a#end"'),
        # airspeed's lexer accepts a backslash only before n r b t \ $ and the quote.
        (r"""$input.body.replaceAll("\'", "x")""", "line 1, column 24: expected ) in parameter"),
        (r"""$input.body.matches('\d+')""", "line 1, column 21: expected ) in parameter"),
        ("#set($x = " + "(" * 300 + "1" + ")" * 300 + ")", "template nests too deeply"),
        ("#set($x = " + "9" * 5000 + ")$x", "a literal cannot be read"),
        ("a\ud800", "template is not Unicode text: surrogates not allowed"),
    ],
)
def test_compile_errors(template, fragment):
    with pytest.raises(TemplateError, match=r"^integ\.requestTemplates") as caught:
        compile_template(template, place="integ.requestTemplates")
    assert fragment in str(caught.value)


@pytest.mark.parametrize(
    "template",
    [
        "$input.path($context.stage)",  # only literal paths are checked up front
        '$input.path("$.a")',
        "$input.path()",
        "$input.body",
        "$input.path",
        "$input()[0]",
        "$other.path('$..a')",
        "#set($input = 1)",
    ],
)
def test_compile_accepts(template):
    assert isinstance(compile_template(template), CompiledTemplate)


def test_error_without_place_has_no_prefix():
    with pytest.raises(TemplateError, match=r"^line 1, column 1: #include"):
        compile_template("#include('x')")


def test_size_limit():
    compile_template("x" * MAX_TEMPLATE_BYTES)
    with pytest.raises(TemplateError, match=r"^t: template is 307201 bytes; .*300 KB"):
        compile_template("x" * (MAX_TEMPLATE_BYTES + 1), place="t")
    with pytest.raises(TemplateError, match="bytes"):  # counted in UTF-8 bytes, not characters
        compile_template("é" * (MAX_TEMPLATE_BYTES // 2 + 1))


def test_compiled_template_repr_and_reuse():
    template = compile_template("$context.stage", place="p")
    assert repr(template) == "CompiledTemplate(place='p', chars=14)"
    assert (template.text, template.place) == ("$context.stage", "p")
    first = render_template(template, TemplateInput({"stage": "a"}, ""))
    assert (first, render_template(template, TemplateInput({"stage": "b"}, ""))) == ("a", "b")


def test_rendered_lone_surrogates_become_replacement_characters():
    # Valid JSON may escape a lone surrogate; the output must still be UTF-8 text.
    body = '{"a": "\\ud800", "b": "\\ud83d\\ude00", "c": "\\u00e9"}'
    rendered = render_template(
        compile_template("$input.path('$.a')|$input.path('$.b')|$input.path('$.c')"),
        TemplateInput({}, body),
    )
    assert rendered == "\ufffd|\U0001f600|\u00e9"


# -- Render errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "body", "fragment"),
    [
        ("x\n  $input.path('$.a')", "{a", "p: line 2, column 3: could not parse the body as JSON"),
        ("$input.json('$')", "[1,", "could not parse the body as JSON"),
        ("$util.parseJson('{')", "", "line 1, column 1: $util.parseJson: invalid JSON"),
        ("$util.base64Decode('a')", "", "$util.base64Decode: invalid base64"),
        ("#set($p = '$..x')$input.path($p)", "{}", "invalid JSONPath '$..x'"),
        ("$input.path('$.items').get(9)", '{"items": []}', "get: index out of range"),
        ("#set($x = 1 / 0)", "", "ZeroDivisionError"),
        ("#nosuchmacro()", "", "no such macro"),
        ("x\n#set($s = \"a $util.parseJson('{')\")", "", "p: line 2, column 14: $util.parseJson"),
        (
            "$util.parseJson('{" + "x" * 80 + "')",
            "",
            "(in $util.parseJson('{xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...)",
        ),
    ],
)
def test_render_errors(template, body, fragment):
    compiled = compile_template(template, place="p")
    with pytest.raises(TemplateError) as caught:
        render_template(compiled, TemplateInput({}, body))
    assert fragment in str(caught.value)
    assert isinstance(caught.value.__cause__, Exception)


# -- Template selection ------------------------------------------------------------------------

_T = object()  # selection looks at keys only


@pytest.mark.parametrize(
    ("keys", "expression", "body", "selected"),
    [
        # §3.3: no expression: application/json, then $default, then the only template.
        ([JSON_CONTENT_TYPE, "$default"], None, "{}", JSON_CONTENT_TYPE),
        (["$default", "other"], None, "{}", "$default"),
        (["only"], None, "not json", "only"),
        (["one", "two"], None, "{}", None),
        ([], None, "{}", None),
        # With an expression: its value, else $default, else nothing.
        (["v1", "v2", "$default"], "$request.body.version", '{"version": "v2"}', "v2"),
        (["v1", "$default"], "$request.body.version", '{"version": "v9"}', "$default"),
        (["v1"], "$request.body.version", '{"version": "v9"}', None),
        (["v1", "$default"], "$request.body.version", "not json", "$default"),
        (["v1", "$default"], "$request.body.version", '["v1"]', "$default"),
        (["v1"], "$request.body.version", "not json", None),
        # Nested past the parser's depth: not JSON either.
        (
            ["v1", "$default"],
            "$request.body.v",
            '{"v":' * 100_000 + "1" + "}" * 100_000,
            "$default",
        ),
        (
            ["chat/join"],
            "${request.body.service}/${request.body.action}",
            '{"service": "chat","action": "join"}',
            "chat/join",
        ),
        (["v1", "$default"], "$request.body.meta.version", '{"meta": {"version": "v1"}}', "v1"),
        (["-", "$default"], "${request.body.a}-${request.body.b}", "{}", "-"),
        # Static expressions need no body.
        (["static", "$default"], "static", "not json", "static"),
        ([JSON_CONTENT_TYPE, "$default"], "\\$default", "not json", "$default"),
        ([JSON_CONTENT_TYPE], "other", "{}", None),
    ],
)
def test_select_template(keys, expression, body, selected):
    compiled = None if expression is None else compile_expression(expression)
    assert select_template(dict.fromkeys(keys, _T), compiled, body) == selected


@pytest.mark.parametrize(
    ("keys", "expression", "status", "headers", "selected"),
    [
        # Unset: $default, then the only template.
        (["$default", "200"], None, 200, {}, "$default"),
        (["200"], None, 500, {}, "200"),
        (["200", "500"], None, 200, {}, None),
        (["200", "500"], "", 200, {}, None),
        # Status code and headers (names case-insensitive).
        (["200", "500", "$default"], "${integration.response.statuscode}", 500, {}, "500"),
        (["200", "$default"], "${integration.response.statuscode}", 404, {}, "$default"),
        (["200"], "${integration.response.statuscode}", 404, {}, None),
        (["200"], "$integration.response.statuscode", 200, {}, "200"),
        (
            ["text/plain", "$default"],
            "${integration.response.header.Content-Type}",
            200,
            {"content-type": "text/plain"},
            "text/plain",
        ),
        (
            ["v2"],
            "${integration.response.multivalueheader.x-version}",
            200,
            {"X-Version": "v2"},
            "v2",
        ),
        (
            ["-200", "$default"],
            "${integration.response.header.missing}-${integration.response.statuscode}",
            200,
            {},
            "-200",
        ),
        (["fixed", "$default"], "fixed", 200, {}, "fixed"),
    ],
)
def test_select_response_template(keys, expression, status, headers, selected):
    templates = dict.fromkeys(keys, _T)
    assert select_response_template(templates, expression, status, headers, "{}") == selected


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("${request.body.action}", "unsupported variable $request.body.action"),
        ("${integration.response.body.errorMessage}", "unsupported variable"),
        ("${integration.response.statuscode.x}", "unsupported variable"),
        ("${integration.response.header}", "unsupported variable"),
        ("${integration.response.header.a.b}", "unsupported variable"),
        ("${integration.response.header[0]}", "unsupported variable"),
        ("${integration.response}", "needs a path"),
    ],
)
def test_response_expression_errors(expression, fragment):
    with pytest.raises(RoutingError) as caught:
        compile_response_expression(expression)
    assert fragment in str(caught.value)


# -- Passthrough (§3.8) ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("behavior", "has_templates", "allowed"),
    [
        ("WHEN_NO_MATCH", True, True),
        ("WHEN_NO_MATCH", False, True),
        ("WHEN_NO_TEMPLATES", True, False),
        ("WHEN_NO_TEMPLATES", False, True),
        ("NEVER", True, False),
        ("NEVER", False, False),
    ],
)
def test_passthrough_allowed(behavior, has_templates, allowed):
    assert passthrough_allowed(behavior, has_templates) is allowed


def test_passthrough_rejects_unknown_behavior():
    with pytest.raises(ValueError, match="unknown passthrough behavior 'ALWAYS'"):
        passthrough_allowed("ALWAYS", True)  # type: ignore[arg-type]


# -- JSONPath wildcards used by $input.path / $input.json ---------------------------------------


@pytest.mark.parametrize(
    ("path", "steps"),
    [
        ("$.a", ("a",)),
        ("$.a[*]", ("a", WILDCARD)),
        ("$.a.*.b", ("a", WILDCARD, "b")),
        ("$[ * ][0]", (WILDCARD, 0)),
    ],
)
def test_compile_query(path, steps):
    assert compile_query(path) == steps
    assert repr(WILDCARD) == "WILDCARD"


@pytest.mark.parametrize("path", ["$..a", "$.a[?(@.b)]", "$.a[0:2]", "$.a['..']", "$['*']"])
def test_compile_query_rejects(path):
    with pytest.raises(ValueError, match=r"not supported|unsupported"):
        compile_query(path)


_DOCUMENT = {"a": [{"b": 1}, {"c": 2}, {"b": 3}], "o": {"x": 1, "y": [2]}, "s": "text"}


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("$.a[1].c", 2),
        ("$.a[*].b", [1, 3]),
        ("$.a[*]", [{"b": 1}, {"c": 2}, {"b": 3}]),
        ("$.o.*", [1, [2]]),
        ("$.*[0]", [{"b": 1}]),
        ("$.s.*", []),
        ("$.missing[*]", []),
    ],
)
def test_evaluate_query(path, value):
    assert evaluate_query(_DOCUMENT, compile_query(path)) == value


def test_template_input_defaults():
    variables = TemplateInput(context={}, body="b")
    assert variables.params == {"path": {}, "querystring": {}, "header": {}}
    assert variables.stage_variables == {}
