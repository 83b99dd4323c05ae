"""What a mapping template may call: Java's String, List and Map methods, ``$input``, ``$util``.

airspeed lets a template call any public method of any Python object it reaches; these tests pin
the allow-list that keeps Python internals (``str.format``, ``__globals__``, class hierarchies,
bound builtins) out of what a backend or a client receives.
"""

from __future__ import annotations

import json

import pytest

from wsgate.core.templates import TemplateInput, compile_template, render_template
from wsgate.errors import TemplateError

_BODY = json.dumps(
    {
        "a": "x",
        "n": 3,
        "text": "Hello, World",
        "csv": "a,b,,c,,",
        "items": ["p", "q"],
        "obj": {"b": "deep", "class": "data"},
    }
)
_CONTEXT = {"stage": "prod", "connectionId": "abc=", "identity": {"sourceIp": "203.0.113.7"}}

# Text that only Python internals would put in a rendering.
_INTERNAL = (
    "__",
    "<class",
    "<function",
    "<bound",
    "<built-in",
    "<module",
    "<re.",
    "object at 0x",
    "mappingproxy",
    "wsgate",
    "airspeed",
    "builtins",
    "dict_keys",
    "range(",
)


def _render(text: str, body: str = _BODY) -> str:
    variables = TemplateInput(context=_CONTEXT, body=body, stage_variables={"v": "s"})
    return render_template(compile_template(text, place="t"), variables)


def _assert_clean(output: str) -> None:
    leaked = [marker for marker in _INTERNAL if marker in output]
    assert not leaked, f"internals in {output!r}"


# -- refused: each names the method it refused --------------------------------------------------


@pytest.mark.parametrize(
    ("template", "method"),
    [
        # The two reported payloads.
        ("""$input.body.format("{0.__class__.__mro__}")""", "format"),
        ("""#set($f = "{0.__init__.__globals__}")$f.format($util)""", "format"),
        # str.format / format_map on every kind of string a template can hold.
        ("""$context.stage.format("{0.__class__}")""", "format"),
        ("""$input.path('$.a').format("{0.__init__.__globals__}", $input)""", "format"),
        ("""$util.urlEncode('x').format("{0.__class__}")""", "format"),
        ("""$input.body.format_map($context)""", "format_map"),
        ("""$stageVariables.v.format_map($util)""", "format_map"),
        ("""#foreach($k in $context.keySet())$k.format("{0.__class__}")#end""", "format"),
        ("""$input.path('$.obj').keySet().get(0).format("{0.__class__}")""", "format"),
        ("""$input.body.toString().format("{0.__class__}")""", "format"),
        # Maps: $context, parsed JSON, literals, the loop's $foreach.
        ("""$context.format("{0.__class__}")""", "format"),
        ("$context.items()", "items"),
        ("$context.copy()", "copy"),
        ("$context.fromkeys($context)", "fromkeys"),
        ("$context.setdefault('a', $util)", "setdefault"),
        ("$context.pop('stage')", "pop"),
        ("$context.clear()", "clear"),
        ("$context.update($util)", "update"),
        ("$context.keys()", "keys"),
        ("$util.parseJson('{}').mro()", "mro"),
        ("$util.parseJson('{}').items()", "items"),
        ("#set($m = {})$m.update($context)", "update"),
        ("#foreach($i in [1])$foreach.items()#end", "items"),
        ("$input.path('$.obj').get('b').format('{0.__class__}')", "format"),
        # Lists.
        ("$input.path('$.items').append($util)", "append"),
        ("$input.path('$.items').pop()", "pop"),
        ("$input.path('$.items').copy()", "copy"),
        ("$input.path('$.items').index('p')", "index"),
        ("$input.path('$.items').sort()", "sort"),
        ("#set($l = [1, 2])$l.extend($l)", "extend"),
        ("#set($l = [1..3])$l.count(1)", "count"),
        ("$context.values().format('{0.__class__}')", "format"),
        # Java's reflection doors.
        ("$input.body.getClass()", "getClass"),
        ("$util.getClass().forName('java.lang.Runtime')", "getClass"),
        ("$input.getClass()", "getClass"),
        ("$util.parseJson('[1]').getClass()", "getClass"),
        ("$input.body.hashCode()", "hashCode"),
        # Python string methods that return other objects or build huge strings.
        ("$input.body.encode()", "encode"),
        ("$input.body.encode().decode()", "encode"),
        ("$input.body.join($context)", "join"),
        ("$input.body.zfill(100000000)", "zfill"),
        ("$input.body.center(100000000)", "center"),
        ("$input.body.expandtabs(100000000)", "expandtabs"),
        ("$input.body.maketrans('a', 'b')", "maketrans"),
        ("$input.body.partition(',')", "partition"),
        ("$input.body.splitlines()", "splitlines"),
        ("$input.body.capitalize()", "capitalize"),
        # Methods of $input and $util beyond §4.
        ("$input.parse_body('x')", "parse_body"),
        ("$util.escape_javascript('x')", "escape_javascript"),
        ("$input.body()", "body"),
        # Numbers and booleans.
        ("$input.path('$.n').bit_length()", "bit_length"),
        ("$input.path('$.n').to_bytes(8, 'big')", "to_bytes"),
        ("#set($t = true)$t.conjugate()", "conjugate"),
        # Functions seen as values: nothing to call on them.
        ("$util.parseJson.mro()", "mro"),
        ("#set($f = $util.urlEncode)$f.format('x')", "format"),
        # A method name held in a variable is no way around the list either.
        ("""#set($s = "{0.__class__}")${s.format($util)}""", "format"),
        ("""#set($x = "$input.body.format('{0.__class__}')")""", "format"),
        ("#set($x = $input.body.format_map($context))", "format_map"),
        ("#if($input.body.isdigit())y#end", "isdigit"),
    ],
)
def test_refused_calls_name_the_method(template: str, method: str) -> None:
    with pytest.raises(TemplateError) as caught:
        _render(template)
    message = str(caught.value)
    assert f"{method}() is not available" in message
    assert message.startswith("t: line ")


