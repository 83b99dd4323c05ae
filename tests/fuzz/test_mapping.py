"""Request parameters and integration response keys from any config (wsgate.core.mapping)."""

from __future__ import annotations

import json

from hypothesis import example, given, strategies as st

from tests.fuzz.strategies import json_objects, names, texts
from wsgate.core.mapping import (
    MappingError,
    ParameterSource,
    apply_request_parameters,
    compile_integration_response_keys,
    compile_request_parameters,
)

_targets = st.builds(
    "{}{}".format,
    st.sampled_from(
        [
            "integration.request.header.",
            "integration.request.querystring.",
            "integration.request.path.",
            "integration.response.header.",
            "",
        ]
    ),
    names,
)
_sources = st.one_of(
    texts,
    texts.map(lambda text: f"'{text}'"),
    st.builds(
        "{}{}".format,
        st.sampled_from(
            [
                "route.request.header.",
                "route.request.multivalueheader.",
                "route.request.querystring.",
                "route.request.multivaluequerystring.",
                "stageVariables.",
                "context.",
                "context.authorizer.",
                "route.request.body",
                "route.request.body.",
                "route.request.body.$",
                "route.request.body[",
            ]
        ),
        names | st.sampled_from(["a", "a.b", "[0]", "['x y']", "$.a", "..a", "[*]", "9" * 5000]),
    ),
)
_pairs = st.lists(st.tuples(names | texts, texts), max_size=4)
sources = st.builds(
    ParameterSource,
    headers=_pairs,
    query=_pairs,
    body=st.none()
    | texts
    | json_objects.map(json.dumps)
    | st.integers(0, 3000).map(lambda depth: '{"a":' * depth + "1" + "}" * depth),
    context=json_objects,
    stage_variables=st.dictionaries(names, texts, max_size=3),
)


@given(st.dictionaries(_targets, _sources, max_size=5), sources)
@example(
    {"integration.request.header.x": "route.request.body.a"},
    ParameterSource(body='{"a": "1\\r\\n2"}'),
)
@example(
    {"integration.request.path.p": "route.request.body[" + "9" * 5000 + "]"}, ParameterSource()
)
def test_request_parameters_compile_or_raise_mapping_error_and_apply(parameters, source):
    try:
        compiled = compile_request_parameters(parameters)
    except MappingError as error:
        assert error.problems and all(p.key in parameters for p in error.problems)
        return
    mapped = apply_request_parameters(compiled, source)
    for _, value in mapped.headers:
        # Client data never splits a header.
        assert not any(char in value for char in "\r\n\0")
    assert len({name.lower() for name, _ in mapped.headers}) == len(mapped.headers)


# Values stay short: a config's regex may backtrack exponentially ("/(a*)*b/"), as in Java.
@given(
    st.text(st.sampled_from("ab*/\\.{}()[]?+^$|0123456789,:"), max_size=12),
    st.none() | st.text(st.sampled_from("ab0:. "), max_size=16),
)
@example("/a{4294967296}/", None)
@example("/" + "(" * 5000 + ")" * 5000 + "/", None)
def test_integration_response_keys_compile_or_raise_mapping_error(key, value):
    try:
        compiled = compile_integration_response_keys(["$default", key])
    except MappingError as error:
        assert [problem.key for problem in error.problems] == [key]
        return
    selected = compiled.match(value)
    assert selected in ("$default", key)
