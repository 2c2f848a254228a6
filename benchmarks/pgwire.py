"""Postgres wire benchmark: the sidecar side by side with a real PostgreSQL 15 in the same run.

Both hold the same 1M-row table (int8, float8, text, timestamp): the sidecar as a Parquet file,
PostgreSQL as a heap table with a primary key. Measured with psycopg 3:

- rows/s for `SELECT * FROM t`, text results and binary results (best of --repeats);
- p50/p99 latency of a point lookup `SELECT * FROM <table> WHERE id = %s` (extended protocol),
  on the sidecar's three layouts of the same rows: the Parquet file `t` (128k-row groups), the
  same rows sorted with a page index `tp`, and a DuckDB-accelerated copy `ta` with
  `primary_key: id`; PostgreSQL's lookup is on its primary key.

With --rounds the lookups are taken in turns (each layout, then PostgreSQL, --rounds times),
both servers running: on a shared machine whose load swings within minutes, each side is then
measured in the same minutes as the other. --layouts picks the sidecar's layouts measured.

PostgreSQL runs as the `postgres` user (initdb refuses root) in its own data directory on a free
port and is stopped at the end. Ratios are what to compare across machines.

    python benchmarks/pgwire.py [--rows 1000000] [--lookups 300] [--repeats 3] [--lookups-only]
                                [--rounds 10] [--layouts t tp ta]
"""

from __future__ import annotations

import argparse
import os
import pwd
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import file_config
from tests.process import SidecarProcess, free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")
SCAN = "SELECT * FROM t"
LOOKUP = "SELECT * FROM {table} WHERE id = %s"
WARM_UP = 3.0  # seconds of lookups before the measured ones
LAYOUTS = {"t": "Parquet", "tp": "Parquet, page index", "ta": "DuckDB copy"}


def make_table(rows: int) -> pa.Table:
    rng = np.random.default_rng(7)
    start = np.datetime64("2026-03-14T00:00:00", "us")
    return pa.table(
        {
            "id": np.arange(rows, dtype=np.int64),
            "value": rng.random(rows) * 1000,
            "name": pa.array([f"customer-{i % 9973}" for i in range(rows)]),
            "ts": start + rng.integers(0, 86_400_000_000, rows).astype("timedelta64[us]"),
        }
    )


PG_TYPES = {pa.int64(): "int8", pa.float64(): "float8", pa.string(): "text",
            pa.timestamp("us"): "timestamp"}  # fmt: skip


def pg_columns(schema: pa.Schema) -> str:
    """PostgreSQL's column list for `schema`, the first column the primary key."""
    columns = [f"{field.name} {PG_TYPES[field.type]}" for field in schema]
    return ", ".join([columns[0] + " PRIMARY KEY", *columns[1:]])


@contextmanager
def postgres(root: Path, table: pa.Table) -> Iterator[str]:
    """A throwaway PostgreSQL 15 holding `table` as t, owned and run by the postgres user."""
    data, user = root / "pgdata", pwd.getpwnam("postgres")
    root.chmod(0o755)
    data.mkdir()
    os.chown(data, user.pw_uid, user.pw_gid)
    port = free_port()

    def as_postgres(*command: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *command], check=True,
                       capture_output=True)  # fmt: skip

    as_postgres(str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
                "-E", "UTF8", "--no-locale")  # fmt: skip
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {data} -c fsync=off"
    as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(data / "log"), "-w",
                "-o", options, "start")  # fmt: skip
    dsn = f"host=127.0.0.1 port={port} user=postgres dbname=postgres"
    try:
        csv = root / "t.csv"
        pacsv.write_csv(table, csv, pacsv.WriteOptions(include_header=False))
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute(f"CREATE TABLE t ({pg_columns(table.schema)})")
            with (
                connection.cursor().copy("COPY t FROM STDIN (FORMAT csv)") as copy,
                csv.open("rb") as source,
            ):
                while chunk := source.read(1 << 20):
                    copy.write(chunk)
            connection.execute("VACUUM ANALYZE t")
        yield dsn
    finally:
        as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "stop")


@contextmanager
def sidecar(root: Path, table: pa.Table) -> Iterator[str]:
    pq.write_table(table, root / "t.parquet", row_group_size=128 * 1024)
    pq.write_table(table, root / "tp.parquet", row_group_size=128 * 1024, write_page_index=True)
    datasets = [
        {"from": "file:t.parquet", "name": "t"},
        {"from": "file:tp.parquet", "name": "tp"},
        {"from": "file:t.parquet", "name": "ta", "acceleration": {"primary_key": "id"}},
    ]
    config, http = file_config(root, datasets, flight={"port": 0, "enabled": False})
    process = SidecarProcess(config)
    process.start(http)
    try:
        yield f"host=127.0.0.1 port={process.pg_port} user=bench dbname=bench"
    finally:
        process.stop()


def scan_rate(dsn: str, binary: bool, repeats: int) -> tuple[float, int]:
    """Best-of rows/s for the whole table, every value decoded by psycopg."""
    best, rows = float("inf"), 0
    with psycopg.connect(dsn, autocommit=True) as connection:
        for _ in range(repeats):
            started = time.perf_counter()
            rows = len(connection.cursor(binary=binary).execute(SCAN).fetchall())
            best = min(best, time.perf_counter() - started)
    return rows / best, rows


