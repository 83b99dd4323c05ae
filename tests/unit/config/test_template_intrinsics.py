"""CloudFormation's intrinsic functions, evaluated with literals."""

from __future__ import annotations

from typing import Any

import pytest

from wsgate.config.template.intrinsics import NO_VALUE, Resolver, TemplateIssue, as_text


class _Resources:
    """Two resources: Fn (a function) and Table."""

    def ref(self, name: str, place: str) -> object:
        if name not in ("Fn", "Table"):
            raise TemplateIssue(place, f"no parameter or resource named {name!r}")
        return f"{name}-physical"

    def get_att(self, name: str, attribute: str, place: str) -> object:
        if attribute == "List":
            return ["x"]
        return f"arn:{name}:{attribute}"


def _resolver(**conditions: Any) -> Resolver:
    return Resolver(
        values={"AWS::Region": "eu-west-1", "Stage": "dev", "Names": ["a", "b"], "Count": "2"},
        mappings={"Sizes": {"dev": {"Memory": 256}}, "Bad": "x"},
        conditions={"IsDev": {"Fn::Equals": [{"Ref": "Stage"}, "dev"]}, **conditions},
        references=_Resources(),
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("text", "text"),
        (3, 3),
        ({"Ref": "Stage"}, "dev"),
        ({"Ref": "Fn"}, "Fn-physical"),
        ({"Ref": "AWS::NoValue"}, NO_VALUE),
        ({"a": {"Ref": "AWS::NoValue"}, "b": 1}, {"b": 1}),
        ([{"Ref": "AWS::NoValue"}, 1], [1]),
        ({"Fn::GetAtt": "Fn.Arn"}, "arn:Fn:Arn"),
        ({"Fn::GetAtt": "Db.Endpoint.Address"}, "arn:Db:Endpoint.Address"),
        ({"Fn::GetAtt": ["Fn", {"Ref": "Stage"}]}, "arn:Fn:dev"),
        ({"Fn::Sub": "${AWS::Region}-${Stage}-${Fn}"}, "eu-west-1-dev-Fn-physical"),
        ({"Fn::Sub": "${Fn.Arn}/x"}, "arn:Fn:Arn/x"),
        ({"Fn::Sub": "${!Literal}-${!stageVariables.fn}"}, "${Literal}-${stageVariables.fn}"),
        ({"Fn::Sub": ["${A}/${Stage}", {"A": {"Ref": "Count"}}]}, "2/dev"),
        ({"Fn::Sub": ["${A.B}", {"A.B": 4}]}, "4"),
        ({"Fn::Join": ["-", ["a", {"Ref": "Stage"}, 1, True]]}, "a-dev-1-true"),
        ({"Fn::Join": [",", {"Ref": "Names"}]}, "a,b"),
        ({"Fn::Select": ["1", ["a", "b"]]}, "b"),
        ({"Fn::Select": [0, {"Fn::Split": [",", "x,y"]}]}, "x"),
        ({"Fn::Split": ["/", {"Ref": "Stage"}]}, ["dev"]),
        ({"Fn::If": ["IsDev", "yes", "no"]}, "yes"),
        ({"Fn::If": ["IsDev", {"Ref": "AWS::NoValue"}, "no"]}, NO_VALUE),
        ({"Fn::Equals": [{"Ref": "Count"}, 2]}, True),
        ({"Fn::Equals": [True, "true"]}, True),
        ({"Fn::Equals": [["a"], ["a"]]}, True),
        ({"Fn::Not": [{"Condition": "IsDev"}]}, False),
        ({"Fn::And": [{"Condition": "IsDev"}, {"Fn::Equals": ["a", "b"]}]}, False),
        ({"Fn::Or": [{"Fn::Equals": ["a", "b"]}, "true"]}, True),
        ({"Fn::FindInMap": ["Sizes", {"Ref": "Stage"}, "Memory"]}, 256),
        ({"Fn::Base64": "hi"}, "aGk="),
        ({"Fn::GetAZs": ""}, ["eu-west-1a", "eu-west-1b", "eu-west-1c"]),
        ({"Fn::GetAZs": "us-east-2"}, ["us-east-2a", "us-east-2b", "us-east-2c"]),
        ({"Key": "v", "Other": "w"}, {"Key": "v", "Other": "w"}),
    ],
)
def test_intrinsic_functions(value: object, expected: object) -> None:
    assert _resolver().resolve(value, "P") == expected


