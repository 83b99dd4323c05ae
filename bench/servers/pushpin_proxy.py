"""Pushpin in front of an HTTP backend, through WebSocket-over-HTTP (``over_http`` route).

Writes a Pushpin config into a temporary directory (runtime files there too; ``zurl`` started
by Pushpin's runner and reached over IPC there, as Debian's package expects a zurl service of
its own), takes a free port, starts ``pushpin`` and prints the port once it accepts. Every
WebSocket event of a client connection then becomes a POST of ``application/websocket-events``
to the backend. Pushpin's handler still binds its fixed control ports (5560 to 5563).

    python bench/servers/pushpin_proxy.py BACKEND_PORT
"""

from __future__ import annotations

import argparse
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_SYSTEM_CONFIG = Path("/etc/pushpin/pushpin.conf")
_ZURL = (
    "zurl_out_specs=ipc://{rundir}/{ipc_prefix}zurl-in\n"
    "zurl_out_stream_specs=ipc://{rundir}/{ipc_prefix}zurl-in-stream\n"
    "zurl_in_specs=ipc://{rundir}/{ipc_prefix}zurl-out\n"
)


def write_config(folder: Path) -> Path:
    """Pushpin's own config, with runtime and log files in ``folder`` and zurl run alongside."""
    text = _SYSTEM_CONFIG.read_text()
    text = re.sub(r"(?m)^rundir=.*$", f"rundir={folder / 'run'}", text)
    text = re.sub(r"(?m)^logdir=.*$", f"logdir={folder / 'log'}", text)
    text = re.sub(r"(?m)^services=.*$", "services=condure,zurl,pushpin-proxy,pushpin-handler", text)
    text = text.replace("[proxy]\n", "[proxy]\n" + _ZURL, 1)
    for name in ("run", "log"):
        (folder / name).mkdir()
    path = folder / "pushpin.conf"
    path.write_text(text)
    return path


def _free_port() -> int:
    # Pushpin takes a port number, not a socket: the port is free when probed, not reserved.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_until_listening(port: int, process: subprocess.Popen[bytes], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


def main() -> int:
    """Run Pushpin until killed; exit 1 when it is not installed or does not start."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("backend_port", type=int)
    args = parser.parse_args()
    # Stopped by SIGTERM: leave through ``finally`` so that the temporary folder goes too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if shutil.which("pushpin") is None or not _SYSTEM_CONFIG.exists():
        print("pushpin is not installed (apt-get install pushpin)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="pushpin-") as folder:
        config = write_config(Path(folder))
        port = _free_port()
        route = f"* 127.0.0.1:{args.backend_port},over_http"
        command = ["pushpin", f"--config={config}", f"--port=127.0.0.1:{port}"]
        process = subprocess.Popen([*command, f"--route={route}", "--loglevel=1"])
        try:
            if not _wait_until_listening(port, process, 20):
                print("pushpin did not start listening", file=sys.stderr)
                return 1
            print(port, flush=True)
            return process.wait()
        finally:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