@pytest.mark.parametrize(
    "body",
    [
        "{0.path.__globals__[RenderFailure]}",
        "{0.__init__.__globals__}",
        "{0.__class__.__mro__}",
        "{0.body.__class__.__subclasses__}",
    ],
)
def test_client_format_strings_reach_nothing(body: str) -> None:
    # The client controls the body: it must not become a format string over template objects.
    for template in ("$input.body.format($input)", "$input.body.format_map($context)"):
        with pytest.raises(TemplateError, match=r"format(_map)?\(\) is not available on a string"):
            _render(template, body)


# -- no way around the list renders anything internal ---------------------------------------------


@pytest.mark.parametrize(
    "template",
    [
        # Properties that are not JSON keys are null, as in Velocity, not Python attributes.
        "[$input.body.class]",
        "[$util.parseJson.func_globals]",
        "[$util.urlEncode.im_func]",
        "[$input.json.func_code]",
        "[$input.path('$.a').real]",
        "[$input.path('$.n').real][$input.path('$.n').numerator][$input.path('$.n').imag]",
        "[$input.body.matches('.*').re]",
        "[$input.path('$.items').class]",
        "[$context.class]",
        "[$input.document][$input.params.func_defaults]",
        "[$util.slots][$input.slots]",
        # A null target is null for any member.
        "[$context.missing.format('{0.__class__}')]",
        "[$nothing.getClass()]",
        # Assigning through #set reaches map keys only.
        "#set($context.format = 1)[$context.format]",
        "#set($m = {})#set($m.x = $util)[$m.x]",
        # Referring to a method without calling it prints {} as on AWS, never the function.
        "[$util.parseJson][$input.path][$util.escapeJavaScript]",
        "[$input.body.length][$context.keySet]",
        "#set($f = $util.parseJson)[$f]",
        # Ranges are lists, not Python ranges.
        "#set($r = [1..3])[$r]",
        # Maps print as Java's, never as Python's repr.
        "#set($m = {'a': $util})$m",
        "#set($m = {$util: 1, $input: 2})$m|$m.keySet()|$m.toString()",
        "#set($l = [$util, $input.path])$l",
        "#set($j = $input.path('$.items'))#set($d = $j.add($util))$j",
        "$input.params()",
        "$input.path('$.obj').entrySet()",
    ],
)
def test_nothing_internal_renders(template: str) -> None:
    _assert_clean(_render(template))


def test_map_keys_named_like_methods_are_data() -> None:
    # JSON keys win over method names when read as properties ($obj.class is the body's key).
    assert _render("$input.path('$.obj').class") == "data"
    body = json.dumps({"size": "big", "format": "{0.__class__}", "get": 1})
    assert _render("$input.path('$').size|$input.path('$').size()", body) == "big|3"
    assert _render("$input.path('$').format|$input.path('$').get", body) == "{0.__class__}|1"


