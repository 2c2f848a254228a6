"""Small queries under concurrency: N clients looping point lookups, the sidecar beside PostgreSQL.

Both hold the same 100,000-row table `t (id int8, val text, amount float8)`: PostgreSQL 15 as a
heap table with `id` as primary key; the sidecar as a Parquet file (`t`, sorted by id, with a
page index) and as a DuckDB-accelerated copy of it (`ta`, `primary_key: id`); over the pg wire
also as the same rows written for lookups (`tl`: 16k-row row groups, benchmarks/README.md).
Every client loops `SELECT id, val, amount FROM <table> WHERE id = <random>` for --duration seconds:

- **Postgres wire**: Debian's `pgbench` with a custom script (`-M extended`, the unnamed
  Parse/Bind/Execute psycopg and most drivers send; `--protocol` to change), against
  PostgreSQL and against the sidecar's pg port; latencies from its per-transaction log;
- **Flight SQL**: a Python driver (ADBC Flight SQL: a prepared statement per lookup, its
  parameter bound by DoPut, then DoGet), the clients spread over several processes so that
  the client's own GIL is not the limit; the same driver loop with psycopg against
  PostgreSQL gives the peer figure for a Python client.

N = 1, 8 and 64 clients (--clients), each cell run alone, the cells of one N back to back so
the machine's load shifts them together. Reported: queries/s, p50, p99, errors, and the
ratios to PostgreSQL. `--soak 300` then runs 64 pg clients on the accelerated table for five
minutes, sampling the sidecar's RSS.

    python benchmarks/concurrency.py [--rows 100000] [--duration 10] [--clients 1,8,64]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import file_config
from benchmarks.pgwire import PG_BIN, postgres
from tests.process import SidecarProcess

LOOKUP = "SELECT id, val, amount FROM {table} WHERE id = {key}"
PGBENCH = shutil.which("pgbench") or str(PG_BIN / "pgbench")
CLIENTS_PER_PROCESS = 16


@dataclass
class Cell:
    """One run: N clients against one target."""

    queries: int
    seconds: float
    latencies: list[float]  # milliseconds
    errors: int
    cpu: float | None = None  # the sidecar's CPU seconds (all threads) over the cell

    @property
    def cpu_per_query(self) -> str:
        if self.cpu is None or not self.queries:
            return ""
        return f"{self.cpu / self.queries * 1000:.2f} ms"

    @property
    def qps(self) -> float:
        return self.queries / self.seconds

    def quantile(self, q: int) -> float:
        if len(self.latencies) < 2:
            return float("nan")
        return statistics.quantiles(self.latencies, n=100)[q - 1]


def make_table(rows: int) -> pa.Table:
    rng = np.random.default_rng(3)
    return pa.table(
        {
            "id": np.arange(rows, dtype=np.int64),
            "val": pa.array([f"value-{i % 7919}" for i in range(rows)]),
            "amount": np.round(rng.random(rows) * 1000, 2),
        }
    )


def sidecar_config(root: Path, table: pa.Table) -> tuple[Path, int]:
    pq.write_table(table, root / "t.parquet", row_group_size=128 * 1024, write_page_index=True)
    pq.write_table(table, root / "tl.parquet", row_group_size=16 * 1024)
    return file_config(
        root,
        [
            {"from": "file:t.parquet", "name": "t"},
            {"from": "file:tl.parquet", "name": "tl"},
            {"from": "file:t.parquet", "name": "ta", "acceleration": {"primary_key": "id"}},
        ],
        results_cache={"enabled": False},
    )


# ---- Postgres wire: pgbench -------------------------------------------------------------------


def pgbench(
    root: Path, dsn: dict[str, str], table: str, rows: int, clients: int, args: argparse.Namespace
) -> Cell:
    """pgbench's own figures: transactions and per-transaction latencies from its log."""
    script = root / f"lookup_{table}.sql"
    script.write_text(
        f"\\set key random(0, {rows - 1})\n" + LOOKUP.format(table=table, key=":key") + ";\n"
    )
    logs = root / "pgbench_logs"
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir()
    command = [
        PGBENCH, "-n", "-h", dsn["host"], "-p", dsn["port"], "-U", dsn["user"], dsn["dbname"],
        "-f", str(script), "-M", args.protocol, "-c", str(clients),
        "-j", str(min(clients, args.pgbench_threads)), "-T", str(args.duration),
        "-l", f"--log-prefix={logs / 'tx'}",
    ]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=root)
    seconds = min(time.perf_counter() - started, float(args.duration))
    latencies = []
    for log in logs.iterdir():
        for line in log.read_text().splitlines():
            fields = line.split()
            if len(fields) >= 3 and fields[2].isdigit():
                latencies.append(int(fields[2]) / 1000)
    aborted = done.stdout.count("aborted") + done.stderr.count("aborted")
    failed = _pgbench_figure(done.stdout, "number of failed transactions")
    if done.returncode != 0 and not latencies:
        print(done.stdout, done.stderr, file=sys.stderr)
    return Cell(len(latencies), seconds, latencies, failed + aborted)


