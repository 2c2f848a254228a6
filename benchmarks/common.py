"""What several benchmark scripts build alike: the orders table they read, a sidecar.yaml over
local files, and the percentiles they report."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import yaml

from tests.process import free_port


def orders_table(rows: int) -> pa.Table:
    """`rows` orders (id, amount, status, customer_id), the same rows for the same count, so
    every benchmark that reads them measures the same work."""
    rng = np.random.default_rng(7)
    return pa.table(
        {
            "id": np.arange(rows, dtype=np.int64),
            "amount": rng.random(rows) * 500,
            "status": rng.choice(np.array(["paid", "failed", "pending"]), rows),
            "customer_id": rng.integers(0, 10_000, rows),
        }
    )


def file_config(
    root: Path, datasets: list[dict[str, Any]], **runtime: dict[str, Any]
) -> tuple[Path, int]:
    """`root/sidecar.yaml` serving `datasets` (files under `root`) on a free HTTP port, with
    `runtime` settings besides (e.g. `results_cache={"enabled": False}` so that every query
    runs); its path and the HTTP port."""
    port = free_port()
    config = {
        "version": 1,
        "name": "bench",
        "runtime": {"http": {"port": port}, **runtime},
        "datasets": datasets,
    }
    path = root / "sidecar.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, port


def percentile(samples: list[float], q: float) -> float:
    """The q-th percentile (1 to 99) of `samples`, interpolated as `statistics.quantiles` does."""
    return statistics.quantiles(samples, n=100)[int(q) - 1]
