"""The base of every config model: camelCase names as apigatewayv2 writes them, frozen, strict."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

__all__ = ["Model", "as_mapping"]


def as_mapping(value: object) -> Mapping[str, Any]:
    """A raw section as a mapping; anything else as empty (the model reports its type)."""
    return value if isinstance(value, dict) else {}


class Model(BaseModel):
    """A config section: fields in snake_case, read from camelCase; unknown fields refused."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        extra="forbid",
    )
