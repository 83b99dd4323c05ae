"""Ratios within a round, medians across rounds, and the markdown tables of ``suite.py``."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

# Written as escapes: the tables use typographic signs, the code only ASCII.
DASH, TIMES = "\u2013", "\u00d7"
_TITLES = {
    "echo": "Echo throughput (msgs/s, 100 connections; ratio to the bare `websockets` echo)",
    "handshakes": "Handshakes per second (connect, upgrade, close; ratio to bare aiohttp)",
    "memory": "Idle memory per connection (RSS growth / connections; ratio to bare aiohttp)",
    "latency": "Open-loop latency (ms from the due time; ratio to the bare aiohttp echo)",
    "http": "The HTTP path (msgs/s to one aiohttp backend; ratio to a plain aiohttp POST loop)",
    "blocking": (
        "Another connection's reply (ms) while a `def` handler in process sleeps 100 ms on "
        "each call; ratio to nobody sleeping"
    ),
}


def _key(record: dict[str, Any]) -> tuple[str, str, str, str]:
    return record["section"], record["scenario"], record["param"], record["metric"]


def add_ratios(records: list[dict[str, Any]]) -> None:
    """Set each record's ``ratio``: its value over its baseline's in the same round."""
    values = {_key(record): record["value"] for record in records if record["value"]}
    for record in records:
        if record["baseline"] is None or not record["value"]:
            continue
        base = values.get(
            (record["section"], record["baseline"], record["param"], record["metric"])
        )
        if base:
            record["ratio"] = round(record["value"] / base, 3)


def _spread(values: list[float], higher_is_better: bool) -> dict[str, Any] | None:
    if not values:
        return None
    worst = min(values) if higher_is_better else max(values)
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "worst": worst,
        "worst_round": values.index(worst) + 1,
    }


def aggregate(rounds: Sequence[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One summary per figure: median, spread and worst run of its values and of its ratios.

    A round where the figure failed counts in ``runs`` but not in the statistics.
    """
    order: list[tuple[str, str, str, str]] = []
    grouped: dict[tuple[str, str, str, str], list[dict[str, Any]]] = {}
    for records in rounds:
        for record in records:
            key = _key(record)
            if key not in grouped:
                order.append(key)
            grouped.setdefault(key, []).append(record)
    summaries = []
    for key in order:
        group = grouped[key]
        better = group[0]["higher_is_better"]
        measured = [record for record in group if record["value"] is not None]
        cpu = [record["client_cpu"] for record in measured if record["client_cpu"] is not None]
        server = [record["server_cpu"] for record in measured if record["server_cpu"] is not None]
        noise = [record["noise"] for record in measured if record["noise"] is not None]
        summaries.append(
            {
                "section": key[0],
                "scenario": key[1],
                "param": key[2],
                "metric": key[3],
                "higher_is_better": better,
                "baseline": group[0]["baseline"],
                "runs": len(group),
                "measured": len(measured),
                "value": _spread([record["value"] for record in measured], better),
                "ratio": _spread([r["ratio"] for r in measured if "ratio" in r], better),
                "server_cpu_median": statistics.median(server) if server else None,
                "client_cpu_max": max(cpu) if cpu else None,
                "noise_max": max(noise) if noise else None,
                "problems": sorted({r["reason"] for r in group if r["status"] != "ok"} - {None}),
            }
        )
    return summaries


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"


def _ratio(spread: dict[str, Any] | None, is_baseline: bool) -> tuple[str, str, str]:
    if is_baseline:
        return "1 (baseline)", "", ""
    if spread is None:
        return "-", "-", "-"
    return (
        f"**{spread['median']:.2f}{TIMES}**",
        f"{spread['min']:.2f}{DASH}{spread['max']:.2f}",
        f"{spread['worst']:.2f} (run {spread['worst_round']})",
    )


def _cores(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


_HEADER = (
    f"| scenario | | median | min{DASH}max | worst (run) | ratio median | ratio min{DASH}max "
    "| worst ratio "
    "| server cores | client cores, max | noise, max |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|"
)


def markdown_tables(summaries: Sequence[dict[str, Any]]) -> str:
    """One table per section, figures in the order measured."""
    parts = []
    for section, title in _TITLES.items():
        rows = [summary for summary in summaries if summary["section"] == section]
        if not rows:
            continue
        lines = [f"### {title}", "", _HEADER]
        notes = []
        for row in rows:
            label = f"{row['param']}, {row['metric']}"
            value = row["value"]
            if value is None:
                cells = ["-", "-", "-"]
            else:
                worst = f"{_number(value['worst'])} (run {value['worst_round']})"
                spread = f"{_number(value['min'])}{DASH}{_number(value['max'])}"
                cells = [_number(value["median"]), spread, worst]
            ratio = _ratio(row["ratio"], row["scenario"] == row["baseline"])
            counted = (
                "" if row["measured"] == row["runs"] else f" ({row['measured']}/{row['runs']})"
            )
            cores = [row["server_cpu_median"], row["client_cpu_max"], row["noise_max"]]
            columns = [f"{row['scenario']}{counted}", label, *cells, *ratio, *map(_cores, cores)]
            lines.append(f"| {' | '.join(columns)} |")
            notes += [f"- {row['scenario']}, {label}: {problem}" for problem in row["problems"]]
        parts.append("\n".join([*lines, *(["", *notes] if notes else [])]))
    return "\n\n".join(parts) + "\n"
