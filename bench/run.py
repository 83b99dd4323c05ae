"""Run the echo benchmarks: each server pinned to one CPU, the load generator to another.

A scenario is a command that starts a WebSocket server on 127.0.0.1 and prints its port (a line
holding only the number) or its URL (``ws://127.0.0.1:PORT/path``) on stdout, plus the URL path
and the message text to send. For each scenario the server is started under ``taskset``, then
``bench/loadgen.py`` runs once per window; a server that fails to start is skipped with the
reason. Results are printed as a table, with throughput relative to the ``websockets`` echo
measured in the same run, and written to ``bench/results/latest.json``.

    /work/venv/bin/python bench/run.py [--only NAME] [--window 1 --window 16]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import IO, Any

from loadgen import parse_cpus, process_tree

ROOT = Path(__file__).resolve().parent.parent
LOADGEN = ROOT / "bench" / "loadgen.py"
DEFAULT_OUTPUT = ROOT / "bench" / "results" / "latest.json"
BASELINE = "websockets"
PAD_TOKEN = "<pad>"
URL_PATTERN = re.compile(r"ws://(?:127\.0\.0\.1|localhost):(\d+)(/\S*)?")
PORT_LINE = re.compile(r"^\s*(\d+)\s*$")
# Cores that other processes may use, or the hypervisor steal, during a measurement before it
# counts as noisy.
NOISE_LIMIT = 0.15
GATEWAY_OPTIONS = ("--port", "0", "--log-level", "warning")
_PACKAGES = ("websockets", "aiohttp", "uvloop", "picows", "aiofastnet")


@dataclass(frozen=True, slots=True)
class Scenario:
    """A server to measure and how to talk to it."""

    name: str
    command: tuple[str, ...]
    # None: take the path from the printed URL, else "/".
    path: str | None = None
    payload: str = PAD_TOKEN
    env: tuple[tuple[str, str], ...] = ()
    description: str = ""
    # False: runs only when named with --only.
    default: bool = True
    # CPUs for the server's child processes (a gateway's function workers), which otherwise
    # share the server's CPU: they are moved there as they appear.
    child_cpus: str | None = None


def default_scenarios(python: str) -> tuple[Scenario, ...]:
    """The baselines and the gateway, in the order they run."""
    servers = ROOT / "bench" / "servers"
    return (
        Scenario(
            BASELINE,
            (python, str(servers / "websockets_echo.py")),
            description="websockets asyncio server, default event loop (the baseline)",
        ),
        Scenario(
            "aiohttp",
            (python, str(servers / "aiohttp_echo.py")),
            description="aiohttp web server + uvloop",
        ),
        Scenario(
            "picows",
            (python, str(servers / "picows_echo.py")),
            description="picows + uvloop",
        ),
        Scenario(
            "wsgate",
            (python, "-m", "wsgate", "serve", "bench/echo/wsgate.yaml", *GATEWAY_OPTIONS),
            path="/dev",
            payload='{"action":"echo","data":"<pad>"}',
            env=(("PYTHONPATH", str(ROOT / "src")),),
            description="the gateway, echo route",
        ),
        Scenario(
            "wsgate-process",
            (python, "-m", "wsgate", "serve", "bench/echo/wsgate-process.yaml", *GATEWAY_OPTIONS),
            path="/dev",
            payload='{"action":"echo","data":"<pad>"}',
            env=(("PYTHONPATH", str(ROOT / "src")),),
            description="the gateway, echo route, function in worker processes",
            default=False,
        ),
        Scenario(
            "null",
            (python, str(servers / "null_echo.py")),
            description="near-free responder: the load generator's own ceiling",
            default=False,
        ),
    )


class ServerStartError(Exception):
    """The server exited or printed no port in time."""


class ServerProcess:
    """A scenario's server: started pinned, its URL read from stdout, its output drained."""

    def __init__(self, scenario: Scenario, cpu: str | None, timeout: float) -> None:
        self.scenario = scenario
        self._cpu = cpu
        self._timeout = timeout
        self._process: subprocess.Popen[str] | None = None
        self._found = threading.Event()
        self._url: str | None = None
        self._output: deque[str] = deque(maxlen=20)
        self._threads: list[threading.Thread] = []

    @property
    def pid(self) -> int:
        """The server's process id (taskset execs the command, so it is the server's own)."""
        assert self._process is not None
        return self._process.pid

    def start(self) -> str:
        """Start the server and return its WebSocket URL.

        Raises:
            ServerStartError: it exited, or printed no port within the timeout.
        """
        pin = ("taskset", "-c", self._cpu) if self._cpu is not None else ()
        env = dict(os.environ)
        for name, value in self.scenario.env:
            env[name] = os.pathsep.join(filter(None, (value, env.get(name))))
        try:
            self._process = subprocess.Popen(
                [*pin, *self.scenario.command],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                start_new_session=True,
            )
        except OSError as error:
            raise ServerStartError(f"cannot run {self.scenario.command[0]}: {error}") from error
        assert self._process.stdout is not None and self._process.stderr is not None
        self._drain(self._process.stdout, watch=True)
        self._drain(self._process.stderr, watch=False)
        if self.scenario.child_cpus is not None:
            thread = threading.Thread(target=self._pin_children, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self._wait_for_url()

    def _pin_children(self) -> None:
        """Move the server's descendants to ``child_cpus`` as they start, until it exits."""
        assert self._process is not None and self.scenario.child_cpus is not None
        cpus = parse_cpus(self.scenario.child_cpus)
        pinned: set[int] = set()
        while self._process.poll() is None:
            for pid in process_tree(self._process.pid)[1:]:
                if pid not in pinned:
                    with contextlib.suppress(OSError):
                        os.sched_setaffinity(pid, cpus)
                        pinned.add(pid)
            time.sleep(0.05)

    def _drain(self, stream: IO[str], *, watch: bool) -> None:
        thread = threading.Thread(target=self._read, args=(stream, watch), daemon=True)
        thread.start()
        self._threads.append(thread)

    def _read(self, stream: IO[str], watch: bool) -> None:
        for line in stream:
            self._output.append(line.rstrip())
            if watch and not self._found.is_set():
                self._url = self._match(line)
                if self._url is not None:
                    self._found.set()

    def _match(self, line: str) -> str | None:
        found = URL_PATTERN.search(line)
        if found is not None:
            port, printed_path = found.group(1), found.group(2)
        elif (bare := PORT_LINE.match(line)) is not None:
            port, printed_path = bare.group(1), None
        else:
            return None
        return f"ws://127.0.0.1:{port}{self.scenario.path or printed_path or '/'}"

    def _wait_for_url(self) -> str:
        assert self._process is not None
        deadline = time.monotonic() + self._timeout
        while not self._found.wait(0.05):
            if self._process.poll() is not None:
                for thread in self._threads:
                    thread.join(timeout=1)
                raise ServerStartError(
                    f"exited with code {self._process.returncode}: {self.output_tail()}"
                )
            if time.monotonic() > deadline:
                raise ServerStartError(
                    f"printed no port within {self._timeout:g} s: {self.output_tail()}"
                )
        assert self._url is not None
        return self._url

    def output_tail(self, lines: int = 3) -> str:
        """The last lines the server printed, joined on one line."""
        return " | ".join(list(self._output)[-lines:]) or "(no output)"

    def alive(self) -> bool:
        """True while the server process runs."""
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        """Terminate the server's process group, then kill it if it lingers."""
        if self._process is None:
            return
        for signal_number, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            if self._process.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal_number)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=grace)
        for thread in self._threads:
            thread.join(timeout=1)


