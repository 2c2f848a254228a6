"""What a benchmark leaves behind: the final table, results.json, report.md and the goals.

The table follows pgbench's closing summary (settings first, then the figures) with one row per
arm and agent count. results.json holds every figure, the machine, and the config and workload
by hash, so two results can be compared knowing whether they measured the same thing.
report.md is the same for people, with the plots beside it.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import socket
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from rich import box
from rich.table import Table
from rich.text import Text

GOALS_AGENTS = 64


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def machine() -> dict[str, Any]:
    import psutil

    from sidecar import __version__

    cpu_model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.partition(":")[2].strip()
                break
    except OSError:
        pass
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model,
        "memory_bytes": psutil.virtual_memory().total,
        "load_average_start": list(os.getloadavg()),
        "packages": {"agent-sidecar": __version__}
        | versions(
            (
                "datafusion",
                "pyarrow",
                "duckdb",
                "sqlglot",
                "psycopg",
                "mysql-connector-python",
                "adbc-driver-flightsql",
                "httpx",
            )
        ),
    }


def versions(names: Iterable[str]) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _mib(value: int | None) -> str:
    return "-" if not value else f"{value / 2**20:,.0f}"


def row_cells(run: dict[str, Any]) -> list[str]:
    latency = run["latency_ms"]
    replica = run["replica"]
    sidecar = run.get("sidecar") or {}
    return [
        run["arm"],
        str(run["agents"]),
        f"{run['queries']:,}",
        _fmt(run["qps"]),
        _fmt(latency["p50"], 2),
        _fmt(latency["p95"], 2),
        _fmt(latency["p99"], 2),
        _fmt(latency["max"], 2),
        _fmt(run["rows_per_s"], 0),
        str(run["error_count"]),
        _fmt(replica.get("statements_per_1000")),
        _fmt(replica.get("rows_read_per_1000"), 0),
        _fmt(sidecar.get("cpu_seconds"), 1) if sidecar else "-",
        _mib(sidecar.get("peak_rss_bytes")) if sidecar else "-",
    ]


HEADERS = (
    "arm",
    "agents",
    "queries",
    "q/s",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "max ms",
    "rows/s",
    "errors",
    "replica stmts /1k q",
    "replica rows /1k q",
    "sidecar CPU s",
    "sidecar peak RSS MiB",
)


def final_table(runs: Sequence[dict[str, Any]]) -> Table:
    table = Table(box=box.SIMPLE_HEAD)
    for index, header in enumerate(HEADERS):
        table.add_column(header, justify="left" if index == 0 else "right")
    for run in runs:
        cells = [Text(cell) for cell in row_cells(run)]
        if run["error_count"]:
            cells[9].stylize("bold red")
        table.add_row(*cells)
    return table


def settings_lines(results: dict[str, Any]) -> list[str]:
    """pgbench's preamble: what was run, against what."""
    settings, replica = results["settings"], results["replica"]
    return [
        f"workload: {results['workload']['name']} ({len(results['workload']['queries'])} "
        f"queries, {results['workload']['path']})",
        f"interface: {settings['interface']}; arms: {', '.join(settings['arms'])}",
        f"agents: {', '.join(map(str, settings['agents']))}; duration {settings['duration_s']:g}s"
        f" per run, warm-up {settings['warmup_s']:g}s excluded; think time "
        f"{settings['think_s'] * 1000:g} ms",
        f"replica: {replica['url']} ({replica['version']}); statements counted by "
        f"{replica['statement_counter']}, rows read by {replica['rows_counter']}",
    ]


def _at(runs: Sequence[dict[str, Any]], arm: str, agents: int) -> dict[str, Any] | None:
    return next((r for r in runs if r["arm"] == arm and r["agents"] == agents), None)


