"""CloudFormation's intrinsic functions, evaluated over a template's values.

``Ref``, ``Fn::GetAtt``, ``Fn::Sub``, ``Fn::Join``, ``Fn::Select``, ``Fn::Split``, ``Fn::If``
with the condition functions, ``Fn::FindInMap`` and ``Fn::Base64``. What a name refers to
(parameters, pseudo-parameters, resources) comes from outside; ``AWS::NoValue`` removes the
value that holds it, as CloudFormation does.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from typing import Any, Final, Protocol

from wsgate.errors import ConfigIssue

__all__ = ["NO_VALUE", "References", "Resolver", "TemplateIssue", "as_text"]


class TemplateIssue(Exception):
    """A value of the template cannot be evaluated; ``place`` is where it is."""

    def __init__(self, place: str, message: str) -> None:
        super().__init__(f"{place}: {message}")
        self.place = place
        self.message = message


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE: Final = _NoValue()


class References(Protocol):
    """What the template's resources stand for: ``Ref`` and ``Fn::GetAtt`` values."""

    def ref(self, name: str, place: str) -> object:
        """The ``Ref`` value of resource ``name``; raises TemplateIssue if there is none."""

    def get_att(self, name: str, attribute: str, place: str) -> object:
        """An attribute of resource ``name``; raises TemplateIssue if it has none."""


