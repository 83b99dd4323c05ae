"""Lambda authorizer results and their IAM policies (wsgate.core.authorizer, core.policy)."""

from __future__ import annotations

from typing import Any

from hypothesis import example, given, strategies as st

from tests.fuzz.strategies import json_values, texts
from wsgate.core.authorizer import decide, method_arn, parse_authorizer_result
from wsgate.core.policy import Policy, compile_policy
from wsgate.errors import AuthorizationError, PolicyError

ARN = method_arn("us-east-1", "123456789012", "abc123", "dev", "$connect")
_GLOB = "abcAB:/$-*?."
_patterns = st.text(st.sampled_from(_GLOB), max_size=10) | st.sampled_from(
    [ARN, "*", "execute-api:Invoke", "execute-api:*", "arn:aws:execute-api:*:*:abc123/*"]
)
_arns = st.text(st.sampled_from(_GLOB.replace("*", "").replace("?", "")), max_size=10) | st.just(
    ARN
)
_one_or_many = st.one_of(_patterns, st.lists(_patterns, max_size=3), json_values)
_statements = st.fixed_dictionaries(
    {"Effect": st.sampled_from(["Allow", "Deny", "allow", None])},
    optional={
        "Action": _one_or_many,
        "NotAction": _one_or_many,
        "Resource": _one_or_many,
        "NotResource": _one_or_many,
        "Condition": st.sampled_from([{}, {"IpAddress": {}}, [{}], [1], "x"]),
    },
)
_documents = st.fixed_dictionaries(
    {"Statement": st.one_of(_statements, st.lists(_statements, max_size=3), json_values)},
    optional={"Version": st.sampled_from(["2012-10-17", "2008-10-17", "2020-01-01", None])},
)
results = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {"principalId": texts | json_values, "policyDocument": _documents | json_values},
        optional={
            "context": st.dictionaries(texts, json_values, max_size=3) | json_values,
            "usageIdentifierKey": texts | json_values,
        },
    ),
)


def _glob(pattern: str, text: str) -> bool:
    """IAM wildcards by dynamic programming: ``*`` any run, ``?`` one character."""
    reach = [True] + [False] * len(text)  # reach[j]: pattern so far matches text[:j]
    for char in pattern:
        if char == "*":
            reach = [any(reach[: j + 1]) for j in range(len(text) + 1)]
        else:
            reach = [False] + [
                reach[j] and (char == "?" or char == text[j]) for j in range(len(text))
            ]
    return reach[-1]


def _reference(document: Any, resource: str, action: str) -> str:
    """IAM's evaluation (explicit deny, then allow) over the raw document."""
    raw = document["Statement"]
    allowed = False
    for statement in raw if isinstance(raw, list) else [raw]:
        key = "Action" if "Action" in statement else "NotAction"
        actions = statement[key] if isinstance(statement[key], list) else [statement[key]]
        listed = any(_glob(a.lower(), action.lower()) for a in actions)
        action_ok = listed != (key == "NotAction")
        key = "Resource" if "Resource" in statement else "NotResource"
        resources = statement[key] if isinstance(statement[key], list) else [statement[key]]
        listed = any(_glob(r, resource) for r in resources)
        applies = action_ok and listed != (key == "NotResource")
        if statement.get("Condition") and statement["Effect"] == "Allow":
            applies = False  # no condition holds for an Allow; every one holds for a Deny
        if applies and statement["Effect"] == "Deny":
            return "deny"
        allowed = allowed or applies
    return "allow" if allowed else "implicit_deny"


@given(
    _documents | json_values, _arns, st.sampled_from(["execute-api:Invoke", "EXECUTE-API:invoke"])
)
@example({"Statement": {"Effect": "Allow", "Action": "*", "Resource": "a*b?c"}}, "aXXbYc", "x:y")
def test_policies_compile_or_raise_policy_error_and_evaluate_as_iam(document, resource, action):
    try:
        policy = compile_policy(document)
    except PolicyError:
        return
    assert isinstance(policy, Policy)
    assert policy.evaluate(resource, action) == _reference(document, resource, action)


def _nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


@given(results, st.none() | st.integers(0, 5000), _arns)
# An in-process authorizer can return nesting no JSON parser would let through: measuring it
# raised RecursionError out of decide(). (Depth, not the value, is the argument: Hypothesis
# would recurse as deep to print it.)
@example({"principalId": "u", "policyDocument": {}}, 5000, ARN)
# The long campaign: a lone surrogate (json.loads makes one of "\udc00") raised
# UnicodeEncodeError while the result was measured.
@example({"principalId": "u\udc00", "policyDocument": {}}, None, ARN)
def test_any_result_gets_a_decision(raw, depth, arn):
    if depth is not None:
        raw = {"principalId": "u", "policyDocument": {}, "context": {"a": _nested(depth)}}
    decision = decide(raw, arn)
    assert decision.status in (200, 401, 403, 500)
    assert (decision.result is not None) == (decision.status in (200, 403))
    try:
        parse_authorizer_result(raw)
    except AuthorizationError:
        assert decision.status in (401, 500)