def _pgbench_figure(output: str, label: str) -> int:
    for line in output.splitlines():
        if line.startswith(label):
            return int(line.split(":")[1].split()[0])
    return 0


# ---- Python drivers: ADBC Flight SQL and psycopg ----------------------------------------------


def _client_loop(
    kind: str,
    target: str,
    table: str,
    rows: int,
    seed: int,
    start: float,
    stop: float,
    out: list[tuple[list[float], int]],
) -> None:
    rng = random.Random(seed)
    latencies: list[float] = []
    errors = 0
    if kind == "flight":
        import adbc_driver_flightsql.dbapi as flightsql

        connection = flightsql.connect(target)
        sql = LOOKUP.format(table=table, key="$1")
    else:
        import psycopg

        connection = psycopg.connect(target, autocommit=True)
        sql = LOOKUP.format(table=table, key="%s")
    cursor = connection.cursor()

    def lookup() -> None:
        cursor.execute(sql, parameters=[rng.randrange(rows)]) if kind == "flight" else (
            cursor.execute(sql, [rng.randrange(rows)])
        )
        found = cursor.fetch_arrow_table().num_rows if kind == "flight" else len(cursor.fetchall())
        assert found == 1

    lookup()  # connect and warm up before the clock starts
    while time.time() < start:
        time.sleep(0.001)
    while (now := time.time()) < stop:
        try:
            lookup()
            latencies.append((time.time() - now) * 1000)
        except Exception:
            errors += 1
    cursor.close()
    connection.close()
    out.append((latencies, errors))


