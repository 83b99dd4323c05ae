"""Lambda REQUEST authorizers on ``$connect`` (§6 of the AWS reference), decided without I/O.

The data plane asks :func:`identity_values` whether to call the authorizer at all (401 when a
source is missing), builds the event with :func:`build_authorizer_event`, calls the function,
turns what came back into an :class:`AuthorizerDecision` with :func:`decide` (or
:func:`decide_failure` when the call failed), and on success attaches
:func:`authorizer_context_for_event` to every event of the connection. :class:`AuthorizerCache`
is an opt-in result cache (AWS does not cache WebSocket authorizers); time is an argument.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from wsgate.core.events import ConnectionFacts, Handshake, build_connect_event
from wsgate.core.jsonpath import stringify
from wsgate.core.mapping import (
    CompiledParameters,
    MappingError,
    ParameterMapping,
    ParameterSource,
    Problem,
    apply_request_parameters,
    compile_request_parameters,
)
from wsgate.core.policy import Policy, compile_policy, json_type
from wsgate.errors import (
    AuthorizationError,
    AuthorizerResultError,
    FunctionError,
    IntegrationError,
)
from wsgate.types import JSONObject

__all__ = [
    "MAX_RESULT_BYTES",
    "MISSING_IDENTITY",
    "AuthorizerCache",
    "AuthorizerDecision",
    "AuthorizerResult",
    "ContextValue",
    "IdentitySources",
    "authorizer_context_for_event",
    "build_authorizer_event",
    "compile_identity_sources",
    "decide",
    "decide_failure",
    "identity_values",
    "method_arn",
    "parse_authorizer_result",
]

ContextValue = str | int | float | bool | None
# §6.3: "Result > 8 KB: fail (quota)"; measured on the compact JSON of the result.
MAX_RESULT_BYTES: Final = 8192
_UNAUTHORIZED: Final = "Unauthorized"
# Identity sources reuse request-parameter sources (§3.7), restricted to what §6.1 lists.
_IDENTITY_KINDS: Final = frozenset({"header", "querystring", "stage_variable", "context"})
_IDENTITY_EXPECTED: Final = (
    "identity sources must be route.request.header.<name>, route.request.querystring.<name>, "
    "stageVariables.<name> or context.<name>"
)
_SLOT: Final = "integration.request.querystring.identity"
# In the authorizer event but not in the $connect integration's (§6.2 vs §3.2).
_HOP_HEADERS: Final = frozenset({"connection", "upgrade"})


def method_arn(
    region: str, account_id: str, api_id: str, stage: str, route_key: str, partition: str = "aws"
) -> str:
    """The route's ARN as authorizers and policies name it: no HTTP verb for WebSocket APIs."""
    return f"arn:{partition}:execute-api:{region}:{account_id}:{api_id}/{stage}/{route_key}"


# --- identity sources ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IdentitySources:
    """An authorizer's ``IdentitySource`` list, compiled once at config load."""

    expressions: tuple[str, ...]
    _compiled: CompiledParameters


def compile_identity_sources(expressions: Sequence[str]) -> IdentitySources:
    """Compile ``route.request.header.X``, ``route.request.querystring.X``, ``stageVariables.X``
    and ``context.X`` expressions, with the same name rules as request parameters.

    Raises:
        MappingError: (a ValueError) listing every bad entry; a problem's ``key`` is the entry's
            index in ``expressions``.
    """
    # Each source becomes a query parameter ``identity<i>`` of a request-parameter mapping, so
    # parsing and lookup (case-insensitive headers, context paths) are exactly §3.7's.
    mappings: list[ParameterMapping] = []
    problems: list[Problem] = []
    for index, expression in enumerate(expressions):
        try:
            (mapping,) = compile_request_parameters({f"{_SLOT}{index}": expression}).mappings
        except MappingError as error:
            problems += [Problem(str(index), problem.message) for problem in error.problems]
            continue
        if mapping.source not in _IDENTITY_KINDS:
            problems.append(Problem(str(index), f"{expression!r}: {_IDENTITY_EXPECTED}"))
        mappings.append(mapping)
    if problems:
        raise MappingError(problems)
    return IdentitySources(tuple(expressions), CompiledParameters(tuple(mappings)))


