"""Where a point lookup's time goes: the engine's steps in-process, then each interface.

One 1M-row table `t (id int8, val text, amount float8)`, sorted by id, as a Parquet file
(128k-row row groups) and as a DuckDB-accelerated copy `ta` with `primary_key: id`. For
`SELECT id, val, amount FROM <table> WHERE id = $1` with a random id:

- **in-process**, each step of the cold path timed on its own: the guard's sqlglot parse, the
  guard's check, binding the parameter, planning (sqlglot qualification and pushdown analysis),
  DataFusion planning, the scan (pulling the batches), the pg text encoding; then the path as
  the engine serves a repeated statement (`engine.query` plus its batches), plan cache and all;
- **end to end** from a real `sidecar run`: HTTP (`POST /v1/sql` with JSON parameters, one
  keep-alive connection), Postgres wire (psycopg, extended protocol) and Flight SQL (ADBC,
  a prepared statement executed with new parameters), one client at a time. What an interface
  adds over the engine ("wire") is its end-to-end p50 less the engine's.

Medians of --lookups runs after warm-ups; the steps of one lookup are timed back to back, so
noise on this shared machine shifts them together.

    python benchmarks/latency.py [--rows 1000000] [--lookups 300]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import file_config
from policies.access import unrestricted
from policies.guard import check, parse
from sidecar.config import load_config
from sidecar.engine import Engine
from sidecar.engine.executor import QueryResult
from sidecar.engine.params import bind
from sidecar.servers.pgwire.codec import RowEncoder
from tests.process import SidecarProcess

LOOKUP = "SELECT id, val, amount FROM {table} WHERE id = $1"
TABLES = ("t", "ta")
STEPS = ("parse", "guard", "bind", "plan", "datafusion", "scan", "encode")
INTERFACES = ("http", "pg", "flight")
WARMUP = 20


def write_data(root: Path, rows: int) -> tuple[Path, int]:
    rng = np.random.default_rng(1)
    table = pa.table(
        {
            "id": np.arange(rows, dtype=np.int64),
            "val": pa.array([f"v{i % 1000}" for i in range(rows)]),
            "amount": rng.random(rows) * 100,
        }
    )
    pq.write_table(table, root / "t.parquet", row_group_size=128 * 1024)
    return file_config(
        root,
        [
            {"from": "file:t.parquet", "name": "t"},
            {"from": "file:t.parquet", "name": "ta", "acceleration": {"primary_key": "id"}},
        ],
        results_cache={"enabled": False},
    )


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def in_process(engine: Engine, keys: list[int]) -> dict[str, dict[str, float]]:
    """CPU milliseconds (all of the process's threads) of each step of the cold path, and of
    the path as the engine serves a statement it has seen before: the two tables and the two
    ways interleaved, so that the machine's load shifts them together."""
    times: dict[str, dict[str, list[float]]] = {
        table: {step: [] for step in (*STEPS, "served")} for table in TABLES
    }
    for key in keys:
        for table in TABLES:
            for step, spent in cold_steps(engine, table, key).items():
                times[table][step].append(spent)
            times[table]["served"].append(served(engine, table, key))
    return {
        table: {step: median_ms(samples) for step, samples in steps.items()}
        for table, steps in times.items()
    }


def cold_steps(engine: Engine, table: str, key: int) -> dict[str, float]:
    """Each step of planning and running the lookup from scratch, as the first time."""
    sql = LOOKUP.format(table=table)
    marks = [time.process_time()]
    tree = parse(sql)
    marks.append(time.process_time())
    statement = check(sql, tree)
    marks.append(time.process_time())
    statement = bind(statement, [key])
    marks.append(time.process_time())
    plan = engine.planner.plan(statement, sql, unrestricted())
    marks.append(time.process_time())
    result = QueryResult(plan, engine.sessions)
    schema = result.schema  # DataFusion types the result
    marks.append(time.process_time())
    batches = list(result)
    marks.append(time.process_time())
    encoder = RowEncoder(schema, [0])
    chunks = [chunk for batch in batches for chunk in encoder.encode(batch)]
    marks.append(time.process_time())
    assert sum(batch.num_rows for batch in batches) == 1 and chunks
    return {step: end - start for step, start, end in zip(STEPS, marks, marks[1:], strict=False)}


def served(engine: Engine, table: str, key: int) -> float:
    """The lookup as the engine serves a statement it has seen before."""
    started = time.process_time()
    result = engine.query(LOOKUP.format(table=table), [key])
    rows = sum(batch.num_rows for batch in result)
    assert rows == 1
    return time.process_time() - started


class Interfaces:
    """One client per interface, kept open across lookups, as an agent keeps its connection."""

    def __init__(self, process: SidecarProcess, url: str) -> None:
        import adbc_driver_flightsql.dbapi as flightsql
        import psycopg

        self.http = httpx.Client(base_url=url)
        dsn = f"host=127.0.0.1 port={process.pg_port} user=bench dbname=bench"
        self.pg = psycopg.connect(dsn, autocommit=True)
        self.flight = flightsql.connect(process.flight_url)
        self.cursor = self.flight.cursor()

    def lookup(self, interface: str, table: str, key: int) -> float:
        """Wall seconds for one lookup over `interface`."""
        sql = LOOKUP.format(table=table)
        started = time.perf_counter()
        if interface == "http":
            answer = self.http.post("/v1/sql", json={"sql": sql, "parameters": [key]})
            assert answer.status_code == 200 and len(answer.json()) == 1, answer.text
        elif interface == "pg":
            assert len(self.pg.execute(sql.replace("$1", "%s"), [key]).fetchall()) == 1
        else:
            self.cursor.execute(sql, parameters=[key])
            assert self.cursor.fetch_arrow_table().num_rows == 1
        return time.perf_counter() - started

    def close(self) -> None:
        self.cursor.close()
        self.flight.close()
        self.pg.close()
        self.http.close()


def end_to_end(process: SidecarProcess, url: str, keys: list[int]) -> dict[str, float]:
    """Wall-clock p50 per interface and table, the six interleaved key by key."""
    clients = Interfaces(process, url)
    samples: dict[tuple[str, str], list[float]] = {}
    try:
        for index, key in enumerate(keys):
            for interface in INTERFACES:
                for table in TABLES:
                    spent = clients.lookup(interface, table, key)
                    if index >= WARMUP:
                        samples.setdefault((interface, table), []).append(spent)
    finally:
        clients.close()
    return {f"{i}/{t}": median_ms(s) for (i, t), s in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=300)
    args = parser.parse_args()
    rng = random.Random(5)
    keys = [rng.randrange(args.rows) for _ in range(args.lookups + WARMUP)]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        config, port = write_data(root, args.rows)
        engine = Engine(load_config(config))
        engine.load()
        for key in keys[:WARMUP]:
            for table in TABLES:
                served(engine, table, key)
        steps = in_process(engine, keys[WARMUP:])
        engine.close()
        process = SidecarProcess(config)
        try:
            url = process.start(port)
            wire = end_to_end(process, url, keys)
        finally:
            process.stop()
    print(f"\n{args.rows:,} rows, point lookup by id, medians of {args.lookups}\n")
    print("| step (CPU ms) | " + " | ".join(f"`{table}`" for table in TABLES) + " |")
    print("|---|" + "---|" * len(TABLES))
    for step in STEPS:
        print(f"| {step} | " + " | ".join(f"{steps[t][step]:.3f}" for t in TABLES) + " |")
    total = {t: sum(steps[t][step] for step in STEPS) for t in TABLES}
    print("| **cold path, sum** | " + " | ".join(f"{total[t]:.3f}" for t in TABLES) + " |")
    print("| engine, repeated statement | "
          + " | ".join(f"{steps[t]['served']:.3f}" for t in TABLES) + " |")  # fmt: skip
    print("\n| end to end (wall ms) | " + " | ".join(f"`{table}`" for table in TABLES) + " |")
    print("|---|" + "---|" * len(TABLES))
    for interface in INTERFACES:
        cells = [f"{wire[f'{interface}/{t}']:.3f}" for t in TABLES]
        print(f"| {interface} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
