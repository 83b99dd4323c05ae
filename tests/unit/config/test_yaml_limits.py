"""Config documents that are cheap to write and costly to use: aliases that expand, deep nesting."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from wsgate.config.load import load_config, parse_config
from wsgate.errors import ConfigError, ConfigIssue

EXAMPLES = Path(__file__).parents[3] / "examples"


def _refusal(text: str) -> ConfigIssue:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, base_dir=Path("."), source="api.yaml")
    [issue] = caught.value.issues
    assert isinstance(caught.value.__cause__, yaml.YAMLError)
    return issue


def _laughs(levels: int, width: int) -> str:
    """Nine anchors of nine aliases each stand for 9**9 (387 million) strings."""
    lines = ["name: laughs", "stages:", "  dev:", "    stageVariables:", '      a0: &a0 "lol"']
    for level in range(1, levels + 1):
        aliases = ", ".join([f"*a{level - 1}"] * width)
        lines.append(f"      a{level}: &a{level} [{aliases}]")
    return "\n".join(lines) + "\n"


def test_a_billion_laughs_is_refused_at_the_alias_that_goes_too_far():
    issue = _refusal(_laughs(9, 9))
    # Level 6's aliases each add 66430 nodes; the second of them passes the budget of 100000.
    assert issue.path == "line 11, column 16"
    assert issue.message == (
        "aliases expand to more than 100000 values in all (*a5 adds 66430); "
        "repeat less through anchors and aliases"
    )


def test_aliases_may_add_up_to_the_budget():
    anchor = "base: &base [" + ", ".join(["x"] * 999) + "]\n"  # 1000 nodes with the list
    within = anchor + "copies: [" + ", ".join(["*base"] * 100) + "]\n"
    # The aliases pass; only the unknown fields are refused, by the model.
    with pytest.raises(ConfigError) as caught:
        parse_config(within, base_dir=Path("."))
    assert ConfigIssue("copies", "unknown field") in caught.value.issues
    beyond = anchor + "copies: [" + ", ".join(["*base"] * 101) + "]\n"
    assert _refusal(beyond).message.startswith("aliases expand to more than 100000 values")


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("name: x\nloop: &a [*a]\n", "line 2, column 11"),
        ("name: x\nloop: &a {inner: {again: *a}}\n", "line 2, column 26"),
    ],
)
def test_an_alias_inside_its_own_anchor_is_refused(text, where):
    issue = _refusal(text)
    assert issue == ConfigIssue(where, "alias *a refers to a collection that contains it")


def test_the_shared_environment_of_the_chat_example_still_loads():
    config = load_config(EXAMPLES / "chat" / "wsgate.yaml")
    environments = [function.environment for function in config.functions.values()]
    assert len(environments) > 2
    assert all(environment == environments[0] for environment in environments)
    assert environments[0]["TABLE_NAME"] == "chat"


def test_anchors_aliases_and_merge_keys_still_work():
    text = """
name: shared
routeSelectionExpression: $request.body.action
stages:
  dev: {stageVariables: &vars {table: chat}}
  prod: {stageVariables: {<<: *vars, region: eu-west-1}}
routes:
  $default: {target: mock}
integrations:
  mock: &mock {integrationType: MOCK, requestTemplates: {$default: &ok '{"statusCode": 200}'}}
  other: {<<: *mock, requestTemplates: {$default: *ok}}
