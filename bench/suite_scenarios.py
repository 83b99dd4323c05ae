"""The sections of ``suite.py``; each measures its servers beside their baseline.

Every section takes the round's ``Context`` and returns its records (``suite_common``). The
HTTP section swaps the CPUs for its plain POST loop and backend, as ``http_route.py`` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import http_route
import run
from loadgen import process_tree
from run import ROOT, Scenario, ServerProcess, ServerStartError
from suite_common import (
    BENCH,
    CLIENT_CPU,
    PAYLOAD,
    SERVER_CPU,
    Context,
    Durations,
    bare,
    compiled_built,
    failed_records,
    gateway,
    gateway_config,
    record,
    report_noise,
    run_client_script,
    serving,
)

# Files a server keeps open besides its connections: listening sockets, logs, libraries.
_FILE_MARGIN = 500


def echo_throughput(context: Context) -> list[dict[str, Any]]:
    """Section 1: echo msgs/s at each window, 100 connections, vs the bare websockets echo."""
    folder = context.folder
    scenarios = [
        bare(context, run.BASELINE, "websockets_echo.py"),
        gateway(context, "wsgate async def, in process", BENCH / "echo" / "wsgate.yaml"),
        gateway(context, "wsgate def, in process", gateway_config(folder, "sync-inprocess")),
        *(
            [
                gateway(
                    context,
                    "wsgate async def, in process, compiled",
                    BENCH / "echo" / "wsgate.yaml",
                    compiled=True,
                ),
                gateway(
                    context,
                    "wsgate def, in process, compiled",
                    gateway_config(folder, "sync-inprocess"),
                    compiled=True,
                ),
            ]
            if compiled_built()
            else []
        ),
        *(
            gateway(
                context,
                f"wsgate def, default isolation, {count} worker{'s' * (count > 1)}",
                gateway_config(folder, f"sync-process-{count}", isolation=None, workers=count),
            )
            for count in (1, 2)
        ),
        # The gateway keeps CPU 0; its workers may also run on the client's CPU.
        replace(
            gateway(
                context,
                f"wsgate def, default isolation, 2 workers on CPUs {SERVER_CPU},{CLIENT_CPU}",
                gateway_config(folder, "sync-process-2-cpus", isolation=None, workers=2),
            ),
            child_cpus=f"{SERVER_CPU},{CLIENT_CPU}",
        ),
    ]
    records = []
    for scenario in scenarios:
        for row in run.run_scenario(context.settings, scenario, context.durations.windows):
            records.append(_echo_record(scenario.name, row))
    return records


def _echo_record(name: str, row: dict[str, Any]) -> dict[str, Any]:
    param = f"window {row.get('window', '-')}"
    if row["status"] != "ok":
        return record("echo", name, param, "msgs/s", status=row["status"], reason=row["reason"])
    report = row["report"]
    return record(
        "echo",
        name,
        param,
        "msgs/s",
        value=report["msgs_per_s"],
        baseline=run.BASELINE,
        server_cpu=report["server_cpu"],
        client_cpu=report["client_cpu"],
        noise=round(run.noise(row), 2),
        detail={"latency_ms": report["latency_ms"], "errors": report["errors"]},
    )


def blocking(context: Context) -> list[dict[str, Any]]:
    """Section 6: one connection's reply time while another's ``def`` handler in process sleeps
    100 ms on every call, vs the same probe with nobody sleeping."""
    config = gateway_config(context.folder, "blocking", handler="sleepy", routes=("echo", "sleep"))
    scenario = gateway(context, "wsgate def, in process", config)
    baseline, sleeping = "nobody sleeping", "a handler sleeping 100 ms"
    metrics = ("p50", "p99", "max")
    durations = context.durations
    records = []
    for name, flags in ((baseline, ["--no-sleeper"]), (sleeping, [])):
        print(f"{name}: probe replies ...", file=sys.stderr, flush=True)
        try:
            with serving(scenario) as (server, url):
                command = [context.python, str(BENCH / "blocking.py"), url, *flags]
                command += ["--warmup", str(durations.warmup)]
                command += ["--duration", str(durations.latency_duration)]
                command += ["--server-pid", str(server.pid)]
                report = run_client_script(command, limit=durations.latency_duration + 60)
        except (ServerStartError, RuntimeError, subprocess.TimeoutExpired) as error:
            records += failed_records(
                "blocking", name, [("probe", f"{m} ms") for m in metrics], error
            )
            continue
        for metric in metrics:
            records.append(
                record(
                    "blocking",
                    name,
                    "probe",
                    f"{metric} ms",
                    value=report["reply_ms"][metric],
                    higher_is_better=False,
                    baseline=baseline,
                    server_cpu=report["server_cpu"],
                    client_cpu=report["client_cpu"],
                    noise=report_noise(report),
                    detail={"replies": report["replies"], "sleeps": report["sleeps"]},
                )
            )
    return records


def handshakes(context: Context) -> list[dict[str, Any]]:
    """Section 2: opening handshakes (connect, upgrade, close) per second vs bare aiohttp."""
    folder = context.folder
    baseline = "aiohttp upgrade"
    scenarios = [
        bare(context, baseline, "aiohttp_echo.py"),
        gateway(context, "wsgate, no $connect", gateway_config(folder, "no-connect")),
        *(
            [
                gateway(
                    context,
                    "wsgate, no $connect, compiled",
                    gateway_config(folder, "no-connect"),
                    compiled=True,
                )
            ]
            if compiled_built()
            else []
        ),
        gateway(
            context,
            "wsgate, $connect def in process",
            gateway_config(folder, "connect-inprocess", connect="inprocess"),
        ),
        gateway(
            context,
            "wsgate, $connect def, default isolation",
            gateway_config(folder, "connect-process", isolation=None, connect="default"),
        ),
        # What the gateway's steps cost: its listener and socket class alone, without them.
        bare(context, "wsgate floor: engine layer, no steps", "wsgate_floor.py"),
        # Other engines' bare upgrades, for scale: what a handshake costs below aiohttp.
        bare(context, "websockets upgrade", "websockets_echo.py"),
        bare(context, "picows upgrade", "picows_echo.py"),
    ]
    durations = context.durations
    records = []
    for scenario in scenarios:
        print(f"{scenario.name}: handshakes ...", file=sys.stderr, flush=True)
        try:
            with serving(scenario) as (server, url):
                command = [context.python, str(BENCH / "handshakes.py"), url]
                command += ["--warmup", str(durations.warmup)]
                command += ["--duration", str(durations.handshake_duration)]
                command += ["--server-pid", str(server.pid), "--concurrency", "64"]
                report = run_client_script(command, limit=durations.handshake_duration + 60)
        except (ServerStartError, RuntimeError, subprocess.TimeoutExpired) as error:
            records += failed_records("handshakes", scenario.name, [("64 at a time", "/s")], error)
            continue
        records.append(
            record(
                "handshakes",
                scenario.name,
                "64 at a time",
                "/s",
                value=report["handshakes_per_s"],
                baseline=baseline,
                server_cpu=report["server_cpu"],
                client_cpu=report["client_cpu"],
                noise=report_noise(report),
                status="ok" if report["handshakes_per_s"] else "failed",
                reason="; ".join(report["errors"]) or None,
                detail={"failed": report["failed"]},
            )
        )
    return records


def tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and its live descendants."""
    total = 0
    for current in process_tree(pid):
        with contextlib.suppress(OSError, IndexError, ValueError):
            status = Path(f"/proc/{current}/status").read_text()
            total += 1024 * int(status.split("VmRSS:", 1)[1].split()[0])
    return total