@dataclass(frozen=True, slots=True)
class Settings:
    """What every load run of this bench uses."""

    python: str
    connections: int
    workers: int
    size: int
    warmup: float
    duration: float
    server_cpu: str | None
    client_cpus: str | None
    startup_timeout: float
    retries: int
    # time.monotonic() past which noisy measurements are kept rather than repeated.
    retry_deadline: float


def loadgen_command(settings: Settings, url: str, payload: str, window: int, pid: int) -> list[str]:
    """The command line that loads ``url`` for one window."""
    command = [settings.python, str(LOADGEN), url]
    command += ["--connections", str(settings.connections), "--workers", str(settings.workers)]
    command += ["--window", str(window), "--size", str(settings.size), "--payload", payload]
    command += ["--warmup", str(settings.warmup), "--duration", str(settings.duration)]
    command += ["--server-pid", str(pid)]
    if settings.client_cpus is not None:
        command += ["--cpus", settings.client_cpus]
    return command


def run_load(settings: Settings, server: ServerProcess, url: str, window: int) -> dict[str, Any]:
    """Run the load generator once and return its report, or a failure row."""
    command = loadgen_command(settings, url, server.scenario.payload, window, server.pid)
    row: dict[str, Any] = {"scenario": server.scenario.name, "window": window, "url": url}
    limit = settings.warmup + settings.duration + 90
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=limit, check=False)
    except subprocess.TimeoutExpired:
        return {**row, "status": "failed", "reason": f"load generator ran over {limit:g} s"}
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        tail = done.stderr.strip().splitlines()[-1:] or ["(no output)"]
        return {**row, "status": "failed", "reason": f"load generator: {tail[0]}"}
    status = "ok" if report["replies"] and not report["errors"] else "failed"
    reason = "; ".join(report["errors"][:3]) or (None if report["replies"] else "no replies")
    if not server.alive():
        status, reason = "failed", f"server died: {server.output_tail()}"
    return {**row, "status": status, "reason": reason, "report": report}


