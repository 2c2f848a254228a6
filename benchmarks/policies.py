"""What access policies cost: the same statements on the same 1M-row Parquet file, as the same
identity, with no `policies:` block and with two policies, in one process.

- visibility: the identity's policy lists its datasets and nothing else (the catalog filter);
- masks: its policy also masks a column (replaced inside the scan, never read);
- rules: its policy masks the column and filters rows by an API key attribute
  (`tenant = {identity.tenant}`, true for every row, so every side returns the same rows and
  the filter's cost is all that differs). The filter is pushed into the Parquet scan; the mask
  replaces the column inside the scan.

A fourth side, `written`, runs without policies but writes the row filter into its queries:
what the rules side costs against it is the policy machinery itself; against `off` it is also
the filter's own work (reading the `tenant` column).

Reported: the p50 of a point query (interleaved, so every side sees the same machine) and the
CPU time of a 1M-row `SELECT *` (best of N), each as a ratio to the side without policies.
The results cache is off, so every statement runs.

    python benchmarks/policies.py [--rows 1000000] [--queries 300] [--scans 15]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import orders_table
from benchmarks.timing import Run, arguments, best_scan, point_p50
from policies.identity import Identity
from sidecar.config import parse_config
from sidecar.engine import Engine

POINT = "SELECT id, amount, status FROM orders WHERE id = 4242"
SCAN = "SELECT * FROM orders"
AGENT = Identity("agent", {"tenant": "acme"})
POLICIES: dict[str, list[dict[str, Any]] | None] = {
    "off": None,
    "visibility": [{"identities": ["agent"], "datasets": ["orders", "customers"]}],
    "masks": [
        {
            "identities": ["agent"],
            "datasets": ["orders", "customers"],
            "columns": {"orders.customer_id": "mask"},
        }
    ],
    "rules": [
        {
            "identities": ["agent"],
            "datasets": ["orders", "customers"],
            "columns": {"orders.customer_id": "mask"},
            "rows": {"orders": "tenant = {identity.tenant}"},
        }
    ],
}


def write_data(root: Path, rows: int) -> None:
    """The HTTP benchmark's orders table plus the tenant column the row filter reads."""
    table = orders_table(rows)
    table = table.append_column("tenant", pa.array(["acme"] * rows))
    pq.write_table(table, root / "orders.parquet", row_group_size=128 << 10)
    pq.write_table(pa.table({"id": pa.array(range(100), pa.int64())}), root / "customers.parquet")


def engine(root: Path, policies: list[dict[str, Any]] | None) -> Engine:
    data: dict[str, Any] = {
        "runtime": {
            "results_cache": {"enabled": False},
            "auth": {"api_keys": [{"key": "k" * 24, "identity": "agent", "attributes": {}}]},
        },
        "datasets": [
            {"from": "file:orders.parquet", "name": "orders"},
            {"from": "file:customers.parquet", "name": "customers"},
        ],
    }
    data["runtime"]["auth"]["api_keys"][0]["attributes"] = dict(AGENT.attributes)
    if policies is not None:
        data["policies"] = policies
    found = Engine(parse_config(data, root))
    found.load()
    return found


def runner(found: Engine, where: str = "") -> Run:
    """Runs a statement as the agent, `where` added to its filter (the `written` side)."""

    def run(sql: str) -> int:
        if where:
            sql += f" AND {where}" if " WHERE " in sql else f" WHERE {where}"
        return sum(batch.num_rows for batch in found.query(sql, (), AGENT))

    return run


def main() -> None:
    args = arguments(__doc__.splitlines()[0])
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        write_data(root, args.rows)
        engines = {name: engine(root, policies) for name, policies in POLICIES.items()}
        sides = {name: runner(found) for name, found in engines.items()}
        sides["written"] = runner(engines["off"], "tenant = 'acme'")
        assert all(run(POINT) == 1 for run in sides.values())
        p50 = point_p50(sides, POINT, args.queries)
        best = best_scan(sides, SCAN, args.rows, args.scans)
        for found in engines.values():
            found.close()
    for name in sides:
        print(
            f"{name:>10}: point query p50 {p50[name]:.2f} ms ({p50[name] / p50['off']:.3f}x), "
            f"{args.rows:,}-row scan {best[name] * 1000:.0f} CPU ms "
            f"({best[name] / best['off']:.3f}x)"
        )
    print(
        f"rules against the filter written by hand: point p50 {p50['rules'] / p50['written']:.3f}x,"
        f" scan {best['rules'] / best['written']:.3f}x the CPU time"
    )


if __name__ == "__main__":
    main()
