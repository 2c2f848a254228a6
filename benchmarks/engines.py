"""The acceleration engines side by side: DuckDB, Arrow and SQLite copies of one working set.

In one run, every engine (and each of its modes) copies the same 1M-row Parquet file (`orders`:
id primary key, customer_id, status, amount decimal(10,2), created_at timestamp) and answers
the same queries through the engine, the results cache off so every query really runs:

- point lookup by primary key (`WHERE id = $1`, random ids): p50 and p99, end to end, and the
  copy's own scan of it (the connector without the engine's parse and plan);
- a 10,000-row range scan (`WHERE id BETWEEN $1 AND $1 + 9999`), p50;
- a GROUP BY over all rows, p50;
- a full refresh (reading the Parquet file and building the copy) and the copy's size: the file
  for mode: file, the memory it holds for mode: memory.

    python benchmarks/engines.py [--rows 1000000] [--lookups 1000]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from sqlglot import exp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from accelerators.arrow import ArrowCopy
from accelerators.refresh import Accelerated, LocalCopy
from accelerators.sqlite import SqliteCopy
from connectors.base import ScanRequest
from sidecar.config import parse_config
from sidecar.engine import Engine

LOOKUP = "SELECT * FROM orders WHERE id = $1"
RANGE = "SELECT * FROM orders WHERE id BETWEEN $1 AND $2"
GROUP = "SELECT status, count(*) AS n, sum(amount) AS total FROM orders GROUP BY status"
RANGE_ROWS = 10_000
# (engine, mode, acceleration settings): the same key everywhere an engine has one.
COPIES: list[tuple[str, str, dict[str, Any]]] = [
    ("duckdb", "memory", {"primary_key": "id"}),
    ("duckdb", "file", {"primary_key": "id"}),
    ("arrow", "memory", {}),
    ("sqlite", "memory", {"primary_key": "id"}),
    ("sqlite", "file", {"primary_key": "id"}),
]


def write_orders(path: Path, rows: int) -> None:
    generator = np.random.default_rng(7)
    ids = np.arange(1, rows + 1, dtype=np.int64)
    cents = generator.integers(0, 1_000_000, rows).tolist()
    table = pa.table(
        {
            "id": ids,
            "customer_id": generator.integers(0, 10_000, rows),
            "status": pa.array(np.array(["paid", "failed", "pending"])[ids % 3]),
            "amount": pa.array([f"{c // 100}.{c % 100:02d}" for c in cents]).cast(
                pa.decimal128(10, 2)
            ),
            "created_at": pa.array(1_767_225_600_000_000 + ids * 1_000_000).cast(
                pa.timestamp("us")
            ),
        }
    )
    pq.write_table(table, path, row_group_size=128 * 1024)


def build(root: Path, engine: str, mode: str, settings: dict[str, Any]) -> Engine:
    acceleration = {"engine": engine, "mode": mode, **settings}
    config = parse_config(
        {
            "runtime": {"results_cache": {"enabled": False}},
            "datasets": [
                {"from": "file:orders.parquet", "name": "orders", "acceleration": acceleration}
            ],
        },
        root,
    )
    built = Engine(config)
    built.load()
    entry = built.catalog.datasets["orders"]
    assert built.ready, entry.last_error
    return built


def drain(engine: Engine, sql: str, parameters: list[Any]) -> int:
    return sum(batch.num_rows for batch in engine.query(sql, parameters))


def size(copy: LocalCopy) -> tuple[int, str]:
    """Bytes the copy takes, and where: its file (the WAL checkpointed in), else memory."""
    if isinstance(copy, SqliteCopy):
        assert copy.database is not None
        writer = copy.database.writer
        page = writer.execute("PRAGMA page_size").fetchone()[0]
        if copy.path is not None:
            writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            free = writer.execute("PRAGMA freelist_count").fetchone()[0] * page
            return copy.path.stat().st_size, f"file, {free / 1e6:.0f} MB of it free pages"
        return writer.execute("PRAGMA page_count").fetchone()[0] * page, "memory"
    if isinstance(copy, ArrowCopy):
        assert copy.table is not None
        return copy.table.nbytes, "memory"
    assert isinstance(copy, Accelerated)
    if copy.settings.mode == "file":
        cursor = copy.store.cursor()
        name, path = cursor.execute(
            "SELECT database_name, path FROM duckdb_databases() WHERE path IS NOT NULL"
        ).fetchone()
        cursor.execute(f'CHECKPOINT "{name}"')
        return Path(path).stat().st_size, "file"
    used = copy.store.cursor().execute("SELECT sum(memory_usage_bytes) FROM duckdb_memory()")
    return int(used.fetchone()[0]), "memory"


class Copy:
    """One engine's copy of the working set, and its samples."""

    def __init__(self, root: Path, engine: str, mode: str, settings: dict[str, Any]) -> None:
        self.name = f"{engine} ({mode})"
        self.engine = build(root, engine, mode, settings)
        entry = self.engine.catalog.datasets["orders"]
        assert entry.copy is not None
        self.copy = entry.copy
        self.connector, _ = entry.require()
        self.samples: dict[str, list[float]] = {}

    def time(self, measure: str, run: Callable[[], object]) -> None:
        started = time.perf_counter()
        run()
        self.samples.setdefault(measure, []).append(time.perf_counter() - started)

    def query(self, sql: str, parameters: list[Any]) -> int:
        return sum(batch.num_rows for batch in self.engine.query(sql, parameters))

    def scan(self, key: int) -> int:
        """The copy's own answer to `id = key`, without the engine's parse and plan."""
        condition = exp.column("id", quoted=True).eq(exp.Literal.number(key))
        assert self.connector.accepts_filter(condition)
        return sum(b.num_rows for b in self.connector.scan(ScanRequest(filters=[condition])))

    def refresh(self) -> None:
        self.engine.refresh("orders")
        self.samples.setdefault("refresh", []).append(self.copy.status.last_refresh_seconds or 0)