def identity_values(
    sources: IdentitySources,
    headers: Sequence[tuple[str, str]],
    query: Sequence[tuple[str, str]],
    stage_variables: Mapping[str, str],
    context: Mapping[str, object],
) -> tuple[str, ...] | None:
    """The value of every identity source, in order, or None when one is missing or empty.

    None means the gateway answers 401 without calling the authorizer (§6.1); an empty source
    list gives ``()``, and the authorizer is always called. ``context`` is the ``$connect``
    template context (:func:`wsgate.core.events.template_context`).
    """
    source = ParameterSource(
        headers=headers, query=query, context=context, stage_variables=stage_variables
    )
    values = tuple(v for _, v in apply_request_parameters(sources._compiled, source).querystring)
    if len(values) != len(sources.expressions) or "" in values:
        return None
    return values


# --- the event ----------------------------------------------------------------------------


def build_authorizer_event(
    facts: ConnectionFacts, handshake: Handshake, *, method_arn: str, request_id: str, now_ms: int
) -> JSONObject:
    """The REQUEST authorizer event of §6.2.

    The ``requestContext`` is the CONNECT event's (without ``authorizer``, which does not exist
    yet). Headers are the CONNECT event's plus what API Gateway still has at this point:
    ``Connection``, ``Upgrade`` and ``content-length: 0``. Query and stage variable maps are
    ``{}`` when empty, not absent as in the CONNECT event.
    """
    connect = build_connect_event(facts, handshake, request_id, now_ms)
    headers: dict[str, str] = connect["headers"]
    multi: dict[str, list[str]] = connect["multiValueHeaders"]
    extra = [(name, value) for name, value in handshake.headers if name.lower() in _HOP_HEADERS]
    if not any(name.lower() == "content-length" for name, _ in handshake.headers):
        extra.append(("content-length", "0"))
    for name, value in extra:
        headers[name] = value
        multi.setdefault(name, []).append(value)
    context: JSONObject = connect["requestContext"]
    context.pop("authorizer", None)
    return {
        "type": "REQUEST",
        "methodArn": method_arn,
        "headers": headers,
        "multiValueHeaders": multi,
        "queryStringParameters": connect.get("queryStringParameters", {}),
        "multiValueQueryStringParameters": connect.get("multiValueQueryStringParameters", {}),
        "stageVariables": dict(facts.stage_variables),
        "requestContext": context,
    }


# --- the result ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuthorizerResult:
    """A valid authorizer result (§6.3): who the caller is, the policy, and the context."""

    principal_id: str
    policy: Policy
    context: Mapping[str, ContextValue]
    usage_identifier_key: str | None = None


@dataclass(frozen=True, slots=True)
class AuthorizerDecision:
    """What the gateway does with a ``$connect``: 200 (go on), 401, 403 or 500.

    ``reason`` says why, for logs and traces; the client only sees the status. ``result`` is set
    when the authorizer gave a valid result (allowed or denied by its policy).
    """

    status: int
    reason: str
    result: AuthorizerResult | None = None

    @property
    def allowed(self) -> bool:
        """True when the connection may proceed to the ``$connect`` integration."""
        return self.status == 200


MISSING_IDENTITY: Final = AuthorizerDecision(401, "an identity source is missing or empty")


def parse_authorizer_result(raw: object) -> AuthorizerResult:
    """Validate what an authorizer function returned (parsed JSON) and compile its policy.

    Raises:
        AuthorizerResultError: not an object, over 8 KB, no string ``principalId``, no
            ``policyDocument``, a ``context`` that is not an object of scalars, or a
            ``usageIdentifierKey`` that is not a string.
        PolicyError: the ``policyDocument`` is malformed.
    """
    size = _json_size(raw)
    if size > MAX_RESULT_BYTES:
        raise AuthorizerResultError(f"{size} bytes of JSON, over the {MAX_RESULT_BYTES} limit")
    if not isinstance(raw, Mapping):
        raise AuthorizerResultError(f"the result must be an object, got {json_type(raw)}")
    principal_id = raw.get("principalId")
    if principal_id is None:
        raise AuthorizerResultError("principalId is missing")
    if not isinstance(principal_id, str):
        raise AuthorizerResultError(f"principalId must be a string, got {json_type(principal_id)}")
    if "policyDocument" not in raw:
        raise AuthorizerResultError("policyDocument is missing")
    policy = compile_policy(raw["policyDocument"])
    key = raw.get("usageIdentifierKey")
    if key is not None and not isinstance(key, str):
        raise AuthorizerResultError(f"usageIdentifierKey must be a string, got {json_type(key)}")
    return AuthorizerResult(principal_id, policy, _context(raw.get("context")), key)


