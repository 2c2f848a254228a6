"""Every connector, loaded with the same small table of every common type (`case`, one per
module in backends/), and the TPC-H-like tables spread over the peers (`federation`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sidecar.config import parse_config
from sidecar.engine import Engine
from tests.conformance import tpch
from tests.conformance.backends import CONFS, Conf
from tests.peers.data import create_and_insert
from tests.peers.elasticsearch import osmem  # noqa: F401
from tests.peers.iceberg import Iceberg, iceberg  # noqa: F401
from tests.peers.mariadb import MariaDB, mariadb  # noqa: F401
from tests.peers.mongodb import nx27017  # noqa: F401
from tests.peers.objectstores import azurite, gcs, iceberg_s3, moto_s3  # noqa: F401
from tests.peers.postgres import Postgres, postgres  # noqa: F401
from tests.peers.snowflake import snowflake  # noqa: F401


@pytest.fixture(scope="session", params=CONFS, ids=lambda conf: conf.name)
def case(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Conf:
    """One connector over the shared table, its source loaded once per session."""
    conf: type[Conf] = request.param
    return conf.load(request, tmp_path_factory.mktemp(conf.name))


@dataclass
class Federation:
    """The TPC-H-like tables spread over the peers, the same tables in DuckDB, and datasets."""

    tables: dict[str, pa.Table]
    datasets: list[dict[str, Any]]
    root: Path
    mariadb: MariaDB
    postgres: Postgres

    def engine(self, extra: list[dict[str, Any]] | None = None, **runtime: Any) -> Engine:
        config = parse_config(
            {"name": "tpch", "runtime": runtime, "datasets": self.datasets + (extra or [])},
            self.root,
        )
        engine = Engine(config)
        engine.load()
        return engine

    def duckdb(self) -> duckdb.DuckDBPyConnection:
        connection = duckdb.connect()
        # PostgreSQL's (and the engine's) NULL placement; DuckDB puts NULLs last either way.
        connection.execute("SET default_null_order = 'nulls_last_on_asc_first_on_desc'")
        for name, table in self.tables.items():
            connection.register(name, table)
        return connection


@pytest.fixture(scope="session")
def federation(
    mariadb: MariaDB,  # noqa: F811
    postgres: Postgres,  # noqa: F811
    iceberg: Iceberg,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> Federation:
    root = tmp_path_factory.mktemp("tpch")
    tables = tpch.generate()
    datasets = []
    for name, table in tables.items():
        place = tpch.PLACEMENT[name]
        if place == "mysql":
            types = {f.name: tpch.sql_type(f.type, "mysql") for f in table.schema}
            mariadb.execute(
                f"DROP TABLE IF EXISTS shop.{name}",
                *create_and_insert(table, f"shop.{name}", types, quote="`"),
            )
            datasets.append({"from": f"mysql:shop.{name}", "params": mariadb.params()})
        elif place == "postgres":
            types = {f.name: tpch.sql_type(f.type, "postgres") for f in table.schema}
            postgres.execute(
                f"DROP TABLE IF EXISTS public.{name}",
                *create_and_insert(table, f"public.{name}", types),
                f"GRANT SELECT ON public.{name} TO {postgres.user}",
            )
            datasets.append({"from": f"postgres:public.{name}", "params": postgres.params()})
        elif place == "iceberg":
            iceberg.write(f"tpch.{name}", table)
            datasets.append({"from": f"iceberg:tpch.{name}", "params": iceberg.params()})
        else:
            pq.write_table(table, root / f"{name}.parquet")
            datasets.append({"from": f"file:{name}.parquet"})
        datasets[-1]["name"] = name
    return Federation(tables, datasets, root, mariadb, postgres)
