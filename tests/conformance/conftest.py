"""Every connector, loaded with the same small table of every common type.

`case` is parametrised over the connectors; each builds its dataset once per session in its
own source (a file, a real database server, an Iceberg warehouse) and opens connectors on it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

from connectors import open_connector
from connectors.base import Connector, DatasetSource
from sidecar.config import parse_config
from sidecar.engine import Engine
from tests.conformance import tpch
from tests.peers import free_port
from tests.peers.data import create_and_insert
from tests.peers.elasticsearch import osmem  # noqa: F401
from tests.peers.iceberg import Iceberg, iceberg  # noqa: F401
from tests.peers.mariadb import MariaDB, mariadb  # noqa: F401
from tests.peers.mongodb import nx27017  # noqa: F401
from tests.peers.objectstores import azurite, gcs, iceberg_s3, moto_s3  # noqa: F401
from tests.peers.postgres import Postgres, postgres  # noqa: F401
from tests.peers.snowflake import Snowflake, snowflake  # noqa: F401

TYPES = pa.schema(
    [
        ("id", pa.int64()),
        ("i32", pa.int32()),
        ("big", pa.int64()),
        ("dec", pa.decimal128(12, 2)),
        ("f64", pa.float64()),
        ("txt", pa.string()),
        ("flag", pa.bool_()),
        ("day", pa.date32()),
        ("ts", pa.timestamp("us")),
    ]
)
D = Decimal
ROWS = [
    (1, 1, 2**53 + 1, D("1.50"), 0.5, "alpha", True, (2024, 1, 1), (8, 0, 0, 0)),
    (2, 2, -5, D("-20.25"), 1.25, "beta", False, (2024, 1, 2), (9, 30, 0, 123456)),
    (3, 3, 0, D("33.33"), 2.5, "Gamma", True, (2024, 1, 3), (10, 0, 0, 0)),
    (4, 4, 42, D("100.00"), -3.75, "delta", False, (2024, 1, 4), (11, 0, 0, 0)),
    (5, 5, 7, D("0.01"), 1e10, "épsilon", True, (2024, 2, 29), (12, 0, 0, 0)),
    (6, 6, 8, D("99999.99"), 0.0, "ALPHA", False, (2023, 12, 31), (23, 59, 59, 999999)),
    (7, 7, 9, D("5.00"), 2.0, "a_b", True, (2024, 1, 7), (0, 0, 0, 1)),
    (8, 8, 10, D("6.00"), 3.0, "zeta ", False, (2024, 1, 8), (1, 2, 3, 0)),
]


def types_table() -> pa.Table:
    rows = [
        {
            "id": r[0],
            "i32": r[1],
            "big": r[2],
            "dec": r[3],
            "f64": r[4],
            "txt": r[5],
            "flag": r[6],
            "day": dt.date(*r[7]),
            "ts": dt.datetime(*r[7], *r[8]),
        }
        for r in ROWS
    ]
    rows.append({"id": 9} | {name: None for name in TYPES.names[1:]})
    return pa.Table.from_pylist(rows, schema=TYPES)


@dataclass
class Case:
    """One connector over the types table, and what it is expected to do."""

    name: str
    scheme: str
    location: str
    params: dict[str, Any]
    schema: pa.Schema
    declared: pa.Schema | None = None
    base_dir: Path = field(default_factory=Path.cwd)
    broken: dict[str, Callable[[], DatasetSource]] = field(default_factory=dict)
    refuses: frozenset[str] = frozenset()
    secret_param: str = "password"

    def source(self, **changes: Any) -> DatasetSource:
        return DatasetSource(
            name="types",
            scheme=changes.get("scheme", self.scheme),
            location=changes.get("location", self.location),
            params=changes.get("params", self.params),
            declared_schema=self.declared,
            base_dir=self.base_dir,
            timeout=10.0,
        )

    def connector(self, **changes: Any) -> Connector:
        return open_connector(self.source(**changes))


SQL_TYPES = {
    "mysql": {
        "id": "BIGINT PRIMARY KEY",
        "i32": "INT",
        "big": "BIGINT",
        "dec": "DECIMAL(12,2)",
        "f64": "DOUBLE",
        "txt": "VARCHAR(40)",
        "flag": "BOOLEAN",
        "day": "DATE",
        "ts": "DATETIME(6)",
    },
    "postgres": {
        "id": "BIGINT PRIMARY KEY",
        "i32": "INTEGER",
        "big": "BIGINT",
        "dec": "NUMERIC(12,2)",
        "f64": "DOUBLE PRECISION",
        "txt": "TEXT",
        "flag": "BOOLEAN",
        "day": "DATE",
        "ts": "TIMESTAMP",
    },
    "snowflake": {
        "id": "NUMBER(18,0)",
        "i32": "NUMBER(9,0)",
        "big": "NUMBER(18,0)",
        "dec": "NUMBER(12,2)",
        "f64": "FLOAT",
        "txt": "VARCHAR",
        "flag": "BOOLEAN",
        "day": "DATE",
        "ts": "TIMESTAMP_NTZ(6)",
    },
    "sqlite": {
        "id": "INTEGER",
        "i32": "INTEGER",
        "big": "INTEGER",
        "dec": "TEXT",
        "f64": "REAL",
        "txt": "TEXT",
        "flag": "INTEGER",
        "day": "TEXT",
        "ts": "TEXT",
    },
}
SNOWFLAKE_TYPES = pa.schema(
    [
        ("id", pa.decimal128(18, 0)),
        ("i32", pa.decimal128(9, 0)),
        ("big", pa.decimal128(18, 0)),
        ("dec", pa.decimal128(12, 2)),
        ("f64", pa.float64()),
        ("txt", pa.string()),
        ("flag", pa.bool_()),
        ("day", pa.date32()),
        ("ts", pa.timestamp("ns")),
    ]
)
# SQLite stores every integer as a 64-bit one; dates, times and decimals are declared.
SQLITE_DECLARED = TYPES.set(1, pa.field("i32", pa.int64()))
CASES = (
    "parquet",
    "csv",
    "mysql",
    "postgres",
    "snowflake",
    "iceberg",
    "adbc_sqlite",
    "mongodb",
    "elasticsearch",
    "s3",
    "gcs",
    "azure",
    "iceberg_s3",
)


def _unreachable(scheme: str, location: str, params: dict[str, Any]) -> Callable[[], DatasetSource]:
    return lambda: DatasetSource("types", scheme, location, params, timeout=5.0)


def build_case(name: str, request: pytest.FixtureRequest, root: Path) -> Case:
    table = types_table()
    if name == "parquet":
        pq.write_table(table, root / "types.parquet")
        return Case(name, "file", "types.parquet", {}, TYPES, base_dir=root)
    if name == "csv":
        pa_csv.write_csv(table, root / "types.csv")
        csv = {"null_values": [""]}
        return Case(name, "file", "types.csv", csv, TYPES, declared=TYPES, base_dir=root)
    if name == "mysql":
        peer: MariaDB = request.getfixturevalue("mariadb")
        peer.execute(
            "DROP TABLE IF EXISTS shop.types",
            *create_and_insert(table, "shop.types", SQL_TYPES["mysql"], quote="`"),
        )
        down = peer.params(port=free_port())
        return Case(
            name,
            "mysql",
            "shop.types",
            peer.params(),
            TYPES,
            broken={
                "credentials": _unreachable("mysql", "shop.types", peer.params(password="wrong")),
                "down": _unreachable("mysql", "shop.types", down),
            },
            refuses=frozenset({"like_underscore", "ilike", "bool"}),
        )
    if name == "postgres":
        pg: Postgres = request.getfixturevalue("postgres")
        pg.execute(
            "DROP TABLE IF EXISTS public.types",
            *create_and_insert(table, "public.types", SQL_TYPES["postgres"]),
            f"GRANT SELECT ON public.types TO {pg.user}",
        )
        return Case(
            name,
            "postgres",
            "public.types",
            pg.params(),
            TYPES,
            broken={
                "credentials": _unreachable("postgres", "types", pg.params(password="wrong")),
                "down": _unreachable("postgres", "types", pg.params(port=free_port())),
            },
        )
    if name == "snowflake":
        sf: Snowflake = request.getfixturevalue("snowflake")
        sf.execute(
            "DROP TABLE IF EXISTS SHOP.PUBLIC.TYPES",
            *create_and_insert(table, "SHOP.PUBLIC.TYPES", SQL_TYPES["snowflake"]),
        )
        return Case(
            name,
            "snowflake",
            "SHOP.PUBLIC.TYPES",
            sf.params(database="SHOP", schema="PUBLIC"),
            SNOWFLAKE_TYPES,
            broken={
                "down": _unreachable(
                    "snowflake", "SHOP.PUBLIC.TYPES", sf.params(port=1, connect_timeout="1s")
                )
            },
        )
    if name == "iceberg":
        ice: Iceberg = request.getfixturevalue("iceberg")
        ice.write("conformance.types", table)
        missing = {"name": "x", "type": "sql", "uri": f"sqlite:///{root}/missing/catalog.db"}
        return Case(
            name,
            "iceberg",
            "conformance.types",
            ice.params(),
            TYPES,
            broken={"down": _unreachable("iceberg", "conformance.types", {"catalog": missing})},
            refuses=frozenset({"ilike", "like_underscore", "f64"}),
        )
    if name == "adbc_sqlite":
        sqlite = pytest.importorskip("adbc_driver_sqlite.dbapi")
        path = root / "types.sqlite"
        with sqlite.connect(str(path)) as connection:
            cursor = connection.cursor()
            for statement in create_and_insert(table, "types", SQL_TYPES["sqlite"]):
                cursor.execute(statement)
            cursor.close()
            connection.commit()
        params = {
            "driver": "adbc_driver_sqlite",
            "db_kwargs": {"uri": str(path)},
            "dialect": "sqlite",
        }
        return Case(
            name,
            "adbc",
            "types",
            params,
            SQLITE_DECLARED,
            declared=SQLITE_DECLARED,
            # Declared types that differ from SQLite's stored ones (TEXT dates and decimals,
            # INTEGER booleans) keep their filters in the engine, and its LIKE ignores case.
            refuses=frozenset(
                {"like", "not_like", "like_underscore", "ilike", "date", "timestamp", "lt"}
                | {"between", "and_or", "bool"}
            ),
        )
    from tests.conformance.object_store_cases import OBJECT_STORE_CASES, build_object_store_case

    if name in OBJECT_STORE_CASES:
        return build_object_store_case(name, request, root)
    from tests.conformance.document_cases import build_document_case

    return build_document_case(name, request, root)


@pytest.fixture(scope="session", params=CASES)
def case(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Case:
    return build_case(request.param, request, tmp_path_factory.mktemp(request.param))


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
