"""The processes of ``cluster.py``: a throwaway Redis and ``wsgate serve`` nodes, each pinned.

Every child starts in a session of its own (a terminal's Ctrl-C reaches only the benchmark,
which then stops them in order) and, through ``setpriv --pdeathsig``, gets SIGKILL should the
benchmark itself die without cleaning up. :class:`Children` stops whatever is still running:
SIGTERM, a second SIGTERM after a grace period (wsgate's "stop now"), then SIGKILL; how each
ended and the warnings and errors each logged go into the results.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "bench" / "cluster" / "wsgate.yaml"
# What `wsgate serve` prints once it listens.
_WEBSOCKET = re.compile(r"WebSocket\s+ws://([\w.:\[\]-]+?):(\d+)/")
_ADMIN = re.compile(r"management\s+(http://[\w.:\[\]-]+?:\d+)/\S+\s+\(\S+:admin\)")
# wsgate's text log: "12:00:00.000 WARNING message: cause  field=value ..."
_PROBLEM = re.compile(r"^\S+ ((?:WARNING|ERROR|CRITICAL) .*?)(?:  \w+=|$)")
_PATH = re.compile(r"(?<=unix://)\S+|(?<=\bat )/\S+")


def cpu_seconds(pid: int) -> float:
    """CPU time used so far by every thread of ``pid`` (``schedstat``: nanoseconds, not ticks).

    Threads that ended are not counted; the nodes' and Redis's threads live as long as they do.
    """
    total = 0
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError, ValueError, IndexError):
                total += int((task / "schedstat").read_text().split()[0])
    return total / 1e9


class StartError(Exception):
    """A child exited, or did not become ready in time."""


def pin_prefix(cpu: str | None) -> list[str]:
    """``taskset -c CPU`` (and ``setpriv --pdeathsig``) when available, to prefix a command."""
    prefix = []
    if shutil.which("setpriv") is not None:
        prefix += ["setpriv", "--pdeathsig", "KILL", "--"]
    if cpu is not None and shutil.which("taskset") is not None:
        prefix += ["taskset", "-c", cpu]
    return prefix


class Child:
    """One child process whose output is drained by threads and kept for error messages."""

    def __init__(self, name: str, command: Sequence[str], env: dict[str, str] | None = None):
        self.name = name
        self.lines: deque[str] = deque(maxlen=40)
        # Warnings and errors logged, by message (timestamps, fields and paths left out).
        self.problems: Counter[str] = Counter()
        self.changed = threading.Condition()
        self.process = subprocess.Popen(
            list(command),
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self._threads = [
            threading.Thread(target=self._read, args=(stream,), daemon=True)
            for stream in (self.process.stdout, self.process.stderr)
        ]
        for thread in self._threads:
            thread.start()

    @property
    def pid(self) -> int:
        """The process id (setpriv and taskset exec, so it is the program's own)."""
        return self.process.pid

    def _read(self, stream: IO[str] | None) -> None:
        assert stream is not None
        for line in stream:
            problem = _PROBLEM.match(line)
            with self.changed:
                self.lines.append(line.rstrip())
                if problem is not None:
                    self.problems[_PATH.sub("…", problem.group(1))] += 1
                self.changed.notify_all()
        with self.changed:
            self.changed.notify_all()

    def wait_for(self, found: re.Pattern[str], timeout: float) -> re.Match[str]:
        """The first output line matching ``found``, waiting for it.

        Raises:
            StartError: the process exited, or printed no such line in time.
        """
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                match = next(filter(None, map(found.search, self.lines)), None)
                if match is not None:
                    return match
                if self.process.poll() is not None:
                    code = self.process.returncode
                    raise StartError(f"{self.name} exited with code {code}: {self.tail()}")
                if time.monotonic() > deadline:
                    raise StartError(f"{self.name}: nothing ready in {timeout:g} s: {self.tail()}")
                self.changed.wait(0.1)

    def tail(self, count: int = 4) -> str:
        """The last lines printed, on one line."""
        return " | ".join(list(self.lines)[-count:]) or "(no output)"

    def stop(self, grace: float) -> str:
        """SIGTERM; again after ``grace`` seconds (wsgate then skips its graceful wait); SIGKILL.

        Returns:
            How it ended: ``exited`` (at the first SIGTERM), ``second SIGTERM`` or ``SIGKILL``.
        """
        steps = (
            (signal.SIGTERM, grace, "exited"),
            (signal.SIGTERM, 3.0, "second SIGTERM"),
            (signal.SIGKILL, 5.0, "SIGKILL"),
        )
        ended = "exited"
        for signal_number, wait, name in steps:
            if self.process.poll() is not None:
                break
            ended = name
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal_number)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=wait)
        for thread in self._threads:
            thread.join(timeout=1)
        return ended


