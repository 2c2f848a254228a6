"""Acceleration benchmark: agent queries on a local DuckDB copy versus federated to MariaDB.

In one run, on a 1M-row MariaDB table (started here, as the tests do): the latency of an
aggregate and of a point lookup with the dataset accelerated and federated, and how many
statements MariaDB received (its Questions counter) while an agent loop ran 1,000 queries each
way. The results cache is off on both sides, so every query really runs.

    python benchmarks/acceleration.py [--rows 1000000] [--queries 1000]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.timing import wall_times
from sidecar.config import parse_config
from sidecar.engine import Engine
from tests.peers.mariadb import MariaDB, running

AGGREGATE = "SELECT status, count(*) AS n, avg(amount) AS mean FROM orders GROUP BY status"
LOOKUP = "SELECT * FROM orders WHERE id = $1"
LOOP = (
    "SELECT count(*) AS n, sum(amount) AS total FROM orders WHERE customer_id = $1",
    LOOKUP,
)


def load(server: MariaDB, rows: int) -> None:
    server.execute(
        "CREATE TABLE orders (id INT PRIMARY KEY, customer_id INT NOT NULL, "
        "status VARCHAR(16) NOT NULL, amount DECIMAL(10,2) NOT NULL, KEY (customer_id))",
        f"INSERT INTO orders SELECT seq, seq % 10000, ELT(1 + seq % 3, 'paid', 'failed', "
        f"'pending'), (seq % 1000) / 10 FROM seq_1_to_{rows}",
    )


def engine(server: MariaDB, root: Path, accelerated: bool) -> Engine:
    dataset: dict[str, Any] = {
        "from": "mysql:shop.orders",
        "name": "orders",
        "params": server.params(),
    }
    if accelerated:
        dataset["acceleration"] = {"indexes": {"id": "unique", "customer_id": "enabled"}}
    config = parse_config(
        {"runtime": {"results_cache": {"enabled": False}}, "datasets": [dataset]}, root
    )
    started = time.perf_counter()
    built = Engine(config)
    built.load()
    print(f"  {'accelerated' if accelerated else 'federated'} engine ready in "
          f"{time.perf_counter() - started:.1f}s")  # fmt: skip
    return built


def timed(engine: Engine, sql: str, params: list[Any], repeats: int) -> list[float]:
    return wall_times(lambda: sum(1 for _ in engine.query(sql, params)), repeats)


def questions(server: MariaDB) -> int:
    return int(server.fetch("SHOW GLOBAL STATUS LIKE 'Questions'")[0][1])


def agent_loop(engine: Engine, server: MariaDB, queries: int, rows: int) -> tuple[int, float]:
    rng = random.Random(7)
    before, started = questions(server), time.perf_counter()
    for i in range(queries):
        parameter = rng.randrange(10_000) if i % 2 == 0 else rng.randrange(1, rows)
        for _ in engine.query(LOOP[i % 2], [parameter]):
            pass
    return questions(server) - before - 1, time.perf_counter() - started


def ms(samples: list[float]) -> str:
    return f"p50 {statistics.median(samples) * 1e3:8.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, running(Path(tmp) / "mariadb") as server:
        print(f"loading {args.rows:,} rows into MariaDB")
        load(server, args.rows)
        federated = engine(server, Path(tmp), accelerated=False)
        accelerated = engine(server, Path(tmp), accelerated=True)
        lookups = [random.Random(1).randrange(1, args.rows)]
        print(f"aggregate: {AGGREGATE}")
        slow, fast = timed(federated, AGGREGATE, [], 3), timed(accelerated, AGGREGATE, [], 20)
        print(f"  federated   {ms(slow)}\n  accelerated {ms(fast)}"
              f"   ({statistics.median(slow) / statistics.median(fast):.0f}x faster)")  # fmt: skip
        for name, built in (("federated", federated), ("accelerated", accelerated)):
            plan = built.explain(AGGREGATE).split("logical_plan:")[0].strip()
            print(f"  {name} plan: " + " ".join(plan.split()))
        print(f"point lookup: {LOOKUP}")
        slow = timed(federated, LOOKUP, lookups, 50)
        fast = timed(accelerated, LOOKUP, lookups, 50)
        print(f"  federated   {ms(slow)}\n  accelerated {ms(fast)}"
              f"   ({statistics.median(slow) / statistics.median(fast):.1f}x faster)")  # fmt: skip
        print(f"agent loop: {args.queries} queries (half lookups, half per-customer aggregates)")
        for name, built in (("federated", federated), ("accelerated", accelerated)):
            received, seconds = agent_loop(built, server, args.queries, args.rows)
            print(f"  {name:11s} MariaDB received {received:6d} statements; "
                  f"loop took {seconds:6.2f}s")  # fmt: skip


if __name__ == "__main__":
    main()
