"""The apigatewayv2 control plane's REST-JSON front on the admin listener (§8).

``/v2/apis[/{apiId}[/{routes|integrations|authorizers|models|stages|deployments}[/{id}[/{
routeresponses|integrationresponses}[/{id}]]]]]``: GET lists or reads, POST creates (201),
PATCH updates (200), DELETE deletes (204). Refusals carry ``x-amzn-ErrorType`` and
``{"message": …}``, so that boto3's ``apigatewayv2`` client raises AWS's exception classes.
The operations themselves are pure (:mod:`wsgate.config.controlplane.plane`); this module
reads requests, keeps each accepted definition in the store and has the gateway serve what
changed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Final
from urllib.parse import unquote

from aiohttp import web

from wsgate.config.controlplane.plane import ControlPlane
from wsgate.config.model import ApiConfig
from wsgate.errors import (
    ControlPlaneError,
    DefinitionConflict,
    RegistryUnavailable,
    SignatureError,
)
from wsgate.security.credentials import CredentialStore
from wsgate.server.apistore import DefinitionStore
from wsgate.server.signatures import verify_request
from wsgate.types import JSONObject

__all__ = ["PREFIX", "ControlPlaneApi", "aws_time", "random_id"]

logger = logging.getLogger(__name__)

PREFIX: Final = "/v2/"
_SERVICE: Final = "apigateway"
_COLLECTIONS: Final = {
    "routes": "route",
    "integrations": "integration",
    "authorizers": "authorizer",
    "models": "model",
    "stages": "stage",
    "deployments": "deployment",
}
_SUBCOLLECTIONS: Final = {
    ("route", "routeresponses"): "routeResponse",
    ("integration", "integrationresponses"): "integrationResponse",
}
_ALPHABET: Final = "abcdefghijklmnopqrstuvwxyz0123456789"
# The (method, names one item) pairs that change a definition: Create*, Update*, Delete*.
_CHANGES: Final = frozenset({("POST", False), ("PATCH", True), ("DELETE", True)})

# Serves an API's stages (those absent stop being served; none: the API is gone).
Deploy = Callable[[str, Mapping[str, ApiConfig]], Awaitable[None]]


def random_id(length: int) -> str:
    """A fresh id in AWS's shape: lower-case letters and digits."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def aws_time() -> str:
    """Now, as AWS writes timestamps in the control plane's answers."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ControlPlaneApi:
    """Answers control plane requests; keeps definitions and has them served.

    Args:
        plane: the definitions and their operations.
        store: where accepted definitions are kept.
        deploy: serves an API's stages, by name.
        signers: the keys SigV4 signatures are checked against; None: no signature asked.
        region: the region signatures must be scoped to.
    """

    def __init__(
        self,
        plane: ControlPlane,
        store: DefinitionStore,
        deploy: Deploy,
        *,
        signers: CredentialStore | None,
        region: str,
    ) -> None:
        self.plane = plane
        self._store = store
        self._deploy = deploy
        self._signers = signers
        self._region = region
        # One change at a time: each reads the stored definition, changes it and writes it.
        self._changing = asyncio.Lock()

    @property
    def signed(self) -> bool:
        """True when calls without the admin token must be SigV4-signed."""
        return self._signers is not None

    async def handle(self, request: web.BaseRequest, *, trusted: bool = False) -> web.Response:
        """Answer one request; every refusal becomes AWS's status and error type."""
        try:
            body = await request.read()
            if self._signers is not None and not trusted:
                self._verify(request, body)
            return await self._answer(request, body)
        except ControlPlaneError as error:
            return _error(error.status, error.error_type, error.message)
        except DefinitionConflict:
            # AWS's answer to two changes of one API at once; the caller tries again.
            message = (
                "Unable to complete operation due to concurrent modification. "
                "Please try again later."
            )
            return _error(409, "ConflictException", message)
        except RegistryUnavailable as error:
            return _error(503, "ServiceUnavailableException", str(error))
        except SignatureError as error:
            return _error(error.status, error.error_type, error.message)

    def _verify(self, request: web.BaseRequest, body: bytes) -> None:
        assert self._signers is not None
        verify_request(request, body, self._signers, self._region, service=_SERVICE)

    async def _answer(self, request: web.BaseRequest, body: bytes) -> web.Response:
        kind, ids, item = _resource(request.path)
        method = request.method
        plane = self.plane
        if method == "GET":
            if item:
                return web.json_response(plane.get(kind, ids))
            query = request.query
            page = plane.list(kind, ids, query.get("maxResults"), query.get("nextToken"))
            return web.json_response(page)
        if (method, item) not in _CHANGES:
            raise ControlPlaneError(
                404, "NotFoundException", f"{method} is not served on this path"
            )
        async with self._changing:
            if ids:
                await self._refresh(ids[0])
            if method == "POST":
                answer = plane.create(kind, ids, _json_body(body))
                api_id = ids[0] if ids else answer["apiId"]
                await self._changed(api_id)
                return web.json_response(answer, status=201)
            if method == "PATCH":
                answer = plane.update(kind, ids, _json_body(body))
                await self._changed(ids[0])
                return web.json_response(answer)
            plane.delete(kind, ids)
            await self._changed(ids[0])
            return web.Response(status=204)

    async def changed_elsewhere(self, api_id: str) -> None:
        """Serve what another node made of an API (its definition, or its deletion)."""
        async with self._changing:
            await self._refresh(api_id)
            await self._serve(api_id)

    async def _refresh(self, api_id: str) -> None:
        """Read the API as the store holds it now, when other nodes write the store too."""
        if not self._store.shared:
            return
        definition = await self._store.fetch(api_id)
        if definition is None:
            self.plane.definitions.pop(api_id, None)
        else:
            self.plane.restore({api_id: definition})

    async def _changed(self, api_id: str) -> None:
        """Keep the API's definition and serve it (or forget and stop it once deleted)."""
        definition = self.plane.definitions.get(api_id)
        try:
            if definition is None:
                await self._store.delete(api_id)
            else:
                await self._store.save(api_id, definition)
        except (DefinitionConflict, RegistryUnavailable):
            # Not kept: serve what the store holds, not the refused change.
            await self._refresh(api_id)
            raise
        await self._serve(api_id)

    async def _serve(self, api_id: str) -> None:
        served = self.plane.served(api_id) if api_id in self.plane.definitions else {}
        await self._deploy(api_id, served)