"""
    config = parse_config(text, base_dir=Path("."))
    assert config.stages["prod"].stage_variables == {"table": "chat", "region": "eu-west-1"}
    assert config.integrations["other"].request_templates == {"$default": '{"statusCode": 200}'}


@pytest.mark.parametrize(
    "text",
    [
        '{"name": "deep", "stages": {"dev": {"stageVariables": {"a": '
        + "[" * 10_000
        + "]" * 10_000
        + "}}}}",
        "name: deep\nstages: {dev: {stageVariables: {a: " + "{a: " * 10_000 + "1" + "}" * 10_003,
        "name: deep\n" + "".join(f"{' ' * level}k:\n" for level in range(10_000)),
        "name: deep\nx:\n" + "".join(f"{' ' * (level + 1)}-\n" for level in range(10_000)),
    ],
    ids=["json", "yaml-flow", "yaml-block-mappings", "yaml-block-sequences"],
)
def test_deep_nesting_is_refused_not_a_recursion_error(text):
    issue = _refusal(text)
    assert issue.message == "nested more than 100 levels deep"
    assert issue.path.startswith("line ")


def test_nesting_up_to_the_limit_reaches_the_model():
    def nested(levels: int) -> str:
        # The top-level mapping and the "x" list are two of the levels.
        inner = json.loads("[" * (levels - 1) + "]" * (levels - 1))
        return json.dumps({"name": "deep", "x": inner})

    with pytest.raises(ConfigError) as caught:
        parse_config(nested(100), base_dir=Path("."))
    assert ConfigIssue("x", "unknown field") in caught.value.issues
    assert _refusal(nested(101)).message == "nested more than 100 levels deep"


@pytest.mark.parametrize(
    ("text", "issue"),
    [
        # Found by fuzzing: PyYAML's constructors raised ValueError out of parse_config.
        (
            "name: 2001-13-45\n",
            ConfigIssue(
                "line 1, column 7", "this timestamp cannot be read: month must be in 1..12"
            ),
        ),
        (
            "name: x\nstages: {dev: {stageVariables: {a: [!!float xx]}}}\n",
            ConfigIssue(
                "line 2, column 37",
                "this float cannot be read: could not convert string to float: 'xx'",
            ),
        ),
        (
            "name: 1" + "0" * 5000 + "\n",
            ConfigIssue(
                "line 1, column 7",
                "this int cannot be read: Exceeds the limit (4300 digits) for integer string "
                "conversion: value has 5001 digits; use sys.set_int_max_str_digits() to increase "
                "the limit",
            ),
        ),
        # Found by the long campaign: other constructors fail with other plain errors.
        ('name: !!float ""\n', ConfigIssue("line 1, column 7", "this float cannot be read")),
        ("name: !!bool x\n", ConfigIssue("line 1, column 7", "this bool cannot be read")),
        (
            'name: !!timestamp ""\n',
            ConfigIssue("line 1, column 7", "this timestamp cannot be read"),
        ),
    ],
    ids=["timestamp", "float", "int", "empty-float", "bool", "empty-timestamp"],
)
def test_well_formed_values_that_cannot_be_built_are_config_errors(text, issue):
    assert _refusal(text) == issue


_MINIMAL = {"name": "x", "routeSelectionExpression": "$request.body.a", "stages": {"dev": {}}}


@pytest.mark.parametrize(
    ("description", "expected"),
    [
        ("\U0001f600 é", "\U0001f600 é"),  # json.dumps writes "\ud83d\ude00 \u00e9"
        ("plain", "plain"),
    ],
)
def test_json_escapes_of_characters_past_the_bmp_are_paired(description, expected):
    # Found by fuzzing: PyYAML read the pair as two lone surrogates, which broke templates.
    config = parse_config(json.dumps({**_MINIMAL, "description": description}), base_dir=Path("."))
    assert config.description == expected


@pytest.mark.parametrize("text", ["a\ud800", "\udfff", "\ude00\ud83d"])
def test_a_lone_surrogate_is_refused(text):
    issue = _refusal(json.dumps({**_MINIMAL, "description": text}))
    assert issue.message == "a string holds a lone surrogate (\\ud800-\\udfff)"
    assert issue.path.startswith("line 1, column ")


def test_tags_the_safe_loader_does_not_know_stay_yaml_errors():
    issue = _refusal("name: !!python/object/apply:os.system [echo]\n")
    assert issue == ConfigIssue(
        "line 1, column 7",
        "not valid YAML or JSON: could not determine a constructor for the tag "
        "'tag:yaml.org,2002:python/object/apply:os.system'",
    )