@pytest.mark.parametrize(
    ("template", "fragment"),
    [
        # Operators work on numbers; + joins strings; nothing formats with %.
        ("""#set($x = "%s" % $util)$x""", "% needs numbers"),
        ("#set($x = '%(stage)s' % $context)$x", "% needs numbers"),
        ("#set($x = $input.body * 100000000)", "* needs numbers"),
        ("#set($x = [1] * 100000000)", "* needs numbers"),
        ("#set($x = [1] + [2])", "+ needs numbers or a string"),
        ("#set($x = $util - 1)", "- needs numbers"),
        ("#set($x = 'a' / 2)", "/ needs numbers"),
        ("#set($x = $context + $context)", "+ needs numbers or a string"),
        # Arguments of String methods must be strings, as Java's signatures require.
        ("$input.body.replaceAll('a', $util.parseJson)", "replaceAll: expected a string"),
        ("$input.body.contains($context)", "contains: expected a string"),
        ("$input.body.substring('1')", "substring: expected an integer"),
        ("$input.body.split(1)", "split: expected a string"),
        # Calling something that is not a method.
        ("#set($x = 'text')$x()", "$x is not a method"),
        ("$input.body.length(1)", "length() takes 0 arguments, got 1"),
        ("$input.body.substring()", "substring() takes 1 to 2 arguments, got 0"),
        ("$util.base64Encode()", "base64Encode() takes 1 argument, got 0"),
    ],
)
def test_operators_and_arguments_are_checked(template: str, fragment: str) -> None:
    with pytest.raises(TemplateError, match=r"^t: line 1") as caught:
        _render(template)
    assert fragment in str(caught.value)


