"""Who may connect and how fast: the checks before ``$connect`` runs and before each message.

On the handshake, in AWS's order: the origin and connection limits (beyond AWS), then the
``$connect`` route's authorization (SigV4 for ``AWS_IAM``, the authorizer for ``CUSTOM``), the
API key and its usage plan, then the route's throttle. On every message: the route's API key
requirement, its throttle and the key's plan, then the per-connection and per-principal rates.
The decisions are ``core``'s (policy, identity sources, buckets); this module gathers the
inputs, calls the authorizer and keeps the state.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections import Counter
from collections.abc import Mapping
from typing import Final, NamedTuple

from aiohttp import web

from wsgate.config.model import ApiConfig, RouteConfig, StageConfig
from wsgate.config.security import QuotaConfig, ThrottleConfig
from wsgate.core.authorizer import (
    MISSING_IDENTITY,
    AuthorizerCache,
    AuthorizerDecision,
    IdentitySources,
    authorizer_context_for_event,
    build_authorizer_event,
    compile_identity_sources,
    decide,
    decide_failure,
    identity_values,
    method_arn,
)
from wsgate.core.events import ConnectionFacts, Handshake, template_context
from wsgate.core.outcomes import Result
from wsgate.core.routing import CONNECT
from wsgate.core.throttle import KeyedLimiter, Quota, TokenBucket
from wsgate.errors import IntegrationError, SignatureError
from wsgate.integrations.authorizer import Authorizer
from wsgate.security.credentials import Credentials, CredentialStore
from wsgate.security.sigv4 import error_response
from wsgate.server.signatures import verify_request
from wsgate.server.stamps import new_id

__all__ = ["Admitted", "Gatekeeper", "Refusal", "Seat"]

_API_KEY_HEADER: Final = "x-api-key"
# The authorizer's refusals by status: what they come to, and how metrics and traces name them.
_AUTHORIZER_REFUSALS: Final = {
    401: (Result.UNAUTHORIZED, "unauthorized"),
    403: (Result.FORBIDDEN, "deny"),
}
_AUTHORIZER_FAILURE: Final = (Result.AUTHORIZER_FAILED, "error")


class Refusal(NamedTuple):
    """Why a handshake or a message is refused, and what the client gets."""

    result: Result  # the status and the client's answer follow from it (core.outcomes)
    reason: str  # for logs and traces; the client sees the status (and ``body``, if any)
    body: bytes | None = None
    headers: Mapping[str, str] | None = None
    # Set when the authorizer or SigV4 refused: "deny", "unauthorized" or "error".
    authorization: str | None = None


class Seat:
    """A handshake's place among its stage's connections, from admission until it ends.

    ``maxConnections`` counts seats, not open sockets: a handshake still inside ``$connect``
    holds one too, so concurrent handshakes cannot all pass a check made before any opened.
    """

    __slots__ = ("_held", "_stage", "taken")

    def __init__(self, held: Counter[str], stage: str) -> None:
        self._held = held
        self._stage = stage
        self.taken = False

    def take(self, limit: int | None) -> bool:
        """Take the seat unless the stage holds ``limit`` already (None: no limit)."""
        if limit is not None and self._held[self._stage] >= limit:
            return False
        self._held[self._stage] += 1
        self.taken = True
        return True

    def release(self) -> None:
        """Give the seat back (once; a seat never taken gives nothing)."""
        if self.taken:
            self._held[self._stage] -= 1
            self.taken = False


class Admitted(NamedTuple):
    """A handshake that may go on to ``$connect``, with what the checks learnt."""

    facts: ConnectionFacts  # with the authorizer's context or the signer, when there is one
    api_key: str | None  # the name of the connection's valid API key
    principal: str | None  # the authorizer's principalId, or the signer's
    decision: str | None  # what the authorizer or SigV4 decided, for traces
    authorization: str | None  # "allow" when an authorizer or SigV4 let it in


class _Plan:
    """A usage plan's throttle and quota, kept per API key."""

    def __init__(self, throttle: ThrottleConfig | None, quota: QuotaConfig | None) -> None:
        self.buckets = _keyed(throttle)
        self.quota: Quota[str] | None = Quota(quota.limit, quota.period) if quota else None

    def take(self, key: str, now: float, now_ms: int) -> str | None:
        if self.buckets is not None and not self.buckets.take(key, now):
            return f"API key {key!r} is over its usage plan's rate"
        if self.quota is not None and not self.quota.take(key, now_ms):
            return f"API key {key!r} has used its usage plan's quota"
        return None


