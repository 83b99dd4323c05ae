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
