"""The local ``node`` and the AWS SDK for JavaScript v3 that Lambda's Node.js runtimes provide.

Lambda's Node.js runtimes ship the SDK, so handlers import ``@aws-sdk/client-*`` without
bundling it. wsgate installs the ``@aws-sdk/*`` packages a function's code names (and the
``@aws-sdk/client-apigatewaymanagementapi`` every WebSocket backend uses) from npm, once, into
a cache (``$WSGATE_NODE_SDK_DIR``, else ``$WSGATE_HOME/node-sdk``), at a pinned version, before
the gateway starts listening. A function's own ``node_modules`` come first; the cache is
reached through ``NODE_PATH`` (CommonJS) and the bundled runtime's resolve hook (ES modules).
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import re
import shutil
import sys
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from wsgate.errors import ConfigError, ConfigIssue
from wsgate.security.local import wsgate_home

if TYPE_CHECKING:
    from wsgate.config.model import FunctionConfig

__all__ = [
    "ALWAYS",
    "SDK_VERSION",
    "NodeRuntime",
    "find_sdk_packages",
    "install_sdk",
    "prepare_node",
    "sdk_dir",
]

logger = logging.getLogger(__name__)

# The last SDK release that still supports Node.js 18: it runs on every nodejs runtime. Each
# package is installed at its newest release up to this one (not every package is published
# with every release).
SDK_VERSION = "3.958.0"
ALWAYS = "@aws-sdk/client-apigatewaymanagementapi"
_SPECIFIER = re.compile(r"""["'](@aws-sdk/[a-z0-9][a-z0-9._-]*)""")
_SOURCES = frozenset({".js", ".mjs", ".cjs", ".ts", ".mts", ".cts"})
_SKIPPED_DIRS = frozenset({"node_modules", ".git"})
_NPM_LIMIT = 600.0  # seconds for one install
# One install at a time per event loop (a lock is bound to the loop it first waits on).
_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


@dataclass(frozen=True, slots=True)
class NodeRuntime:
    """The ``node`` that runs functions, its version, and the SDK's ``node_modules``."""

    node: str
    version: tuple[int, int, int]
    node_modules: str


def sdk_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """Where the SDK is cached: ``$WSGATE_NODE_SDK_DIR``, else ``$WSGATE_HOME/node-sdk``."""
    configured = environ.get("WSGATE_NODE_SDK_DIR")
    return Path(configured).expanduser() if configured else wsgate_home() / "node-sdk"


def sdk_packages_in(text: str) -> set[str]:
    """The ``@aws-sdk/*`` packages a source text names (``@aws-sdk/x/sub`` counts as x)."""
    return {match.group(1) for match in _SPECIFIER.finditer(text)}


def find_sdk_packages(code_dir: str) -> set[str]:
    """The ``@aws-sdk/*`` packages a function's code names that its own modules lack."""
    found: set[str] = set()
    for folder, dirs, files in os.walk(code_dir):
        dirs[:] = [name for name in dirs if name not in _SKIPPED_DIRS]
        for name in files:
            if os.path.splitext(name)[1] in _SOURCES:
                try:
                    text = Path(folder, name).read_text(encoding="utf-8", errors="replace")
                except OSError:
                    continue
                found |= sdk_packages_in(text)
    own = Path(code_dir, "node_modules")
    return {name for name in found | {ALWAYS} if not (own / name).is_dir()}


def _installed(directory: Path, names: Iterable[str]) -> set[str]:
    return {
        name for name in names if (directory / "node_modules" / name / "package.json").is_file()
    }


async def install_sdk(names: set[str], directory: Path) -> None:
    """Install the packages of ``names`` that ``directory`` lacks, from npm, once.

    Raises:
        ConfigError: npm is missing or the install failed (its output is in the message).
    """
    loop = asyncio.get_running_loop()
    async with _locks.setdefault(loop, asyncio.Lock()):
        missing = sorted(names - _installed(directory, names))
        if not missing:
            return
        npm = shutil.which("npm")
        if npm is None:
            raise ConfigError([ConfigIssue("", _npm_missing(missing))])
        directory.mkdir(parents=True, exist_ok=True)
        with open(directory / ".lock", "w") as lock:
            # Another gateway on this machine may be installing into the same cache.
            await asyncio.to_thread(fcntl.flock, lock, fcntl.LOCK_EX)
            missing = sorted(names - _installed(directory, names))
            if missing:
                await _run_npm(npm, missing, directory)


async def _run_npm(npm: str, missing: list[str], directory: Path) -> None:
    print(
        f"wsgate: installing the AWS SDK for JavaScript {SDK_VERSION} for Node.js functions "
        f"({', '.join(missing)}) into {directory}; this happens once",
        file=sys.stderr,
        flush=True,
    )
    specs = [f"{name}@<={SDK_VERSION}" for name in missing]
    process = await asyncio.create_subprocess_exec(
        *(npm, "install", "--prefix", str(directory), "--save", "--no-audit", "--no-fund"),
        *("--loglevel", "error", *specs),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=str(directory),
    )
    try:
        async with asyncio.timeout(_NPM_LIMIT):
            output, _ = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        output = f"no result within {_NPM_LIMIT:.0f} s".encode()
    if process.returncode != 0:
        text = output.decode("utf-8", "replace").strip()[-2000:]
        message = f"cannot install {', '.join(missing)} from npm into {directory}:\n{text}"
        raise ConfigError([ConfigIssue("", message)])


def _npm_missing(missing: list[str]) -> str:
    return (
        f"Node.js functions need {', '.join(missing)}, and npm is not installed to fetch it "
        "(install npm, or add the packages to the function's node_modules)"
    )


async def prepare_node(functions: Mapping[str, FunctionConfig]) -> NodeRuntime:
    """Find ``node`` and install the SDK packages the Node.js ``functions`` need.

    Raises:
        ConfigError: ``node`` is missing (naming every function that needs it), or the SDK
            cannot be installed.
    """
    node = shutil.which("node")
    if node is None:
        issues = [
            ConfigIssue(
                f"functions.{name}.runtime",
                f"{function.runtime} needs Node.js: no `node` on PATH",
            )
            for name, function in functions.items()
        ]
        raise ConfigError(issues)
    version = await _node_version(node)
    names = set().union(*(find_sdk_packages(f.code_uri) for f in functions.values()))
    directory = sdk_dir()
    await install_sdk(names, directory)
    for name, function in functions.items():
        wanted = (function.runtime or "").removeprefix("nodejs").removesuffix(".x")
        if wanted.isdigit() and int(wanted) != version[0]:
            logger.warning(
                "function %s asks for %s; it runs on the local node %s",
                name,
                function.runtime,
                ".".join(map(str, version)),
            )
    return NodeRuntime(node, version, str(directory / "node_modules"))


async def _node_version(node: str) -> tuple[int, int, int]:
    process = await asyncio.create_subprocess_exec(
        node, "--version", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
    )
    output, _ = await process.communicate()
    match = re.fullmatch(r"v(\d+)\.(\d+)\.(\d+)", output.decode().strip())
    if match is None:
        raise ConfigError([ConfigIssue("", f"cannot tell the version of {node}")])
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def main(argv: list[str] | None = None) -> int:
    """Install the SDK into the cache ahead of time: ``python -m wsgate.integrations.node_sdk
    [PACKAGE...]`` (the client of the @connections API is always included)."""
    names = {ALWAYS, *(argv if argv is not None else sys.argv[1:])}
    try:
        asyncio.run(install_sdk(names, sdk_dir()))
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
