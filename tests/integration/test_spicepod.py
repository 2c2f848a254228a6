"""A spicepod's datasets, in Spice's param names, carry over unchanged: `sidecar init --from`
converts the file, the config loads, and the MySQL and PostgreSQL datasets answer from the real
MariaDB and PostgreSQL peers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import yaml

from sidecar.cli import main
from sidecar.config import load_config, parse_config
from sidecar.engine import Engine
from tests.peers.mariadb import MariaDB, mariadb  # noqa: F401
from tests.peers.postgres import Postgres, postgres  # noqa: F401


def spicepod(maria: MariaDB, pg: Postgres) -> dict[str, Any]:
    return {
        "version": "v1",
        "kind": "Spicepod",
        "name": "shop",
        "secrets": [{"from": "env", "name": "env"}],
        "datasets": [
            {
                "from": "mysql:spice_orders",
                "name": "orders",
                "params": {
                    "mysql_host": maria.host,
                    "mysql_tcp_port": maria.port,
                    "mysql_user": maria.user,
                    "mysql_pass": maria.password,
                    "mysql_db": maria.database,
                    "mysql_sslmode": "disabled",
                },
                "acceleration": {"enabled": False, "engine": "duckdb"},
            },
            {
                "from": "postgres:public.spice_items",
                "name": "items",
                "params": {
                    "pg_host": pg.host,
                    "pg_port": str(pg.port),
                    "pg_user": pg.user,
                    "pg_pass": pg.password,
                    "pg_db": pg.database,
                    "pg_sslmode": "disable",
                },
                "time_column": "created_at",
            },
            {
                "from": "snowflake:SHOP.PUBLIC.ORDERS",
                "name": "warehouse_orders",
                "params": {
                    "snowflake_account": "acme",
                    "snowflake_username": "agent",
                    "snowflake_password": "${secrets:SNOWFLAKE_PASSWORD}",
                    "snowflake_warehouse": "COMPUTE_WH",
                    "snowflake_role": "READER",
                    "snowflake_private_key_path": "/keys/agent.p8",
                },
            },
        ],
        "models": [{"from": "openai:gpt-4o", "name": "gpt"}],
    }


@pytest.fixture(scope="module")
def sources(mariadb: MariaDB, postgres: Postgres) -> tuple[MariaDB, Postgres]:  # noqa: F811
    mariadb.execute(
        "DROP TABLE IF EXISTS spice_orders",
        "CREATE TABLE spice_orders (id INT PRIMARY KEY, total INT)",
        "INSERT INTO spice_orders VALUES (1, 10), (2, 20)",
    )
    postgres.execute(
        "DROP TABLE IF EXISTS spice_items",
        "CREATE TABLE spice_items (id INT PRIMARY KEY, name TEXT)",
        "INSERT INTO spice_items VALUES (1, 'pen'), (2, 'ink')",
        "GRANT SELECT ON spice_items TO agent",
    )
    return mariadb, postgres


def test_spice_dataset_entries_load_unchanged(sources: tuple[MariaDB, Postgres]) -> None:
    pod = spicepod(*sources)
    orders, items, _ = pod["datasets"]
    del items["time_column"]  # Spice's, for accelerated datasets; `init --from` names it
    config = parse_config({"datasets": [orders, items]})
    engine = Engine(config)
    try:
        engine.load()
        assert rows(engine, "SELECT id, total FROM orders ORDER BY id") == [(1, 10), (2, 20)]
        assert rows(engine, "SELECT name FROM items WHERE id = 2") == [("ink",)]
    finally:
        engine.close()


def test_init_from_spicepod_converts_and_lists_what_does_not_carry_over(
    sources: tuple[MariaDB, Postgres], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pod = tmp_path / "spicepod.yaml"
    pod.write_text(yaml.safe_dump(spicepod(*sources)))
    target = tmp_path / "sidecar.yaml"
    assert main(["init", str(target), "--from", str(pod)]) == 0
    out = capsys.readouterr().out
    dropped = [
        "secrets: the sidecar has no secrets section",
        "models: the sidecar has no models section",
        "datasets[1].time_column: only used by an accelerated dataset here",
        "datasets[2].params.snowflake_private_key_path: not a snowflake param here",
    ]
    for line in dropped:
        assert line in out
        assert f"#   {line}\n" in target.read_text()
    config = load_config(target)
    orders, items, warehouse = config.datasets
    assert orders.params == spicepod(*sources)["datasets"][0]["params"]
    assert items.params["pg_sslmode"] == "disable"
    assert warehouse.params["snowflake_password"] == "${env:SNOWFLAKE_PASSWORD}"
    assert warehouse.params["snowflake_username"] == "agent"


def rows(engine: Engine, sql: str) -> list[tuple[Any, ...]]:
    result = engine.query(sql)
    table = pa.Table.from_batches(list(result), schema=result.schema)
    return [tuple(row.values()) for row in table.to_pylist()]