def _process(kind: str, target: str, table: str, rows: int, clients: int, seed: int,
             start: float, stop: float, queue: multiprocessing.Queue) -> None:  # fmt: skip
    import warnings

    warnings.simplefilter("ignore")
    out: list[tuple[list[float], int]] = []
    threads = [
        threading.Thread(
            target=_client_loop, args=(kind, target, table, rows, seed + i, start, stop, out)
        )
        for i in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latencies = [latency for found, _ in out for latency in found]
    queue.put((latencies, sum(errors for _, errors in out) + clients - len(out)))


def python_driver(
    kind: str, target: str, table: str, rows: int, clients: int, seconds: int
) -> Cell:
    """N client threads over ceil(N / 16) processes, all starting on the same clock."""
    processes = -(-clients // CLIENTS_PER_PROCESS)
    start = time.time() + 2.0 + 0.05 * clients
    stop = start + seconds
    queue: multiprocessing.Queue = multiprocessing.Queue()
    workers = []
    for index in range(processes):
        share = clients // processes + (1 if index < clients % processes else 0)
        worker = multiprocessing.Process(
            target=_process,
            args=(kind, target, table, rows, share, index * 1000, start, stop, queue),
        )
        worker.start()
        workers.append(worker)
    results = [queue.get(timeout=seconds + 120) for _ in workers]
    for worker in workers:
        worker.join()
    latencies = [latency for found, _ in results for latency in found]
    return Cell(len(latencies), float(seconds), latencies, sum(e for _, e in results))


# ---- the run ----------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of the process, all threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured(pid: int, run: Callable[..., Cell], *args: Any) -> Cell:
    """`run(*args)`'s cell with the sidecar's CPU time spent meanwhile."""
    before = cpu_seconds(pid)
    cell = run(*args)
    cell.cpu = cpu_seconds(pid) - before
    return cell


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def soak(root: Path, dsn: dict[str, str], pid: int, rows: int, args: argparse.Namespace) -> None:
    samples: list[float] = []
    done = threading.Event()

    def sample() -> None:
        while not done.wait(5.0):
            samples.append(rss_mib(pid))

    sampler = threading.Thread(target=sample)
    sampler.start()
    before = rss_mib(pid)
    soak_args = argparse.Namespace(**{**vars(args), "duration": args.soak})
    cell = pgbench(root, dsn, "ta", rows, 64, soak_args)
    done.set()
    sampler.join()
    print(
        f"\nsoak: 64 pg clients on ta for {args.soak}s: {cell.qps:,.0f} queries/s, "
        f"p50 {cell.quantile(50):.2f} ms, p99 {cell.quantile(99):.2f} ms, {cell.errors} errors; "
        f"RSS before {before:.0f} MiB, during min {min(samples, default=before):.0f} / "
        f"max {max(samples, default=before):.0f} MiB, after {rss_mib(pid):.0f} MiB"
    )


def row(label: str, cell: Cell, peer: Cell | None) -> str:
    if peer is not None and peer.qps:
        ratio = f"{cell.qps / peer.qps:.3f}x | {cell.quantile(99) / peer.quantile(99):.1f}x"
    else:
        ratio = " | "
    return (
        f"| {label} | {cell.qps:,.0f} | {cell.quantile(50):.2f} ms | {cell.quantile(99):.2f} ms "
        f"| {cell.errors} | {ratio} | {cell.cpu_per_query} |"
    )


TARGETS = (("t", "Parquet"), ("ta", "DuckDB copy"))
PG_TARGETS = (*TARGETS[:1], ("tl", "Parquet, 16k-row groups"), *TARGETS[1:])


def one_count(
    root: Path,
    args: argparse.Namespace,
    clients: int,
    ours: dict[str, str],
    theirs: dict[str, str],
    pg_dsn: str,
    process: SidecarProcess,
) -> list[str]:
    """The cells of one N, back to back: PostgreSQL first, then the sidecar's two tables."""
    assert process.process is not None
    pid = process.process.pid
    lines = []
    if not args.skip_pg:
        peer = pgbench(root, theirs, "t", args.rows, clients, args)
        lines.append(row(f"{clients} | pg wire | PostgreSQL 15", peer, None))
        for name, label in PG_TARGETS:
            cell = measured(pid, pgbench, root, ours, name, args.rows, clients, args)
            lines.append(row(f"{clients} | pg wire | sidecar, {label}", cell, peer))
    if args.skip_flight:
        return lines
    peer = python_driver("psycopg", pg_dsn, "t", args.rows, clients, args.duration)
    lines.append(row(f"{clients} | Python driver | PostgreSQL 15 (psycopg)", peer, None))
    for name, label in TARGETS:
        url = process.flight_url
        cell = measured(pid, python_driver, "flight", url, name, args.rows, clients, args.duration)
        lines.append(row(f"{clients} | Python driver | sidecar Flight SQL, {label}", cell, peer))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--clients", default="1,8,64")
    parser.add_argument(
        "--protocol", default="extended", choices=["simple", "extended", "prepared"]
    )
    parser.add_argument("--pgbench-threads", type=int, default=2)
    parser.add_argument("--soak", type=int, default=0, help="seconds of 64 clients (0: none)")
    parser.add_argument("--skip-flight", action="store_true")
    parser.add_argument(
        "--skip-pg", action="store_true", help="only the Python-driver cells (Flight SQL, psycopg)"
    )
    args = parser.parse_args()
    if not (PG_BIN / "initdb").exists():
        sys.exit("needs Debian's postgresql-15 (make test installs it)")
    table = make_table(args.rows)
    counts = [int(n) for n in args.clients.split(",")]
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        config, port = sidecar_config(root, table)
        process = SidecarProcess(config)
        process.start(port)
        ours = {"host": "127.0.0.1", "port": str(process.pg_port), "user": "bench",
                "dbname": "bench"}  # fmt: skip
        try:
            with postgres(root, table) as pg_dsn:
                theirs = dict(part.split("=") for part in pg_dsn.split())
                for clients in counts:
                    lines += one_count(root, args, clients, ours, theirs, pg_dsn, process)
                if args.soak:
                    assert process.process is not None
                    soak(root, ours, process.process.pid, args.rows, args)
        finally:
            process.stop()
    print(f"\n{args.rows:,} rows, point lookups by id, {args.duration}s per cell, pgbench -M "
          f"{args.protocol}\n")  # fmt: skip
    print(
        "| clients | interface | server | queries/s | p50 | p99 | errors | QPS / PG | p99 / PG "
        "| sidecar CPU / query |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for line in lines:
        print(line)


if __name__ == "__main__":
    main()
