"""Read a config file (YAML or JSON) into a validated :class:`ApiConfig`.

Every problem is reported with its place (``routes.sendmessage.target: no integration named
'chatfn'``): structural errors from the model and cross-references (targets, functions, handler
modules, expressions) are collected together, never one at a time.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import yaml
from pydantic import ValidationError

from wsgate.config.access import access_issues
from wsgate.config.base import as_mapping
from wsgate.config.checks import backend_issues, expression_issues, model_issues
from wsgate.config.model import ApiConfig
from wsgate.config.services import aws_integration_issues
from wsgate.config.uris import STAGE_VARIABLE, function_name_from_uri, substitute_stage_variables
from wsgate.core.accesslog import compile_access_log_format
from wsgate.core.routing import RESERVED_ROUTE_KEYS
from wsgate.errors import ConfigError, ConfigIssue

__all__ = [
    "BoundedLoader",
    "config_from_data",
    "function_name_from_uri",
    "load_config",
    "parse_config",
    "substitute_stage_variables",
    "yaml_error",
]


def load_config(path: str | Path, *, lambda_endpoint: str | None = None) -> ApiConfig:
    """Load and validate a config file; relative code paths resolve against its folder.

    ``lambda_endpoint`` sends every function that names none of its own to that Lambda Invoke
    endpoint (``wsgate serve --lambda-endpoint``).

    Raises:
        ConfigError: the file cannot be read or parsed, or any part of it is invalid.
    """
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise _error(
            str(source), "", f"not UTF-8 text: {error.reason} at byte {error.start}"
        ) from error
    except OSError as error:
        raise _error(str(source), "", f"cannot read file: {error.strerror}") from error
    return parse_config(
        text, base_dir=source.resolve().parent, source=str(source), lambda_endpoint=lambda_endpoint
    )


def parse_config(
    text: str, *, base_dir: Path, source: str = "<config>", lambda_endpoint: str | None = None
) -> ApiConfig:
    """Parse YAML (or JSON, a subset of YAML) text into a validated config."""
    try:
        data = _load_yaml(text)
    except yaml.YAMLError as error:
        raise yaml_error(source, error) from error
    if not isinstance(data, dict):
        raise _error(source, "", "the file must hold a mapping at the top level")
    return config_from_data(data, base_dir=base_dir, source=source, lambda_endpoint=lambda_endpoint)


def yaml_error(source: str, error: yaml.YAMLError) -> ConfigError:
    """The config error for text that YAML cannot read (or that the loader refuses)."""
    mark = getattr(error, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    problem = getattr(error, "problem", None) or str(error)
    if problem.startswith("found unknown escape character"):
        problem += _ESCAPE_HINT
    if not isinstance(error, _Refused):
        problem = f"not valid YAML or JSON: {problem}"
    return _error(source, where, problem)


def config_from_data(
    data: Mapping[str, Any], *, base_dir: Path, source: str, lambda_endpoint: str | None = None
) -> ApiConfig:
    """Validate a config's data (as a file holds it) into a config.

    Args:
        lambda_endpoint: a Lambda Invoke endpoint for every function that names none.

    Raises:
        ConfigError: every problem, with its place.
    """
    if lambda_endpoint is not None:
        data = _with_endpoint(data, lambda_endpoint)
    issues = _cross_reference_issues(data, base_dir)
    try:
        config = ApiConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(_model_issues(error) + issues, source) from error
    if issues:
        raise ConfigError(issues, source)
    return _resolve(config, base_dir)


def _with_endpoint(data: Mapping[str, Any], endpoint: str) -> Mapping[str, Any]:
    functions = data.get("functions")
    if not isinstance(functions, dict):
        return data
    moved = {
        name: {"lambdaEndpoint": endpoint, **function} if isinstance(function, dict) else function
        for name, function in functions.items()
    }
    return {**data, "functions": moved}


# "\$default" and "/2\d\d/" are the usual trips: in YAML's (and JSON's) double quotes a
# backslash starts an escape.
_ESCAPE_HINT: Final = (
    "; inside double quotes a backslash starts an escape: use single quotes "
    "('\\$default', '/2\\d\\d/') or double the backslash (\"\\\\$default\")"
)


# Every alias is the node it names, so a few lines can stand for billions of values ("billion
# laughs": nine anchors of nine aliases each). Loading shares them, but whatever later walks
# or stringifies the data pays for every copy: aliases may add this many nodes in all.
_MAX_ALIASED_NODES: Final = 100_000
# Far deeper than any config; shallow enough that nothing recursing over the data (PyYAML's
# composer first) runs out of stack. Flow collections nest without indentation, so JSON too.
_MAX_DEPTH: Final = 100


class _Refused(yaml.YAMLError):
    """Well-formed YAML that would cost too much to use, or whose value cannot be read; marked
    as PyYAML's own errors are."""

    def __init__(self, problem: str, where: yaml.Event | yaml.Node) -> None:
        super().__init__(problem)
        self.problem = problem
        self.problem_mark = where.start_mark


class BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing deep nesting and aliases that expand too far.

    While composing, it counts every node as expanded (an alias as the size of the node it
    names, which is complete by then), so a refusal comes at the offending alias, before any
    expansion happens.
    """

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self._depth = 0
        self._expanded = 0  # nodes composed so far, each alias counted as its expansion
        self._aliased = 0  # of which reached through aliases
        self._sizes: dict[int, int] = {}  # id of an anchored node -> its expanded size

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event: yaml.Event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent):
            return self._compose_alias(event, parent, index)
        if self._depth == _MAX_DEPTH:
            message = f"nested more than {_MAX_DEPTH} levels deep"
            raise _Refused(message, event)
        before = self._expanded
        self._depth += 1
        node = super().compose_node(parent, index)
        self._depth -= 1
        self._expanded += 1
        if isinstance(event, yaml.NodeEvent) and event.anchor is not None:
            self._sizes[id(node)] = self._expanded - before
        return node

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            data = super().construct_object(node, deep)
        except yaml.YAMLError:
            raise
        except Exception as error:
            # PyYAML's constructors fail in plain ways on well-formed values they cannot build:
            # ValueError for 2001-13-45 as a timestamp or an integer past Python's 4300 digits,
            # IndexError for !!float "", KeyError for !!bool x, AttributeError for !!timestamp "".
            kind = node.tag.rpartition(":")[2]
            detail = f": {error}" if isinstance(error, ValueError | OverflowError) else ""
            raise _Refused(f"this {kind} cannot be read{detail}", node) from error
        if type(data) is str and not data.isascii():
            # PyYAML reads the escapes "\ud83d\ude00" (JSON's way to write U+1F600, as
            # json.dumps does) as two lone surrogates: pair them, and refuse a lone one.
            try:
                data = data.encode("utf-16", "surrogatepass").decode("utf-16")
            except UnicodeDecodeError as error:
                raise _Refused("a string holds a lone surrogate (\\ud800-\\udfff)", node) from error
        return data

    def _compose_alias(
        self, event: yaml.AliasEvent, parent: yaml.Node | None, index: int
    ) -> yaml.Node | None:
        node = super().compose_node(parent, index)  # the anchored node (or undefined alias)
        size = self._sizes.get(id(node))
        if size is None:
            # Its anchor is still open: the data would contain itself, and every walk over it
            # (validation, JSON, str) would loop or fail.
            message = f"alias *{event.anchor} refers to a collection that contains it"
            raise _Refused(message, event)
        self._expanded += size
        self._aliased += size
        if self._aliased > _MAX_ALIASED_NODES:
            message = (
                f"aliases expand to more than {_MAX_ALIASED_NODES} values in all "
                f"(*{event.anchor} adds {size}); repeat less through anchors and aliases"
            )
            raise _Refused(message, event)
        return node


def _load_yaml(text: str) -> Any:
    loader = BoundedLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def _error(source: str, place: str, message: str) -> ConfigError:
    return ConfigError([ConfigIssue(place, message)], source)


def _model_issues(error: ValidationError) -> list[ConfigIssue]:
    issues = []
    for item in error.errors(include_url=False):
        place = ".".join(str(part) for part in item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown field"
        elif item["type"] == "string_type" and tuple(item["loc"][0::2]) in _TEMPLATE_PLACES:
            message = _template_not_text(item["input"])
        issues.append(ConfigIssue(place, message[0].lower() + message[1:]))
    return issues


# The every-other-part shape of a template's place: integrations.<name>.requestTemplates.<key>
# and integrations.<name>.integrationResponses.<key>.responseTemplates.<key>.
_TEMPLATE_PLACES: Final = frozenset(
    {
        ("integrations", "requestTemplates"),
        ("integrations", "integrationResponses", "responseTemplates"),
    }
)
_YAML_KINDS: Final = {
    "dict": "mapping",
    "list": "list",
    "bool": "boolean",
    "int": "number",
    "float": "number",
}
_SHOWN_TEMPLATE_CHARS: Final = 60


def _template_not_text(value: object) -> str:
    """Why a template that YAML did not read as text is refused, and how to write it."""
    if value is None:
        return "the template is empty (YAML null); write '' for an empty template"
    kind = _YAML_KINDS.get(type(value).__name__, type(value).__name__)
    example = ""
    if isinstance(value, dict | list):
        # JSON is what such a template was meant to send, and a YAML single-quoted scalar
        # holds it once its quotes are doubled.
        text = json.dumps(value, ensure_ascii=False, default=str).replace("'", "''")
        if len(text) <= _SHOWN_TEMPLATE_CHARS:
            example = f" ('{text}')"
    return (
        f"the template was read as a YAML {kind}, not text; "
        f"quote it{example} or use a block scalar (|)"
    )


def _cross_reference_issues(data: Mapping[str, Any], base_dir: Path) -> list[ConfigIssue]:
    """Checks that span sections; tolerant of a malformed structure (the model reports that)."""
    issues: list[ConfigIssue] = []
    routes = as_mapping(data.get("routes"))
    integrations = as_mapping(data.get("integrations"))
    functions = as_mapping(data.get("functions"))
    stages = as_mapping(data.get("stages"))

    expression = data.get("routeSelectionExpression")
    if isinstance(expression, str):
        issues += expression_issues("routeSelectionExpression", expression)

    for key, route in routes.items():
        issues += _route_issues(str(key), as_mapping(route), integrations)
    for name, integration in integrations.items():
        issues += _integration_issues(str(name), as_mapping(integration), functions, stages)
    for name, function in functions.items():
        issues += _function_issues(str(name), as_mapping(function), base_dir)
    for name, stage in stages.items():
        issues += _access_log_issues(
            str(name), as_mapping(as_mapping(stage).get("accessLogSettings"))
        )
    issues += model_issues(as_mapping(data.get("models")), routes)
    issues += access_issues(data, base_dir)
    server = as_mapping(data.get("server"))
    if server.get("metrics") is True and server.get("adminPort") is None:
        issues.append(
            ConfigIssue("server.metrics", "metrics are served on the admin listener: set adminPort")
        )
    return issues


def _access_log_issues(stage: str, settings: Mapping[str, Any]) -> list[ConfigIssue]:
    log_format = settings.get("format")
    if not isinstance(log_format, str):
        return []
    try:
        compile_access_log_format(log_format)
    except ValueError as error:
        return [ConfigIssue(f"stages.{stage}.accessLogSettings.format", str(error))]
    return []


def _route_issues(
    key: str, route: Mapping[str, Any], integrations: Mapping[str, Any]
) -> list[ConfigIssue]:
    place = f"routes.{key}"
    issues = []
    if key.startswith("$") and key not in RESERVED_ROUTE_KEYS:
        reserved = ", ".join(sorted(RESERVED_ROUTE_KEYS))
        issues.append(ConfigIssue(place, f"route keys starting with $ are reserved ({reserved})"))
    if not key:
        issues.append(ConfigIssue(place, "route key must not be empty"))
    target = route.get("target")
    if isinstance(target, str) and target.removeprefix("integrations/") not in integrations:
        name = target.removeprefix("integrations/")
        issues.append(ConfigIssue(f"{place}.target", f"no integration named {name!r}"))
    selection = route.get("routeResponseSelectionExpression")
    if selection is not None and selection != "$default":
        message = f"{selection!r} is not supported; WebSocket APIs support only '$default'"
        if selection == "\\$default":
            # Unlike the other selection expressions, AWS documents this one as plain $default.
            message = (
                "write '$default' without the backslash: WebSocket APIs support only '$default' "
                "here, as is"
            )
        issues.append(ConfigIssue(f"{place}.routeResponseSelectionExpression", message))
    responses = route.get("routeResponses")
    if isinstance(responses, dict):
        for response_key in responses:
            if response_key != "$default":
                issues.append(
                    ConfigIssue(
                        f"{place}.routeResponses.{response_key}",
                        "only the '$default' route response key is supported",
                    )
                )
    return issues


def _integration_issues(
    name: str,
    integration: Mapping[str, Any],
    functions: Mapping[str, Any],
    stages: Mapping[str, Any],
) -> list[ConfigIssue]:
    place = f"integrations.{name}"
    kind = integration.get("integrationType")
    if not isinstance(kind, str) or kind not in {"AWS_PROXY", "AWS", "HTTP_PROXY", "HTTP", "MOCK"}:
        return []  # the model reports the bad type
    if kind != "AWS_PROXY":
        per_stage = {
            str(stage_name): {
                str(k): str(v)
                for k, v in as_mapping(as_mapping(stage).get("stageVariables")).items()
            }
            for stage_name, stage in stages.items()
        }
        issues = backend_issues(place, kind, integration, per_stage)
        if kind == "AWS":
            issues = aws_integration_issues(place, integration, functions, per_stage) + issues
        return _unique(issues)
    uri = integration.get("integrationUri")
    if not isinstance(uri, str) or not uri:
        return [ConfigIssue(f"{place}.integrationUri", "an AWS_PROXY integration needs a function")]
    issues = []
    for stage_name, stage in stages.items():
        variables = as_mapping(as_mapping(stage).get("stageVariables"))
        try:
            function = function_name_from_uri(uri, {str(k): str(v) for k, v in variables.items()})
        except ValueError as error:
            issues.append(ConfigIssue(f"{place}.integrationUri", f"stage {stage_name}: {error}"))
            continue
        if function not in functions:
            where = f" (in stage {stage_name})" if STAGE_VARIABLE.search(uri) else ""
            issues.append(
                ConfigIssue(f"{place}.integrationUri", f"no function named {function!r}{where}")
            )
    return _unique(issues)


def _unique(issues: list[ConfigIssue]) -> list[ConfigIssue]:
    return list(dict.fromkeys(issues))


def _function_issues(name: str, function: Mapping[str, Any], base_dir: Path) -> list[ConfigIssue]:
    place = f"functions.{name}"
    if function.get("lambdaEndpoint") is not None:
        return []  # its code runs at the endpoint, not here
    code_uri = function.get("codeUri", ".")
    if isinstance(code_uri, str) and "\0" in code_uri:
        # The file system cannot hold it: Path.resolve() would raise ValueError.
        return [ConfigIssue(f"{place}.codeUri", "a path cannot hold a NUL character")]
    handler = function.get("handler")
    if not isinstance(code_uri, str) or not isinstance(handler, str) or "." not in handler:
        return []
    code_dir = (base_dir / code_uri).resolve()
    if not code_dir.is_dir():
        return [ConfigIssue(f"{place}.codeUri", f"folder {str(code_dir)!r} does not exist")]
    runtime = function.get("runtime")
    if isinstance(runtime, str) and not runtime.startswith("python"):
        return _script_issues(place, runtime, handler, code_dir)
    module = handler.rpartition(".")[0]
    module_path = code_dir.joinpath(*module.split("."))
    if not module_path.with_suffix(".py").is_file() and not (module_path / "__init__.py").is_file():
        return [
            ConfigIssue(
                f"{place}.handler",
                f"module {module!r} not found in {str(code_dir)!r}",
            )
        ]
    return []


def _script_issues(place: str, runtime: str, handler: str, code_dir: Path) -> list[ConfigIssue]:
    """Node.js finds ``dir/app.handlers.send`` in ``dir/app.js`` (or .mjs, .cjs): the file name
    ends at the first dot after the last slash, as Lambda's runtime reads it; others are not
    read."""
    if not runtime.startswith("nodejs"):
        return []
    folder, slash, name = handler.rpartition("/")
    module = folder + slash + name.partition(".")[0]
    if any((code_dir / f"{module}{suffix}").is_file() for suffix in (".js", ".mjs", ".cjs")):
        return []
    message = f"no {module}.js, {module}.mjs or {module}.cjs in {str(code_dir)!r}"
    return [ConfigIssue(f"{place}.handler", message)]


def default_api_id(name: str) -> str:
    """A stable 10-character API id derived from the API's name (AWS's shape: ``[a-z0-9]{10}``)."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(alphabet[byte % len(alphabet)] for byte in digest[:10])


def _resolve(config: ApiConfig, base_dir: Path) -> ApiConfig:
    functions = {
        name: function.model_copy(
            update={"code_uri": str((base_dir / function.code_uri).resolve())}
        )
        for name, function in config.functions.items()
    }
    update: dict[str, object] = {"functions": functions}
    if config.api_id is None:
        update["api_id"] = default_api_id(config.name)
    # Files the config names are found next to it, wherever the gateway runs from.
    if config.iam is not None and config.iam.credentials_file is not None:
        path = str((base_dir / config.iam.credentials_file).resolve())
        update["iam"] = config.iam.model_copy(update={"credentials_file": path})
    tls = config.server.tls
    if tls is not None:
        files = {
            name: str((base_dir / getattr(tls, name)).resolve())
            for name in _TLS_FILES
            if getattr(tls, name) is not None
        }
        server = config.server.model_copy(update={"tls": tls.model_copy(update=files)})
        update["server"] = server
    return config.model_copy(update=update)


_TLS_FILES = ("cert_file", "key_file", "ca_file")
