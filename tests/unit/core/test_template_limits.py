"""Bounded template work: loop iterations, macro calls, string and output size, wall time."""

from __future__ import annotations

import json
import time
import tracemalloc
from collections.abc import Iterator

import pytest

from wsgate.core.templates import RenderBudget, TemplateInput, compile_template, render_template
from wsgate.errors import TemplateError

_SMALL = RenderBudget(max_iterations=50, max_loop_iterations=20, max_output_bytes=100)


def _render(text: str, body: str = "{}", budget: RenderBudget | None = None) -> str:
    template = compile_template(text, place="t")
    variables = TemplateInput(context={"stage": "prod"}, body=body)
    if budget is None:
        return render_template(template, variables)
    return render_template(template, variables, budget=budget)


def test_default_budget() -> None:
    budget = RenderBudget()
    assert budget.max_loop_iterations == 1000  # AWS quota per #foreach
    assert budget.max_iterations == 100_000
    assert budget.max_output_bytes == 10 * 1024 * 1024
    assert budget.max_macro_depth == 20  # Velocity's velocimacro.max.depth
    assert (budget.max_seconds, budget.clock) == (0.5, None)


# -- within the bounds -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "body", "expected"),
    [
        ("#foreach($i in [1..1000])#end$foreach", "{}", ""),
        (
            "#foreach($i in [1..3])$i#end|#foreach($i in [3..1])$i#end|#set($r = [1..1])$r",
            "{}",
            "123|321|[1]",
        ),
        ("#foreach($i in [1..$input.path('$.n')])$i,#end", '{"n": 3}', "1,2,3,"),
        ("#foreach($i in [$input.path('$.n')..-1])$velocityCount#end", '{"n": 1}', "123"),
        ("#foreach($i in $input.path('$.l'))$i#end", json.dumps({"l": list(range(1000))}), None),
        ("#foreach($c in $input.path('$.s'))[$c]#end", '{"s": "ab"}', "[a][b]"),
        ("#foreach($k in $input.path('$'))$k=$foreach.index;#end", '{"a": 1, "b": 2}', "a=0;b=1;"),
        ("#foreach($x in $input.path('$.missing'))x#end.", "{}", "."),
        # #stop still stops a loop's output.
        ("#foreach($i in [1..5])$i#if($i == 2)#stop#end#end", "{}", "12"),
    ],
)
def test_loops_within_bounds(template: str, body: str, expected: str | None) -> None:
    output = _render(template, body)
    if expected is not None:
        assert output == expected


def test_bounds_are_per_render() -> None:
    template = compile_template("#foreach($i in [1..15])x#end")
    variables = TemplateInput(context={}, body="")
    for _ in range(5):  # 75 iterations in all, 15 per render
        assert render_template(template, variables, budget=_SMALL) == "x" * 15


def test_output_limit_counts_utf8_bytes() -> None:
    budget = RenderBudget(max_output_bytes=100)
    assert _render("#foreach($i in [1..100])x#end", budget=budget) == "x" * 100
    with pytest.raises(TemplateError, match="output over 100 bytes"):
        _render("#foreach($i in [1..51])é#end", budget=budget)


