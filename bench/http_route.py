"""Messages per second through an HTTP_PROXY echo route, beside a plain POST loop.

One run measures, against the same minimal backend (``servers/http_echo_backend.py``, pinned to
CPU 1):

- ``post-loop``: an aiohttp client in this process (pinned to CPU 0) keeping ``--inflight``
  POSTs in flight, the most a Python client gets from that backend;
- ``wsgate``: the gateway (pinned to CPU 0) serving an HTTP_PROXY route whose route response
  sends the backend's answer back, driven by ``loadgen.py`` (pinned to CPU 1, beside the backend)
  with ``--inflight`` connections, one message in flight each.

Prints one JSON object with both rates and their ratio.

    .venv/bin/python bench/http_route.py [--duration 8] [--inflight 64]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
PAYLOAD = '{"action":"echo","data":"<pad>"}'
CONFIG = """\
name: bench-http
routeSelectionExpression: $request.body.action
stages:
  dev: {{}}
routes:
  echo:
    target: echo
    routeResponseSelectionExpression: $default
integrations:
  echo:
    integrationType: HTTP_PROXY
    integrationUri: http://127.0.0.1:{port}/echo
"""


def _start(command: list[str], cpu: int) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        ["taskset", "-c", str(cpu), *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        if line.strip().isdigit() or "ws://" in line:
            return process, line.strip()
    process.kill()
    raise RuntimeError(f"{command[0]} did not start")


async def post_loop(port: int, inflight: int, warmup: float, duration: float) -> float:
    """POSTs per second to the backend's ``/echo`` with ``inflight`` of them in flight."""
    body = PAYLOAD.replace("<pad>", "x" * 5).encode()
    url = f"http://127.0.0.1:{port}/echo"
    done = 0
    counting = False

    async def worker(session: aiohttp.ClientSession, stop: float) -> None:
        nonlocal done
        while time.monotonic() < stop:
            async with session.post(url, data=body) as reply:
                await reply.read()
            if counting:
                done += 1

    connector = aiohttp.TCPConnector(limit=inflight)
    async with aiohttp.ClientSession(connector=connector) as session:
        stop = time.monotonic() + warmup + duration
        tasks = [asyncio.create_task(worker(session, stop)) for _ in range(inflight)]
        await asyncio.sleep(warmup)
        counting, started = True, time.monotonic()
        await asyncio.gather(*tasks)
        return done / (time.monotonic() - started)


def _gateway(port: int, args: argparse.Namespace) -> float:
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder, "wsgate.yaml")
        config.write_text(CONFIG.format(port=port))
        command = [PYTHON, "-m", "wsgate", "serve", str(config), "--port", "0"]
        gateway, line = _start([*command, "--log-level", "warning"], cpu=0)
        try:
            url = re.search(r"ws://127\.0\.0\.1:\d+/dev", line)
            assert url is not None, line
            report = subprocess.run(
                [
                    PYTHON,
                    "bench/loadgen.py",
                    url.group(0),
                    "--connections",
                    str(args.inflight),
                    "--workers",
                    "1",
                    "--window",
                    "1",
                    "--size",
                    "32",
                    "--payload",
                    PAYLOAD,
                    "--warmup",
                    str(args.warmup),
                    "--duration",
                    str(args.duration),
                    "--cpus",
                    "1",
                ],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
            )
        finally:
            gateway.kill()
            gateway.wait()
    return float(json.loads(report.stdout)["msgs_per_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--inflight", type=int, default=64)
    args = parser.parse_args()
    backend, port_line = _start([PYTHON, "bench/servers/http_echo_backend.py"], cpu=1)
    try:
        port = int(port_line)
        os.sched_setaffinity(0, {0})
        plain = asyncio.run(post_loop(port, args.inflight, args.warmup, args.duration))
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
        through = _gateway(port, args)
    finally:
        backend.kill()
        backend.wait()
    result = {
        "inflight": args.inflight,
        "post_loop_per_s": round(plain),
        "wsgate_http_proxy_msgs_per_s": round(through),
        "ratio": round(through / plain, 2),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
