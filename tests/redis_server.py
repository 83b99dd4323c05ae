"""A throwaway redis-server for the tests: a Unix socket in a temp dir, no persistence, no TCP.

Tests may stop it and start it again on the same socket path, to play an outage and a recovery,
or freeze it, to play a server that hangs.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ["RedisServer", "find_redis_server"]


def find_redis_server() -> str | None:
    """The path of the redis-server binary, or None when it is not installed."""
    return shutil.which("redis-server") or next(
        (
            path
            for path in ("/usr/bin/redis-server", "/usr/local/bin/redis-server")
            if Path(path).is_file()
        ),
        None,
    )


class RedisServer:
    """One redis-server process on ``<directory>/redis.sock``."""

    def __init__(self, binary: str, directory: Path | None = None) -> None:
        self.binary = binary
        # mkdtemp keeps the path short: a Unix socket path has to fit in about 100 bytes.
        self.directory = directory or Path(tempfile.mkdtemp(prefix="wsgate-redis-"))
        self.socket_path = self.directory / "redis.sock"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 10.0) -> None:
        """Start the server (unless it runs) and wait until it answers PING."""
        if self.running:
            return
        log = self.directory / "redis.log"
        # fmt: off
        argv = [
            self.binary,
            "--port", "0",
            "--unixsocket", str(self.socket_path),
            "--unixsocketperm", "700",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.directory),
            "--logfile", str(log),
            "--daemonize", "no",
        ]
        # fmt: on
        self._process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + timeout
        while not self._ping():
            code = self._process.poll()
            if code is not None:
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                self._process = None
                raise RuntimeError(f"redis-server exited with {code}:\n{tail}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not answer PING within {timeout} s")
            time.sleep(0.01)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL); its data is gone."""
        process, self._process = self._process, None
        if process is None:
            return
        process.send_signal(signal.SIGCONT)  # in case a test froze it
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def pause(self) -> None:
        """Freeze the process (SIGSTOP): connections stay open but nothing answers."""
        if self._process is not None:
            self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Let a frozen process go on (SIGCONT)."""
        if self._process is not None:
            self._process.send_signal(signal.SIGCONT)

    def flush(self) -> None:
        """Delete every key (scripts stay cached)."""
        reply = self._command(b"FLUSHALL")
        if not reply.startswith(b"+OK"):
            raise RuntimeError(f"FLUSHALL failed: {reply!r}")

    def remove(self) -> None:
        """Stop the server and delete its directory."""
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def _ping(self) -> bool:
        try:
            return self._command(b"PING").startswith(b"+PONG")
        except OSError:
            return False

    def _command(self, command: bytes) -> bytes:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            sock.connect(str(self.socket_path))
            sock.sendall(command + b"\r\n")
            return sock.recv(256)
