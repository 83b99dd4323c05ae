"""Config files of any content (wsgate.config.load): a validated model or ConfigError."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import example, given, strategies as st

from tests.fuzz.strategies import json_values, names, texts
from tests.fuzz.test_routing import expressions
from wsgate.config.load import load_config, parse_config
from wsgate.errors import ConfigError

_HERE = Path(__file__).parent


def _some(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """Objects holding any of ``fields``, each fuzzed, or anything at all in its place."""
    return st.one_of(st.fixed_dictionaries({}, optional=fields), json_values)


_templates = st.dictionaries(
    st.sampled_from(["$default", "application/json", "x"]) | names,
    texts | st.sampled_from(["$input.body", '#set($x = "', "#foreach($i in [1..2])$i#end"]),
    max_size=2,
)
_integration = _some(
    {
        "integrationType": st.sampled_from(["AWS_PROXY", "HTTP", "HTTP_PROXY", "MOCK", "AWS", "x"]),
        "integrationUri": st.sampled_from(
            ["fn", "http://127.0.0.1:1/${stageVariables.p}", "mock://"]
        )
        | texts,
        "requestTemplates": _templates,
        "templateSelectionExpression": expressions,
        "requestParameters": st.dictionaries(names, texts, max_size=2),
        "integrationResponses": st.dictionaries(
            st.sampled_from(["$default", "/2\\d\\d/", "/a{4294967296}/", "/(/"]) | texts,
            _some({"responseTemplates": _templates, "templateSelectionExpression": expressions}),
            max_size=2,
        ),
        "timeoutInMillis": st.integers(-10, 40_000),
        "passthroughBehavior": st.sampled_from(["NEVER", "WHEN_NO_MATCH", "x"]),
    }
)
configs = st.fixed_dictionaries(
    {
        "name": st.just("fuzz") | texts,
        "routeSelectionExpression": st.just("$request.body.action") | expressions,
        "stages": st.dictionaries(
            names,
            _some(
                {
                    "stageVariables": st.dictionaries(names, texts | json_values, max_size=2),
                    "accessLogSettings": _some({"format": texts}),
                    "limits": _some({"frameSizeBytes": st.integers(-1, 10**20)}),
                }
            ),
            max_size=2,
        ),
    },
    optional={
        "routes": st.dictionaries(
            st.sampled_from(["$connect", "$default", "$other", ""]) | names,
            _some({"target": names, "routeResponseSelectionExpression": texts}),
            max_size=3,
        ),
        "integrations": st.dictionaries(names, _integration, max_size=2),
        "functions": st.dictionaries(
            names, _some({"handler": texts, "codeUri": texts}), max_size=2
        ),
        "server": _some({"port": st.integers(-1, 70_000), "metrics": st.booleans()}),
    },
)
_yaml_pieces = st.sampled_from(
    [
        "name: x\n",
        "stages: {dev: {}}\n",
        "routeSelectionExpression: $request.body.a\n",
        "a: &a [1]\n",
        "b: *a\n",
        "<<: *a\n",
        "- ",
        ": ",
        "? ",
        "{",
        "}",
        "[",
        "]",
        "!!python/object:os.system ",
        "!!binary ",
        "!!float ",
        "!!timestamp ",
        "2001-13-45",
        "1" * 5000,
        "%YAML 1.1\n",
        "---\n",
        "\t",
        "  ",
        "'",
        '"\\x"',
        "\n",
    ]
)
documents = st.one_of(
    texts,
    st.lists(_yaml_pieces | texts, max_size=12).map("".join),
    configs.map(json.dumps),
    configs.map(lambda data: yaml.safe_dump(data, allow_unicode=True)),
)


@given(documents)
@example("name: 2001-13-45\n")  # PyYAML's constructors raised ValueError out of parse_config
@example("name: !!float xx\n")
@example('name: !!float ""\n')  # the long campaign: IndexError, KeyError, AttributeError
@example("name: !!bool x\n")
@example('name: !!timestamp ""\n')
@example(
    "name: x\nrouteSelectionExpression: $request.body.a\nstages: {dev: {}}\nintegrations:\n"
    "  i: {integrationType: MOCK, integrationResponses: {'/a{4294967296}/': {}}}\n"
)
# Finding 18 (the long campaign): a codeUri holding NUL raised ValueError from Path.resolve().
@example('functions: {f: {handler: a.b, codeUri: "x\\0y"}}\n')
def test_any_text_loads_or_raises_config_error(text):
    try:
        parse_config(text, base_dir=_HERE)
    except ConfigError as error:
        assert error.issues


@given(st.binary(max_size=64) | documents.map(lambda text: text.encode("utf-8", "surrogatepass")))
@example(b"name: \xff\n")
def test_any_file_loads_or_raises_config_error(data):
    # Not tmp_path: atheris calls the test without pytest, so without fixtures.
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "wsgate.yaml"
        path.write_bytes(data)
        try:
            load_config(path)
        except ConfigError as error:
            assert error.issues and error.source == str(path)