class Children:
    """Every child started so far; :meth:`stop_all` ends them, newest first."""

    def __init__(self) -> None:
        self._started: list[tuple[Child, float]] = []
        # name -> how it stopped and what it logged, once stopped
        self.stopped: dict[str, dict[str, object]] = {}

    def add(self, child: Child, grace: float) -> Child:
        """Remember ``child``, stopped with ``grace`` seconds to exit on its own."""
        self._started.append((child, grace))
        return child

    def stop_all(self) -> None:
        """Stop every child, the last started first (nodes before the Redis they use)."""
        while self._started:
            child, grace = self._started.pop()
            started = time.monotonic()
            ended = child.stop(grace)
            self.stopped[child.name] = {
                "ended": ended,
                "seconds": round(time.monotonic() - started, 2),
                "problems": dict(child.problems.most_common(10)),
            }
            if ended != "exited":
                print(f"{child.name} ignored SIGTERM for {grace:g} s: {ended}", file=sys.stderr)


def start_redis(
    children: Children, folder: Path, cpu: str | None, timeout: float
) -> tuple[str, int]:
    """A Redis on a Unix socket in ``folder``, persistence off; returns its URL and pid."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise StartError("redis-server not found (Debian: apt-get install redis-server)")
    socket = folder / "redis.sock"
    options = ["--port", "0", "--unixsocket", str(socket), "--unixsocketperm", "700"]
    options += ["--save", "", "--appendonly", "no", "--dir", str(folder)]
    child = Child("redis", [*pin_prefix(cpu), binary, *options])
    children.add(child, grace=5.0)
    child.wait_for(re.compile(r"ready to accept connections", re.IGNORECASE), timeout)
    return f"unix://{socket}", child.pid


@dataclass(frozen=True, slots=True)
class Node:
    """A running ``wsgate serve`` process and where it listens."""

    name: str
    pid: int
    websocket: str  # ws://host:port (add /{stage})
    public: str  # http://host:port of the public listener (add /{stage}/@connections/...)
    admin: str  # http://host:port of the admin listener (/_wsgate/health)


def start_node(
    children: Children,
    name: str,
    registry: str,
    cpu: str | None,
    timeout: float,
    config: Path = CONFIG,
) -> Node:
    """Start one node of a benchmark's gateway and read its URLs from its output."""
    command = [sys.executable, "-m", "wsgate", "serve", str(config), "--port", "0"]
    command += ["--admin-port", "0", "--registry", registry, "--node-id", name]
    command += ["--log-level", "warning", "--log-format", "text"]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(ROOT / "src"), env.get("PYTHONPATH"))))
    child = children.add(Child(f"node {name}", [*pin_prefix(cpu), *command], env), grace=5.0)
    host, port = child.wait_for(_WEBSOCKET, timeout).groups()
    admin = child.wait_for(_ADMIN, timeout).group(1)
    return Node(name, child.pid, f"ws://{host}:{port}", f"http://{host}:{port}", admin)