def as_text(value: object, place: str) -> str:
    """A scalar as CloudFormation passes it to a string property.

    Raises:
        TemplateIssue: ``value`` is a list or a mapping.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise TemplateIssue(place, f"expected a string, got {_kind(value)}")


def _kind(value: object) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return "nothing" if value is None else type(value).__name__


_SUB_VARIABLE: Final = re.compile(r"\$\{([^}]*)\}")


class Resolver:
    """Evaluates intrinsic functions, given parameters, mappings, conditions and resources."""

    def __init__(
        self,
        *,
        values: Mapping[str, object],
        mappings: Mapping[str, Any],
        conditions: Mapping[str, Any],
        references: References,
    ) -> None:
        self._values = values
        self._mappings = mappings
        self._conditions = conditions
        self._references = references
        self._known: dict[str, bool] = {}
        self._evaluating: set[str] = set()
        self._functions: dict[str, Callable[[Any, str], object]] = {
            "Ref": self._ref,
            "Condition": self._condition_function,
            "Fn::GetAtt": self._get_att,
            "Fn::Sub": self._sub,
            "Fn::Join": self._join,
            "Fn::Select": self._select,
            "Fn::Split": self._split,
            "Fn::If": self._if,
            "Fn::Equals": self._equals,
            "Fn::Not": self._not,
            "Fn::And": self._and,
            "Fn::Or": self._or,
            "Fn::FindInMap": self._find_in_map,
            "Fn::Base64": self._base64,
            "Fn::GetAZs": self._get_azs,
        }

    def resolve(self, value: object, place: str) -> Any:
        """``value`` with every intrinsic function evaluated (``NO_VALUE`` if it is removed).

        Raises:
            TemplateIssue: the first function that cannot be evaluated.
        """
        if isinstance(value, dict):
            if len(value) == 1:
                (key, argument), *_ = value.items()
                if key in self._functions:
                    return self._functions[key](argument, f"{place}.{key}")
                if key.startswith("Fn::"):
                    raise TemplateIssue(place, f"{key} is not supported here")
            resolved = {k: self.resolve(v, f"{place}.{k}") for k, v in value.items()}
            return {k: v for k, v in resolved.items() if v is not NO_VALUE}
        if isinstance(value, list):
            items = [self.resolve(item, f"{place}.{index}") for index, item in enumerate(value)]
            return [item for item in items if item is not NO_VALUE]
        return value

    def resolve_each(
        self, properties: Mapping[str, Any], place: str
    ) -> tuple[dict[str, Any], list[ConfigIssue]]:
        """Each property evaluated on its own, so that one bad property hides no other."""
        resolved: dict[str, Any] = {}
        issues: list[ConfigIssue] = []
        for key, value in properties.items():
            try:
                result = self.resolve(value, f"{place}.{key}")
            except TemplateIssue as issue:
                issues.append(ConfigIssue(issue.place, issue.message))
                continue
            if result is not NO_VALUE:
                resolved[key] = result
        return resolved, issues

    def condition(self, name: str, place: str) -> bool:
        """The value of condition ``name`` of the ``Conditions`` section.

        Raises:
            TemplateIssue: it does not exist, refers to itself, or is not a condition.
        """
        if name in self._known:
            return self._known[name]
        if name not in self._conditions:
            raise TemplateIssue(place, f"no condition named {name!r} in Conditions")
        if name in self._evaluating:
            raise TemplateIssue(place, f"condition {name!r} depends on itself")
        self._evaluating.add(name)
        try:
            result = self._truth(self._conditions[name], f"Conditions.{name}")
        finally:
            self._evaluating.discard(name)
        self._known[name] = result
        return result

    def _truth(self, value: object, place: str) -> bool:
        result = self.resolve(value, place)
        if isinstance(result, bool):
            return result
        if result in ("true", "false"):
            return bool(result == "true")
        raise TemplateIssue(place, f"expected a condition, got {result!r}")

    def _arguments(self, argument: object, place: str, count: int) -> list[Any]:
        if not isinstance(argument, list) or len(argument) != count:
            raise TemplateIssue(place, f"expected a list of {count} values")
        return argument

    def _text(self, value: object, place: str) -> str:
        return as_text(self.resolve(value, place), place)

    def _ref(self, argument: object, place: str) -> object:
        if not isinstance(argument, str):
            raise TemplateIssue(place, "expected the name of a parameter or resource")
        if argument == "AWS::NoValue":
            return NO_VALUE
        if argument in self._values:
            return self._values[argument]
        if argument.startswith("AWS::"):
            raise TemplateIssue(place, f"unknown pseudo-parameter {argument}")
        return self._references.ref(argument, place)

    def _condition_function(self, argument: object, place: str) -> bool:
        if not isinstance(argument, str):
            raise TemplateIssue(place, "expected the name of a condition")
        return self.condition(argument, place)

    def _get_att(self, argument: object, place: str) -> object:
        if isinstance(argument, str) and "." in argument:
            name, _, attribute = argument.partition(".")
        elif isinstance(argument, list) and len(argument) == 2:
            name = self._text(argument[0], place)
            attribute = self._text(argument[1], place)
        else:
            raise TemplateIssue(place, "expected 'Resource.Attribute' or [Resource, Attribute]")
        return self._references.get_att(name, attribute, place)

    def _sub(self, argument: object, place: str) -> str:
        variables: dict[str, Any] = {}
        if isinstance(argument, list) and len(argument) == 2 and isinstance(argument[1], dict):
            text, raw = argument
            variables = {name: self.resolve(v, f"{place}.{name}") for name, v in raw.items()}
        else:
            text = argument
        if not isinstance(text, str):
            raise TemplateIssue(place, "expected a string, or [string, {variables}]")

        def substitute(match: re.Match[str]) -> str:
            name = match[1]
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return as_text(variables[name], place)
            if "." in name and name not in self._values:
                resource, _, attribute = name.partition(".")
                return as_text(self._references.get_att(resource, attribute, place), place)
            return as_text(self._ref(name, place), place)

        return _SUB_VARIABLE.sub(substitute, text)

    def _join(self, argument: object, place: str) -> str:
        delimiter, items = self._arguments(argument, place, 2)
        values = self.resolve(items, place)
        if not isinstance(values, list):
            raise TemplateIssue(place, "expected a list of values to join")
        return as_text(delimiter, place).join(as_text(value, place) for value in values)

    def _select(self, argument: object, place: str) -> object:
        index, items = self._arguments(argument, place, 2)
        position = self._text(index, place)
        values = self.resolve(items, place)
        if not isinstance(values, list):
            raise TemplateIssue(place, "expected a list to select from")
        if not position.isdigit() or int(position) >= len(values):
            raise TemplateIssue(place, f"index {position} is not in a list of {len(values)}")
        return values[int(position)]

    def _split(self, argument: object, place: str) -> list[str]:
        delimiter, text = self._arguments(argument, place, 2)
        return self._text(text, place).split(as_text(delimiter, place))

    def _if(self, argument: object, place: str) -> object:
        name, if_true, if_false = self._arguments(argument, place, 3)
        if not isinstance(name, str):
            raise TemplateIssue(place, "expected the name of a condition first")
        chosen = if_true if self.condition(name, place) else if_false
        return self.resolve(chosen, place)

    def _equals(self, argument: object, place: str) -> bool:
        first, second = self._arguments(argument, place, 2)
        return _scalar_text(self.resolve(first, place)) == _scalar_text(self.resolve(second, place))

    def _not(self, argument: object, place: str) -> bool:
        (value,) = self._arguments(argument, place, 1)
        return not self._truth(value, place)

    def _conditions_list(self, argument: object, place: str) -> list[Any]:
        if not isinstance(argument, list) or not 2 <= len(argument) <= 10:
            raise TemplateIssue(place, "expected a list of 2 to 10 conditions")
        return argument

    def _and(self, argument: object, place: str) -> bool:
        return all(self._truth(item, place) for item in self._conditions_list(argument, place))

    def _or(self, argument: object, place: str) -> bool:
        return any(self._truth(item, place) for item in self._conditions_list(argument, place))

    def _find_in_map(self, argument: object, place: str) -> object:
        name, first, second = (
            self._text(item, place) for item in self._arguments(argument, place, 3)
        )
        table = self._mappings.get(name)
        if not isinstance(table, dict):
            raise TemplateIssue(place, f"no mapping named {name!r} in Mappings")
        row = table.get(first)
        if not isinstance(row, dict) or second not in row:
            raise TemplateIssue(place, f"mapping {name!r} has no value for {first}.{second}")
        return row[second]

    def _base64(self, argument: object, place: str) -> str:
        return base64.b64encode(self._text(argument, place).encode("utf-8")).decode("ascii")

    def _get_azs(self, argument: object, place: str) -> list[str]:
        region = self._text(argument, place) or str(self._values["AWS::Region"])
        return [f"{region}{zone}" for zone in "abc"]


def _scalar_text(value: object) -> object:
    """Scalars compare as text (``!Equals [!Ref Count, 2]``); lists and mappings as they are."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, int | float) else value
