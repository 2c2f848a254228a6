"""The query path's cost: the same statements straight through the engine and through the
gateway every interface uses (limits checked, rows and bytes counted, an audit line written).

In one process, on a 1M-row Parquet file, with the results cache off so every statement runs:
the p50 of a point query (interleaved, so both sides see the same machine) and the CPU time of
a 1M-row scan (best of N; CPU time, all threads, because wall time on a shared 2-core machine
swings by 20% between runs). The gateway side runs as an identity whose policy sets every
limit, and writes its audit log to a file.

    python benchmarks/firewall.py [--rows 1000000] [--queries 300]
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import orders_table
from benchmarks.timing import arguments, best_scan, point_p50
from policies.identity import Identity
from sidecar.config import parse_config
from sidecar.engine import Engine
from sidecar.gateway import AuditLog, Gateway, QueryRequest
from sidecar.metrics import Metrics

POINT = "SELECT id, amount, status FROM orders WHERE id = 4242"
SCAN = "SELECT * FROM orders"
AGENT = Identity("agent")
LIMITS = {
    "max_rows": 10_000_000,
    "max_bytes": "1GiB",
    "query_timeout": "60s",
    "max_concurrent": 64,
    "rate": "1000000/s",
}


def direct(engine: Engine) -> Callable[[str], int]:
    def run(sql: str) -> int:
        return sum(batch.num_rows for batch in engine.query(sql, (), AGENT))

    return run


def through(gateway: Gateway) -> Callable[[str], int]:
    def run(sql: str) -> int:
        statement = gateway.statement(QueryRequest(sql, AGENT, "bench", client="bench"))
        return sum(batch.num_rows for batch in statement.open())

    return run


def main() -> None:
    args = arguments(__doc__.splitlines()[0])
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        pq.write_table(orders_table(args.rows), root / "orders.parquet", row_group_size=128 << 10)
        config = parse_config(
            {
                "runtime": {"results_cache": {"enabled": False}},
                "datasets": [{"from": "file:orders.parquet", "name": "orders"}],
                "policies": [{"identities": ["*"], "datasets": ["*"], "limits": LIMITS}],
                "audit": {"path": "audit.jsonl"},
            },
            root,
        )
        engine = Engine(config)
        engine.load()
        gateway = Gateway(engine, Metrics(engine), AuditLog(config.audit, root))
        sides = {"engine": direct(engine), "gateway": through(gateway)}
        p50 = point_p50(sides, POINT, args.queries)
        best = best_scan(sides, SCAN, args.rows, args.scans)
        gateway.close()
        lines = sum(1 for _ in (root / "audit.jsonl").open())
        engine.close()
    overhead = p50["gateway"] / p50["engine"] - 1
    print(
        f"point query p50: engine {p50['engine']:.2f} ms, gateway {p50['gateway']:.2f} ms, "
        f"overhead {overhead:+.1%}"
    )
    rate = {name: args.rows / seconds / 1e6 for name, seconds in best.items()}
    overhead = best["gateway"] / best["engine"] - 1
    print(
        f"{args.rows:,}-row scan, CPU time: engine {best['engine'] * 1000:.0f} ms "
        f"({rate['engine']:.1f} M rows per CPU-second), gateway {best['gateway'] * 1000:.0f} ms "
        f"({rate['gateway']:.1f} M), overhead {overhead:+.1%}"
    )
    print(f"audit lines written: {lines}")


if __name__ == "__main__":
    main()
