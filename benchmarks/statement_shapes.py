"""Statement shapes: planning time as statements grow longer and deeper.

The sidecar's whole path (guard, bounds, planner, DataFusion) against the peer that path used to
end in: DataFusion given the same text as written, parsed with its PostgreSQL dialect (left-deep
chains, each function argument read twice). Per shape and size, the CPU seconds of one planned
and executed statement over a 1,000-row Parquet file; a growth of 2x per doubling is linear,
4x quadratic. The peer is skipped past sizes where it takes minutes.

    python benchmarks/statement_shapes.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from datafusion import SessionConfig, SessionContext

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sidecar import stacks
from sidecar.config import parse_config
from sidecar.engine import Engine

SHAPES: dict[str, tuple[Callable[[int], str], list[int], int]] = {
    # shape: (statement of size n, sizes, the largest size the peer is given)
    "OR chain (terms)": (
        lambda n: "SELECT count(*) FROM t WHERE " + " OR ".join(f"x = {i}" for i in range(n)),
        [1000, 2000, 4000],
        4000,
    ),
    "UNION ALL (branches)": (
        lambda n: " UNION ALL ".join(f"SELECT x FROM t WHERE x = {i}" for i in range(n)),
        [250, 500, 1000],
        1000,
    ),
    "nested calls (depth)": (
        lambda n: "SELECT " + "abs(" * n + "x" + ")" * n + " FROM t",
        [16, 18, 20, 40],
        20,
    ),
}


def cpu(run: Callable[[str], None], sql: str) -> float:
    started = time.process_time()
    run(sql)
    return time.process_time() - started


def main() -> None:
    stacks.enlarge(1024)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        pq.write_table(pa.table({"x": pa.array(range(1000), pa.int64())}), root / "t.parquet")
        runtime = {"max_expression_width": 10_000, "max_expression_depth": 1024}
        config = {"name": "shapes", "runtime": runtime}
        engine = Engine(
            parse_config({**config, "datasets": [{"from": "file:t.parquet", "name": "t"}]}, root)
        )
        engine.load()

        def sidecar(sql: str) -> None:
            for _ in engine.query(sql):
                pass

        def peer(sql: str) -> None:
            context = SessionContext(
                SessionConfig()
                .set("datafusion.sql_parser.dialect", "PostgreSQL")
                .set("datafusion.sql_parser.recursion_limit", "100000")
            )
            context.register_parquet("t", str(root / "t.parquet"))
            context.sql(sql).collect()

        print("| shape | size | sidecar CPU s | peer CPU s |\n|---|---|---|---|")
        for shape, (statement, sizes, peer_max) in SHAPES.items():
            for size in sizes:
                sql = statement(size)
                ours = cpu(sidecar, sql)
                theirs = f"{cpu(peer, sql):.2f}" if size <= peer_max else "(minutes)"
                print(f"| {shape} | {size:,} | {ours:.2f} | {theirs} |", flush=True)


if __name__ == "__main__":
    main()
