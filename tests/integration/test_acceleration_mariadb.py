"""Accelerated MariaDB tables, in every acceleration engine: refreshes, the working set at the
source, outages, restarts.

The server is this module's own: the tests change its tables.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from sidecar.engine import Engine
from sidecar.engine.cache import HIT, MISS
from sidecar.errors import SidecarError
from tests.acceleration import APPEND, ENGINES, FILE, RETENTION, AccelerationEngine
from tests.engines import loaded_engine, rows
from tests.peers import free_port
from tests.peers.mariadb import MariaDB, running

START = dt.datetime(2026, 3, 14, 12, 0)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDB]:
    with running(tmp_path_factory.mktemp("mariadb-acceleration")) as found:
        found.execute(
            "CREATE TABLE events (id INT PRIMARY KEY, ts DATETIME(6) NOT NULL, "
            "status VARCHAR(16) NOT NULL, amount DECIMAL(10,2))",
            "CREATE TABLE ledger (id INT PRIMARY KEY, amount VARCHAR(16))",
        )
        insert(found, range(10))
        found.execute("INSERT INTO ledger SELECT seq, CAST(seq AS CHAR) FROM seq_1_to_20000")
        yield found


@pytest.fixture(params=ENGINES, ids=str)
def accel(request: pytest.FixtureRequest) -> AccelerationEngine:
    return request.param


def insert(server: MariaDB, ids: range, minute: int = 0, status: str = "open") -> None:
    values = ", ".join(
        f"({i}, '{START + dt.timedelta(minutes=minute + i)}', "
        f"'{status if i % 2 else 'closed'}', {i}.50)"
        for i in ids
    )
    server.execute(f"REPLACE INTO events VALUES {values}")


def engine_for(server: MariaDB, root: Path, acceleration: dict[str, Any], **dataset: Any) -> Engine:
    return loaded_engine(
        {
            "runtime": {"results_cache": {"item_ttl": "1h"}},
            "datasets": [
                {
                    "from": "mysql:shop.events",
                    "name": "events",
                    "params": server.params(),
                    "acceleration": acceleration,
                }
                | dataset
            ],
        },
        root,
    )


def test_new_rows_appear_after_a_refresh_and_the_cache_follows(
    server: MariaDB, tmp_path: Path, accel: AccelerationEngine
) -> None:
    engine = engine_for(server, tmp_path, accel.settings())
    assert engine.query("SELECT count(*) FROM events").cache_status == MISS
    assert rows(engine, "SELECT count(*) AS n FROM events") == [{"n": 10}]
    assert engine.query("SELECT count(*) AS n FROM events").cache_status == HIT
    insert(server, range(10, 12))
    assert rows(engine, "SELECT count(*) AS n FROM events") == [{"n": 10}]
    engine.refresh("events")
    result = engine.query("SELECT count(*) AS n FROM events")
    assert result.cache_status == MISS
    assert pa.Table.from_batches(list(result)).to_pylist() == [{"n": 12}]
    server.execute("DELETE FROM events WHERE id >= 10")


def test_refresh_sql_is_the_working_set_and_reaches_mariadb(
    server: MariaDB, tmp_path: Path, accel: AccelerationEngine
) -> None:
    engine = engine_for(
        server,
        tmp_path,
        accel.settings(
            refresh_sql="SELECT id, status FROM events WHERE status = 'open' AND id < 8"
        ),
    )
    assert rows(engine, "SELECT id FROM events ORDER BY id") == [
        {"id": 1}, {"id": 3}, {"id": 5}, {"id": 7}
    ]  # fmt: skip
    sent = server.statements("FROM `shop`.`events`")
    assert any("WHERE" in s and "'open'" in s and "< 8" in s for s in sent), sent


def test_append_with_overlap_upserts_without_duplicates(
    server: MariaDB, tmp_path: Path, accel: AccelerationEngine
) -> None:
    accel.require(APPEND)
    settings = accel.settings(
        refresh_mode="append", time_column="ts", primary_key="id", refresh_append_overlap="3m"
    )
    engine = engine_for(server, tmp_path, settings)
    assert rows(engine, "SELECT count(*) AS n FROM events") == [{"n": 10}]
    insert(server, range(7, 14), status="paid")
    engine.refresh("events")
    assert rows(engine, "SELECT count(*) AS n, count(DISTINCT id) AS ids FROM events") == [
        {"n": 14, "ids": 14}
    ]
    assert rows(engine, "SELECT status FROM events WHERE id = 9") == [{"status": "paid"}]
    assert any("`ts` >=" in s for s in server.statements("FROM `shop`.`events`"))
    server.execute("DELETE FROM events WHERE id >= 10")
    insert(server, range(10))


def test_retention_removes_old_rows(
    server: MariaDB, tmp_path: Path, accel: AccelerationEngine
) -> None:
    accel.require(RETENTION)
    engine = engine_for(server, tmp_path, accel.settings(time_column="ts", retention_period="1d"))
    copy = engine.catalog.datasets["events"].copy
    assert copy is not None and copy.apply_retention() == 10
    assert rows(engine, "SELECT count(*) AS n FROM events") == [{"n": 0}]


def test_a_refresh_failing_half_way_keeps_the_old_data(
    server: MariaDB, tmp_path: Path, accel: AccelerationEngine
) -> None:
    engine = loaded_engine(
        {
            "datasets": [
                {
                    "from": "mysql:shop.ledger",
                    "name": "ledger",
                    "params": server.params(),
                    "columns": [
                        {"name": "id", "type": "int"},
                        {"name": "amount", "type": "bigint"},
                    ],
                    "acceleration": accel.settings(refresh_retry_max_attempts=0),
                }
            ]
        },
        tmp_path,
    )
    assert rows(engine, "SELECT count(*) AS n FROM ledger") == [{"n": 20000}]
    server.execute("UPDATE ledger SET amount = 'not a number' WHERE id = 19999")
    with pytest.raises(SidecarError):
        engine.refresh("ledger")
    assert rows(engine, "SELECT count(*) AS n, max(amount) AS top FROM ledger") == [
        {"n": 20000, "top": 20000}
    ]
    server.execute("UPDATE ledger SET amount = '19999' WHERE id = 19999")


def test_an_outage_never_fails_queries_on_the_copy_and_file_mode_restarts(
    server: MariaDB, tmp_path: Path, accel: AccelerationEngine
) -> None:
    accel.require(FILE)
    settings = accel.settings(
        mode="file", refresh_retry_max_attempts=0, refresh_check_interval="1h"
    )
    engine = engine_for(server, tmp_path, settings)
    assert rows(engine, "SELECT count(*) AS n FROM events") == [{"n": 10}]
    engine.close()
    down = server.params(port=free_port())  # nothing listens there: the source is down
    restarted = engine_for(server, tmp_path, settings, params=down)
    assert restarted.ready
    assert rows(restarted, "SELECT sum(amount) AS total FROM events WHERE status = 'open'") == [
        {"total": pytest.approx(27.5)}
    ]
    with pytest.raises(SidecarError):
        restarted.refresh("events")
    status = restarted.catalog.datasets["events"].copy.status
    assert status.last_error and "events" in rows(restarted, "SHOW TABLES")[0]["table_name"]
    assert rows(restarted, "SELECT count(*) AS n FROM events") == [{"n": 10}]
    restarted.close()
