"""The built-in demo: its config is valid and its committed data still tells the incident story.

The demo is the first thing a new user queries, so a regenerated data set that quietly lost the
spike (or a path that moved) would make the product look broken. DuckDB reads the files directly
so these checks do not depend on the engine or the file connector.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from sidecar.config import SidecarConfig, load_config
from sidecar.demo import config_path

INCIDENT = "created_at >= '2026-03-14 14:02:00' AND created_at < '2026-03-14 14:42:00'"
INCIDENT_TS = INCIDENT.replace("created_at", "ts")
POOL_ERROR = "PaymentClient: timeout acquiring connection from pool (pool_size=5%"
READERS = {".parquet": "read_parquet", ".csv": "read_csv", ".ndjson": "read_json"}
MAX_DEMO_BYTES = 2_000_000


@pytest.fixture(scope="module")
def config() -> SidecarConfig:
    return load_config(config_path())


@pytest.fixture(scope="module")
def db(config: SidecarConfig) -> duckdb.DuckDBPyConnection:
    """Every file dataset and every view of the demo, as DuckDB views under the same names."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for dataset in config.datasets:
        path = config.base_dir / dataset.location
        if path.is_file():
            con.execute(
                f"CREATE VIEW {dataset.name} AS SELECT * FROM {READERS[path.suffix]}('{path}')"
            )
    for view in config.views:
        con.execute(f"CREATE VIEW {view.name} AS {view.sql}")
    return con


def scalar(db: duckdb.DuckDBPyConnection, sql: str) -> float:
    row = db.execute(sql).fetchone()
    assert row is not None
    return row[0]


def guides(config: SidecarConfig) -> list[Path]:
    return sorted((config.base_dir / "data" / "guides").glob("*.md"))


def test_demo_config_is_valid_and_documented(config: SidecarConfig) -> None:
    assert config.name == "sre-demo"
    assert config_path().name == "sidecar.yaml"
    assert {d.name for d in config.datasets} >= {"orders", "customers", "logs", "guides"}
    assert all(d.description and d.scheme == "file" for d in config.datasets)
    assert 2 <= len(config.views) <= 3


def test_every_dataset_path_exists_and_the_demo_stays_small(config: SidecarConfig) -> None:
    for dataset in config.datasets:
        assert (config.base_dir / dataset.location).exists(), dataset.location
    data = config.base_dir / "data"
    size = sum(path.stat().st_size for path in data.rglob("*") if path.is_file())
    assert size < MAX_DEMO_BYTES


def test_views_run(db: duckdb.DuckDBPyConnection, config: SidecarConfig) -> None:
    for view in config.views:
        assert scalar(db, f"SELECT count(*) FROM {view.name}") > 0, view.name


def test_failed_orders_spike_during_the_incident(db: duckdb.DuckDBPyConnection) -> None:
    assert 15_000 <= scalar(db, "SELECT count(*) FROM orders") <= 25_000
    inside = scalar(db, f"SELECT count(*) / 40 FROM failed_orders WHERE {INCIDENT}")
    outside = scalar(db, f"SELECT count(*) / (1440 - 40) FROM failed_orders WHERE NOT ({INCIDENT})")
    assert inside > 20 * outside
    timeouts_outside = f"failure_reason = 'payment_timeout' AND NOT ({INCIDENT})"
    assert scalar(db, f"SELECT count(*) FROM orders WHERE {timeouts_outside}") == 0
    reason_without_failure = "failure_reason IS NOT NULL AND status <> 'failed'"
    assert scalar(db, f"SELECT count(*) FROM orders WHERE {reason_without_failure}") == 0


def test_logs_show_pool_exhaustion_only_during_the_incident(db: duckdb.DuckDBPyConnection) -> None:
    errors = f"level = 'ERROR' AND message LIKE '{POOL_ERROR}'"
    assert scalar(db, f"SELECT count(*) FROM logs WHERE {errors} AND {INCIDENT_TS}") > 100
    assert scalar(db, f"SELECT count(*) FROM logs WHERE {errors} AND NOT ({INCIDENT_TS})") == 0
    assert scalar(db, f"SELECT min(version) FROM logs WHERE {errors}") == "v2.14.0"
    for event in ("Rollout started%v2.14.0%", "Rollback complete%v2.13.4%"):
        assert scalar(db, f"SELECT count(*) FROM logs WHERE message LIKE '{event}'") == 1


def test_error_rate_peaks_during_the_incident(db: duckdb.DuckDBPyConnection) -> None:
    health = "service_health_by_minute WHERE service = 'order-service'"
    inside = INCIDENT.replace("created_at", "minute")
    peak = f"SELECT max(error_rate) FROM {health}"
    assert scalar(db, f"SELECT count(*) FROM {health} AND error_rate = ({peak}) AND {inside}") == 1
    assert scalar(db, f"SELECT max(error_rate) FROM {health} AND NOT ({inside})") < 0.05
    assert scalar(db, f"SELECT max(worst_p99_ms) FROM {health} AND {inside}") > 4_000


def test_guides_are_titled_and_one_explains_the_fix(config: SidecarConfig) -> None:
    texts = [path.read_text(encoding="utf-8") for path in guides(config)]
    assert 4 <= len(texts) <= 6
    assert all(text.startswith("# ") for text in texts)
    assert any("PAYMENT_POOL_SIZE=50" in text and "roll back" in text for text in texts)