def lookup_latency(dsn: str, lookups: int, rows: int, table: str = "t") -> tuple[float, float]:
    rng = random.Random(11)
    sql = LOOKUP.format(table=table)
    with psycopg.connect(dsn, autocommit=True) as connection:
        # Warm up for a few seconds: a copy's key index is built behind its first lookups.
        timed_lookups(connection, sql, rows, rng, seconds=WARM_UP)
        samples = timed_lookups(connection, sql, rows, rng, count=lookups)
    return cuts(samples)


def timed_lookups(
    connection: psycopg.Connection,
    sql: str,
    rows: int,
    rng: random.Random,
    count: int = 0,
    seconds: float = 0.0,
) -> list[float]:
    """Seconds taken by each of `count` lookups (or of those made within `seconds`)."""
    samples: list[float] = []
    end = time.perf_counter() + seconds
    while len(samples) < count or time.perf_counter() < end:
        started = time.perf_counter()
        found = connection.execute(sql, [rng.randrange(rows)]).fetchall()
        samples.append(time.perf_counter() - started)
        assert len(found) == 1
    return samples


def cuts(samples: list[float]) -> tuple[float, float]:
    """p50 and p99 in milliseconds."""
    quantiles = statistics.quantiles(samples, n=100)
    return quantiles[49] * 1000, quantiles[98] * 1000


def in_turns(ours: str, theirs: str, args: argparse.Namespace) -> tuple[dict, dict]:
    """Lookup p50/p99 of every layout and of PostgreSQL, both running, taken in turns
    (`args.rounds` rounds of lookups/rounds each): on a shared machine whose load swings
    within minutes, each side is measured in the same minutes as the other."""
    targets = [(ours, table) for table in args.layouts] + [(theirs, "t")]
    rng = random.Random(11)
    samples: dict[tuple[str, str], list[float]] = {target: [] for target in targets}
    with ExitStack() as stack:
        connections = {
            dsn: stack.enter_context(psycopg.connect(dsn, autocommit=True))
            for dsn in (ours, theirs)
        }
        for dsn, table in targets:
            sql = LOOKUP.format(table=table)
            timed_lookups(connections[dsn], sql, args.rows, rng, seconds=WARM_UP)
        for _ in range(args.rounds):
            for dsn, table in targets:
                sql = LOOKUP.format(table=table)
                count = max(args.lookups // args.rounds, 1)
                samples[dsn, table] += timed_lookups(connections[dsn], sql, args.rows, rng, count)
    figures: dict[str, dict[str, float]] = {ours: {}, theirs: {}}
    for (dsn, table), taken in samples.items():
        p50, p99 = cuts(taken)
        figures[dsn] |= {f"{table} p50": p50, f"{table} p99": p99}
    return figures[ours], figures[theirs]


def measure(dsn: str, args: argparse.Namespace, tables: tuple[str, ...]) -> dict[str, float]:
    figures = {}
    if not args.lookups_only:
        text, rows = scan_rate(dsn, False, args.repeats)
        binary, _ = scan_rate(dsn, True, args.repeats)
        assert rows == args.rows
        figures |= {"text": text, "binary": binary}
    if args.rounds:
        return figures  # the lookups are taken in turns, both running (in_turns)
    for table in tables:
        p50, p99 = lookup_latency(dsn, args.lookups, args.rows, table)
        figures |= {f"{table} p50": p50, f"{table} p99": p99}
    return figures


def report(ours: dict[str, float], theirs: dict[str, float], rows: int) -> None:
    print(f"\n{rows:,} rows x (int8, float8, text, timestamp), psycopg {psycopg.__version__}\n")
    print("| | sidecar | PostgreSQL 15 | ratio |")
    print("|---|---|---|---|")
    for key, label in (("text", "SELECT * rows/s, text"), ("binary", "SELECT * rows/s, binary")):
        if key not in ours:
            continue
        print(f"| {label} | {ours[key] / 1e6:.2f} M | {theirs[key] / 1e6:.2f} M | "
              f"{ours[key] / theirs[key]:.2f}x |")  # fmt: skip
    for table, layout in LAYOUTS.items():
        for cut in ("p50", "p99") if f"{table} p50" in ours else ():
            mine, peer = ours[f"{table} {cut}"], theirs[f"t {cut}"]
            print(f"| point lookup {cut}, {layout} | {mine:.2f} ms | {peer:.2f} ms | "
                  f"{mine / peer:.1f}x slower |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--lookups-only", action="store_true", help="skip the SELECT * scans")
    parser.add_argument("--layouts", nargs="+", choices=list(LAYOUTS), default=list(LAYOUTS))
    parser.add_argument("--rounds", type=int, default=0,
                        help="lookups taken in turns, both servers running")  # fmt: skip
    args = parser.parse_args()
    if not (PG_BIN / "initdb").exists() or shutil.which("runuser") is None:
        sys.exit("needs Debian's postgresql-15 (make test installs it) and runuser")
    table = make_table(args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ours: dict[str, float] = {}
        theirs: dict[str, float] = {}
        if not (args.rounds and args.lookups_only):
            with sidecar(root, table) as dsn:
                ours = measure(dsn, args, tuple(args.layouts))
            with postgres(root, table) as dsn:
                theirs = measure(dsn, args, ("t",))
        if args.rounds:
            turns = root / "turns" if theirs else root  # a second PostgreSQL beside the first
            turns.mkdir(exist_ok=True)
            with sidecar(turns, table) as mine, postgres(turns, table) as peer:
                lookups = in_turns(mine, peer, args)
            ours, theirs = ours | lookups[0], theirs | lookups[1]
    report(ours, theirs, args.rows)


if __name__ == "__main__":
    main()
