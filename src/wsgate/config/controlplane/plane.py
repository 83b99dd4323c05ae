"""The apigatewayv2 operations on WebSocket APIs, as AWS answers and refuses them (§8).

Pure: the definitions live in memory as JSON objects (what the store saves), the clock and the
ids arrive as callables. Every change is made on a copy, checked with the config checks
(``translate.py``) and only then kept, so a refused call changes nothing.

A definition: ``{"api": {...}, "route": {id: {...}}, "routeResponse": {routeId: {id: {...}}},
"integration": {...}, "integrationResponse": {integrationId: {id: {...}}}, "authorizer":
{...}, "model": {...}, "stage": {name: {...}}, "deployment": {id: {...}}, "snapshot": {id:
{...}}}``. A deployment takes a snapshot of the API as it is; a stage serves its deployment's
snapshot, so a change stays invisible to clients until it is deployed. A stage with
``autoDeploy`` gets a new deployment after each change, as on AWS; the automatic deployments
no stage points at any more are dropped, so they do not pile up.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Final

from wsgate.config.controlplane.resources import KINDS, Kind, bad_request, check_members
from wsgate.config.controlplane.translate import SNAPSHOT_PARTS, check_definition, stage_configs
from wsgate.config.model import ApiConfig
from wsgate.errors import ControlPlaneError
from wsgate.types import JSONObject

__all__ = ["PARENTS", "ControlPlane", "empty_definition"]

# Route responses live under a route, integration responses under an integration.
PARENTS: Final = {"routeResponse": "route", "integrationResponse": "integration"}
_CHILDREN: Final = {"route": "routeResponse", "integration": "integrationResponse"}
_STATUS_CODE: Final = "${integration.response.statuscode}"
_TYPE_DEFAULTS: Final[dict[str, JSONObject]] = {
    "MOCK": {"integrationResponseSelectionExpression": _STATUS_CODE},
    "HTTP": {"integrationResponseSelectionExpression": _STATUS_CODE},
    "HTTP_PROXY": {},
    "AWS_PROXY": {},
    # Lambda custom errors are selected by their message (§3.1); service answers by status.
    "AWS": {"integrationResponseSelectionExpression": "${integration.response.body.errorMessage}"},
}
_PASSTHROUGH_TYPES: Final = frozenset({"MOCK", "HTTP", "AWS"})
# AWS's default quotas per API (§1.4). They are adjustable on AWS, not here: a definition
# meant for AWS stays within what a new account may deploy.
_QUOTAS: Final = {"route": 300, "integration": 300, "stage": 10, "authorizer": 10}
_AUTO_DESCRIPTION: Final = "Automatic deployment triggered by changes to the Api configuration"
_UNIQUE: Final = {
    "model": "name",
    "route": "routeKey",
    "routeResponse": "routeResponseKey",
    "integrationResponse": "integrationResponseKey",
}


def empty_definition(api: JSONObject) -> JSONObject:
    """A definition holding only its API resource."""
    collections: JSONObject = {name: {} for name in KINDS if name != "api"}
    return {"api": api, **collections, "snapshot": {}}


def _complete(definition: JSONObject) -> JSONObject:
    """A definition kept by an older version, with the collections added since."""
    for name in (*KINDS, "snapshot"):
        definition.setdefault(name, {})
    return definition


def _not_found(kind: Kind, identifier: str) -> ControlPlaneError:
    label = "API" if kind.name == "Api" else kind.name
    return ControlPlaneError(
        404, "NotFoundException", f"Invalid {label} identifier specified {identifier}"
    )


class ControlPlane:
    """Every API defined through the control plane, and the operations on them.

    Args:
        clock: the time as AWS writes it (``2024-02-09T18:23:27Z``).
        new_id: a fresh random id of the given length (``[a-z0-9]``).
        base_dir: where relative paths of a definition resolve (``asgi:`` modules).
        definitions: the definitions to start from (the store's), by API id.
        functions: the host's local functions (config data), which Lambda ARNs in the APIs'
            integrations and authorizers may name.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], str],
        new_id: Callable[[int], str],
        base_dir: Path,
        definitions: Mapping[str, JSONObject] | None = None,
        functions: JSONObject | None = None,
    ) -> None:
        self._clock = clock
        self._new_id = new_id
        self._base_dir = base_dir
        self._functions: JSONObject = dict(functions or {})
        self.definitions: dict[str, JSONObject] = {}
        # Each API's stage configs, with the definition they were built from: kept while that
        # definition is the current one (restored or replaced ones are built again).
        self._served: dict[str, tuple[JSONObject, dict[str, ApiConfig]]] = {}
        self.restore(definitions or {})
        # The base of every ApiEndpoint (ws://host:port); set once the public listener is up.
        self.endpoint_base = ""

    # -- reading -------------------------------------------------------------------------------

    def get(self, kind_name: str, ids: tuple[str, ...]) -> JSONObject:
        """One resource as AWS answers Get*; ``ids`` name it and its parents from the API."""
        if kind_name == "api":
            return self._render_api(self._definition(ids[0])["api"])
        collection = self._collection(self._definition(ids[0]), kind_name, ids[1:-1])
        resource = collection.get(ids[-1])
        if resource is None:
            raise _not_found(KINDS[kind_name], ids[-1])
        return copy.deepcopy(resource)

    def list(
        self,
        kind_name: str,
        ids: tuple[str, ...],
        max_results: str | None = None,
        next_token: str | None = None,
    ) -> JSONObject:
        """A page of a collection: ``{"items": [...], "nextToken": ...}``."""
        if kind_name == "api":
            items = [
                self._render_api(definition["api"]) for definition in self.definitions.values()
            ]
        else:
            collection = self._collection(self._definition(ids[0]), kind_name, ids[1:])
            items = [copy.deepcopy(resource) for resource in collection.values()]
        start = _page_start(next_token, len(items))
        size = _page_size(max_results)
        page: JSONObject = {"items": items[start : start + size]}
        if start + size < len(items):
            page["nextToken"] = str(start + size)
        return page

    def served(self, api_id: str) -> dict[str, ApiConfig]:
        """What the data plane serves for an API, by stage (deployed stages only)."""
        definition = self._definition(api_id)
        kept = self._served.get(api_id)
        if kept is not None and kept[0] is definition:
            return kept[1]  # built when the change was checked
        configs = stage_configs(definition, self._base_dir, self._functions)
        self._served[api_id] = (definition, configs)
        return configs

    def domain_name(self, api_id: str) -> str:
        """What an API's events carry as ``domainName``: its ``ApiEndpoint`` without the
        scheme, as on AWS, so ``https://{domainName}/{stage}`` is its ``@connections`` API."""
        return f"{self.endpoint_base.partition('://')[2]}/{api_id}"

    def restore(self, definitions: Mapping[str, JSONObject]) -> None:
        """Take definitions kept earlier (the store's, or another node's), as they are."""
        for api_id, definition in definitions.items():
            self.definitions[api_id] = _complete(copy.deepcopy(definition))

    # -- changing ------------------------------------------------------------------------------

    def create(self, kind_name: str, ids: tuple[str, ...], body: JSONObject) -> JSONObject:
        """Create* (``ids``: the parents' ids); returns the new resource as Get* would."""
        kind = KINDS[kind_name]
        members = check_members(kind, body, create=True)
        if kind_name == "api":
            return self._create_api(kind, members)
        definition = copy.deepcopy(self._definition(ids[0]))
        collection = self._collection(definition, kind_name, ids[1:], create=True)
        quota = _QUOTAS.get(kind_name)
        if quota is not None and len(collection) >= quota:
            raise bad_request(f"An API holds at most {quota} {kind.name.lower()}s (AWS's quota)")
        resource = {**copy.deepcopy(dict(kind.defaults)), **members}
        if kind_name == "stage":
            identifier = members["stageName"]
            if identifier in collection:
                raise ControlPlaneError(
                    409, "ConflictException", f"Stage {identifier} already exists"
                )
            resource["createdDate"] = resource["lastUpdatedDate"] = self._clock()
        else:
            identifier = self._fresh_id(kind, collection)
            resource = {kind.id_member: identifier, **resource}
        collection[identifier] = resource
        self._settle(definition, kind_name, resource, identifier, create=True)
        self._commit(ids[0], definition)
        return copy.deepcopy(resource)

    def update(self, kind_name: str, ids: tuple[str, ...], body: JSONObject) -> JSONObject:
        """Update* (PATCH): the given members replace the resource's; returns it as Get*."""
        kind = KINDS[kind_name]
        members = check_members(kind, body, create=False)
        definition = copy.deepcopy(self._definition(ids[0]))
        if kind_name == "api":
            if members.get("protocolType", "WEBSOCKET") != "WEBSOCKET":
                raise bad_request("The protocolType of an API cannot be changed")
            definition["api"].update(members)
            self._commit(ids[0], definition)
            return self._render_api(definition["api"])
        collection = self._collection(definition, kind_name, ids[1:-1])
        resource = collection.get(ids[-1])
        if resource is None:
            raise _not_found(kind, ids[-1])
        # A stage is renamed by no call; a deployment is pointed at a stage by UpdateStage.
        members.pop("stageName", None)
        resource.update(members)
        if kind_name == "stage":
            resource["lastUpdatedDate"] = self._clock()
        self._settle(definition, kind_name, resource, ids[-1], create=False)
        self._commit(ids[0], definition)
        return copy.deepcopy(resource)

    def delete(self, kind_name: str, ids: tuple[str, ...]) -> None:
        """Delete*: the resource and what lives under it."""
        kind = KINDS[kind_name]
        if kind_name == "api":
            self._definition(ids[0])
            del self.definitions[ids[0]]
            return
        definition = copy.deepcopy(self._definition(ids[0]))
        collection = self._collection(definition, kind_name, ids[1:-1])
        identifier = ids[-1]
        if identifier not in collection:
            raise _not_found(kind, identifier)
        _check_unused(definition, kind_name, identifier)
        del collection[identifier]
        child = _CHILDREN.get(kind_name)
        if child is not None:
            definition[child].pop(identifier, None)
        if kind_name == "deployment":
            definition["snapshot"].pop(identifier, None)
        self._commit(ids[0], definition)

    # -- helpers -------------------------------------------------------------------------------

    def _create_api(self, kind: Kind, members: JSONObject) -> JSONObject:
        if members["protocolType"] != "WEBSOCKET":
            raise bad_request("wsgate serves WebSocket APIs only: protocolType must be WEBSOCKET")
        if "routeSelectionExpression" not in members:
            raise bad_request("routeSelectionExpression is required for WEBSOCKET APIs")
        api_id = self._fresh_id(kind, self.definitions)
        api = {
            "apiId": api_id,
            "createdDate": self._clock(),
            **copy.deepcopy(dict(kind.defaults)),
            **members,
        }
        self._commit(api_id, empty_definition(api))
        return self._render_api(api)

    def _render_api(self, api: JSONObject) -> JSONObject:
        return {**copy.deepcopy(api), "apiEndpoint": f"{self.endpoint_base}/{api['apiId']}"}

    def _definition(self, api_id: str) -> JSONObject:
        definition = self.definitions.get(api_id)
        if definition is None:
            raise _not_found(KINDS["api"], api_id)
        return definition

    def _collection(
        self, definition: JSONObject, kind_name: str, parents: tuple[str, ...], create: bool = False
    ) -> JSONObject:
        parent = PARENTS.get(kind_name)
        if parent is None:
            return definition[kind_name]  # type: ignore[no-any-return]
        if parents[0] not in definition[parent]:
            raise _not_found(KINDS[parent], parents[0])
        children = definition[kind_name]
        return children.setdefault(parents[0], {}) if create else children.get(parents[0], {})  # type: ignore[no-any-return]

    def _fresh_id(self, kind: Kind, taken: Mapping[str, object]) -> str:
        while True:
            identifier = self._new_id(kind.id_length)
            if identifier not in taken:
                return identifier

    def _settle(
        self,
        definition: JSONObject,
        kind_name: str,
        resource: JSONObject,
        identifier: str,
        *,
        create: bool,
    ) -> None:
        """AWS's checks and defaults that depend on the rest of the API."""
        unique = _UNIQUE.get(kind_name)
        if unique is not None:
            _check_unique(definition, kind_name, resource, identifier, unique)
        if kind_name == "route":
            _check_route(definition, resource)
        elif kind_name == "integration":
            _settle_integration(resource, create=create)
        elif kind_name == "authorizer":
            _check_authorizer(resource)
        elif kind_name == "stage":
            _check_deployment(definition, resource.get("deploymentId"))
        elif kind_name == "deployment" and create:
            self._deploy(definition, resource)

    def _deploy(self, definition: JSONObject, resource: JSONObject) -> None:
        if not definition["route"]:
            raise bad_request("At least one route is required before deploying the Api.")
        definition["snapshot"][resource["deploymentId"]] = _snapshot(definition)
        stage_name = resource.pop("stageName", None)
        if stage_name is not None:
            stage = definition["stage"].get(stage_name)
            if stage is None:
                raise _not_found(KINDS["stage"], stage_name)
            stage["deploymentId"] = resource["deploymentId"]
            stage["lastUpdatedDate"] = self._clock()
        resource.setdefault("createdDate", self._clock())
        resource.setdefault("autoDeployed", False)
        resource["deploymentStatus"] = "DEPLOYED"

    def _auto_deploy(self, definition: JSONObject) -> None:
        """Deploy the API as it is now to its ``autoDeploy`` stages, when it changed."""
        stages = [stage for stage in definition["stage"].values() if stage.get("autoDeploy")]
        if not stages or not definition["route"]:
            return  # AWS's automatic deployment fails without a route; the stage keeps its own
        snapshot = _snapshot(definition)
        snapshots = definition["snapshot"]
        if all(snapshots.get(stage.get("deploymentId")) == snapshot for stage in stages):
            return
        now = self._clock()
        deployment_id = self._fresh_id(KINDS["deployment"], definition["deployment"])
        definition["deployment"][deployment_id] = {
            "deploymentId": deployment_id,
            "autoDeployed": True,
            "createdDate": now,
            "deploymentStatus": "DEPLOYED",
            "description": _AUTO_DESCRIPTION,
        }
        snapshots[deployment_id] = snapshot
        for stage in stages:
            stage["deploymentId"] = deployment_id
            stage["lastUpdatedDate"] = now
        pointed = {stage.get("deploymentId") for stage in definition["stage"].values()}
        for old_id, old in list(definition["deployment"].items()):
            if old.get("autoDeployed") and old_id not in pointed:
                del definition["deployment"][old_id]
                snapshots.pop(old_id, None)

    def _commit(self, api_id: str, definition: JSONObject) -> None:
        # Refuses what cannot be served: the API as it is, and what each stage would serve.
        check_definition(definition, self._base_dir, self._functions)
        self._auto_deploy(definition)
        configs = stage_configs(definition, self._base_dir, self._functions)
        self.definitions[api_id] = definition
        self._served[api_id] = (definition, configs)


