"""Engines for tests: built from a config over local files, loaded, and read back as rows."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from policies.identity import ANONYMOUS_IDENTITY, Identity
from sidecar.config import parse_config
from sidecar.engine import Engine


def loaded_engine(data: Mapping[str, Any], root: Path) -> Engine:
    """The engine of config `data` (paths relative to `root`), every dataset loaded."""
    engine = Engine(parse_config(data, root))
    engine.load()
    return engine


def numbers_and_copy(root: Path, count: int, **runtime: Any) -> Iterator[Engine]:
    """A fixture's engine over `t` (x = 0 .. count-1 in Parquet) and `copy`, the same file
    accelerated in DuckDB, so a test covers both engines; closed when the fixture ends."""
    pq.write_table(pa.table({"x": list(range(count))}), root / "t.parquet")
    datasets = [
        {"from": "file:t.parquet", "name": "t"},
        {"from": "file:t.parquet", "name": "copy", "acceleration": {"engine": "duckdb"}},
    ]
    engine = loaded_engine({"runtime": runtime, "datasets": datasets}, root)
    yield engine
    engine.close()


def rows(engine: Engine, sql: str, identity: Identity = ANONYMOUS_IDENTITY) -> list[dict[str, Any]]:
    """The whole answer to `sql` as `identity`, one dict a row."""
    result = engine.query(sql, (), identity)
    return pa.Table.from_batches(list(result), schema=result.schema).to_pylist()
