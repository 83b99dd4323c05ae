"""A template as it is written by the export: its sections, and the logical ids taken.

Logical ids are made from the config's names (``sendmessage`` route: ``SendmessageRoute``);
CloudFormation wants them alphanumeric and unique across parameters and resources, so other
characters are dropped and a clash gets a number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Final

from wsgate.types import JSONObject

__all__ = ["Draft", "get_att", "ref", "sub"]

_WORD: Final = re.compile(r"[A-Za-z0-9]+")
# CloudFormation allows 255 characters; the kind and a number still fit after this.
_MAX_BASE: Final = 200


def ref(logical_id: str) -> JSONObject:
    """``{"Ref": logical_id}``."""
    return {"Ref": logical_id}


def get_att(logical_id: str, attribute: str) -> JSONObject:
    """``{"Fn::GetAtt": [logical_id, attribute]}``."""
    return {"Fn::GetAtt": [logical_id, attribute]}


def sub(text: str) -> JSONObject:
    """``{"Fn::Sub": text}``."""
    return {"Fn::Sub": text}


def _pascal(name: str) -> str:
    words = _WORD.findall(name)
    return "".join(word[:1].upper() + word[1:] for word in words)[:_MAX_BASE]


@dataclass(slots=True)
class Draft:
    """The sections of the template being written."""

    parameters: dict[str, JSONObject] = field(default_factory=dict)
    resources: dict[str, JSONObject] = field(default_factory=dict)
    outputs: dict[str, JSONObject] = field(default_factory=dict)
    _taken: set[str] = field(default_factory=set)

    def logical_id(self, name: str, kind: str) -> str:
        """A new logical id for the ``kind`` (``Route``, ``Stage``, ...) called ``name``.

        A name that ends with the kind already (a template's ``ChatIntegration``) keeps it once.
        """
        base = _pascal(name).removesuffix(kind)
        candidate, number = base + kind, 2
        while candidate in self._taken:
            candidate, number = f"{base}{number}{kind}", number + 1
        self._taken.add(candidate)
        return candidate

    def add_resource(
        self, logical_id: str, kind: str, properties: JSONObject, **attributes: Any
    ) -> str:
        """Add a resource (``attributes``: ``DependsOn``, ``Metadata``); returns its id."""
        self.resources[logical_id] = {"Type": kind, **attributes, "Properties": properties}
        return logical_id

    def add_parameter(self, logical_id: str, description: str, default: str | None) -> str:
        """Add a String parameter, with a default when one is given; returns its id."""
        parameter: JSONObject = {"Type": "String", "Description": description}
        if default is not None:
            parameter["Default"] = default
        self.parameters[logical_id] = parameter
        return logical_id

    def add_output(self, name: str, description: str, value: object) -> None:
        """Add an output; outputs have ids of their own, apart from resources'."""
        base = _pascal(name)
        output_id, number = base, 2
        while output_id in self.outputs:
            output_id, number = f"{base}{number}", number + 1
        self.outputs[output_id] = {"Description": description, "Value": value}
