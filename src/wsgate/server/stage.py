"""A stage ready to serve: its selection expression compiled, each route bound to its integration.

Which integration a route calls is decided here, once per stage, so that the data plane finds
it with one dictionary lookup per message.
"""

from __future__ import annotations

from dataclasses import dataclass

from wsgate.config.model import ApiConfig, StageConfig
from wsgate.core.routing import Expression, compile_expression
from wsgate.core.validation import RequestValidation, compile_request_validation
from wsgate.integrations.base import Integration
from wsgate.integrations.catalog import IntegrationCatalog

__all__ = ["RouteTarget", "StageRuntime", "build_stages"]


@dataclass(frozen=True, slots=True)
class RouteTarget:
    """A route bound to its integration for one stage."""

    route_key: str
    integration_name: str
    integration: Integration
    timeout_ms: int
    two_way: bool  # the route has a route response: the answer goes back to the client
    # The route's request validation (a modelSelectionExpression); None: none.
    validation: RequestValidation | None = None


@dataclass(frozen=True, slots=True)
class StageRuntime:
    """A stage ready to serve: its routes resolved, its expression compiled."""

    name: str
    config: StageConfig
    expression: Expression
    routes: dict[str, RouteTarget | None]  # None: the route exists without an integration


def build_stages(config: ApiConfig, catalog: IntegrationCatalog) -> dict[str, StageRuntime]:
    """Every stage of the API, its routes bound through ``catalog`` with its stage variables."""
    expression = compile_expression(config.route_selection_expression)
    schemas = {name: model.schema_text for name, model in config.models.items()}
    validations = {
        key: compile_request_validation(
            route.model_selection_expression, route.request_models, schemas
        )
        for key, route in config.routes.items()
        if route.model_selection_expression is not None
    }
    stages = {}
    for stage_name, stage in config.stages.items():
        routes: dict[str, RouteTarget | None] = {}
        for route_key, route in config.routes.items():
            name = route.integration_name
            routes[route_key] = (
                None
                if name is None
                else RouteTarget(
                    route_key=route_key,
                    integration_name=name,
                    integration=catalog.for_route(name, stage.stage_variables),
                    timeout_ms=config.integrations[name].timeout_in_millis,
                    two_way=route.two_way,
                    validation=validations.get(route_key),
                )
            )
        stages[stage_name] = StageRuntime(stage_name, stage, expression, routes)
    return stages