def _check_unique(
    definition: JSONObject, kind_name: str, resource: JSONObject, identifier: str, member: str
) -> None:
    parent = PARENTS.get(kind_name)
    if parent is None:
        siblings = definition[kind_name]
    else:
        siblings = next(group for group in definition[kind_name].values() if identifier in group)
    for other_id, other in siblings.items():
        if other_id != identifier and other[member] == resource[member]:
            raise ControlPlaneError(
                409,
                "ConflictException",
                f"{KINDS[kind_name].name} with {member} {resource[member]} already exists",
            )


def _snapshot(definition: JSONObject) -> JSONObject:
    return {part: copy.deepcopy(definition[part]) for part in SNAPSHOT_PARTS}


def _check_authorizer(authorizer: JSONObject) -> None:
    if authorizer["authorizerType"] != "REQUEST":
        raise bad_request("JWT authorizers are for HTTP APIs only: use REQUEST")
    for member in ("authorizerUri", "identitySource"):
        if member not in authorizer:
            raise bad_request(f"{member} is required for a REQUEST authorizer")
    ttl = authorizer.get("authorizerResultTtlInSeconds", 0)
    if not 0 <= ttl <= 3600:
        raise bad_request("AuthorizerResultTtlInSeconds must be between 0 and 3600")


def _check_route(definition: JSONObject, route: JSONObject) -> None:
    if route["authorizationType"] == "JWT":
        raise bad_request("JWT authorization is for HTTP APIs only")
    authorizer_id = route.get("authorizerId")
    if authorizer_id is not None and authorizer_id not in definition["authorizer"]:
        raise bad_request(f"Invalid authorizer identifier specified {authorizer_id}")
    if route["authorizationType"] == "CUSTOM" and authorizer_id is None:
        raise bad_request("A CUSTOM authorization type needs an authorizerId")
    names = {model["name"] for model in definition["model"].values()}
    for model in route.get("requestModels", {}).values():
        if model not in names:
            raise bad_request(f"Invalid model specified {model}: create the model first")
    target = route.get("target")
    if target is None:
        return
    prefix, _, integration_id = target.partition("/")
    if prefix != "integrations" or not integration_id:
        raise bad_request(f"Invalid target {target}: write integrations/{{integrationId}}")
    if integration_id not in definition["integration"]:
        raise bad_request(f"Invalid integration identifier specified {integration_id}")


