"""What the sections of ``suite.py`` share: durations, records, gateway configs, pinned servers.

A record is one measured figure of one round::

    {"section", "scenario", "param", "metric", "value", "higher_is_better", "baseline",
     "server_cpu", "client_cpu", "noise", "status", "reason", "detail"}

``baseline`` names the scenario of the same section, param and metric that ``value`` is divided
by (``suite_report.add_ratios``); the baseline's own records carry their own name. Servers run
pinned to ``SERVER_CPU`` and clients to ``CLIENT_CPU``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from run import GATEWAY_OPTIONS, ROOT, Scenario, ServerProcess, Settings

SERVER_CPU, CLIENT_CPU = "0", "1"
BENCH = ROOT / "bench"
SERVERS = BENCH / "servers"
ECHO_CODE = BENCH / "echo"
PAYLOAD = '{"action":"echo","data":"<pad>"}'
_SRC = (("PYTHONPATH", str(ROOT / "src")),)
# The compiled variant's unpacked wheel: its modules shadow those of the editable install.
COMPILED_SITE = ROOT / "build" / "compiled" / "site"
_COMPILED = (("PYTHONPATH", str(COMPILED_SITE)),)


@dataclass(frozen=True, slots=True)
class Durations:
    """Seconds and sizes per section: the full run's, or ``--quick``'s."""

    warmup: float
    duration: float
    handshake_duration: float
    latency_duration: float
    memory_levels: tuple[int, ...]
    rates: tuple[int, ...] = (1000, 5000)
    windows: tuple[int, ...] = (1, 16)


FULL = Durations(2.0, 5.0, 4.0, 6.0, (10_000, 50_000, 100_000))
QUICK = Durations(0.5, 1.5, 1.5, 2.0, (2_000, 5_000))


@dataclass(frozen=True, slots=True)
class Context:
    """What every section of one round needs."""

    python: str
    folder: Path  # generated gateway configs
    durations: Durations
    settings: Settings  # the echo load generator's


def record(section: str, scenario: str, param: str, metric: str, **fields: Any) -> dict[str, Any]:
    return {
        "section": section,
        "scenario": scenario,
        "param": param,
        "metric": metric,
        "value": None,
        "higher_is_better": True,
        "baseline": None,
        "server_cpu": None,
        "client_cpu": None,
        "noise": None,
        "status": "ok",
        "reason": None,
        **fields,
    }


def gateway_config(
    folder: Path,
    name: str,
    *,
    handler: str = "echo_sync",
    isolation: str | None = "inprocess",
    workers: int | None = None,
    connect: str | None = None,
    routes: tuple[str, ...] = ("echo",),
) -> Path:
    """Write an echo gateway's config (JSON, which YAML reads) and return its path.

    Args:
        isolation: the functions' ``isolation``; None leaves the default (worker processes).
        workers: the echo function's ``concurrency``; None leaves the default.
        connect: the ``$connect`` function's isolation (``"default"`` for none given), or None
            for no ``$connect`` route.
        routes: the route keys served by the function, each answering through a route response.
    """
    function: dict[str, Any] = {"handler": f"handlers.{handler}", "codeUri": str(ECHO_CODE)}
    if isolation is not None:
        function["isolation"] = isolation
    if workers is not None:
        function["concurrency"] = workers
    config: dict[str, Any] = {
        "name": "bench",
        "routeSelectionExpression": "$request.body.action",
        "stages": {"dev": {}},
        "routes": {
            key: {"target": "echo", "routeResponseSelectionExpression": "$default"}
            for key in routes
        },
        "integrations": {"echo": {"integrationType": "AWS_PROXY", "integrationUri": "echo"}},
        "functions": {"echo": function},
    }
    if connect is not None:
        config["routes"]["$connect"] = {"target": "connect"}
        config["integrations"]["connect"] = {
            "integrationType": "AWS_PROXY",
            "integrationUri": "connect",
        }
        on_connect: dict[str, Any] = {"handler": "handlers.connect", "codeUri": str(ECHO_CODE)}
        if connect != "default":
            on_connect["isolation"] = connect
        config["functions"]["connect"] = on_connect
    path = folder / f"{name}.yaml"
    path.write_text(json.dumps(config, indent=2) + "\n")
    return path


def gateway(context: Context, name: str, config: Path, *, compiled: bool = False) -> Scenario:
    """The gateway serving ``config`` as a scenario named ``name``; with ``compiled``, the
    compiled variant that ``scripts/build-compiled`` left in ``build/compiled/site``."""
    command = (context.python, "-m", "wsgate", "serve", str(config), *GATEWAY_OPTIONS)
    return Scenario(
        name, command, path="/dev", payload=PAYLOAD, env=_COMPILED if compiled else _SRC
    )


def compiled_built() -> bool:
    """Whether ``build_compiled`` left a compiled variant to run."""
    return (COMPILED_SITE / "wsgate").is_dir()


def build_compiled() -> None:
    """Build the compiled variant for the scenarios that run it (``scripts/build-compiled``).

    Raises:
        RuntimeError: it did not build (no C compiler, say); its output says why.
    """
    done = subprocess.run(
        [str(ROOT / "scripts" / "build-compiled")], cwd=ROOT, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"scripts/build-compiled failed: {done.stderr.strip()[-500:]}")


def bare(context: Context, name: str, script: str, *arguments: str) -> Scenario:
    """A server script of ``bench/servers`` as a scenario named ``name``."""
    return Scenario(name, (context.python, str(SERVERS / script), *arguments))


@contextmanager
def serving(scenario: Scenario, cpu: str = SERVER_CPU) -> Iterator[tuple[ServerProcess, str]]:
    """Start the scenario's server pinned to ``cpu``; yield it and its URL; stop it."""
    server = ServerProcess(scenario, cpu, timeout=30)
    try:
        yield server, server.start()
    finally:
        server.stop()


def run_client_script(command: list[str], limit: float) -> dict[str, Any]:
    """Run a client script pinned to the client CPU and return its JSON report."""
    done = subprocess.run(
        ["taskset", "-c", CLIENT_CPU, *command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=limit,
        check=False,
    )
    try:
        report: dict[str, Any] = json.loads(done.stdout)
    except json.JSONDecodeError:
        tail = done.stderr.strip().splitlines()[-1:] or ["(no output)"]
        raise RuntimeError(f"{Path(command[1]).name}: {tail[0]}") from None
    return report


def report_noise(report: dict[str, Any]) -> float:
    """Cores that others used in a client report's window: other processes, and steal."""
    used = sum(report.get(name) or 0.0 for name in ("server_cpu", "client_cpu"))
    return round(max(0.0, report["machine_cpu"] - used) + report["steal_cpu"], 2)


def failed_records(
    section: str, scenario: str, params: list[tuple[str, str]], error: Exception
) -> list[dict[str, Any]]:
    """A failed record for each (param, metric) a scenario did not measure, with the error."""
    reason = str(error)
    print(f"{scenario}: {reason}", file=sys.stderr)
    return [
        record(section, scenario, param, metric, status="failed", reason=reason)
        for param, metric in params
    ]