# -- past a bound: a clear reason ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "body", "fragment"),
    [
        # The 60-byte message: a client-given range never becomes a 100M-item list.
        (
            "#foreach($i in [1..$input.path('$.n')])$i#end",
            '{"n": 100000000}',
            "template work limit: range [1..100000000] has more than 100000 items",
        ),
        ("#set($r = [-100000000..0])", "{}", "range [-100000000..0] has more than"),
        ("#set($r = [1..$input.path('$.n')])", '{"n": "3"}', "range bounds must be integers"),
        ("#set($r = [1..$input.path('$.n')])", '{"n": true}', "range bounds must be integers"),
        # AWS's quota: 1000 iterations per #foreach.
        (
            "#foreach($i in [1..1001])#end",
            "{}",
            "template work limit: more than 1000 iterations of one #foreach",
        ),
        (
            "#foreach($i in $input.path('$.l'))#end",
            json.dumps({"l": [0] * 1001}),
            "more than 1000 iterations of one #foreach",
        ),
        # A loop that grows its own list stops at the quota too.
        ("#set($l = [1])#foreach($i in $l)#set($d = $l.add($i))#end", "{}", "#foreach"),
        # Nested loops: each under the quota, together over the total.
        (
            "#foreach($a in [1..1000])#foreach($b in [1..1000])#end#end",
            "{}",
            "template work limit: more than 100000 loop iterations",
        ),
        # Recursion: macros and #define nest at most 20 deep (Velocity's default).
        ("#macro(r $n)#r($n)#end#r(1)", "{}", "macros nested more than 20 deep"),
        ("#define($a)$a#end$a", "{}", "macros nested more than 20 deep"),
        ("#define($a)#set($x = $a)#end$a", "{}", "macros nested more than 20 deep"),
        # Doubling a string: every string a template builds is bounded, not only the output.
        (
            "#set($s = 'x')#foreach($i in [1..40])#set($s = \"$s$s\")#end",
            "{}",
            "template work limit: a string over 10485760 bytes",
        ),
        ("#set($s = 'x')#foreach($i in [1..40])#set($s = $s + $s)#end", "{}", "a string over"),
        (
            "#set($s = 'x')#foreach($i in [1..40])#set($s = $s.concat($s))#end",
            "{}",
            "a string over",
        ),
        (
            "#set($s = 'x')#foreach($i in [1..40])#set($s = $s.replace('x', 'xx'))#end",
            "{}",
            "a string over",
        ),
        ("#set($s = $input.body.replace('', $input.body))", "x" * 4000, "a string over"),
        (
            "#set($s = 'x')#foreach($i in [1..40])#set($s = $s.replaceAll('x', 'xx'))#end",
            "{}",
            "a string over",
        ),
        (
            "#set($s = 'x')#foreach($i in [1..40])#set($t = $s + $s)"
            "#set($s = $util.base64Encode($t))#end",
            "{}",
            "a string over",
        ),
        (
            # 1 KB doubled by 15 nested #define blocks: 32 MB, within the nesting bound.
            "#define($d0)"
            + "x" * 1024
            + "#end"
            + "".join(f"#define($d{n})$d{n - 1}$d{n - 1}#end" for n in range(1, 16))
            + "$d15",
            "{}",
            "a string over",
        ),
        # Integers stay within Java's long: repeated squaring does not grow without end.
        (
            "#set($n = 2)#foreach($i in [1..100])#set($n = $n * $n)#end",
            "{}",
            "* overflows a 64-bit integer",
        ),
        ("#set($n = 9223372036854775807 + 1)", "{}", "+ overflows a 64-bit integer"),
        ("#set($n = -9223372036854775807 - 2)", "{}", "- overflows a 64-bit integer"),
    ],
)
def test_limits_fail_with_a_reason(template: str, body: str, fragment: str) -> None:
    with pytest.raises(TemplateError, match=r"^t: line \d+") as caught:
        _render(template, body)
    assert fragment in str(caught.value)


@pytest.mark.parametrize(
    ("template", "fragment"),
    [
        ("#foreach($i in [1..21])#end", "more than 20 iterations of one #foreach"),
        ("#foreach($a in [1..10])#foreach($b in [1..10])#end#end", "more than 50 loop iterations"),
        ("#set($r = [1..51])", "range [1..51] has more than 50 items"),
        (
            # Each macro calls the next twice: 127 calls, nested 7 deep.
            "#macro(m0)#end"
            + "".join(f"#macro(m{n})#m{n - 1}()#m{n - 1}()#end" for n in range(1, 7))
            + "#m6()",
            "more than 50 loop iterations and macro calls",
        ),
        (
            "#define($b)x#end#define($a)$b$b$b$b$b$b$b$b$b$b#end"
            "#foreach($i in [1..6])#set($x = $a)#end",
            "more than 50 loop iterations and macro calls",
        ),
        ("#foreach($i in [1..20])xxxxxx#end", "output over 100 bytes"),
        ("#set($s = 'xxxxxxxxxx')#set($t = \"$s$s$s$s$s$s$s$s$s$s$s\")", "a string over 100 bytes"),
        ("#set($s = 'éééééééééé')$util.urlEncode(\"$s$s$s$s\")", "a string over 100 bytes"),
        (
            "#set($s = 'x')$s.replace('', 'yyyyyyyyyyyyyyyyyyyy').replace('y', 'zzzzzz')",
            "string over",
        ),
        ("#set($s = 'xxxxxxxxxxxxxxxxxxxx')$s.replaceAll('(x)', '$1$1$1$1$1$1')", "a string over"),
        # Splitting into more parts than the rendering may iterate over.
        (
            "#set($s = 'abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz')$s.split('')",
            "more than 50 parts",
        ),
    ],
)
def test_smaller_budgets(template: str, fragment: str) -> None:
    with pytest.raises(TemplateError, match="template work limit") as caught:
        _render(template, budget=_SMALL)
    assert fragment in str(caught.value)