def _resource(path: str) -> tuple[str, tuple[str, ...], bool]:
    """The resource kind a path names, its ids from the API down, and whether it is one item.

    Raises:
        ControlPlaneError: 404 for a path the control plane does not serve.
    """
    parts = [unquote(part) for part in path.removeprefix(PREFIX).split("/")]
    if parts[-1] == "":
        parts.pop()
    if not parts or parts[0] != "apis":
        raise _no_path(path)
    ids: tuple[str, ...] = tuple(parts[1:2])
    kind, rest = "api", parts[2:]
    if rest:
        collection = _COLLECTIONS.get(rest[0])
        if collection is None:
            raise _no_path(path)
        kind, ids, rest = collection, ids + tuple(rest[1:2]), rest[2:]
        if rest:
            sub = _SUBCOLLECTIONS.get((kind, rest[0])) if len(ids) == 2 else None
            if sub is None:
                raise _no_path(path)
            kind, ids, rest = sub, ids + tuple(rest[1:2]), rest[2:]
    if rest:
        raise _no_path(path)
    depth = {"api": 1, "routeResponse": 3, "integrationResponse": 3}.get(kind, 2)
    return kind, ids, len(ids) == depth


def _no_path(path: str) -> ControlPlaneError:
    return ControlPlaneError(404, "NotFoundException", f"no control plane resource at {path}")


def _json_body(body: bytes) -> JSONObject:
    if not body:
        return {}
    try:
        data = json.loads(body)
    except ValueError as error:
        raise ControlPlaneError(400, "BadRequestException", "the body is not JSON") from error
    if not isinstance(data, dict):
        raise ControlPlaneError(400, "BadRequestException", "the body must be a JSON object")
    return data


def _error(status: int, error_type: str, message: str) -> web.Response:
    response = web.json_response({"message": message}, status=status)
    response.headers["x-amzn-ErrorType"] = error_type
    return response
