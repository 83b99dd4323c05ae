"""Functions of a template (``AWS::Serverless::Function``, ``AWS::Lambda::Function``) as local
functions: code found on disk (SAM's ``CodeUri``, CDK's asset folders) or written from in-line
code, with SAM's ``Globals`` merged in.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from wsgate.config.model import runtime_family
from wsgate.config.template.intrinsics import Resolver, TemplateIssue, as_text
from wsgate.errors import ConfigIssue

__all__ = [
    "FunctionContext",
    "TranslatedFunction",
    "code_folder",
    "merge_globals",
    "translate_function",
]

# Read into the function's config, or about naming and packaging only.
_READ: Final = frozenset(
    {
        "Handler",
        "Runtime",
        "CodeUri",
        "InlineCode",
        "Code",
        "Environment",
        "Timeout",
        "MemorySize",
        "Layers",
        "FunctionName",
        "ReservedConcurrentExecutions",
        "PackageType",
    }
)
# Accepted without a note: descriptions, tags, and IAM (which is not enforced locally).
_QUIET: Final = frozenset(
    {
        "Description",
        "Tags",
        "Role",
        "Policies",
        "RolePath",
        "PermissionsBoundary",
        "AssumeRolePolicyDocument",
        "Architectures",
        "AutoPublishAlias",
        "VersionDescription",
        "Tracing",
        "TracingConfig",
        "KmsKeyArn",
        "LoggingConfig",
        "RuntimeManagementConfig",
        "CodeSigningConfigArn",
        "EphemeralStorage",
    }
)
_MAX_CONCURRENCY: Final = 256
_OLD_NODE: Final = re.compile(r"nodejs(\d|1[0-7])\.(\d+|x)")


@dataclass(frozen=True, slots=True)
class FunctionContext:
    """What every function of a template is translated with."""

    template_dir: Path
    home: Path
    env_vars: Mapping[str, Mapping[str, str]]
    # A layer's ARN (its Ref value) -> its local folder.
    layers: Mapping[str, Path] = field(default_factory=dict)


@dataclass(slots=True)
class TranslatedFunction:
    """A function's config data, the in-line code to write, and what it leaves aside."""

    data: dict[str, Any] = field(default_factory=dict)
    files: dict[Path, str] = field(default_factory=dict)
    issues: list[ConfigIssue] = field(default_factory=list)
    notes: list[ConfigIssue] = field(default_factory=list)


def _is_intrinsic(value: object) -> bool:
    return isinstance(value, dict) and len(value) == 1 and _intrinsic_key(next(iter(value)))


def _intrinsic_key(key: object) -> bool:
    return isinstance(key, str) and (key in ("Ref", "Condition") or key.startswith("Fn::"))


def merge_globals(defaults: object, own: object) -> object:
    """SAM's merge of ``Globals``: maps merged, lists concatenated, anything else replaced."""
    if _is_intrinsic(defaults) or _is_intrinsic(own):
        return own
    if isinstance(defaults, dict) and isinstance(own, dict):
        merged = dict(defaults)
        for key, value in own.items():
            merged[key] = merge_globals(defaults[key], value) if key in defaults else value
        return merged
    if isinstance(defaults, list) and isinstance(own, list):
        return defaults + own
    return own


def code_folder(
    name: str, resource: Mapping[str, Any], properties: Mapping[str, Any], template_dir: Path
) -> Path | None:
    """The folder holding a function's or layer's code; None when it is given in-line.

    Raises:
        TemplateIssue: the code is in S3 (or an image) and not on this machine.
    """
    place = f"Resources.{name}"
    asset = (
        resource.get("Metadata", {}).get("aws:asset:path")
        if isinstance(resource.get("Metadata"), dict)
        else None
    )
    if isinstance(asset, str):
        return template_dir / asset
    for key in ("CodeUri", "ContentUri"):
        if key in properties:
            uri = properties[key]
            if not isinstance(uri, str):
                raise TemplateIssue(
                    f"{place}.Properties.{key}",
                    "code in an S3 bucket is not readable here: point it at a local folder",
                )
            if uri.startswith("s3://"):
                raise TemplateIssue(
                    f"{place}.Properties.{key}",
                    f"{uri} is in S3: point {key} at the local folder that holds the code",
                )
            return template_dir / uri
    code = properties.get("Code") or properties.get("Content")
    if (isinstance(code, dict) and "ZipFile" in code) or "InlineCode" in properties:
        return None
    if isinstance(code, dict) and "ImageUri" in code:
        raise TemplateIssue(f"{place}.Properties.Code", "container images are not supported")
    raise TemplateIssue(
        f"{place}.Properties",
        "no local code: give CodeUri (a folder), InlineCode, Code.ZipFile, "
        "or CDK's aws:asset:path metadata",
    )