class _StageGuard:
    """The throttles of one stage."""

    def __init__(self, stage: StageConfig, routes: Mapping[str, RouteConfig]) -> None:
        self.routes: dict[str, TokenBucket] = {}
        for key in routes:
            settings = stage.route_settings.get(key) or stage.default_route_settings
            if settings is not None and settings.throttling_rate_limit is not None:
                burst = settings.throttling_burst_limit or 0
                self.routes[key] = TokenBucket(settings.throttling_rate_limit, burst)
        protection = stage.protection
        self.connection = protection.connection_messages
        self.principals = _keyed(protection.principal_messages)
        new = protection.new_connections
        self.new_connections = TokenBucket(new.rate_limit, new.burst_limit) if new else None
        self.max_connections = protection.max_connections


class Gatekeeper:
    """Admission decisions for every stage of one API."""

    def __init__(
        self,
        config: ApiConfig,
        authorizers: Mapping[str, Authorizer],
        credentials: CredentialStore | None,
    ) -> None:
        self._config = config
        self._authorizers = authorizers
        self._credentials = credentials
        self._routes = config.routes
        connect = config.routes.get(CONNECT)
        self._connect = connect
        self._sources: IdentitySources | None = None
        self._cache: AuthorizerCache | None = None
        if connect is not None and connect.authorizer_name is not None:
            authorizer = config.authorizers[connect.authorizer_name]
            self._sources = compile_identity_sources(authorizer.identity_source)
            self._authorizer_timeout = authorizer.timeout_in_millis
            ttl = authorizer.authorizer_result_ttl_in_seconds
            self._cache = AuthorizerCache(ttl) if ttl else None
        self._keys = {key.value: name for name, key in config.api_keys.items() if key.enabled}
        self._plans = {name: _Plan(p.throttle, p.quota) for name, p in config.usage_plans.items()}
        self._key_plans = {name: key.usage_plan for name, key in config.api_keys.items()}
        self._stages = {name: _StageGuard(s, config.routes) for name, s in config.stages.items()}
        origins = config.server.listener.allowed_origins
        self._origins = None if origins is None else [_origin_pattern(o) for o in origins]
        self._keys_read = config.api_key_selection_expression
        # Messages pay for the checks only on stages (or routes) that have some.
        self.checks_messages = bool(self._keys) or any(
            guard.routes or guard.connection or guard.principals for guard in self._stages.values()
        )

    # -- the handshake ---------------------------------------------------------------------

    async def admit(
        self, request: web.BaseRequest, facts: ConnectionFacts, handshake: Handshake, seat: Seat
    ) -> Admitted | Refusal:
        """Decide whether a handshake may go on to ``$connect``."""
        guard = self._stages[facts.stage]
        refusal = self._check_listener(request, guard, seat)
        if refusal is not None:
            return refusal
        connect = self._connect
        kind = connect.authorization_type if connect is not None else "NONE"
        principal: str | None = None
        usage_key: str | None = None
        decision: str | None = None
        if kind == "AWS_IAM":
            signed = self._verify(request, b"")
            if isinstance(signed, Refusal):
                return signed
            facts = facts._replace(caller=signed)
            principal, decision = signed["userArn"], f"SigV4 signed by {signed['accessKey']}"
        elif kind == "CUSTOM":
            outcome = await self._authorize(facts, handshake)
            if not outcome.allowed or outcome.result is None:
                refused, verdict = _AUTHORIZER_REFUSALS.get(outcome.status, _AUTHORIZER_FAILURE)
                return Refusal(refused, outcome.reason, authorization=verdict)
            result = outcome.result
            facts = facts._replace(authorizer=authorizer_context_for_event(result))
            principal, usage_key = result.principal_id, result.usage_identifier_key
            decision = outcome.reason
        api_key = self._api_key(handshake, usage_key)
        now, now_ms = time.monotonic(), facts.connected_at
        refusal = self._check_route(CONNECT, guard, api_key, now, now_ms)
        if refusal is not None:
            return refusal
        return Admitted(facts, api_key, principal, decision, "allow" if kind != "NONE" else None)

    def _check_listener(
        self, request: web.BaseRequest, guard: _StageGuard, seat: Seat
    ) -> Refusal | None:
        origin = request.headers.get("Origin")
        if self._origins is not None and origin is not None:
            if not any(pattern.fullmatch(origin) for pattern in self._origins):
                return Refusal(Result.FORBIDDEN, f"origin {origin!r} is not allowed")
        if not seat.take(guard.max_connections):
            reason = f"the stage already holds {guard.max_connections} connections"
            return Refusal(Result.THROTTLED, reason)
        if guard.new_connections is not None and not guard.new_connections.take(time.monotonic()):
            return Refusal(Result.THROTTLED, "new connections arrive faster than the stage allows")
        return None

    def _verify(self, request: web.BaseRequest, body: bytes) -> dict[str, str] | Refusal:
        """The signer of a SigV4-signed request, as ``requestContext.identity`` shows it."""
        try:
            signer = self._signer(request, body)
        except SignatureError as error:
            # Every SigV4 refusal is AWS's 403, with its error type in the body and header.
            _, headers, payload = error_response(error)
            reason = f"{error.error_type}: {error.message}"
            return Refusal(Result.FORBIDDEN, reason, payload, headers, authorization="deny")
        return {
            "accessKey": signer.access_key_id,
            "userArn": signer.principal,
            "caller": signer.principal,
            "user": signer.principal,
            "accountId": self._config.account_id,
        }

    async def _authorize(self, facts: ConnectionFacts, handshake: Handshake) -> AuthorizerDecision:
        assert self._connect is not None and self._connect.authorizer_name is not None
        assert self._sources is not None
        request_id = new_id()
        context = template_context(facts, CONNECT, "CONNECT", request_id, facts.connected_at)
        values = identity_values(
            self._sources, handshake.headers, handshake.query, facts.stage_variables, context
        )
        if values is None:
            return MISSING_IDENTITY
        arn = method_arn(
            self._config.region, self._config.account_id, facts.api_id, facts.stage, CONNECT
        )
        key = (arn, *values) if values else ()
        now = time.monotonic()
        cache = self._cache
        cached = cache.get(key, now) if cache is not None and key else None
        if cached is not None:
            return dataclasses.replace(cached, reason=f"{cached.reason} (cached)")
        event = build_authorizer_event(
            facts, handshake, method_arn=arn, request_id=request_id, now_ms=facts.connected_at
        )
        authorizer = self._authorizers[self._connect.authorizer_name]
        try:
            answer = await authorizer.authorize(event, request_id, self._authorizer_timeout)
        except IntegrationError as error:
            return decide_failure(error)
        outcome = decide(answer, arn)
        if cache is not None and key:
            cache.put(key, outcome, now)
        return outcome

    def _api_key(self, handshake: Handshake, usage_key: str | None) -> str | None:
        """The name of the connection's valid, enabled API key, if it has one."""
        if self._keys_read == "$context.authorizer.usageIdentifierKey":
            value = usage_key
        else:
            value = next(
                (v for n, v in reversed(handshake.headers) if n.lower() == _API_KEY_HEADER), None
            )
        return self._keys.get(value) if value is not None else None

    # -- messages ------------------------------------------------------------------------------

    def check_message(
        self,
        stage: str,
        route_key: str,
        api_key: str | None,
        principal: str | None,
        bucket: TokenBucket | None,
    ) -> Refusal | None:
        """Whether one message on ``route_key`` may go to its integration."""
        guard = self._stages[stage]
        now = time.monotonic()
        refusal = self._check_route(route_key, guard, api_key, now, time.time_ns() // 1_000_000)
        if refusal is not None:
            return refusal
        if bucket is not None and not bucket.take(now):
            return Refusal(Result.THROTTLED, "this connection sends faster than the stage allows")
        principals = guard.principals
        if principals is not None and principal is not None and not principals.take(principal, now):
            reason = f"principal {principal!r} sends faster than the stage allows"
            return Refusal(Result.THROTTLED, reason)
        return None

    def connection_bucket(self, stage: str) -> TokenBucket | None:
        """A new connection's own message bucket, when the stage limits connections' rates."""
        limit = self._stages[stage].connection
        return TokenBucket(limit.rate_limit, limit.burst_limit) if limit is not None else None

    def _check_route(
        self, route_key: str, guard: _StageGuard, api_key: str | None, now: float, now_ms: int
    ) -> Refusal | None:
        route = self._routes.get(route_key)
        if route is not None and route.api_key_required and api_key is None:
            # AWS answers a missing or unknown key with 403 Forbidden (§6.5).
            return Refusal(Result.FORBIDDEN, f"route {route_key!r} requires a valid API key")
        bucket = guard.routes.get(route_key)
        if bucket is not None and not bucket.take(now):
            return Refusal(Result.THROTTLED, f"route {route_key!r} is over its throttling limit")
        plan_name = self._key_plans.get(api_key) if api_key is not None else None
        if plan_name is not None:
            return _or_none(self._plans[plan_name].take(api_key or "", now, now_ms))
        return None

    def _signer(self, request: web.BaseRequest, body: bytes) -> Credentials:
        """Who signed a request (SigV4 for execute-api in this API's region).

        Raises:
            SignatureError: the signature is missing, malformed, stale or wrong.
        """
        assert self._credentials is not None
        return verify_request(request, body, self._credentials, self._config.region)


def _or_none(reason: str | None) -> Refusal | None:
    return Refusal(Result.THROTTLED, reason) if reason is not None else None


def _keyed(throttle: ThrottleConfig | None) -> KeyedLimiter[str] | None:
    if throttle is None:
        return None
    return KeyedLimiter(throttle.rate_limit, throttle.burst_limit)


def _origin_pattern(origin: str) -> re.Pattern[str]:
    """``https://*.example.com`` matches one label in place of ``*``; ``*`` matches any origin."""
    if origin == "*":
        return re.compile(r".*")
    return re.compile(re.escape(origin.lower()).replace(r"\*", r"[A-Za-z0-9-]+"), re.IGNORECASE)
