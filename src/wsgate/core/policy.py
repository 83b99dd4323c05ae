"""IAM policy evaluation for the documents Lambda authorizers return (§6.3 of the AWS reference).

API Gateway evaluates the ``policyDocument`` of an authorizer's result against the action
``execute-api:Invoke`` on the route's method ARN, with IAM's rules: an explicit ``Deny`` that
matches wins; otherwise a matching ``Allow`` allows; otherwise the request is implicitly denied.

Matching follows IAM: ``*`` stands for any run of characters (``/`` and ``:`` included) and ``?``
for exactly one; actions compare case-insensitively, resources case-sensitively. ``NotAction``
and ``NotResource`` match everything their list does not.

What IAM has and an authorizer policy cannot use here, wsgate resolves to the safe side: a request
carries no condition keys, so a statement with a ``Condition`` is taken as if its condition held
for a ``Deny`` and as if it failed for an ``Allow``. (``Condition`` may also be a list of
objects, the form aws-lambda-powertools' authorizer helper writes.) Policy variables
(``${aws:username}``) are not expanded; they match literally.

A malformed document raises :class:`~wsgate.errors.PolicyError` naming the element at fault, which
the gateway answers with 500 as AWS does for invalid authorizer output.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

from wsgate.errors import PolicyError

__all__ = [
    "INVOKE_ACTION",
    "MAX_RESOURCE_LENGTH",
    "Policy",
    "PolicyOutcome",
    "Statement",
    "compile_policy",
    "evaluate_policy",
    "json_type",
]

PolicyOutcome = Literal["allow", "deny", "implicit_deny"]
Effect = Literal["Allow", "Deny"]

INVOKE_ACTION: Final = "execute-api:Invoke"
# §6.3: "Resource ARN max 512 chars in the policy".
MAX_RESOURCE_LENGTH: Final = 512
# Tuples, not sets: membership by equality, so an unhashable value (a list) is just "wrong".
_VERSIONS: Final = ("2012-10-17", "2008-10-17")


@dataclass(frozen=True, slots=True)
class Statement:
    """One compiled statement: its effect and what it applies to.

    ``negate_actions`` / ``negate_resources`` are set for ``NotAction`` / ``NotResource``;
    ``conditional`` when the statement has a ``Condition`` (see the module notes).
    """

    effect: Effect
    actions: tuple[re.Pattern[str], ...]
    resources: tuple[re.Pattern[str], ...]
    negate_actions: bool = False
    negate_resources: bool = False
    conditional: bool = False

    def applies(self, action: str, resource: str) -> bool:
        """True when the statement's effect applies to ``action`` on ``resource``."""
        if self.conditional and self.effect == "Allow":
            return False
        action_listed = any(p.fullmatch(action) for p in self.actions)
        resource_listed = any(p.fullmatch(resource) for p in self.resources)
        return action_listed != self.negate_actions and resource_listed != self.negate_resources


@dataclass(frozen=True, slots=True)
class Policy:
    """A validated policy document, ready to evaluate any number of times."""

    statements: tuple[Statement, ...]

    def evaluate(self, resource: str, action: str = INVOKE_ACTION) -> PolicyOutcome:
        """Whether the policy allows ``action`` on ``resource``: explicit Deny wins."""
        allowed = False
        for statement in self.statements:
            if statement.applies(action, resource):
                if statement.effect == "Deny":
                    return "deny"
                allowed = True
        return "allow" if allowed else "implicit_deny"


def evaluate_policy(document: object, resource: str, action: str = INVOKE_ACTION) -> PolicyOutcome:
    """Validate ``document`` and evaluate it for ``action`` on ``resource`` (a method ARN).

    Raises:
        PolicyError: the document is malformed.
    """
    return compile_policy(document).evaluate(resource, action)


