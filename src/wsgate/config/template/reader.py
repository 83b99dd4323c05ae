"""Read a CloudFormation template's text: YAML with the short-form tags, or JSON.

The short forms (``!Ref X``, ``!GetAtt A.B``, ``!Sub …``) become the long forms CloudFormation
itself reads (``{"Ref": "X"}``, ``{"Fn::GetAtt": "A.B"}``), so the rest of the translation sees
one shape. The loader is the config loader's, with its limits on nesting and aliases.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import yaml

from wsgate.config.load import BoundedLoader

__all__ = ["TemplateLoader", "is_template", "read_template"]

# The tags CloudFormation's YAML reads; Ref and Condition keep their bare names.
_TAGS: Final = frozenset(
    {
        "Ref",
        "Condition",
        "Sub",
        "GetAtt",
        "Join",
        "Select",
        "Split",
        "If",
        "Equals",
        "Not",
        "And",
        "Or",
        "FindInMap",
        "Base64",
        "GetAZs",
        "ImportValue",
        "Cidr",
        "Transform",
        "Length",
        "ToJsonString",
    }
)


_RESOLVERS_WITHOUT_DATES: Final = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in BoundedLoader.yaml_implicit_resolvers.items()
}


class TemplateLoader(BoundedLoader):
    """The bounded loader, plus CloudFormation's short-form tags; dates stay text.

    CloudFormation reads ``2010-09-09`` as text, where YAML 1.1 would build a date.
    """

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.yaml_implicit_resolvers = _RESOLVERS_WITHOUT_DATES


def _construct_tag(loader: TemplateLoader, suffix: str, node: yaml.Node) -> Any:
    if suffix not in _TAGS:
        raise yaml.constructor.ConstructorError(
            None, None, f"unknown tag !{suffix}", node.start_mark
        )
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    key = suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
    return {key: value}


TemplateLoader.add_multi_constructor("!", _construct_tag)


def read_template(text: str) -> Any:
    """The template's data; YAML errors propagate as PyYAML raises them."""
    loader = TemplateLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def is_template(data: object) -> bool:
    """True when ``data`` holds an ``AWS::ApiGatewayV2::Api`` with ``ProtocolType: WEBSOCKET``."""
    if not isinstance(data, Mapping):
        return False
    resources = data.get("Resources")
    if not isinstance(resources, Mapping):
        return False
    return any(
        isinstance(resource, Mapping)
        and resource.get("Type") == "AWS::ApiGatewayV2::Api"
        and isinstance(resource.get("Properties"), Mapping)
        and resource["Properties"].get("ProtocolType") == "WEBSOCKET"
        for resource in resources.values()
    )