def translate_function(
    name: str, resource: Mapping[str, Any], resolver: Resolver, context: FunctionContext
) -> TranslatedFunction:
    """One function's config data (``handler``, ``codeUri``, ``runtime``, ...)."""
    place = f"Resources.{name}.Properties"
    result = TranslatedFunction()
    raw = resource.get("Properties")
    properties, result.issues = resolver.resolve_each(raw if isinstance(raw, dict) else {}, place)
    try:
        folder = code_folder(name, resource, properties, context.template_dir)
    except TemplateIssue as issue:
        result.issues.append(ConfigIssue(issue.place, issue.message))
        return result
    runtime = properties.get("Runtime")
    data = result.data
    if properties.get("PackageType") == "Image":
        result.issues.append(
            ConfigIssue(f"{place}.PackageType", "container images are not supported")
        )
        return result
    if runtime is not None:
        data["runtime"] = _runtime(str(runtime), place, result)
    if "Handler" not in properties:
        result.issues.append(ConfigIssue(f"{place}.Handler", "required"))
    else:
        data["handler"] = properties["Handler"]
    if folder is None:
        folder = _inline(properties, data.get("runtime"), context.home, result)
    data["codeUri"] = str(folder.resolve())
    for key, target in (("Timeout", "timeout"), ("MemorySize", "memorySize")):
        if key in properties:
            data[target] = properties[key]
    concurrency = properties.get("ReservedConcurrentExecutions")
    if isinstance(concurrency, int) and 1 <= concurrency <= _MAX_CONCURRENCY:
        data["concurrency"] = concurrency
    elif concurrency is not None:
        message = f"ReservedConcurrentExecutions {concurrency!r}: not applied (1-256 are)"
        result.notes.append(ConfigIssue(place, message))
    data["environment"] = _environment(name, properties, context, result)
    ignored = sorted(set(properties) - _READ - _QUIET)
    if ignored:
        result.notes.append(ConfigIssue(place, "not applied locally: " + ", ".join(ignored)))
    return result


def _runtime(runtime: str, place: str, result: TranslatedFunction) -> str:
    """The runtime to run; a Node.js version Lambda no longer runs gets the oldest it does."""
    if runtime_family(runtime) is not None or _OLD_NODE.fullmatch(runtime) is None:
        return runtime  # an unknown runtime is the model's to refuse
    current = next(
        name
        for name in (f"nodejs{major}.x" for major in range(18, 100))
        if runtime_family(name) == "nodejs"
    )
    message = f"{runtime} is deprecated on Lambda; the function runs on {current} here"
    result.notes.append(ConfigIssue(f"{place}.Runtime", message))
    return current


def _inline(
    properties: Mapping[str, Any], runtime: str | None, home: Path, result: TranslatedFunction
) -> Path:
    code = properties.get("InlineCode")
    if code is None:
        code = properties["Code"]["ZipFile"]
    text = as_text(code, "")
    suffix = ".js" if runtime is not None and runtime.startswith("nodejs") else ".py"
    digest = hashlib.sha256(f"{suffix}\n{text}".encode()).hexdigest()[:16]
    folder = home / "templates" / digest
    result.files[folder / f"index{suffix}"] = text
    return folder


def _environment(
    name: str, properties: Mapping[str, Any], context: FunctionContext, result: TranslatedFunction
) -> dict[str, Any]:
    place = f"Resources.{name}.Properties"
    environment = properties.get("Environment")
    variables = environment.get("Variables", {}) if isinstance(environment, dict) else {}
    merged: dict[str, Any] = dict(variables) if isinstance(variables, dict) else {}
    runtime = str(properties.get("Runtime", "python"))
    paths = []
    for index, arn in enumerate(properties.get("Layers") or []):
        folder = context.layers.get(str(arn))
        if folder is None:
            message = f"layer {arn} is not in this template: its code is not available locally"
            result.notes.append(ConfigIssue(f"{place}.Layers.{index}", message))
            continue
        inner = "nodejs/node_modules" if runtime.startswith("nodejs") else "python"
        paths.append(str((folder / inner).resolve()))
    if paths:
        # Lambda puts each layer under /opt and /opt/python (/opt/nodejs/node_modules) on the
        # path; PYTHONPATH (NODE_PATH) does the same for a worker process.
        variable = "NODE_PATH" if runtime.startswith("nodejs") else "PYTHONPATH"
        own = merged.get(variable)
        merged[variable] = os.pathsep.join([*paths, *([str(own)] if own else [])])
    merged.update(context.env_vars.get("Parameters", {}))
    merged.update(context.env_vars.get(name, {}))
    return merged
