"""The whole benchmark in one command: every section, N rounds, medians with spread.

Each round runs six sections, every server beside its baseline in that same round:

1. echo throughput, windows 1 and 16, 100 connections: the bare ``websockets`` echo (baseline);
   the gateway with an ``async def`` handler in process (``echo/wsgate.yaml``), with a ``def``
   handler in process, and with a ``def`` handler in worker processes (the default isolation;
   1 and 2 workers on the server's CPU, and 2 workers allowed on both CPUs);
2. handshakes per second (connect, upgrade, close; 64 at a time): a bare aiohttp upgrade
   (baseline), the gateway without ``$connect``, with a ``def`` ``$connect`` in process, and
   with one in the default isolation;
3. idle memory per connection at 10k, 50k and 100k connections (RSS growth / connections):
   bare aiohttp (baseline) and the gateway, each holding the same idle sockets;
4. open-loop latency at 1,000 and 5,000 msgs/s, timed from each message's due time: the bare
   aiohttp echo (baseline) and the gateway with a ``def`` handler in process;
5. the HTTP path, 64 in flight to one aiohttp backend: a plain aiohttp POST loop (baseline),
   the gateway's ``HTTP_PROXY`` route, and Pushpin's WebSocket-over-HTTP when installed;
6. blocking: one connection's reply times while another's ``def`` handler in process sleeps
   100 ms on every call, beside the same probe with nobody sleeping (baseline).

Servers run pinned to CPU 0, clients to CPU 1; every figure keeps the CPU its client used
(below one core: the client was not the bottleneck). Writes ``bench/results/suite.json``
(machine, versions, settings, every round's records, the summary) and ``suite.md`` (one table
per section: median, min to max, worst run, and the same for the ratio to the baseline).

    .venv/bin/python bench/suite.py                 # 3 rounds, about 11 minutes
    .venv/bin/python bench/suite.py --quick         # 1 short round, under 2 minutes
    .venv/bin/python bench/suite.py --rounds 5 --only echo --only latency
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from run import ROOT, Settings, describe_machine
from suite_common import CLIENT_CPU, FULL, QUICK, SERVER_CPU, Context, build_compiled
from suite_report import add_ratios, aggregate, markdown_tables
from suite_scenarios import SECTIONS
from ws_raw import raise_file_limit

RESULTS = ROOT / "bench" / "results"
# The servers inherit this: the memory section holds up to 100,000 sockets in one of them.
FILE_LIMIT = 120_000


def wsgate_commit() -> dict[str, Any]:
    """The checked-out commit, and whether the working tree differs from it."""

    def git(*arguments: str) -> str:
        done = subprocess.run(["git", *arguments], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "modified": bool(git("status", "--porcelain"))}


def _machine() -> dict[str, Any]:
    machine = describe_machine()
    machine["load_average"] = os.getloadavg()
    machine["wsgate"] = wsgate_commit()
    machine["pushpin"] = shutil.which("pushpin")
    return machine


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every section (3)")
    parser.add_argument("--quick", action="store_true", help="one short round, to check the bench")
    parser.add_argument("--only", action="append", choices=list(SECTIONS), help="run this section")
    parser.add_argument("--output", type=Path, help="JSON file; the .md lands beside it")
    return parser.parse_args(argv)


def run_round(context: Context, sections: Sequence[str], number: int) -> list[dict[str, Any]]:
    """Every chosen section once; the records get the round number and their ratios."""
    records: list[dict[str, Any]] = []
    for name in sections:
        started = time.monotonic()
        print(f"== round {number}: {name}", file=sys.stderr, flush=True)
        found = SECTIONS[name](context)
        for record in found:
            record["round"] = number
        records += found
        print(f"== {name}: {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    add_ratios(records)
    return records


def main(argv: Sequence[str] | None = None) -> int:
    """Run the rounds, write JSON and markdown; exit 1 when nothing was measured."""
    args = _parse_args(argv)
    durations = QUICK if args.quick else FULL
    rounds = 1 if args.quick else args.rounds
    sections = args.only or list(SECTIONS)
    output = args.output or RESULTS / ("suite-quick.json" if args.quick else "suite.json")
    if shutil.which("taskset") is None:
        print("taskset not found: the suite needs it to pin servers and clients", file=sys.stderr)
        return 2
    limit = raise_file_limit(FILE_LIMIT)
    if {"echo", "handshakes"} & set(sections):
        try:
            build_compiled()  # the compiled variant's scenarios beside the others
        except (RuntimeError, OSError) as error:
            print(f"{error}: the compiled variant is left out", file=sys.stderr)
    settings = Settings(
        python=sys.executable,
        connections=100,
        workers=2,
        size=32,
        warmup=durations.warmup,
        duration=durations.duration,
        server_cpu=SERVER_CPU,
        client_cpus=CLIENT_CPU,
        startup_timeout=30.0,
        retries=0,
        retry_deadline=0.0,
    )
    started = datetime.now(UTC)
    machine = _machine()
    results: list[list[dict[str, Any]]] = []
    with tempfile.TemporaryDirectory(prefix="wsgate-suite-") as folder:
        context = Context(sys.executable, Path(folder), durations, settings)
        for number in range(1, rounds + 1):
            results.append(run_round(context, sections, number))
    summary = aggregate(results)
    finished = datetime.now(UTC)
    document = {
        "started": started.isoformat(timespec="seconds"),
        "finished": finished.isoformat(timespec="seconds"),
        "machine": machine,
        "settings": {
            "rounds": rounds,
            "quick": args.quick,
            "durations": asdict(durations),
            "echo_load": asdict(settings),
            "file_limit": limit,
        },
        "summary": summary,
        "rounds": results,
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(document, indent=2) + "\n")
    table = _heading(document) + markdown_tables(summary)
    output.with_suffix(".md").write_text(table)
    print(table)
    print(f"written {output} and {output.with_suffix('.md')}", file=sys.stderr)
    return 0 if any(record["value"] for records in results for record in records) else 1


def _heading(document: dict[str, Any]) -> str:
    machine = document["machine"]
    packages = ", ".join(f"{name} {version}" for name, version in machine["packages"].items())
    commit = machine["wsgate"]
    state = " (with uncommitted changes)" if commit["modified"] else ""
    minutes = (
        datetime.fromisoformat(document["finished"]) - datetime.fromisoformat(document["started"])
    ).total_seconds() / 60
    load = ", ".join(f"{value:.2f}" for value in machine["load_average"])
    return (
        f"Run of {document['started']} ({document['settings']['rounds']} rounds, "
        f"{minutes:.1f} min): {machine['cpu']}, {machine['cpus']} CPUs, kernel "
        f"{machine['kernel']}; Python {machine['python']}, {packages}; wsgate "
        f"{commit['commit'][:12]}{state}. Load average at the start: {load}.\n\n"
    )


if __name__ == "__main__":
    sys.exit(main())