# -- values printed at once: sized before they are built ---------------------------------------


@pytest.mark.parametrize(
    "use",
    ["$l", '#set($t = "$l")', "#set($t = 'a' + $l)", "$util.escapeJavaScript($l)", "$l.toString()"],
)
def test_shared_values_are_sized_before_printing(use: str) -> None:
    # 1000 references to a 10 KB string, three times over: 10 GB of text from 3000 iterations.
    template = (
        "#set($s = $input.body)#set($a = [])#set($b = [])#set($c = [])"
        "#foreach($i in [1..1000])#set($d = $a.add($s))#set($d = $b.add($a))#set($d = $c.add($b))"
        "#end#set($l = $c)" + use
    )
    tracemalloc.start()
    try:
        with pytest.raises(TemplateError, match="template work limit: a string over"):
            _render(template, body="x" * 10_000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50_000_000


def test_a_value_that_contains_itself_is_an_error() -> None:
    with pytest.raises(TemplateError, match="contains itself"):
        _render("#set($l = [])#set($d = $l.add($l))$l")
    with pytest.raises(TemplateError, match="contains itself"):
        _render("#set($m = {})#set($d = $m.put('m', $m))$m")


def test_huge_range_allocates_nothing() -> None:
    tracemalloc.start()
    try:
        with pytest.raises(TemplateError, match="range"):
            _render("#foreach($i in [1..$input.path('$.n')])#end", '{"n": 100000000}')
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000


# -- wall time, through an injected clock -----------------------------------------------------


class _FakeClock:
    """Each reading is one second after the previous one."""

    def __init__(self) -> None:
        self.readings = 0

    def __call__(self) -> float:
        self.readings += 1
        return float(self.readings)


@pytest.mark.parametrize(
    "template",
    [
        "#foreach($i in [1..100])#end",  # checked at each iteration
        "#macro(m)#end#m()#m()#m()#m()#m()#m()#m()#m()#m()#m()",  # at each macro call
        "a$context.stage b$context.stage c$context.stage d$context.stage e$context.stage",  # output
        "#set($s = 'xxxxxxxxxx')#set($t = $s.replaceAll('(x)', '$1'))",  # each match of a group
    ],
)
def test_time_limit_with_a_fake_clock(template: str) -> None:
    clock = _FakeClock()
    budget = RenderBudget(max_seconds=4, clock=clock)
    with pytest.raises(TemplateError, match=r"template work limit: more than 4 s"):
        _render(template, budget=budget)
    assert clock.readings == 6  # the start, then one reading per check until one is late


def test_no_clock_no_time_limit() -> None:
    assert _render("#foreach($i in [1..100])#end", budget=RenderBudget(max_seconds=0)) == ""


def test_time_limit_not_reached() -> None:
    readings: Iterator[float] = iter([100.0, 100.1, 100.2, 100.3, 100.4, 100.5])
    budget = RenderBudget(max_seconds=1, clock=lambda: next(readings))
    assert _render("#foreach($i in [1..2])$i#end", budget=budget) == "12"


# A pattern that backtracks without end on a client's text: one call into the regular
# expression engine must stop at the time bound too, not only the template's own steps.
_BACKTRACKING = "(a|aa)+$"
_CLIENT_TEXT = json.dumps({"s": "a" * 60 + "b"})


@pytest.mark.parametrize(
    "call",
    [
        f"$input.path('$.s').matches('{_BACKTRACKING}')",
        f"$input.path('$.s').replaceAll('{_BACKTRACKING}', 'x')",
        f"$input.path('$.s').replaceFirst('{_BACKTRACKING}', '[$1]')",
        f"$input.path('$.s').split('{_BACKTRACKING}')",
    ],
)
def test_backtracking_regular_expressions_stop_at_the_time_bound(call: str) -> None:
    budget = RenderBudget(max_seconds=0.05, clock=time.monotonic)
    started = time.monotonic()
    with pytest.raises(TemplateError, match=r"template work limit: more than 0\.05 s"):
        _render(call, _CLIENT_TEXT, budget)
    assert time.monotonic() - started < 5  # unbounded, this runs for hours


def test_regular_expressions_work_within_the_time_bound() -> None:
    budget = RenderBudget(clock=time.monotonic)
    text = "$input.path('$.s').replaceAll('a+', '$0-')|$input.path('$.s').split('a').size()"
    assert _render(text, '{"s": "baab"}', budget) == "baa-b|3"