def goals(runs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's goals, checked at the largest agent count run (64 in the full benchmark)."""
    if not runs:
        return []
    agents = max(run["agents"] for run in runs)
    direct, federated, accelerated = (
        _at(runs, arm, agents) for arm in ("direct", "federated", "accelerated")
    )
    found: list[dict[str, Any]] = []

    def goal(text: str, value: float | None, target: float | None, met: bool | None) -> None:
        found.append({"goal": text, "agents": agents, "value": value, "target": target, "met": met})

    if accelerated:
        statements = accelerated["replica"].get("statements_per_1000")
        goal(
            "accelerated: replica statements per 1,000 agent queries <= 5",
            statements,
            5.0,
            None if statements is None else statements <= 5.0,
        )
    if accelerated and direct:
        ratio = accelerated["qps"] / direct["qps"] if direct["qps"] else None
        goal("accelerated: QPS >= 5x direct", ratio, 5.0, None if ratio is None else ratio >= 5)
        fast, slow = accelerated["latency_ms"]["p99"], direct["latency_ms"]["p99"]
        goal(
            "accelerated: p99 below direct's",
            fast,
            slow,
            None if fast is None or slow is None else fast < slow,
        )
    if federated and direct:
        mine = federated["replica"].get("rows_read_per_1000")
        theirs = direct["replica"].get("rows_read_per_1000")
        ratio = mine / theirs if mine is not None and theirs else None
        goal(
            "federated: replica rows read per agent query within 2x of direct",
            ratio,
            2.0,
            None if ratio is None else ratio <= 2.0,
        )
    return found


def write_json(results: dict[str, Any], out: Path) -> Path:
    path = out / "results.json"
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return path


def _markdown_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def write_markdown(results: dict[str, Any], plots: Sequence[Path], out: Path) -> Path:
    runs = results["runs"]
    machine_info = results["machine"]
    lines = [
        f"# sidecar bench: {results['workload']['name']}",
        "",
        f"Run {results['started_at']} to {results['finished_at']} on {machine_info['hostname']}"
        f" ({machine_info['cpus']} CPUs, {machine_info['cpu_model'] or 'unknown CPU'}, "
        f"{machine_info['memory_bytes'] / 2**30:.1f} GiB; load average "
        f"{', '.join(f'{v:.1f}' for v in machine_info['load_average_start'])} at start, "
        f"{', '.join(f'{v:.1f}' for v in machine_info['load_average_end'])} at the end).",
        "",
        f"`{results['command']}`",
        "",
        *(f"- {line}" for line in settings_lines(results)),
        f"- config `{results['config']['path']}` sha256 `{results['config']['sha256'][:16]}`, "
        f"workload sha256 `{results['workload']['sha256'][:16]}`",
        "",
        "## Figures",
        "",
        *_markdown_table(HEADERS, (row_cells(run) for run in runs)),
        "",
        "Replica figures are the replica's own counters over the whole run (warm-up included) "
        "divided by the queries the agents sent in it; q/s and latency exclude the warm-up.",
        "",
    ]
    for arm, info in results["arms"].items():
        details = "; ".join(f"{key}: {value}" for key, value in info.items() if key != "log")
        lines.append(f"- **{arm}**: {details}")
    lines.append("")
    if results["goals"]:
        lines += ["## Goals", ""]
        lines += _markdown_table(
            ("goal", "agents", "measured", "target", "met"),
            (
                (
                    g["goal"],
                    str(g["agents"]),
                    _fmt(g["value"], 2),
                    _fmt(g["target"], 2),
                    {True: "yes", False: "**no**", None: "-"}[g["met"]],
                )
                for g in results["goals"]
            ),
        )
        lines.append("")
    failed = [run for run in runs if run["error_count"]]
    if failed:
        lines += ["## Errors", ""]
        for run in failed:
            for kind, count in run["errors"].items():
                sample = run["error_samples"].get(kind, "")
                lines.append(f"- {run['arm']}, {run['agents']} agents: {count} x {kind}: {sample}")
        lines.append("")
    lines += ["## Per query (largest agent count)", ""]
    agents = max((run["agents"] for run in runs), default=0)
    lines += _markdown_table(
        ("arm", "query", "queries", "errors", "p50 ms", "p99 ms"),
        (
            (
                run["arm"],
                name,
                f"{q['queries']:,}",
                str(q["errors"]),
                _fmt(q["p50_ms"], 2),
                _fmt(q["p99_ms"], 2),
            )
            for run in runs
            if run["agents"] == agents
            for name, q in run["by_query"].items()
        ),
    )
    lines.append("")
    if plots:
        lines += ["## Plots", ""] + [f"![{path.stem}]({path.name})" for path in plots] + [""]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path