@pytest.mark.parametrize(
    ("value", "place", "message"),
    [
        ({"Ref": 3}, "P.Ref", "expected the name of a parameter or resource"),
        ({"Ref": "AWS::Nope"}, "P.Ref", "unknown pseudo-parameter AWS::Nope"),
        ({"Ref": "Missing"}, "P.Ref", "no parameter or resource named 'Missing'"),
        ({"Condition": 1}, "P.Condition", "expected the name of a condition"),
        (
            {"Fn::GetAtt": "NoDot"},
            "P.Fn::GetAtt",
            "expected 'Resource.Attribute' or [Resource, Attribute]",
        ),
        ({"Fn::Sub": 3}, "P.Fn::Sub", "expected a string, or [string, {variables}]"),
        ({"Fn::Sub": "${Missing}"}, "P.Fn::Sub", "no parameter or resource named 'Missing'"),
        ({"Fn::Sub": "${Names}"}, "P.Fn::Sub", "expected a string, got a list"),
        ({"Fn::Sub": "${Fn.List}"}, "P.Fn::Sub", "expected a string, got a list"),
        ({"Fn::Join": "x"}, "P.Fn::Join", "expected a list of 2 values"),
        ({"Fn::Join": ["-", "x"]}, "P.Fn::Join", "expected a list of values to join"),
        ({"Fn::Join": ["-", [{"a": 1}]]}, "P.Fn::Join", "expected a string, got a mapping"),
        ({"Fn::Select": [0, "x"]}, "P.Fn::Select", "expected a list to select from"),
        ({"Fn::Select": [2, ["a"]]}, "P.Fn::Select", "index 2 is not in a list of 1"),
        ({"Fn::Select": ["-1", ["a"]]}, "P.Fn::Select", "index -1 is not in a list of 1"),
        ({"Fn::If": [1, "a", "b"]}, "P.Fn::If", "expected the name of a condition first"),
        ({"Fn::If": ["Nope", "a", "b"]}, "P.Fn::If", "no condition named 'Nope' in Conditions"),
        ({"Fn::Not": [{"Ref": "Stage"}]}, "P.Fn::Not", "expected a condition, got 'dev'"),
        (
            {"Fn::And": [{"Condition": "IsDev"}]},
            "P.Fn::And",
            "expected a list of 2 to 10 conditions",
        ),
        (
            {"Fn::FindInMap": ["Nope", "a", "b"]},
            "P.Fn::FindInMap",
            "no mapping named 'Nope' in Mappings",
        ),
        (
            {"Fn::FindInMap": ["Bad", "a", "b"]},
            "P.Fn::FindInMap",
            "no mapping named 'Bad' in Mappings",
        ),
        (
            {"Fn::FindInMap": ["Sizes", "prod", "Memory"]},
            "P.Fn::FindInMap",
            "mapping 'Sizes' has no value for prod.Memory",
        ),
        (
            {"Fn::FindInMap": ["Sizes", "dev", "Cpu"]},
            "P.Fn::FindInMap",
            "mapping 'Sizes' has no value for dev.Cpu",
        ),
        ({"Fn::ImportValue": "x"}, "P", "Fn::ImportValue is not supported here"),
        ({"Fn::Base64": None}, "P.Fn::Base64", "expected a string, got nothing"),
        ({"Fn::Base64": object()}, "P.Fn::Base64", "expected a string, got object"),
    ],
)
def test_errors_name_the_place(value: object, place: str, message: str) -> None:
    with pytest.raises(TemplateIssue) as caught:
        _resolver().resolve(value, "P")
    assert (caught.value.place, caught.value.message) == (place, message)
    assert str(caught.value) == f"{place}: {message}"


def test_conditions_are_evaluated_once_and_cycles_refused() -> None:
    resolver = _resolver(A={"Condition": "B"}, B={"Fn::Not": [{"Condition": "A"}]})
    assert resolver.condition("IsDev", "P") is True
    assert resolver.condition("IsDev", "P") is True  # remembered
    with pytest.raises(TemplateIssue, match="condition 'A' depends on itself"):
        resolver.condition("A", "P")


def test_resolve_each_reports_every_bad_property() -> None:
    properties = {
        "A": {"Ref": "Missing"},
        "B": {"Ref": "Stage"},
        "C": {"Ref": "AWS::NoValue"},
        "D": {"Ref": 1},
    }
    resolved, issues = _resolver().resolve_each(properties, "Resources.X.Properties")
    assert resolved == {"B": "dev"}
    assert [str(issue) for issue in issues] == [
        "Resources.X.Properties.A.Ref: no parameter or resource named 'Missing'",
        "Resources.X.Properties.D.Ref: expected the name of a parameter or resource",
    ]


@pytest.mark.parametrize(
    ("value", "text"), [(True, "true"), (False, "false"), (1.5, "1.5"), ("a", "a")]
)
def test_as_text(value: object, text: str) -> None:
    assert as_text(value, "P") == text


def test_no_value_shows_its_name() -> None:
    assert repr(NO_VALUE) == "AWS::NoValue"
