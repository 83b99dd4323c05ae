"""A template's ``Parameters``: defaults, overrides, and the constraints each value must meet."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from wsgate.config.base import as_mapping
from wsgate.config.template.intrinsics import as_text
from wsgate.errors import ConfigIssue

__all__ = ["parameter_values"]

# CDK's stacks read the bootstrap version from SSM only to check it in Rules, which are not
# evaluated here.
_IGNORED: Final = frozenset({"BootstrapVersion"})
_LIST_TYPES: Final = ("CommaDelimitedList", "List<")


def parameter_values(
    parameters: Mapping[str, Any], overrides: Mapping[str, str]
) -> tuple[dict[str, object], list[ConfigIssue]]:
    """Each parameter's value (its override, else its default) and every problem found."""
    values: dict[str, object] = {}
    issues: list[ConfigIssue] = []
    for name in overrides:
        if name not in parameters:
            issues.append(ConfigIssue(f"Parameters.{name}", "overridden, but not declared"))
    for name, declaration in parameters.items():
        place = f"Parameters.{name}"
        if name in _IGNORED and name not in overrides:
            continue
        try:
            value = _value(str(name), as_mapping(declaration), overrides, place)
        except ValueError as error:
            issues.append(ConfigIssue(place, str(error)))
            continue
        values[name] = value
    return values, issues


def _value(
    name: str, declaration: Mapping[str, Any], overrides: Mapping[str, str], place: str
) -> object:
    kind = str(declaration.get("Type", "String"))
    if name in overrides:
        text = overrides[name]
    elif kind.startswith("AWS::SSM::Parameter::Value<"):
        raise ValueError(
            f"{kind} is read from SSM Parameter Store, which is not reachable here: "
            f"give its value with --parameter-overrides {name}=VALUE"
        )
    elif "Default" in declaration:
        text = as_text(declaration["Default"], place)
    else:
        raise ValueError(f"no value: give a Default, or --parameter-overrides {name}=VALUE")
    if kind.startswith(_LIST_TYPES):
        items = [item.strip() for item in text.split(",")] if text else []
        for item in items:
            _check(item, declaration, kind)
        return items
    _check(text, declaration, kind)
    return text


def _check(text: str, declaration: Mapping[str, Any], kind: str) -> None:
    allowed = declaration.get("AllowedValues")
    if isinstance(allowed, list) and text not in [str(item) for item in allowed]:
        choices = ", ".join(str(item) for item in allowed)
        raise ValueError(f"{text!r} is not one of the AllowedValues ({choices})")
    pattern = declaration.get("AllowedPattern")
    if isinstance(pattern, str) and re.fullmatch(pattern, text) is None:
        raise ValueError(f"{text!r} does not match the AllowedPattern {pattern}")
    if kind in ("Number", "List<Number>"):
        try:
            float(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a Number") from None
