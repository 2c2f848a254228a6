"""Federation benchmark: what pushdown saves a production database, and a cross-source join.

In one run, on a 1M-row MariaDB table started here (as the tests start it):
- a selective query with its filter pushed to MariaDB versus the same query written so that
  nothing can be pushed (a full fetch filtered by the engine): rows fetched from the source,
  rows matching, latency;
- a join of that table with a 10k-row Parquet file: latency and the process's peak memory,
  measured in a fresh process per query so earlier work does not hide it.

    python benchmarks/federation.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sidecar.config import parse_config
from sidecar.engine import Engine
from tests.peers.mariadb import MariaDB, running

PUSHED = "SELECT id, amount FROM orders WHERE customer_id = 4242 AND status = 'failed'"
FULL_FETCH = (
    "SELECT id, amount FROM orders "
    "WHERE CAST(customer_id AS TEXT) = '4242' AND upper(status) = 'FAILED'"
)
JOIN = (
    "SELECT c.segment, count(*) AS orders, sum(o.amount) AS total FROM orders o "
    "JOIN customers c ON o.customer_id = c.customer_id "
    "WHERE o.status = 'failed' AND o.amount > 90 GROUP BY c.segment ORDER BY c.segment"
)


def load(server: MariaDB, rows: int, root: Path) -> None:
    server.execute(
        "CREATE TABLE orders (id INT PRIMARY KEY, customer_id INT NOT NULL, "
        "status VARCHAR(16) NOT NULL, amount DECIMAL(10,2) NOT NULL, KEY (customer_id))",
        f"INSERT INTO orders SELECT seq, seq % 10000, ELT(1 + seq % 3, 'paid', 'failed', "
        f"'pending'), (seq % 1000) / 10 FROM seq_1_to_{rows}",
    )
    customers = pa.table(
        {
            "customer_id": pa.array(range(10_000), pa.int64()),
            "segment": pa.array(["vip" if i % 10 == 0 else "retail" for i in range(10_000)]),
        }
    )
    pq.write_table(customers, root / "customers.parquet")


def config(server: MariaDB, root: Path) -> dict[str, Any]:
    return {
        "runtime": {"results_cache": {"enabled": False}},
        "datasets": [
            {"from": "mysql:shop.orders", "name": "orders", "params": server.params()},
            {"from": "file:customers.parquet", "name": "customers"},
        ],
    }


def run(engine: Engine, sql: str) -> tuple[float, int, int]:
    """Seconds, rows returned, rows the scans fetched from their sources."""
    started = time.perf_counter()
    result = engine.query(sql)
    returned = sum(batch.num_rows for batch in result)
    seconds = time.perf_counter() - started
    fetched = sum(scan.stats.rows for scan in result.scans.values())
    return seconds, returned, fetched


def isolated(settings: dict[str, Any], root: str, sql: str, out: Any) -> None:
    """One query in a fresh process: its peak RSS is this query's, not the benchmark's."""
    engine = Engine(parse_config(settings, Path(root)))
    engine.load()
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    seconds, returned, _ = run(engine, sql)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out.send((seconds, returned, baseline / 1024, peak / 1024))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, running(Path(tmp) / "mariadb") as server:
        root = Path(tmp)
        print(f"loading {args.rows:,} rows into MariaDB")
        load(server, args.rows, root)
        settings = config(server, root)
        engine = Engine(parse_config(settings, root))
        engine.load()
        for name, sql, repeats in (("pushed", PUSHED, 20), ("full fetch", FULL_FETCH, 3)):
            samples = [run(engine, sql) for _ in range(repeats)]
            seconds = statistics.median(s[0] for s in samples)
            _, returned, fetched = samples[0]
            print(f"{name:10s} {seconds * 1e3:9.1f} ms  rows matching {returned:6d}  "
                  f"rows fetched from MariaDB {fetched:9,d}")  # fmt: skip
        print(f"cross-source join: {JOIN}")
        receiver, sender = multiprocessing.Pipe(duplex=False)
        worker = multiprocessing.get_context("spawn").Process(
            target=isolated, args=(settings, tmp, JOIN, sender)
        )
        worker.start()
        seconds, returned, baseline, peak = receiver.recv()
        worker.join()
        growth = peak - baseline
        print(f"  {seconds * 1e3:.1f} ms, {returned} rows; peak RSS {peak:.0f} MiB "
              f"({growth:+.0f} MiB over the loaded engine's {baseline:.0f} MiB)")  # fmt: skip


if __name__ == "__main__":
    main()