def compile_policy(document: object) -> Policy:
    """Validate a policy document (parsed JSON) and compile its patterns.

    Raises:
        PolicyError: the document is malformed; the reason names the element at fault.
    """
    if not isinstance(document, Mapping):
        raise PolicyError(f"the document must be an object, got {json_type(document)}")
    version = document.get("Version")
    if version is not None and version not in _VERSIONS:
        raise PolicyError(f"Version must be one of {', '.join(_VERSIONS)}, got {version!r}")
    if "Statement" not in document:
        raise PolicyError("Statement is missing")
    raw = document["Statement"]
    if isinstance(raw, Mapping):
        return Policy((_compile_statement(raw, "Statement"),))
    if not isinstance(raw, list):
        raise PolicyError(f"Statement must be an object or an array, got {json_type(raw)}")
    return Policy(tuple(_compile_statement(item, f"Statement[{i}]") for i, item in enumerate(raw)))


def _compile_statement(raw: object, place: str) -> Statement:
    if not isinstance(raw, Mapping):
        raise PolicyError(f"{place} must be an object, got {json_type(raw)}")
    written = raw.get("Effect")
    if written not in ("Allow", "Deny"):  # IAM spells them exactly so
        raise PolicyError(f"{place}.Effect must be 'Allow' or 'Deny', got {written!r}")
    effect: Effect = "Allow" if written == "Allow" else "Deny"
    action_key, actions = _pick(raw, place, "Action")
    for action in actions:
        if action != "*" and ":" not in action:
            raise PolicyError(f"{place}.{action_key}: {action!r} is not service:action or *")
    resource_key, resources = _pick(raw, place, "Resource")
    for resource in resources:
        if len(resource) > MAX_RESOURCE_LENGTH:
            raise PolicyError(
                f"{place}.{resource_key}: a resource of {len(resource)} characters is longer "
                f"than {MAX_RESOURCE_LENGTH}"
            )
    condition = raw.get("Condition")
    # IAM's grammar says an object; powertools' authorizer helper writes a list of them.
    if condition is not None and not _is_condition(condition):
        raise PolicyError(
            f"{place}.Condition must be an object or an array of objects, "
            f"got {_describe(condition)}"
        )
    return Statement(
        effect=effect,
        actions=tuple(_glob(action, ignore_case=True) for action in actions),
        resources=tuple(_glob(resource, ignore_case=False) for resource in resources),
        negate_actions=action_key != "Action",
        negate_resources=resource_key != "Resource",
        conditional=bool(condition),
    )


def _pick(raw: Mapping[str, object], place: str, element: str) -> tuple[str, tuple[str, ...]]:
    """The one of ``element`` / ``Not<element>`` a statement has, and its patterns."""
    negated = f"Not{element}"
    present = [key for key in (element, negated) if key in raw]
    if len(present) != 1:
        which = "both" if present else "neither"
        raise PolicyError(f"{place} must have exactly one of {element} or {negated}, has {which}")
    key = present[0]
    value = raw[key]
    if isinstance(value, str):
        return key, (value,)
    if not isinstance(value, list) or not value:
        raise PolicyError(
            f"{place}.{key} must be a string or a non-empty array of strings, "
            f"got {_describe(value)}"
        )
    for item in value:
        if not isinstance(item, str):
            raise PolicyError(f"{place}.{key} must hold only strings, got {json_type(item)}")
    return key, tuple(value)


def _is_condition(value: object) -> bool:
    if isinstance(value, list):
        return all(isinstance(item, Mapping) for item in value)
    return isinstance(value, Mapping)


def _describe(value: object) -> str:
    return "an empty array" if value == [] else json_type(value)


@functools.lru_cache(maxsize=1024)
def _glob(pattern: str, *, ignore_case: bool) -> re.Pattern[str]:
    # Authorizers tend to return the same few patterns on every connection: compile each once.
    parts = [".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern]
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return re.compile("".join(parts), flags)


def json_type(value: object) -> str:
    """The JSON name of a value's type, for error messages (``object``, ``array``, ...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return type(value).__name__
