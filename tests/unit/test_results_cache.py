"""The results cache: hits, misses, invalidation by refresh, TTL, identity and size limits."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from policies.identity import Identity
from sidecar.config import parse_config
from sidecar.engine import Engine
from sidecar.engine.cache import BYPASS, HIT, MISS


def make_engine(root: Path, cache: dict[str, Any], accelerated: bool = False) -> Engine:
    dataset: dict[str, Any] = {"from": "file:t.parquet", "name": "t"}
    if accelerated:
        dataset["acceleration"] = {}
    config = parse_config({"runtime": {"results_cache": cache}, "datasets": [dataset]}, root)
    engine = Engine(config)
    engine.load()
    return engine


def run(engine: Engine, sql: str, identity: str = "agent") -> tuple[str, list[dict[str, Any]]]:
    result = engine.query(sql, identity=Identity(identity))
    rows = pa.Table.from_batches(list(result), schema=result.schema).to_pylist()
    return result.cache_status, rows


@pytest.fixture
def root(tmp_path: Path) -> Path:
    pq.write_table(pa.table({"a": list(range(100))}), tmp_path / "t.parquet")
    return tmp_path


def test_same_question_hits_whatever_its_spelling(root: Path) -> None:
    engine = make_engine(root, {"item_ttl": "1m"})
    assert run(engine, "SELECT count(*) AS n FROM t") == (MISS, [{"n": 100}])
    assert run(engine, "select   COUNT(*) as n from PUBLIC.T") == (HIT, [{"n": 100}])
    assert run(engine, "SELECT count(*) AS n FROM t", identity="other")[0] == MISS


def test_a_refresh_invalidates_what_read_the_dataset(root: Path) -> None:
    engine = make_engine(root, {"item_ttl": "1h"}, accelerated=True)
    assert run(engine, "SELECT max(a) AS m FROM t") == (MISS, [{"m": 99}])
    assert run(engine, "SELECT max(a) AS m FROM t")[0] == HIT
    pq.write_table(pa.table({"a": list(range(200))}), root / "t.parquet")
    engine.refresh("t")
    assert run(engine, "SELECT max(a) AS m FROM t") == (MISS, [{"m": 199}])


def test_entries_expire(root: Path) -> None:
    engine = make_engine(root, {"item_ttl": "100ms"})
    run(engine, "SELECT 1 AS x FROM t LIMIT 1")
    time.sleep(0.2)
    assert run(engine, "SELECT 1 AS x FROM t LIMIT 1")[0] == MISS


def test_partial_reads_and_system_tables_are_not_cached(root: Path) -> None:
    engine = make_engine(root, {"item_ttl": "1m"})
    result = engine.query("SELECT a FROM t")
    next(iter(result))
    assert run(engine, "SELECT a FROM t")[0] == MISS
    assert run(engine, "SELECT table_name FROM information_schema.tables")[0] == BYPASS


def test_big_results_and_a_disabled_cache_bypass(root: Path) -> None:
    tiny = make_engine(root, {"item_ttl": "1m", "max_size": "1KiB"})
    run(tiny, "SELECT a FROM t")
    assert run(tiny, "SELECT a FROM t")[0] == MISS
    off = make_engine(root, {"enabled": False})
    run(off, "SELECT a FROM t")
    assert run(off, "SELECT a FROM t")[0] == BYPASS


def test_least_recently_used_entries_leave_first(root: Path) -> None:
    engine = make_engine(root, {"item_ttl": "1m", "max_size": "40KiB"})
    page = "SELECT a, repeat('x', 100) AS pad FROM t ORDER BY a LIMIT 30 OFFSET {}"
    for offset in range(30):
        run(engine, page.format(offset))
        run(engine, "SELECT a FROM t LIMIT 1")
    assert run(engine, "SELECT a FROM t LIMIT 1")[0] == HIT
    assert run(engine, page.format(29))[0] == HIT
    assert run(engine, page.format(0))[0] == MISS
    assert engine.cache is not None and engine.cache._entries.currsize <= 40 * 1024