def _json_size(raw: object) -> int:
    try:
        text = json.dumps(raw, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise AuthorizerResultError(f"the result is not JSON: {error}") from error
    except RecursionError as error:  # an in-process authorizer's answer can nest this deep
        raise AuthorizerResultError("the result nests too deeply to be JSON") from error
    try:
        return len(text.encode())
    except UnicodeEncodeError as error:
        # A lone surrogate: json.loads makes one of "\udc00", and events could not carry it.
        raise AuthorizerResultError(f"the result is not JSON: {error.reason}") from error


def _context(raw: object) -> Mapping[str, ContextValue]:
    if raw is None:
        return MappingProxyType({})
    if not isinstance(raw, Mapping):
        raise AuthorizerResultError(f"context must be an object, got {json_type(raw)}")
    for key, value in raw.items():
        # Null is kept: AWS passes it through as null rather than failing (REST captures).
        if value is not None and not isinstance(value, str | int | float):
            raise AuthorizerResultError(
                f"context.{key} must be a string, number or boolean, got {json_type(value)}"
            )
    return MappingProxyType(dict(raw))


def decide(raw: object, method_arn: str) -> AuthorizerDecision:
    """Turn what the authorizer function returned into a decision for ``method_arn``.

    ``"Unauthorized"`` → 401; an invalid result or policy → 500; a policy that allows
    ``execute-api:Invoke`` on the ARN → 200; an explicit or implicit deny → 403.
    """
    if raw == _UNAUTHORIZED:
        return AuthorizerDecision(401, "the authorizer returned Unauthorized")
    try:
        result = parse_authorizer_result(raw)
    except AuthorizationError as error:
        return AuthorizerDecision(500, str(error))
    outcome = result.policy.evaluate(method_arn)
    if outcome == "allow":
        return AuthorizerDecision(200, f"the policy allows {method_arn}", result)
    if outcome == "deny":
        return AuthorizerDecision(403, f"the policy explicitly denies {method_arn}", result)
    return AuthorizerDecision(403, f"no policy statement allows {method_arn}", result)


def decide_failure(error: IntegrationError) -> AuthorizerDecision:
    """The decision when calling the authorizer failed: 401 if it raised ``Unauthorized``.

    Lambda reports ``throw new Error("Unauthorized")`` / ``raise Exception("Unauthorized")`` with
    that ``errorMessage``, which is how authorizers ask for a 401 (§6.3); anything else is 500.
    """
    if isinstance(error, FunctionError) and error.error_message == _UNAUTHORIZED:
        return AuthorizerDecision(401, "the authorizer raised Unauthorized")
    return AuthorizerDecision(500, f"the authorizer failed: {error}")


def authorizer_context_for_event(result: AuthorizerResult) -> dict[str, str | None]:
    """``requestContext.authorizer`` for the connection's events: principalId plus context.

    Values are stringified (``1`` → ``"1"``, ``true`` → ``"true"``) as AWS documents for proxy
    integrations; null stays null. ``principalId`` wins over a context key of the same name.
    """
    values: dict[str, str | None] = {"principalId": result.principal_id}
    for key, value in result.context.items():
        if key != "principalId":
            values[key] = None if value is None else stringify(value)
    return values


# --- cache --------------------------------------------------------------------------------


class AuthorizerCache:
    """Decisions by identity values for ``ttl_seconds``, at most ``max_entries`` of them.

    Opt-in (``authorizerResultTtlInSeconds``; 0 disables it). Only decisions with a result (200
    and policy 403) are kept, so a failing authorizer is asked again; an empty key (no identity
    sources) is never cached, as it would share one decision among all clients. When full, the
    oldest entry goes, which with one TTL for all is also the first to expire. A key must name
    everything the decision depends on, e.g. the method ARN when one cache serves several stages.
    """

    def __init__(self, ttl_seconds: float, max_entries: int = 10_000) -> None:
        if ttl_seconds < 0:
            raise ValueError(f"ttl_seconds must be >= 0, got {ttl_seconds}")
        if max_entries < 1:
            raise ValueError(f"max_entries must be >= 1, got {max_entries}")
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self._entries: dict[tuple[str, ...], tuple[float, AuthorizerDecision]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: tuple[str, ...], now: float) -> AuthorizerDecision | None:
        """The cached decision for ``key`` if it has not expired at ``now`` (seconds)."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, decision = entry
        if now >= expires:
            del self._entries[key]
            return None
        return decision

    def put(self, key: tuple[str, ...], decision: AuthorizerDecision, now: float) -> None:
        """Keep ``decision`` for ``key`` until ``now + ttl_seconds``, if it may be cached."""
        if self.ttl_seconds == 0 or not key or decision.result is None:
            return
        self._entries.pop(key, None)  # re-inserted last: the newest
        if len(self._entries) >= self.max_entries:
            del self._entries[next(iter(self._entries))]
        self._entries[key] = (now + self.ttl_seconds, decision)