def _settle_integration(integration: JSONObject, *, create: bool) -> None:
    kind = integration["integrationType"]
    timeout = integration["timeoutInMillis"]
    if not 50 <= timeout <= 29000:
        raise bad_request("TimeoutInMillis must be between 50 and 29000 for WebSocket APIs")
    integration.pop("integrationResponseSelectionExpression", None)
    integration.update(_TYPE_DEFAULTS[kind])
    if create and kind in _PASSTHROUGH_TYPES:
        integration.setdefault("passthroughBehavior", "WHEN_NO_MATCH")


def _check_deployment(definition: JSONObject, deployment_id: str | None) -> None:
    if deployment_id is not None and deployment_id not in definition["deployment"]:
        raise bad_request(f"Invalid deployment identifier specified {deployment_id}")


def _check_unused(definition: JSONObject, kind_name: str, identifier: str) -> None:
    if kind_name == "authorizer":
        users = [
            route["routeKey"]
            for route in definition["route"].values()
            if route.get("authorizerId") == identifier
        ]
        if users:
            raise bad_request(
                f"Authorizer {identifier} is used by route {users[0]}: "
                "change or delete the route first"
            )
    if kind_name == "model":
        name = definition["model"][identifier]["name"]
        users = [
            route["routeKey"]
            for route in definition["route"].values()
            if name in route.get("requestModels", {}).values()
        ]
        if users:
            raise bad_request(
                f"Model {name} is used by route {users[0]}: change or delete the route first"
            )
    if kind_name == "integration":
        users = [
            route["routeKey"]
            for route in definition["route"].values()
            if route.get("target") == f"integrations/{identifier}"
        ]
        if users:
            raise bad_request(
                f"Integration {identifier} is the target of route {users[0]}: "
                "change or delete the route first"
            )
    if kind_name == "deployment":
        stages = [
            name
            for name, stage in definition["stage"].items()
            if stage.get("deploymentId") == identifier
        ]
        if stages:
            raise bad_request(
                f"Active stages pointing to this deployment must be moved or deleted: {stages[0]}"
            )


def _page_size(max_results: str | None) -> int:
    if max_results is None:
        return 100
    if not max_results.isdigit() or int(max_results) < 1:
        raise bad_request(f"Invalid maxResults {max_results!r}")
    return int(max_results)


def _page_start(next_token: str | None, count: int) -> int:
    if next_token is None:
        return 0
    if not next_token.isdigit() or int(next_token) > count:
        raise bad_request("Invalid nextToken")
    return int(next_token)