def run_scenario(
    settings: Settings, scenario: Scenario, windows: Sequence[int]
) -> list[dict[str, Any]]:
    """Start one server, load it once per window, stop it."""
    server = ServerProcess(scenario, settings.server_cpu, settings.startup_timeout)
    try:
        url = server.start()
    except ServerStartError as error:
        server.stop()
        print(f"{scenario.name}: skipped, server {error}", file=sys.stderr)
        return [{"scenario": scenario.name, "status": "skipped", "reason": f"server {error}"}]
    try:
        return [_measure_window(settings, server, url, window) for window in windows]
    finally:
        server.stop()


def _measure_window(
    settings: Settings, server: ServerProcess, url: str, window: int
) -> dict[str, Any]:
    """Load the server at one window; measure again, keeping the quietest, while noisy."""
    name = server.scenario.name
    best: dict[str, Any] | None = None
    for attempt in range(settings.retries + 1):
        again = f" (again, noise {noise(best):.2f} cores)" if attempt else ""
        print(f"{name}: window {window} on {url}{again} ...", file=sys.stderr, flush=True)
        row = run_load(settings, server, url, window)
        if row["status"] != "ok":
            print(f"{name}: failed, {row['reason']}", file=sys.stderr)
            return row
        if best is None or noise(row) < noise(best):
            best = row
        if noise(best) <= NOISE_LIMIT or time.monotonic() > settings.retry_deadline:
            break
    assert best is not None
    best["noisy"] = noise(best) > NOISE_LIMIT
    return best


def noise(row: dict[str, Any] | None) -> float:
    """Cores lost to others in the measured window: other processes, and hypervisor steal."""
    if row is None or "report" not in row or row["report"]["machine_cpu"] is None:
        return 0.0
    report = row["report"]
    others = float(report["machine_cpu"] - report["server_cpu"] - report["client_cpu"])
    return max(0.0, others) + float(report["steal_cpu"])


def add_ratios(rows: list[dict[str, Any]]) -> None:
    """Set each measured row's ``ratio``: its msgs/s over the baseline's at the same window."""
    baseline = {
        row["window"]: row["report"]["msgs_per_s"]
        for row in rows
        if row["scenario"] == BASELINE and row["status"] == "ok"
    }
    for row in rows:
        if row["status"] == "ok" and baseline.get(row["window"]):
            row["ratio"] = round(row["report"]["msgs_per_s"] / baseline[row["window"]], 2)