def measure(copies: list[Copy], args: Any) -> None:
    """Each sample is taken on every copy in turn, so the machine's noise falls on all alike."""
    rng = random.Random(11)
    for _ in range(args.refreshes):
        for copy in copies:
            copy.refresh()
    keys = [rng.randrange(1, args.rows + 1) for _ in range(args.lookups)]
    for key in keys[:50]:  # warm-up
        for copy in copies:
            assert copy.query(LOOKUP, [key]) == 1 and copy.scan(key) == 1
    for key in keys:
        for copy in copies:
            copy.time("lookup", lambda copy=copy, key=key: copy.query(LOOKUP, [key]))
            copy.time("scan", lambda copy=copy, key=key: copy.scan(key))
    for _ in range(args.ranges):
        low = rng.randrange(1, args.rows - RANGE_ROWS)
        bounds = [low, low + RANGE_ROWS - 1]
        for copy in copies:
            copy.time("range", lambda copy=copy, bounds=bounds: copy.query(RANGE, bounds))
    for _ in range(args.groups):
        for copy in copies:
            copy.time("group", lambda copy=copy: copy.query(GROUP, []))


def row(copy: Copy) -> str:
    samples = copy.samples
    held, where = size(copy.copy)
    return (
        f"| {copy.name} | {statistics.median(samples['lookup']) * 1e3:.2f} ms | "
        f"{quantile(samples['lookup'], 0.99) * 1e3:.2f} ms | "
        f"{statistics.median(samples['scan']) * 1e3:.2f} ms | "
        f"{statistics.median(samples['range']) * 1e3:.1f} ms | "
        f"{statistics.median(samples['group']) * 1e3:.0f} ms | "
        f"{statistics.median(samples['refresh']):.2f} s | {held / 1e6:.0f} MB ({where}) |"
    )


def quantile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=1000)
    parser.add_argument("--ranges", type=int, default=50)
    parser.add_argument("--groups", type=int, default=5)
    parser.add_argument("--refreshes", type=int, default=2)
    parser.add_argument("--only", help="engine names, comma separated")
    args = parser.parse_args()
    wanted = set(args.only.split(",")) if args.only else None
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_orders(root / "orders.parquet", args.rows)
        copies = []
        for engine_name, mode, settings in COPIES:
            if not wanted or engine_name in wanted:
                print(f"loading {engine_name} ({mode})", file=sys.stderr, flush=True)
                copies.append(Copy(root, engine_name, mode, settings))
        for copy in copies:
            assert copy.query(RANGE, [1, RANGE_ROWS]) == RANGE_ROWS
            assert copy.query(GROUP, []) == 3
        measure(copies, args)
        print(
            "| copy | lookup p50 | lookup p99 | the copy's own lookup p50 | 10k-row range p50 | "
            "GROUP BY all rows p50 | full refresh | size |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for copy in copies:
            print(row(copy))
            copy.engine.close()


if __name__ == "__main__":
    main()