# -- allowed: what API Gateway's Java VTL offers -------------------------------------------------


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        # java.lang.String
        ("$input.path('$.text').length()", "12"),
        (
            "$input.path('$.text').isEmpty()|$input.path('$.csv').substring(8).isEmpty()",
            "false|true",
        ),
        ("$input.path('$.text').substring(7)|$input.path('$.text').substring(0, 5)", "World|Hello"),
        ("$input.path('$.text').charAt(4)", "o"),
        ("$input.path('$.text').indexOf('o')|$input.path('$.text').indexOf('o', 5)", "4|8"),
        ("$input.path('$.text').indexOf('z')|$input.path('$.text').lastIndexOf('o')", "-1|8"),
        (
            "$input.path('$.text').contains('World')|$input.path('$.text').contains('w')",
            "true|false",
        ),
        (
            "$input.path('$.text').startsWith('Hell')|$input.path('$.text').endsWith('d')",
            "true|true",
        ),
        ("$input.path('$.text').startsWith('World', 7)", "true"),
        ("$input.path('$.a').equals('x')|$input.path('$.a').equals(1)", "true|false"),
        ("$input.path('$.a').equalsIgnoreCase('X')", "true"),
        (
            "$input.path('$.text').toLowerCase()|$input.path('$.text').toUpperCase()",
            "hello, world|HELLO, WORLD",
        ),
        ("[#set($s = ' \t x \n')$s.trim()]", "[x]"),
        ("$input.path('$.text').replace('l', 'L')", "HeLLo, WorLd"),
        ("$input.path('$.text').replaceAll('[aeiou]', '*')", "H*ll*, W*rld"),
        ("$input.path('$.text').replaceFirst('l+', '_')", "He_o, World"),
        # Java's replacement syntax: $n is a group, a backslash escapes the next character.
        ("$input.path('$.text').replaceAll('([A-Za-z]+), ([a-zA-Z]+)', '$2 $1')", "World Hello"),
        ("$input.path('$.text').replaceAll('o', '\\$')", "Hell$, W$rld"),
        ("$input.path('$.text').matches('H.*d')|$input.path('$.text').matches('H')", "true|false"),
        # split: a regex; trailing empty strings dropped unless a limit is given.
        ("$input.path('$.csv').split(',')", "[a, b, , c]"),
        ("$input.path('$.csv').split(',', 2)", "[a, b,,c,,]"),
        ("$input.path('$.csv').split(',', -1).size()", "6"),
        ("$input.path('$.csv').split('x')|#set($e = '')$e.split(',').size()", "[a,b,,c,,]|1"),
        ("$input.path('$.text').split('').size()", "12"),
        ("$input.path('$.a').concat('y')|$input.path('$.a').toString()", "xy|x"),
        ("$input.path('$.a').compareTo('y')|$input.path('$.a').compareTo('x')", "-1|0"),
        # java.util.List
        ("$input.path('$.items').size()|$input.path('$.items').get(1)", "2|q"),
        ("$input.path('$.items').isEmpty()|$input.path('$.items').contains('p')", "false|true"),
        ("$input.path('$.items').indexOf('q')", "1"),
        ("#set($l = [])$l.add('a')#set($d = $l.add('b'))$l", "true[a, b]"),
        ("#set($l = ['a'])$l.set(0, 'b')$l", "a[b]"),
        ("#set($l = [1, 2])$l.toString()|$l.equals([1, 2])", "[1, 2]|true"),
        # java.util.Map
        ("$context.get('stage')|[$context.get('nothing')]", "prod|[]"),
        ("$context.containsKey('stage')|$context.containsValue('prod')", "true|true"),
        ("$context.keySet()|$context.values().size()", '["stage","connectionId","identity"]|3'),
        (
            "#foreach($e in $context.identity.entrySet())$e.key=$e.value;$e.getKey()#end",
            "sourceIp=203.0.113.7;sourceIp",
        ),
        ("$context.identity.entrySet().get(0).getValue()", "203.0.113.7"),
        ("$context.size()|$context.isEmpty()", "3|false"),
        ("#set($m = {})[$m.put('a', 1)]|$m.put('a', 2)|$m", "[]|1|{a=2}"),
        ("#set($m = {'a': 1})$m.putAll({'b': 2})$m|$m.remove('a')|$m", "{a=1, b=2}|1|{b=2}"),
        ("#set($m = {'a': 1})$m.toString()|$m.equals({'a': 1})", "{a=1}|true"),
        # Numbers, booleans and entries have toString and equals, as every Java object.
        ("$input.path('$.n').toString()|$input.path('$.n').equals(3)", "3|true"),
        ("#set($t = true)$t.toString()", "true"),
        ("$input.path('$.obj').entrySet().get(0).toString()", "b=deep"),
        # Arithmetic and string +.
        ("#set($x = $input.path('$.n') * 2 + 1)$x", "7"),
        ("#set($x = $input.path('$.n') - 1)$x|#set($y = 7 % 4)$y|#set($z = 7 / 2)$z", "2|3|3"),
        ("#set($x = 'n=' + $input.path('$.n'))$x|#set($y = 1.5 + 1)$y", "n=3|2.5"),
        # $input and $util (§4.2, §4.3) stay callable.
        ("$input.json('$.a')|$input.params('x')|$input.params().size()", '"x"||3'),
        (
            "$util.escapeJavaScript(\"'\")|$util.urlEncode('a b')|$util.urlDecode('a+b')",
            "\\'|a+b|a b",
        ),
        ("$util.base64Decode($util.base64Encode('hi'))|$util.parseJson('[1]').size()", "hi|1"),
        # A method kept in a variable can still be called; null called is null.
        ("#set($f = $util.urlEncode)$f('a b')|#set($n = $null)[$n()]", "a+b|[]"),
        # Indexing: strings, lists and maps; anything else is null.
        (
            "$input.body[2]|#set($l = ['a'])$l[0]|[$l[5]]|[$input[0]]|[$context['x']]",
            "a|a|[]|[]|[]",
        ),
    ],
)
def test_java_methods(template: str, expected: str) -> None:
    output = _render(template)
    assert output == expected
    _assert_clean(output)


@pytest.mark.parametrize(
    ("template", "fragment"),
    [
        ("$input.path('$.text').substring(20)", "substring: index out of range"),
        ("$input.path('$.text').substring(5, 2)", "substring: index out of range"),
        ("$input.path('$.text').charAt(-1)", "charAt: index out of range"),
        ("$input.path('$.items').get(-1)", "get: index out of range"),
        ("$input.path('$.items').set(5, 'x')", "set: index out of range"),
        ("$input.path('$.text').matches('(')", "matches: invalid regular expression"),
        ("$input.path('$.text').replaceAll('o', '$9')", "replaceAll: no group 9"),
        (
            "$input.path('$.text').replaceAll('o', $util.urlDecode('x%5C'))",
            "replaceAll: replacement ends with \\",
        ),
        ("$context.putAll(1)", "putAll: expected a map"),
        ("$input.path('$.text').replaceAll('o', '$x')", "$ must be followed by a group number"),
        ("#set($x = $null - 1)", "- needs numbers, got null and a number"),
        ("#foreach($x in $util)#end", "$x: $util is not iterable in #foreach"),
    ],
)
def test_java_method_errors(template: str, fragment: str) -> None:
    with pytest.raises(TemplateError) as caught:
        _render(template)
    assert fragment in str(caught.value)