_COLUMNS = ("scenario", "window", "msgs/s", f"x {BASELINE}", "p50 ms", "p99 ms")
_CPU_COLUMNS = ("srv cpu", "gen cpu", "noise")
_ROW = "{:<15} {:>6} {:>9} {:>13} {:>8} {:>8} {:>8} {:>8} {:>8}"


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """Render the rows as a plain-text table; CPU columns are in cores over the measured window.

    ``noise`` is CPU used by other processes plus hypervisor steal; ``*`` marks a row that
    stayed above the noise limit after its retries.
    """
    lines = [_ROW.format(*_COLUMNS, *_CPU_COLUMNS)]
    for row in rows:
        if row["status"] != "ok":
            window = row.get("window", "-")
            lines.append(f"{row['scenario']:<15} {window:>6}  {row['status']}: {row['reason']}")
            continue
        report = row["report"]
        lines.append(
            _ROW.format(
                row["scenario"],
                row["window"],
                f"{report['msgs_per_s']:,}",
                f"{row['ratio']:.2f}" if "ratio" in row else "-",
                report["latency_ms"]["p50"],
                report["latency_ms"]["p99"],
                f"{report['server_cpu']:.2f}",
                f"{report['client_cpu']:.2f}",
                f"{noise(row):.2f}" + ("*" if row.get("noisy") else ""),
            )
        )
    return "\n".join(lines)


def describe_machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    model = next(
        (
            line.partition(":")[2].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    versions = {}
    for name in _PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    return {
        "cpu": model,
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": versions,
    }


def _parse_args(argv: Sequence[str] | None, names: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--only", action="append", choices=names, help="run only this scenario")
    parser.add_argument(
        "--window", action="append", type=int, help="messages in flight (default: 1 and 16)"
    )
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2, help="load generator processes")
    parser.add_argument("--size", type=int, default=32, help="message size in bytes")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--server-cpu", default="0", help="taskset CPU list for the server")
    parser.add_argument("--client-cpus", default="1", help="CPU list for the load generator")
    parser.add_argument("--startup-timeout", type=float, default=20.0)
    parser.add_argument(
        "--retries",
        type=int,
        default=1,
        help=f"measure again when noise is over {NOISE_LIMIT} cores (default: 1)",
    )
    parser.add_argument(
        "--retry-budget",
        type=float,
        default=120.0,
        help="seconds into the run after which no measurement is repeated (default: 120)",
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the chosen scenarios; exit 1 when none of them was measured."""
    scenarios = default_scenarios(sys.executable)
    args = _parse_args(argv, [scenario.name for scenario in scenarios])
    server_cpu = args.server_cpu
    if shutil.which("taskset") is None:
        print("taskset not found: servers run unpinned", file=sys.stderr)
        server_cpu = None
    settings = Settings(
        python=sys.executable,
        connections=args.connections,
        workers=args.workers,
        size=args.size,
        warmup=args.warmup,
        duration=args.duration,
        server_cpu=server_cpu,
        client_cpus=args.client_cpus or None,
        startup_timeout=args.startup_timeout,
        retries=args.retries,
        retry_deadline=time.monotonic() + args.retry_budget,
    )
    windows = args.window or [1, 16]
    chosen = [
        scenario
        for scenario in scenarios
        if (scenario.name in args.only if args.only else scenario.default)
    ]
    rows = [row for scenario in chosen for row in run_scenario(settings, scenario, windows)]
    add_ratios(rows)
    print(format_table(rows))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": describe_machine(),
        "settings": {**asdict(settings), "windows": windows, "noise_limit": NOISE_LIMIT},
        "scenarios": {scenario.name: list(scenario.command) for scenario in chosen},
        "results": rows,
    }
    args.output.write_text(json.dumps(document, indent=2) + "\n")
    print(f"written {args.output}")
    return 0 if any(row["status"] == "ok" for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
