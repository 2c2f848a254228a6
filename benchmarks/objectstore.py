"""Object storage benchmark: a 1M-row Parquet dataset on S3 (moto's server, on this machine)
against the same file on local disk, and a partition-pruned query against an unpruned one.

In one run: the same queries through two engines, `file:orders.parquet` and
`s3://lake/orders.parquet`, then one hive-partitioned copy (`s3://lake/by_day/day=…/`, 30
partitions) queried for one day and for all of them. Each query runs `--repeats` times; the
median is reported, with the requests moto served for one run (its access log). The results
cache is off, so every query reads. moto is a Python server on the same 2 cores as the
sidecar: it is far slower per request than S3, so the S3 figures are a bound on the sidecar's
own overhead plus a slow local store, not a prediction of S3 latency.

    python benchmarks/objectstore.py [--rows 1000000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pyarrow as pa
import pyarrow.parquet as pq

from sidecar.config import parse_config
from sidecar.engine import Engine
from tests.peers.objectstores import MotoS3, running_moto

DAYS = 30
FIRST_DAY = dt.date(2026, 3, 1)
QUERIES = {
    "aggregate (full scan)": "SELECT status, count(*) AS n, sum(amount) AS total FROM {t} "
    "GROUP BY status ORDER BY status",
    "range on id (row-group statistics)": "SELECT count(*) AS n FROM {t} "
    "WHERE id BETWEEN 500000 AND 500999",
    "first 10 rows": "SELECT * FROM {t} LIMIT 10",
}
PRUNED = "SELECT count(*) AS n, sum(amount) AS total FROM by_day WHERE day = '2026-03-14'"
UNPRUNED = "SELECT count(*) AS n, sum(amount) AS total FROM by_day"
SAME_FILTER_ONE_FILE = (
    "SELECT count(*) AS n, sum(amount) AS total FROM s3_orders WHERE day = '2026-03-14'"
)


def orders(rows: int) -> pa.Table:
    """Days cycle through the rows, so one file's row groups all span every day and only
    partitions can skip a day."""
    ids = pa.array(range(rows), pa.int64())
    days = [FIRST_DAY + dt.timedelta(days=i % DAYS) for i in range(rows)]
    return pa.table(
        {
            "id": ids,
            "customer_id": pa.array([i % 10_000 for i in range(rows)], pa.int64()),
            "status": pa.array([("paid", "failed", "pending")[i % 3] for i in range(rows)]),
            "amount": pa.array([(i % 1000) / 10 for i in range(rows)]),
            "day": pa.array(days, pa.date32()),
        }
    )


def upload(moto: MotoS3, root: Path, table: pa.Table) -> None:
    moto.bucket("lake")
    pq.write_table(table, root / "orders.parquet", row_group_size=128_000)
    moto.put("lake/orders.parquet", (root / "orders.parquet").read_bytes())
    days = table.column("day")
    for offset in range(DAYS):
        day = FIRST_DAY + dt.timedelta(days=offset)
        part = table.filter(pa.compute.equal(days, pa.scalar(day, pa.date32()))).drop(["day"])
        buffer = io.BytesIO()
        pq.write_table(part, buffer, row_group_size=128_000)
        moto.put(f"lake/by_day/day={day.isoformat()}/part-0.parquet", buffer.getvalue())


def engine(moto: MotoS3, root: Path) -> Engine:
    params = moto.params()
    config = parse_config(
        {
            "runtime": {"results_cache": {"enabled": False}},
            "datasets": [
                {"from": "file:orders.parquet", "name": "local_orders"},
                {"from": "s3://lake/orders.parquet", "name": "s3_orders", "params": params},
                {"from": "s3://lake/by_day/", "name": "by_day", "params": params},
            ],
        },
        root,
    )
    built = Engine(config)
    built.load()
    return built


def served(log: Path) -> int:
    """Requests moto has answered so far (one access-log line each)."""
    return sum(1 for line in log.read_text(errors="replace").splitlines() if '" 2' in line)


def timed(built: Engine, sql: str, repeats: int, log: Path) -> tuple[float, int, Any]:
    """Median seconds, requests of the last run, and the answer's first row (after one
    untimed run: the listing and the engine's plan caches are warm, as in an agent's loop)."""
    for _ in built.query(sql, []):
        pass
    samples, requests, first = [], 0, None
    for _ in range(repeats):
        before = served(log)
        started = time.perf_counter()
        result = built.query(sql, [])
        table = pa.Table.from_batches(list(result), schema=result.schema)
        samples.append(time.perf_counter() - started)
        requests = served(log) - before
        first = table.slice(0, 1).to_pylist()
    return statistics.median(samples), requests, first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "moto").mkdir()
        with running_moto(root / "moto", record=False) as moto:
            log = root / "moto" / "server.log"
            started = time.perf_counter()
            upload(moto, root, orders(args.rows))
            size = (root / "orders.parquet").stat().st_size
            print(f"{args.rows:,} rows, {size / 2**20:.1f} MiB of Parquet, uploaded in "
                  f"{time.perf_counter() - started:.1f}s")  # fmt: skip
            built = engine(moto, root)
            try:
                print("\n| query | local file | S3 (moto) | ratio | requests to S3 |")
                print("|---|---|---|---|---|")
                for name, sql in QUERIES.items():
                    local, _, want = timed(built, sql.format(t="local_orders"), args.repeats, log)
                    remote, requests, got = timed(
                        built, sql.format(t="s3_orders"), args.repeats, log
                    )
                    assert got == want or name.startswith("first"), (got, want)
                    print(f"| {name} | {local * 1000:,.0f} ms | {remote * 1000:,.0f} ms | "
                          f"{remote / local:.1f}x | {requests} |")  # fmt: skip
                print("\n| query on S3 | median | requests | answer |")
                print("|---|---|---|---|")
                for name, sql in (
                    ("one day, partitioned (1 of 30 objects)", PRUNED),
                    ("all days, partitioned (30 objects)", UNPRUNED),
                    ("one day, one unpartitioned file", SAME_FILTER_ONE_FILE),
                ):
                    seconds, requests, first = timed(built, sql, args.repeats, log)
                    print(f"| {name} | {seconds * 1000:,.0f} ms | {requests} | {first} |")
                print("\n" + built.explain(PRUNED).split("\n\n")[0])
            finally:
                built.close()


if __name__ == "__main__":
    main()