def idle_memory(context: Context) -> list[dict[str, Any]]:
    """Section 3: RSS growth per idle connection at each level, gateway vs bare aiohttp."""
    baseline = "aiohttp"
    scenarios = [
        bare(context, baseline, "aiohttp_echo.py"),
        gateway(context, "wsgate", gateway_config(context.folder, "idle")),
    ]
    levels, beyond = reachable_levels(context.durations.memory_levels)
    records = []
    for scenario in scenarios:
        print(f"{scenario.name}: idle connections ...", file=sys.stderr, flush=True)
        params = [(f"{level:,} conns", "KiB/conn") for level in levels]
        try:
            with serving(scenario) as (server, url):
                records += _hold(context, scenario.name, baseline, server, url, levels)
        except (ServerStartError, RuntimeError, subprocess.TimeoutExpired, OSError) as error:
            records += failed_records("memory", scenario.name, params, error)
        records += [
            record(
                "memory",
                scenario.name,
                f"{level:,} conns",
                "KiB/conn",
                higher_is_better=False,
                status="skipped",
                reason=beyond,
            )
            for level in context.durations.memory_levels
            if level not in levels
        ]
    return records


def reachable_levels(levels: tuple[int, ...]) -> tuple[list[int], str]:
    """The levels one process can hold under the open-file limit, and why others are left out.

    A level beyond the limit is replaced by the most the limit allows (less a margin for the
    server's other files), measured once.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    most = soft - _FILE_MARGIN
    reachable = sorted({min(level, most) for level in levels})
    reason = (
        f"beyond the open-file limit: {soft:,} per process (hard limit {hard:,}, and raising "
        f"it needs CAP_SYS_RESOURCE); measured at {most:,} instead"
    )
    return reachable, reason


def _hold(
    context: Context, name: str, baseline: str, server: ServerProcess, url: str, levels: list[int]
) -> list[dict[str, Any]]:
    time.sleep(1.0)
    before = tree_rss(server.pid)
    command = [context.python, str(BENCH / "idle_clients.py"), url]
    holder = subprocess.Popen(
        ["taskset", "-c", CLIENT_CPU, *command],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdin is not None and holder.stdout is not None
    records = []
    try:
        opened = 0
        for level in levels:
            holder.stdin.write(f"open {level - opened}\n")
            holder.stdin.flush()
            reply = json.loads(holder.stdout.readline() or "{}")
            opened = int(reply.get("open", 0))
            time.sleep(2.0)  # let the server settle: handshakes done, buffers released
            grown = tree_rss(server.pid) - before
            short = opened < level or reply.get("lost")
            records.append(
                record(
                    "memory",
                    name,
                    f"{level:,} conns",
                    "KiB/conn",
                    value=round(grown / 1024 / opened, 2) if opened else None,
                    higher_is_better=False,
                    baseline=baseline,
                    status="partial" if short else "ok",
                    reason=f"{opened:,} open; {reply}" if short else None,
                    detail={"open": opened, "rss_before": before, "rss_growth": grown, **reply},
                )
            )
            print(f"{name}: {opened:,} idle, +{grown / 2**20:.0f} MiB", file=sys.stderr)
            if opened < level * 0.9:
                break
    finally:
        holder.stdin.write("close\n")
        holder.stdin.flush()
        holder.wait(timeout=60)
    return records


def open_loop_latency(context: Context) -> list[dict[str, Any]]:
    """Section 4: p50/p99/p99.9 at fixed rates, timed from due times, vs the bare aiohttp echo."""
    baseline = "aiohttp echo"
    scenarios = [
        bare(context, baseline, "aiohttp_echo.py"),
        gateway(context, "wsgate def, in process", gateway_config(context.folder, "latency")),
    ]
    durations = context.durations
    records = []
    for scenario in scenarios:
        for rate in durations.rates:
            print(f"{scenario.name}: {rate:,} msgs/s open loop ...", file=sys.stderr, flush=True)
            param = f"{rate:,}/s"
            metrics = ("p50 ms", "p99 ms", "p99.9 ms")
            try:
                with serving(scenario) as (server, url):
                    command = [context.python, str(BENCH / "open_loop.py"), url]
                    command += ["--rate", str(rate), "--warmup", str(durations.warmup)]
                    command += ["--duration", str(durations.latency_duration)]
                    command += ["--server-pid", str(server.pid)]
                    report = run_client_script(command, limit=durations.latency_duration + 60)
            except (ServerStartError, RuntimeError, subprocess.TimeoutExpired) as error:
                records += failed_records(
                    "latency", scenario.name, [(param, m) for m in metrics], error
                )
                continue
            for metric in metrics:
                records.append(
                    record(
                        "latency",
                        scenario.name,
                        param,
                        metric,
                        value=report["latency_ms"][metric.split()[0]],
                        higher_is_better=False,
                        baseline=baseline,
                        server_cpu=report["server_cpu"],
                        client_cpu=report["client_cpu"],
                        noise=report_noise(report),
                        status="partial" if report["missing"] else "ok",
                        reason=f"{report['missing']} replies missing"
                        if report["missing"]
                        else None,
                        detail={"achieved_per_s": report["achieved_per_s"]},
                    )
                )
    return records


def http_path(context: Context) -> list[dict[str, Any]]:
    """Section 5: the HTTP_PROXY route and Pushpin, vs a plain aiohttp POST loop, one backend."""
    durations = context.durations
    baseline, param, inflight = "aiohttp POST loop", "64 in flight", 64
    backend = bare(context, "backend", "http_echo_backend.py")
    try:
        with serving(backend, cpu=CLIENT_CPU) as (_, backend_url):
            port = int(backend_url.split(":")[2].split("/")[0])
            records = [_post_loop(port, durations, baseline, param, inflight)]
            config = context.folder / "http-proxy.yaml"
            config.write_text(http_route.CONFIG.format(port=port))
            proxies = [
                gateway(context, "wsgate HTTP_PROXY", config),
                replace(
                    bare(context, "Pushpin WebSocket-over-HTTP", "pushpin_proxy.py", str(port)),
                    path="/echo",
                    payload=PAYLOAD,
                ),
            ]
            for scenario in proxies:
                records.append(_proxy(context, scenario, baseline, param, inflight))
    except (ServerStartError, RuntimeError) as error:
        return failed_records("http", "backend", [(param, "msgs/s")], error)
    return records


def _post_loop(
    port: int, durations: Durations, baseline: str, param: str, inflight: int
) -> dict[str, Any]:
    print(f"{baseline} ...", file=sys.stderr, flush=True)
    everywhere = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {int(SERVER_CPU)})
    try:
        started = time.process_time()
        rate = asyncio.run(
            http_route.post_loop(port, inflight, durations.warmup, durations.duration)
        )
        # The loop's CPU includes its warm-up: a share of the whole, close to the window's.
        cpu = (time.process_time() - started) / (durations.warmup + durations.duration)
    finally:
        os.sched_setaffinity(0, everywhere)
    return record(
        "http",
        baseline,
        param,
        "msgs/s",
        value=round(rate),
        baseline=baseline,
        client_cpu=round(cpu, 3),
    )


def _proxy(
    context: Context, scenario: Scenario, baseline: str, param: str, inflight: int
) -> dict[str, Any]:
    settings = replace(context.settings, connections=inflight, workers=1)
    try:
        with serving(scenario) as (server, url):
            print(f"{scenario.name} on {url} ...", file=sys.stderr, flush=True)
            row = run.run_load(settings, server, url, 1)
    except ServerStartError as error:
        status = "skipped" if "not installed" in str(error) else "failed"
        return record("http", scenario.name, param, "msgs/s", status=status, reason=str(error))
    if row["status"] != "ok":
        return record("http", scenario.name, param, "msgs/s", status="failed", reason=row["reason"])
    report = row["report"]
    return record(
        "http",
        scenario.name,
        param,
        "msgs/s",
        value=report["msgs_per_s"],
        baseline=baseline,
        server_cpu=report["server_cpu"],
        client_cpu=report["client_cpu"],
        noise=round(run.noise(row), 2),
        detail={"latency_ms": report["latency_ms"]},
    )


SECTIONS = {
    "echo": echo_throughput,
    "handshakes": handshakes,
    "memory": idle_memory,
    "latency": open_loop_latency,
    "http": http_path,
    "blocking": blocking,
}
