"""The layering rules of STYLE.md §1: pure core/config, listening sockets only in server/."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import wsgate

_PACKAGE = Path(wsgate.__file__).resolve().parent
_PURE_LAYERS = ("core", "config")
_BANNED = frozenset(
    {
        "asyncio",
        "aiohttp",
        "redis",
        "socket",
        "opentelemetry",
        "prometheus_client",
        # Other network and event-loop libraries the pure layers have no use for either.
        "uvloop",
        "websockets",
        "httpx",
        "selectors",
        "ssl",
        "boto3",
        "botocore",
    }
)
# Top-level modules anything may import: the package itself, the error tree, the type aliases.
_PURE_TOP_LEVEL = frozenset({"__init__.py", "errors.py", "types.py"})
# Names that only code opening a listening socket uses.
_LISTENERS = frozenset(
    {
        "create_server",
        "create_unix_server",
        "start_server",
        "start_unix_server",
        "SockSite",
        "TCPSite",
        "UnixSite",
        "NamedPipeSite",
        "run_app",
        "listen",
    }
)


def _module_name(path):
    parts = path.relative_to(_PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path):
    """Absolute names of every module ``path`` imports, at any depth of its code."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    return _imports_in(path.read_text(encoding="utf-8"), package)


def _imports_in(source, package):
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package.rsplit(".", node.level - 1)[0]
                module = f"{base}.{module}" if module else base
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
        elif (
            isinstance(node, ast.Call)
            and _call_name(node.func) in {"import_module", "__import__"}
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names.add(node.args[0].value)
    return names


def _call_name(func):
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _top(name):
    return name.split(".")[0]


def _pure_modules():
    return sorted(path for layer in _PURE_LAYERS for path in (_PACKAGE / layer).rglob("*.py"))


def _path_of(module):
    """The file of a ``wsgate.*`` module, or None for names that are not modules (attributes)."""
    relative = Path(*module.split(".")[1:])
    if not relative.parts:
        return _PACKAGE / "__init__.py"
    for candidate in (_PACKAGE / relative.with_suffix(".py"), _PACKAGE / relative / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _closure(start):
    """Every wsgate file ``start`` pulls in, with the packages whose __init__ runs on the way."""
    seen = set()
    todo = [start]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in _imports(path):
            if _top(name) != "wsgate":
                continue
            parts = name.split(".")
            for depth in range(1, len(parts) + 1):
                found = _path_of(".".join(parts[:depth]))
                if found is not None:
                    todo.append(found)
    return seen


def test_the_pure_layers_exist():
    names = {_module_name(path) for path in _pure_modules()}
    assert {"wsgate.core.routing", "wsgate.core.session", "wsgate.config.load"} <= names


@pytest.mark.parametrize("path", _pure_modules(), ids=_module_name)
def test_pure_layers_import_no_io_or_telemetry(path):
    banned = {name for name in _imports(path) if _top(name) in _BANNED}
    assert not banned, f"{_module_name(path)} imports {sorted(banned)}"


@pytest.mark.parametrize("path", _pure_modules(), ids=_module_name)
def test_pure_layers_depend_only_on_pure_wsgate_modules(path):
    for dependency in _closure(path):
        relative = dependency.relative_to(_PACKAGE).parts
        allowed = relative[0] in _PURE_LAYERS or relative[0] in _PURE_TOP_LEVEL
        assert allowed, f"{_module_name(path)} pulls in {dependency}"
        banned = {name for name in _imports(dependency) if _top(name) in _BANNED}
        assert not banned, f"{_module_name(path)} pulls in {dependency}, which imports {banned}"


def _listener_uses(path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in _LISTENERS:
            found.add(node.attr)
        elif isinstance(node, ast.Name) and node.id in _LISTENERS:
            found.add(node.id)
        elif isinstance(node, ast.ImportFrom):
            found.update(alias.name for alias in node.names if alias.name in _LISTENERS)
    return found


def _modules_outside_server():
    return sorted(
        path for path in _PACKAGE.rglob("*.py") if path.relative_to(_PACKAGE).parts[0] != "server"
    )


@pytest.mark.parametrize("path", _modules_outside_server(), ids=_module_name)
def test_only_server_modules_listen(path):
    used = _listener_uses(path)
    assert not used, f"{_module_name(path)} opens a listening socket via {sorted(used)}"


def test_the_listener_check_sees_the_server():
    # The check above is only meaningful if it recognises the real listener.
    found = set().union(*(_listener_uses(path) for path in (_PACKAGE / "server").rglob("*.py")))
    assert found & {"create_server", "SockSite", "TCPSite"}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import asyncio", {"asyncio"}),
        ("import asyncio.events as e", {"asyncio.events"}),
        ("from aiohttp import web", {"aiohttp", "aiohttp.web"}),
        ("def f():\n    import redis\n", {"redis"}),
        ("import importlib\nimportlib.import_module('socket')", {"importlib", "socket"}),
        ("__import__('opentelemetry')", {"opentelemetry"}),
        ("from . import jsonpath", {"wsgate.core", "wsgate.core.jsonpath"}),
        ("from .routing import X", {"wsgate.core.routing", "wsgate.core.routing.X"}),
        ("from ..errors import E", {"wsgate.errors", "wsgate.errors.E"}),
    ],
)
def test_import_scanner(source, expected):
    assert _imports_in(source, "wsgate.core") == expected


# Optional extras each have one home, imported lazily by whoever needs it (STYLE.md §1).
# The modules an optional extra may be imported by; each is imported only where a config
# asks for it (registry/__init__.py, server/apistore.py, observability/otel.py's callers).
_EXTRA_HOMES = {
    "opentelemetry": ("observability/otel.py",),
    "redis": ("registry/redis.py", "registry/redis_bus.py", "registry/definitions.py"),
}


@pytest.mark.parametrize("path", sorted(_PACKAGE.rglob("*.py")), ids=_module_name)
def test_optional_extras_are_imported_only_in_their_home(path):
    where = path.relative_to(_PACKAGE).as_posix()
    for extra, homes in _EXTRA_HOMES.items():
        if where not in homes:
            used = {name for name in _imports(path) if _top(name) == extra}
            assert not used, f"{_module_name(path)} imports {sorted(used)}; only {homes} may"


def test_the_core_imports_nothing_from_config():
    # The core takes plain values; config models stay on the other side (STYLE §1).
    for path in sorted((_PACKAGE / "core").rglob("*.py")):
        pulled = {dep for dep in _closure(path) if dep.relative_to(_PACKAGE).parts[0] == "config"}
        assert not pulled, f"{_module_name(path)} pulls in {sorted(map(str, pulled))}"


def test_importing_the_core_loads_no_config_module():
    # What `python -c` shows a reader: import every core module, then look at sys.modules.
    script = (
        "import importlib, pkgutil, sys, wsgate.core as core\n"
        "for info in pkgutil.iter_modules(core.__path__):\n"
        "    importlib.import_module('wsgate.core.' + info.name)\n"
        "print(sorted(name for name in sys.modules if name.startswith('wsgate.config')))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def _dependency_graph():
    """Every wsgate module and the wsgate modules it imports, TYPE_CHECKING imports included."""
    graph = {}
    for path in _PACKAGE.rglob("*.py"):
        found = set()
        for name in _imports(path):
            if _top(name) != "wsgate":
                continue
            target = _path_of(name) or _path_of(name.rpartition(".")[0])
            if target is not None and target != path and target.name != "__init__.py":
                found.add(target)
        graph[path] = found
    return graph


def _cycle_from(graph, start):
    """A cycle through ``start``, as a list of paths, or None."""
    todo = [(start, [start])]
    seen = set()
    while todo:
        node, trail = todo.pop()
        for nxt in graph.get(node, ()):
            if nxt == start:
                return trail
            if nxt not in seen:
                seen.add(nxt)
                todo.append((nxt, [*trail, nxt]))
    return None


def test_no_import_cycles():
    graph = _dependency_graph()
    for path in sorted(graph):
        cycle = _cycle_from(graph, path)
        assert cycle is None, " -> ".join(_module_name(p) for p in [*cycle, path])


def test_the_cycle_check_finds_a_cycle():
    a, b, c = Path("a.py"), Path("b.py"), Path("c.py")
    assert _cycle_from({a: {b}, b: {c}, c: {a}}, a) == [a, b, c]
    assert _cycle_from({a: {b}, b: {c}, c: set()}, a) is None
