"""Checked integer arithmetic: what failing on overflow costs against DataFusion's wrapping.

The sidecar writes integer `+`, `-`, `*` as Arrow's checked kernels and a BIGINT SUM as the sums
of its 32-bit halves (sidecar/engine/checked.py). The peer is DataFusion alone, given the same
text over the same Parquet file, wrapping on overflow. Per query, the median CPU seconds of
five runs on each side and their ratio; `sum(a * 1.5)` (float arithmetic, unchecked on both
sides) is the control: its ratio is the sidecar's path alone.

    python benchmarks/checked_arithmetic.py [rows]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from datafusion import SessionContext

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sidecar.config import parse_config
from sidecar.engine import Engine

QUERIES = {
    "sum(a * 1.5) (control)": "SELECT sum(a * 1.5) AS s FROM big WHERE g >= {n}",
    "sum(a)": "SELECT sum(a) AS s FROM big WHERE g >= {n}",
    "sum(a + b)": "SELECT sum(a + b) AS s FROM big WHERE g >= {n}",
    "count where a * 2 > b": "SELECT count(*) AS n FROM big WHERE g >= {n} AND a * 2 > b",
    "sum(a) by 100 groups": "SELECT g, sum(a) AS s FROM big WHERE g >= {n} GROUP BY g",
}
RUNS = 5


def cpu(run: Callable[[str], object], template: str) -> float:
    """The median CPU seconds of RUNS runs, each with another literal (no cached answer)."""
    times = []
    for run_number in range(RUNS):
        started = time.process_time()
        run(template.format(n=-1 - run_number))
        times.append(time.process_time() - started)
    return statistics.median(times)


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 5_000_000
    generator = np.random.default_rng(1)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        table = pa.table(
            {
                "a": generator.integers(-(10**9), 10**9, rows),
                "b": generator.integers(-(10**9), 10**9, rows),
                "g": generator.integers(0, 100, rows),
            }
        )
        pq.write_table(table, root / "big.parquet", row_group_size=1 << 20)
        config = {"name": "checked", "datasets": [{"from": "file:big.parquet", "name": "big"}]}
        engine = Engine(parse_config(config, root))
        engine.load()
        peer = SessionContext()
        peer.register_parquet("big", str(root / "big.parquet"))

        def sidecar(sql: str) -> None:
            for _ in engine.query(sql):
                pass

        print(f"{rows:,} rows\n\n| query | sidecar CPU s | DataFusion CPU s | ratio |")
        print("|---|---|---|---|")
        for name, template in QUERIES.items():
            ours, theirs = cpu(sidecar, template), cpu(lambda s: peer.sql(s).collect(), template)
            print(f"| {name} | {ours:.3f} | {theirs:.3f} | {ours / theirs:.2f} |", flush=True)


if __name__ == "__main__":
    main()
