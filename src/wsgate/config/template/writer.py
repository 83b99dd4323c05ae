"""A template's data as the text CloudFormation reads: YAML, or JSON.

YAML keeps the long form of intrinsic functions (``Fn::Sub:``), which every tool reads, and
writes mapping templates of several lines as block scalars (``|``) so that they read as code.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

import yaml

__all__ = ["render_template"]

# Long lines stay whole: a mapping template folded at a space would read back the same, but
# not as its author wrote it.
_WIDTH: Final = 1 << 16


class _Dumper(yaml.SafeDumper):
    """PyYAML's safe dumper: block scalars for text of several lines, never aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_text(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    # PyYAML falls back to a quoted scalar where a block one cannot hold the text exactly.
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _represent_text)


def render_template(template: Mapping[str, Any], *, as_json: bool = False) -> str:
    """The template as YAML text, or as JSON when ``as_json``."""
    if as_json:
        return json.dumps(template, indent=2, ensure_ascii=False) + "\n"
    text: str = yaml.dump(
        dict(template), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=_WIDTH
    )
    return text
