"""The PostgreSQL wire interface of a real `sidecar run`, driven by real clients.

psql, psycopg 3, asyncpg, SQLAlchemy (both dialects), pandas and pgjdbc each connect the way
they connect to PostgreSQL. One sidecar runs with API keys (SCRAM-SHA-256), one without (trust,
for the raw-protocol and fuzz tests), one with TLS and cleartext passwords.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import os
import random
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
import yaml
from psycopg import errors
from sqlalchemy.ext.asyncio import create_async_engine

from tests import pg_client, placeholders
from tests.certs import self_signed
from tests.peers import unavailable
from tests.pg_client import RawClient
from tests.process import SidecarProcess, free_port

KEY = "k-7d1e0c5a9b"
AUTH = {"api_keys": [{"key": "${env:AGENT_KEY}", "identity": "agent"}]}
PGJDBC = Path("/usr/share/java/postgresql.jar")


class Sidecar:
    def __init__(self, process: SidecarProcess, http: str) -> None:
        self.process = process
        self.http = http
        self.port = process.pg_port

    def dsn(self, **options: str) -> str:
        settings = {"host": "127.0.0.1", "port": str(self.port), "dbname": "shop", **options}
        return " ".join(f"{key}={value}" for key, value in settings.items())

    def url(self, driver: str, user: str = "agent", password: str = KEY) -> str:
        return f"postgresql+{driver}://{user}:{password}@127.0.0.1:{self.port}/shop"


def write_data(root: Path) -> None:
    count = 5000
    start = dt.datetime(2026, 3, 14)
    orders = pa.table(
        {
            "id": pa.array(range(count), pa.int64()),
            "amount": pa.array([i * 1.25 for i in range(count)]),
            "status": pa.array(["failed" if i % 10 == 0 else "paid" for i in range(count)]),
            "created_at": pa.array([start + dt.timedelta(minutes=i) for i in range(count)],
                                   pa.timestamp("us")),
            "customer": pa.array([f"c{i % 50}" for i in range(count)]),
            "note": pa.array([None if i % 2 else f"note {i}" for i in range(count)]),
            "price": pa.array([Decimal(i) / 4 for i in range(count)], pa.decimal128(10, 2)),
            "tags": pa.array([["a", "b c"] if i % 3 else [] for i in range(count)]),
            "day": pa.array([(start + dt.timedelta(days=i % 7)).date() for i in range(count)]),
        }
    )  # fmt: skip
    pq.write_table(orders, root / "orders.parquet", row_group_size=500)
    big = pa.table({"x": pa.array(range(300_000), pa.int64())})
    pq.write_table(big, root / "big.parquet", row_group_size=3000)


def start(
    root: Path,
    runtime: dict[str, Any],
    env: dict[str, str] | None = None,
    datasets: tuple[dict[str, Any], ...] = (),
) -> Sidecar:
    http_port = free_port()
    columns = [("id", "bigint", "order id"), ("amount", "double", None), ("status", "text", None),
               ("created_at", "timestamp", None), ("customer", "text", None),
               ("note", "text", None), ("price", "decimal(10,2)", None), ("tags", "text[]", None),
               ("day", "date", None)]  # fmt: skip
    config = {
        "version": 1,
        "name": "shop",
        "runtime": {
            "http": {"port": http_port},
            "flight": {"port": 0, "enabled": False},
            **runtime,
        },
        "datasets": [
            {
                "from": "file:orders.parquet",
                "name": "orders",
                "description": "Orders of the shop",
                "columns": [
                    {"name": name, "type": kind, **({"description": note} if note else {})}
                    for name, kind, note in columns
                ],
            },
            {"from": "file:big.parquet", "name": "big"},
            *datasets,
        ],
        "views": [{"name": "failed_orders", "sql": "SELECT * FROM orders WHERE status = 'failed'"}],
    }
    (root / "sidecar.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    process = SidecarProcess(root / "sidecar.yaml", env=env)
    url = process.start(http_port)
    return Sidecar(process, url)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pgdata")
    write_data(root)
    return root


def _running(
    data: Path,
    name: str,
    runtime: dict[str, Any],
    env: dict[str, str] | None = None,
    datasets: tuple[dict[str, Any], ...] = (),
) -> Iterator[Sidecar]:
    root = data.parent / name
    root.mkdir(exist_ok=True)
    for file in data.iterdir():
        shutil.copy(file, root / file.name)
    sidecar = start(root, runtime, env, datasets)
    yield sidecar
    sidecar.process.stop()
    assert KEY not in sidecar.process.output


@pytest.fixture(scope="module")
def scram(data: Path) -> Iterator[Sidecar]:
    yield from _running(data, "scram", {"auth": AUTH}, {"AGENT_KEY": KEY})


@pytest.fixture(scope="module")
def trusted(data: Path) -> Iterator[Sidecar]:
    yield from _running(data, "trusted", {})


@pytest.fixture
def conn(scram: Sidecar) -> Iterator[psycopg.Connection]:
    with psycopg.connect(scram.dsn(user="agent", password=KEY)) as connection:
        yield connection


def psql(sidecar: Sidecar, *commands: str, password: str = KEY, **options: str) -> str:
    if not shutil.which("psql"):
        unavailable("psql", "make test installs postgresql-client")
    args = ["psql", sidecar.dsn(user="agent", **options), "-X", "-v", "ON_ERROR_STOP=1"]
    for command in commands:
        args += ["-c", command]
    result = subprocess.run(
        args, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PGPASSWORD": password, "PGCONNECT_TIMEOUT": "10"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


# ---- psql ---------------------------------------------------------------------------------------


def test_psql_lists_and_describes_the_catalog(scram: Sidecar) -> None:
    out = psql(scram, r"\dt", r"\dv", r"\dn", r"\l", r"\d orders", r"\d failed_orders")
    assert "public | big    | table | sidecar" in out
    assert "public | orders | table | sidecar" in out
    assert "public | failed_orders | view | sidecar" in out
    assert "public | sidecar" in out  # \dn
    assert "shop | sidecar | UTF8" in out  # \l
    assert 'Table "public.orders"' in out
    assert "created_at | timestamp without time zone" in out
    assert "price      | numeric(10,2)" in out
    assert "tags       | text[]" in out
    view = out.split('View "public.failed_orders"')[1]
    assert "price      | numeric(10,2)" in view and "tags       | text[]" in view


def test_psql_runs_queries_and_shows_postgres_column_names(scram: Sidecar) -> None:
    out = psql(scram, "SELECT count(*), min(created_at) FROM orders WHERE status = 'failed'")
    assert " count |         min         " in out
    assert "   500 | 2026-03-14 00:00:00" in out
    out = psql(
        scram, "SELECT version()", "SHOW TimeZone", "SELECT current_database(), current_user"
    )
    assert "PostgreSQL 15.0 (agent-sidecar" in out
    assert " TimeZone \n----------\n UTC" in out
    assert " shop             | agent" in out


def test_psql_reports_sqlstate_hint_and_position(scram: Sidecar) -> None:
    if not shutil.which("psql"):
        unavailable("psql", "make test installs postgresql-client")
    result = subprocess.run(
        ["psql", scram.dsn(user="agent"), "-X", "-v", "VERBOSITY=verbose",
         "-c", "SELECT nope FROM orders"],
        capture_output=True, text=True, timeout=60, env={**os.environ, "PGPASSWORD": KEY},
    )  # fmt: skip
    assert result.returncode == 1
    assert 'ERROR:  42703: column "nope" does not exist' in result.stderr
    assert "LINE 1: SELECT nope FROM orders" in result.stderr
    assert "HINT:  columns in scope" in result.stderr


# ---- psycopg ------------------------------------------------------------------------------------


def test_psycopg_simple_query(conn: psycopg.Connection) -> None:
    assert conn.execute("SELECT count(*) FROM orders").fetchone() == (5000,)
    cursor = conn.execute("SELECT id, status FROM orders ORDER BY id LIMIT 2")
    assert [column.name for column in cursor.description] == ["id", "status"]
    assert cursor.fetchall() == [(0, "failed"), (1, "paid")]


def test_psycopg_parameters_of_every_common_type(conn: psycopg.Connection) -> None:
    row = conn.execute(
        "SELECT id, amount, note, price, created_at, day, tags FROM orders "
        "WHERE status = %s AND amount >= %s AND created_at < %s AND id = ANY(%s) AND price > %s "
        "ORDER BY id LIMIT 1",
        ["paid", 2.5, dt.datetime(2026, 3, 15), [2, 4, 6], Decimal("0.1")],
    ).fetchone()
    assert row == (2, 2.5, "note 2", Decimal("0.50"), dt.datetime(2026, 3, 14, 0, 2),
                   dt.date(2026, 3, 16), ["a", "b c"])  # fmt: skip
    assert conn.execute("SELECT %s::text, %s::int, %s", ["x", 7, None]).fetchone() == ("x", 7, None)


def test_parameters_bind_in_the_order_they_are_written(
    conn: psycopg.Connection, scram: Sidecar
) -> None:
    cursor = conn.execute(placeholders.numbered("%s"), placeholders.VALUES)
    names = [column.name for column in cursor.description or []]
    assert [dict(zip(names, row, strict=True)) for row in cursor] == placeholders.EXPECTED

    async def run() -> list[dict[str, Any]]:
        connection = await asyncpg.connect(
            host="127.0.0.1", port=scram.port, user="agent", password=KEY, database="shop"
        )
        try:
            found = await connection.fetch(placeholders.numbered("$"), *placeholders.VALUES)
            return [dict(row) for row in found]
        finally:
            await connection.close()

    assert asyncio.run(run()) == placeholders.EXPECTED


def test_placeholders_written_without_spaces(conn: psycopg.Connection, scram: Sidecar) -> None:
    """`IN ($1,$2)` is how pgjdbc writes `IN (?,?)`: two placeholders, not a dollar quote."""
    sql = "SELECT id, %s+%s AS s, $t$a,$1$t$ AS q FROM orders WHERE id IN (%s,%s,%s) ORDER BY id"
    assert conn.execute(sql, [1, 2, 3, 5, 8]).fetchall() == [(3, 3, "a,$1"), (5, 3, "a,$1"),
                                                            (8, 3, "a,$1")]  # fmt: skip

    async def run() -> list[tuple[Any, ...]]:
        connection = await asyncpg.connect(
            host="127.0.0.1", port=scram.port, user="agent", password=KEY, database="shop"
        )
        try:
            found = await connection.fetch("SELECT id FROM orders WHERE id IN ($1,$2)", 4, 6)
            return [tuple(row) for row in found]
        finally:
            await connection.close()

    assert sorted(asyncio.run(run())) == [(4,), (6,)]


def test_psycopg_binary_results(conn: psycopg.Connection) -> None:
    cursor = conn.cursor(binary=True)
    cursor.execute(
        "SELECT id, amount, status, created_at, price, tags, day, note, true, 1::smallint, "
        "1.5::real, interval '1 day 2 hours', CAST('2026-03-14 10:00:00+00' AS timestamptz) "
        "FROM orders WHERE id = %s",
        [3],
    )
    assert cursor.fetchone() == (
        3, 3.75, "paid", dt.datetime(2026, 3, 14, 0, 3), Decimal("0.75"), [], dt.date(2026, 3, 17),
        None, True, 1, 1.5, dt.timedelta(days=1, hours=2),
        dt.datetime(2026, 3, 14, 10, tzinfo=dt.UTC),
    )  # fmt: skip
    assert cursor.pgresult is not None and cursor.pgresult.fformat(0) == 1


def test_psycopg_server_side_cursor_streams_in_pages(conn: psycopg.Connection) -> None:
    with conn.cursor(name="pages") as cursor:
        cursor.execute("SELECT id FROM orders WHERE status = %s ORDER BY id", ["failed"])
        assert cursor.fetchmany(3) == [(0,), (10,), (20,)]
        assert cursor.fetchone() == (30,)
        cursor.scroll(10)
        assert cursor.fetchone() == (140,)
        assert len(cursor.fetchall()) == 500 - 15
    with conn.cursor(name="binary_pages", binary=True) as cursor:
        cursor.execute("SELECT id, created_at FROM orders ORDER BY id")
        assert cursor.fetchmany(2) == [(0, dt.datetime(2026, 3, 14)),
                                       (1, dt.datetime(2026, 3, 14, 0, 1))]  # fmt: skip
    conn.commit()


def test_psycopg_transactions_and_errors_inside_them(conn: psycopg.Connection) -> None:
    from psycopg.pq import TransactionStatus

    conn.execute("SELECT 1")
    assert conn.info.transaction_status == TransactionStatus.INTRANS
    with pytest.raises(errors.UndefinedTable):
        conn.execute("SELECT * FROM nope")
    assert conn.info.transaction_status == TransactionStatus.INERROR
    with pytest.raises(errors.InFailedSqlTransaction):
        conn.execute("SELECT 1")
    conn.rollback()
    assert conn.info.transaction_status == TransactionStatus.IDLE
    assert conn.execute("SELECT 2").fetchone() == (2,)


@pytest.mark.parametrize(
    ("sql", "error", "sqlstate"),
    [
        ("SELEC 1", errors.SyntaxError, "42601"),
        ("SELECT * FROM nope", errors.UndefinedTable, "42P01"),
        ("SELECT nope FROM orders", errors.UndefinedColumn, "42703"),
        ("DELETE FROM orders", errors.InsufficientPrivilege, "42501"),
        ("SELECT pg_read_file('/etc/passwd')", errors.InsufficientPrivilege, "42501"),
    ],
)
def test_errors_carry_postgres_sqlstates(
    conn: psycopg.Connection, sql: str, error: type[Exception], sqlstate: str
) -> None:
    conn.autocommit = True
    with pytest.raises(error) as raised:
        conn.execute(sql)
    assert raised.value.sqlstate == sqlstate
    assert raised.value.diag.message_hint
    if sqlstate in ("42P01", "42703", "42601"):
        assert raised.value.diag.statement_position is not None


def test_ambiguous_columns_and_cut_short_statements_carry_a_position(
    conn: psycopg.Connection,
) -> None:
    conn.autocommit = True
    with pytest.raises(errors.AmbiguousColumn) as ambiguous:
        conn.execute("SELECT id FROM orders a JOIN orders b ON a.id = b.id")
    assert ambiguous.value.sqlstate == "42702"
    assert "a.id or b.id" in str(ambiguous.value)
    assert ambiguous.value.diag.statement_position == "8"
    cut_short = "SELECT status, count(*) FROM orders GROUP BY"
    with pytest.raises(errors.SyntaxError) as syntax:
        conn.execute(cut_short)
    assert syntax.value.diag.message_primary is not None
    assert "end of input" in syntax.value.diag.message_primary
    assert syntax.value.diag.statement_position == str(len(cut_short) + 1)
    with pytest.raises(errors.SyntaxError) as extended:  # the extended protocol too
        conn.execute(cut_short.replace("GROUP BY", "WHERE id = %s AND"), [1])
    assert "expected a condition after 'AND'" in str(extended.value)


def test_set_and_show_session_settings(conn: psycopg.Connection) -> None:
    conn.autocommit = True
    conn.execute("SET TIME ZONE 'Asia/Kolkata'")
    assert conn.execute("SHOW timezone").fetchone() == ("Asia/Kolkata",)
    cursor = conn.execute("SELECT CAST('2026-03-14 10:00:00+00' AS timestamptz)")
    assert cursor.pgresult is not None
    assert cursor.pgresult.get_value(0, 0) == b"2026-03-14 15:30:00+05:30"
    conn.execute("SET application_name = 'probe'")
    assert conn.info.parameter_status("application_name") == "probe"
    assert conn.execute("SELECT current_setting('application_name')").fetchone() == ("probe",)
    with pytest.raises(errors.FeatureNotSupported):
        conn.execute("SET DateStyle = 'German'")
    with pytest.raises(errors.UndefinedObject):
        conn.execute("SHOW no_such_setting")
    for name in ("enable_external_access", "allow_unsigned_extensions", "temp_directory"):
        with pytest.raises(errors.UndefinedObject) as unknown:
            conn.execute(f"SET {name} = 'x'")
        assert (
            unknown.value.diag.message_primary == f'unrecognized configuration parameter "{name}"'
        )
        with pytest.raises(errors.UndefinedObject):
            conn.execute(f"SELECT set_config('{name}', 'x', false)")
    with pytest.raises(errors.InsufficientPrivilege):
        conn.execute("SET log_statement = 'all'")
    with pytest.raises(errors.CantChangeRuntimeParam):
        conn.execute("SET shared_buffers = '1GB'")
    for statement in ("SET extra_float_digits = 3", "SET search_path TO public",
                      "SET client_min_messages = warning", "SET enable_seqscan = off",
                      "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED",
                      "SET myapp.tenant = 'acme'"):  # fmt: skip
        conn.execute(statement)
    assert conn.execute("SHOW myapp.tenant").fetchone() == ("acme",)
    conn.execute("RESET myapp.tenant")
    with pytest.raises(errors.UndefinedObject):
        conn.execute("RESET enable_external_access")
    conn.execute("RESET ALL")
    assert conn.execute("SHOW TimeZone").fetchone() == ("UTC",)
    names = [row[0] for row in conn.execute("SHOW ALL").fetchall()]
    assert "standard_conforming_strings" in names


def test_introspection_that_drivers_and_bi_tools_send(conn: psycopg.Connection) -> None:
    from psycopg.types import TypeInfo

    info = TypeInfo.fetch(conn, "json")
    assert info is not None and (info.oid, info.array_oid) == (114, 199)
    assert TypeInfo.fetch(conn, "hstore") is None
    row = conn.execute(
        "SELECT pg_catalog.version(), current_schema(), current_database(), "
        "to_regtype('integer')::oid, has_table_privilege('orders', 'SELECT'), "
        "has_schema_privilege('public', 'USAGE'), pg_backend_pid() > 0"
    ).fetchone()
    assert row is not None
    assert row[0].startswith("PostgreSQL 15.0") and row[1:] == (
        "public",
        "shop",
        23,
        True,
        True,
        True,
    )
    settings = conn.execute("SELECT setting FROM pg_settings WHERE name = 'server_encoding'")
    assert settings.fetchall() == [("UTF8",)]
    typname = conn.execute("SELECT typname FROM pg_type WHERE oid = 1184").fetchone()
    assert typname == ("timestamptz",)
    comment = conn.execute(
        "SELECT obj_description('orders'::regclass, 'pg_class'), "
        "col_description('orders'::regclass, 1)"
    ).fetchone()
    assert comment == ("Orders of the shop", "order id")


def test_catalog_queries_reach_only_the_emulated_relations(conn: psycopg.Connection) -> None:
    conn.autocommit = True
    for sql, name in (
        (
            "WITH duckdb_tables AS (SELECT * FROM duckdb_tables) "
            "SELECT count(*) FROM duckdb_tables, pg_catalog.pg_am",
            "duckdb_tables",
        ),
        ("SELECT count(*) FROM sqlite_master, pg_catalog.pg_am", "sqlite_master"),
        ("SELECT * FROM pg_catalog.duckdb_columns", "pg_catalog.duckdb_columns"),
        ("SELECT * FROM information_schema.pragma_database_list", "pragma_database_list"),
    ):
        with pytest.raises(errors.UndefinedTable, match=f'relation ".*{name}" does not exist'):
            conn.execute(sql)
    recursive = (
        "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 3) "
        "SELECT count(*) FROM t, pg_catalog.pg_namespace WHERE nspname = 'public'"
    )
    assert conn.execute(recursive).fetchone() == (3,)


@pytest.fixture(scope="module")
def copied(data: Path) -> Iterator[Sidecar]:
    """A sidecar that also holds the orders as a DuckDB copy with a key and an index."""
    acceleration = {"primary_key": "id", "indexes": {"customer": "enabled"}}
    copy = {"from": "file:orders.parquet", "name": "orders_copy", "acceleration": acceleration}
    yield from _running(data, "copied", {"auth": AUTH}, {"AGENT_KEY": KEY}, (copy,))


def test_keyed_lookups_from_the_key_index_answer_as_the_general_path(copied: Sidecar) -> None:
    """Lookups by key on an accelerated copy, once its key index is built (its size in
    /v1/status), are answered on the event loop and encoded a value at a time: the rows, in
    text and binary, with psycopg's and asyncpg's protocols, are the Parquet dataset's."""
    columns = "id, amount, status, created_at, note, price, day, customer"
    by_id = f"SELECT {columns} FROM {{}} WHERE id = $1"
    by_customer = f"SELECT {columns} FROM {{}} WHERE customer = $1"
    keys = [0, 1, 4999, 5000, -1, 77]
    with psycopg.connect(copied.dsn(user="agent", password=KEY), autocommit=True) as conn:
        for sql, value in ((by_id, 7), (by_customer, "c7")):
            for _ in range(3):
                conn.execute(sql.replace("$1", "%s").format("orders_copy"), [value]).fetchall()
        headers = {"Authorization": f"Bearer {KEY}"}
        deadline = time.monotonic() + 30
        while True:
            status = httpx.get(f"{copied.http}/v1/status", headers=headers).json()
            copy = {d["name"]: d for d in status["datasets"]}["orders_copy"]
            if copy["acceleration"]["key_index_bytes"]:
                break
            assert time.monotonic() < deadline, "the key index was not built"
            time.sleep(0.05)
        for binary in (False, True):
            cursor = conn.cursor(binary=binary)
            expected = {0: 1, 1: 1, 4999: 1, 77: 1, "c7": 100, "c49": 100}
            for sql, values in ((by_id, keys), (by_customer, ["c7", "c49", "c50", ""])):
                for value in values:
                    text = sql.replace("$1", "%s")
                    fast = cursor.execute(text.format("orders_copy"), [value]).fetchall()
                    assert fast == cursor.execute(text.format("orders"), [value]).fetchall()
                    assert len(fast) == expected.get(value, 0)

    async def run() -> None:
        connection = await asyncpg.connect(
            host="127.0.0.1", port=copied.port, user="agent", password=KEY, database="shop"
        )
        try:
            fast = await connection.prepare(by_id.format("orders_copy"))
            general = await connection.prepare(by_id.format("orders"))
            for key in keys:
                assert [tuple(r) for r in await fast.fetch(key)] == [
                    tuple(r) for r in await general.fetch(key)
                ]
        finally:
            await connection.close()

    asyncio.run(run())


# ---- asyncpg ------------------------------------------------------------------------------------


def test_asyncpg_prepared_statements_binary_results_and_cursors(scram: Sidecar) -> None:
    async def run() -> None:
        connection = await asyncpg.connect(
            host="127.0.0.1", port=scram.port, user="agent", password=KEY, database="shop"
        )
        try:
            statement = await connection.prepare(
                "SELECT id, amount, created_at, price, tags, day FROM orders "
                "WHERE created_at >= $1 AND status = $2 AND id < $3 ORDER BY id"
            )
            first = await statement.fetch(dt.datetime(2026, 3, 14, 1), "failed", 100)
            assert [tuple(r) for r in first] == [
                (60, 75.0, dt.datetime(2026, 3, 14, 1), Decimal("15.00"), [], dt.date(2026, 3, 18)),
                (70, 87.5, dt.datetime(2026, 3, 14, 1, 10), Decimal("17.50"), ["a", "b c"],
                 dt.date(2026, 3, 14)),
                (80, 100.0, dt.datetime(2026, 3, 14, 1, 20), Decimal("20.00"), ["a", "b c"],
                 dt.date(2026, 3, 17)),
                (90, 112.5, dt.datetime(2026, 3, 14, 1, 30), Decimal("22.50"), [],
                 dt.date(2026, 3, 20)),
            ]  # fmt: skip
            assert len(await statement.fetch(dt.datetime(2026, 3, 14), "paid", 10)) == 9
            assert [a.name for a in statement.get_attributes()][:2] == ["id", "amount"]
            assert (
                await connection.fetchval("SELECT count(*) FROM orders WHERE note IS NULL") == 2500
            )
            row = await connection.fetchrow(
                "SELECT true AS t, 2::int AS i, 1.5::real AS r, interval '1 day 2 hours' AS iv, "
                "[1, 2] AS l, 'é' AS s"
            )
            assert tuple(row) == (True, 2, 1.5, dt.timedelta(days=1, hours=2), [1, 2], "é")
            async with connection.transaction():
                seen = [r["x"] async for r in connection.cursor("SELECT x FROM big", prefetch=1000)]
            assert len(seen) == 300_000
        finally:
            await connection.close()

    asyncio.run(run())


# ---- SQLAlchemy and pandas ----------------------------------------------------------------------


def test_sqlalchemy_psycopg_inspector_and_queries(scram: Sidecar) -> None:
    engine = sa.create_engine(scram.url("psycopg"))
    try:
        inspector = sa.inspect(engine)
        assert inspector.get_table_names() == ["big", "orders"]
        assert inspector.get_view_names() == ["failed_orders"]
        columns = {c["name"]: c for c in inspector.get_columns("orders")}
        assert list(columns)[:3] == ["id", "amount", "status"]
        assert isinstance(columns["id"]["type"], sa.BIGINT)
        assert isinstance(columns["price"]["type"], sa.NUMERIC)
        assert columns["id"]["comment"] == "order id"
        assert inspector.get_pk_constraint("orders")["constrained_columns"] == []
        assert inspector.get_table_comment("orders") == {"text": "Orders of the shop"}
        with engine.connect() as connection:
            table = sa.Table("orders", sa.MetaData(), autoload_with=connection)
            query = sa.select(table.c.id).where(table.c.status == "failed").order_by(table.c.id)
            assert connection.execute(query.limit(2)).scalars().all() == [0, 10]
    finally:
        engine.dispose()


def test_sqlalchemy_asyncpg_inspector_and_queries(scram: Sidecar) -> None:
    async def run() -> None:
        engine = create_async_engine(scram.url("asyncpg"))
        try:
            async with engine.connect() as connection:
                tables = await connection.run_sync(lambda c: sa.inspect(c).get_table_names())
                columns = await connection.run_sync(
                    lambda c: [col["name"] for col in sa.inspect(c).get_columns("orders")]
                )
                result = await connection.execute(
                    sa.text("SELECT id FROM orders WHERE amount > :a ORDER BY id LIMIT 2"),
                    {"a": 10},
                )
                assert tables == ["big", "orders"]
                assert columns[:3] == ["id", "amount", "status"]
                assert result.scalars().all() == [9, 10]
        finally:
            await engine.dispose()

    asyncio.run(run())


def test_pandas_read_sql(scram: Sidecar) -> None:
    engine = sa.create_engine(scram.url("psycopg"))
    try:
        with engine.connect() as connection:
            frame = pd.read_sql(
                "SELECT status, count(*) AS n FROM orders GROUP BY 1 ORDER BY 1", connection
            )
            assert frame.to_dict("records") == [{"status": "failed", "n": 500},
                                                {"status": "paid", "n": 4500}]  # fmt: skip
            table = pd.read_sql_table("orders", connection)
            assert len(table) == 5000 and list(table.columns)[:2] == ["id", "amount"]
            filtered = pd.read_sql(
                sa.text("SELECT id, created_at FROM orders WHERE id < :n ORDER BY id"),
                connection, params={"n": 2},
            )  # fmt: skip
            stamps = [pd.Timestamp("2026-03-14 00:00:00"), pd.Timestamp("2026-03-14 00:01:00")]
            assert filtered["created_at"].tolist() == stamps
    finally:
        engine.dispose()


# ---- pgjdbc -------------------------------------------------------------------------------------


def test_pgjdbc(scram: Sidecar, tmp_path: Path) -> None:
    if not PGJDBC.exists() or not shutil.which("javac"):
        unavailable("pgjdbc or a JDK", "make test installs libpostgresql-jdbc-java")
    shutil.copy(Path(__file__).with_name("PgjdbcProbe.java"), tmp_path)
    javac = ["javac", "-cp", str(PGJDBC), "PgjdbcProbe.java"]
    subprocess.run(javac, cwd=tmp_path, check=True, timeout=120)
    url = f"jdbc:postgresql://127.0.0.1:{scram.port}/shop"
    result = subprocess.run(
        ["java", "-cp", f"{PGJDBC}:.", "PgjdbcProbe", url, KEY],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = dict(line.split("=", 1) for line in result.stdout.splitlines())
    assert lines["product"] == "PostgreSQL"
    assert lines["rows"] == (
        "0|0.0|2026-03-14 00:00:00.0|0.00;10|12.5|2026-03-14 00:10:00.0|2.50;"
        "20|25.0|2026-03-14 00:20:00.0|5.00;"
    )
    assert lines["fetched"] == "300000"
    assert lines["columns"].startswith("id:int8 amount:float8 status:text created_at:timestamp")


# ---- authentication and TLS ---------------------------------------------------------------------


def test_scram_accepts_the_key_and_refuses_anything_else(scram: Sidecar) -> None:
    with psycopg.connect(scram.dsn(user="agent", password=KEY)) as connection:
        assert connection.execute("SELECT current_user").fetchone() == ("agent",)
    for user, password in (("agent", "wrong"), ("nobody", KEY), ("nobody", "wrong")):
        with pytest.raises(psycopg.OperationalError) as refused:
            psycopg.connect(scram.dsn(user=user, password=password))
        assert f'password authentication failed for user "{user}"' in str(refused.value)


def test_ssl_request_is_refused_without_tls(scram: Sidecar) -> None:
    with psycopg.connect(scram.dsn(user="agent", password=KEY, sslmode="prefer")) as connection:
        assert not connection.pgconn.ssl_in_use
    with pytest.raises(psycopg.OperationalError, match="does not support SSL"):
        psycopg.connect(scram.dsn(user="agent", password=KEY, sslmode="require"))


@pytest.fixture(scope="module")
def secure(data: Path) -> Iterator[Sidecar]:
    root = data.parent / "secure"
    root.mkdir(exist_ok=True)
    self_signed(root)
    runtime = {
        "tls": {"cert": "cert.pem", "key": "key.pem"},
        "pg": {"auth_method": "password"},
        "auth": AUTH,
    }
    yield from _running(data, "secure", runtime, {"AGENT_KEY": KEY})


def test_with_tls_a_plaintext_client_is_refused_before_any_password(secure: Sidecar) -> None:
    with pytest.raises(psycopg.OperationalError, match="sslmode=require"):
        psycopg.connect(secure.dsn(user="agent", password=KEY, sslmode="disable"))
    with socket.create_connection(("127.0.0.1", secure.port), timeout=10) as plain:
        parameters = b"user\0agent\0database\0shop\0\0"
        plain.sendall(struct.pack(">ii", 8 + len(parameters), 196608) + parameters)
        reply = plain.recv(4096)
    assert reply[:1] == b"E", reply  # never R: no AuthenticationCleartextPassword in the clear
    fields = pg_client.fields(reply[5:])
    assert fields["C"] == "28000" and fields["S"] == "FATAL"
    assert "sslmode=require" in fields["H"]
    with psycopg.connect(secure.dsn(user="agent", password=KEY, sslmode="prefer")) as connection:
        assert connection.pgconn.ssl_in_use


def test_tls_with_cleartext_passwords(secure: Sidecar) -> None:
    with psycopg.connect(secure.dsn(user="agent", password=KEY, sslmode="require")) as connection:
        assert connection.pgconn.ssl_in_use
        assert connection.execute("SELECT count(*) FROM big").fetchone() == (300_000,)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(secure.dsn(user="agent", password="wrong", sslmode="require"))
    out = psql(secure, r"\conninfo", "SELECT 1 AS one", sslmode="require")
    assert "SSL connection (protocol: TLSv1.3" in out


def test_trust_when_no_keys_are_configured(trusted: Sidecar) -> None:
    with psycopg.connect(trusted.dsn(user="anyone")) as connection:
        assert connection.execute("SELECT current_user").fetchone() == ("anyone",)


# ---- cancel, streaming, metrics -----------------------------------------------------------------


def test_cancel_request_stops_a_running_query(scram: Sidecar) -> None:
    """psql's Ctrl-C: 57014 at once, the connection stays usable, and the sidecar stops working."""
    pid = scram.process.process.pid  # type: ignore[union-attr]

    def cpu_seconds() -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    with psycopg.connect(scram.dsn(user="agent", password=KEY), autocommit=True) as connection:
        timer = threading.Timer(0.5, connection.cancel)
        timer.start()
        started = time.monotonic()
        with pytest.raises(errors.QueryCanceled) as cancelled:
            connection.execute("SELECT a.x, b.x FROM big a JOIN big b ON a.x < b.x")
        assert cancelled.value.sqlstate == "57014"
        assert time.monotonic() - started < 10
        assert connection.execute("SELECT 1").fetchone() == (1,)
        time.sleep(0.5)
        idle = cpu_seconds()
        time.sleep(1.0)
        assert cpu_seconds() - idle < 0.3  # nothing left running in the background


def test_statement_timeout_cancels_with_57014(conn: psycopg.Connection) -> None:
    conn.autocommit = True
    conn.execute("SET statement_timeout = '300ms'")
    with pytest.raises(errors.QueryCanceled, match="statement timeout"):
        conn.execute("SELECT a.x, b.x FROM big a JOIN big b ON a.x < b.x")
    conn.execute("RESET statement_timeout")
    assert conn.execute("SELECT count(*) FROM orders").fetchone() == (5000,)


def test_information_schema_through_the_wire(conn: psycopg.Connection) -> None:
    tables = conn.execute(
        "SELECT table_name, table_type FROM information_schema.tables "
        "WHERE table_schema = 'public' ORDER BY 1"
    ).fetchall()
    assert tables == [("big", "BASE TABLE"), ("failed_orders", "VIEW"), ("orders", "BASE TABLE")]
    columns = conn.execute(
        "SELECT column_name, data_type, udt_name FROM information_schema.columns "
        "WHERE table_name = %s ORDER BY ordinal_position LIMIT 3",
        ["orders"],
    ).fetchall()
    assert columns == [("id", "bigint", "int8"), ("amount", "double precision", "float8"),
                       ("status", "text", "text")]  # fmt: skip


def test_a_pg_port_in_use_is_one_clear_line(trusted: Sidecar, tmp_path: Path) -> None:
    (tmp_path / "sidecar.yaml").write_text("name: other\n")
    ports = ["--http-port", str(free_port()), "--flight-port", str(free_port())]
    result = subprocess.run(
        [sys.executable, "-m", "sidecar", "run", *ports, "--pg-port", str(trusted.port)],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{trusted.port} for pg" in result.stderr
    assert "runtime.pg.port" in result.stderr and "Traceback" not in result.stderr


def test_a_cancel_request_with_the_wrong_secret_is_ignored(trusted: Sidecar) -> None:
    client = RawClient(trusted.port)
    intruder = RawClient(trusted.port, login=False)
    intruder.send_raw(struct.pack(">iiii", 16, 80877102, client.pid, client.secret ^ 1))
    assert intruder.closed()
    reply = client.query("SELECT count(*) FROM big")
    assert reply.rows() == [[b"300000"]] and reply.status == "I"
    client.close()


def test_results_stream_with_backpressure(trusted: Sidecar) -> None:
    """A slow reader of ~400 MB of rows: the sidecar's memory must not grow with the result."""
    pid = trusted.process.process.pid  # type: ignore[union-attr]

    def peak_rss() -> int:
        status = Path(f"/proc/{pid}/status").read_text()
        return int(
            next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM"))
        )

    client = RawClient(trusted.port, timeout=60)
    before = peak_rss()
    client.send(pg_client.message(b"Q", pg_client.cstring(
        "SELECT value, repeat('x', 400) FROM generate_series(1, 1000000)")))  # fmt: skip
    rows = 0
    while True:
        kind, _ = client.read_message()
        rows += kind == "D"
        if rows % 50_000 == 0 and kind == "D":
            time.sleep(0.2)
        if kind == "Z":
            break
    assert rows == 1_000_000
    assert peak_rss() - before < 250_000  # kB: well under the ~420 MB that was sent
    client.close()


def test_pg_queries_are_counted_in_metrics(scram: Sidecar, conn: psycopg.Connection) -> None:
    conn.execute("SELECT 1").fetchall()
    metrics = httpx.get(f"{scram.http}/metrics", headers={"Authorization": f"Bearer {KEY}"}).text
    assert 'sidecar_queries_total{identity="agent",interface="pg",outcome="ok"}' in metrics


# ---- raw protocol -------------------------------------------------------------------------------


def test_startup_reports_parameters_and_backend_key(trusted: Sidecar) -> None:
    client = RawClient(trusted.port, login=False)
    client.send_raw(pg_client.startup_packet())
    reply = client.read_until_ready()
    status = dict(body[:-1].decode().split("\0", 1) for kind, body in reply.messages if kind == "S")
    for name in ("server_version", "client_encoding", "DateStyle", "integer_datetimes",
                 "standard_conforming_strings", "TimeZone", "application_name"):  # fmt: skip
        assert name in status
    assert status["client_encoding"] == "UTF8" and status["integer_datetimes"] == "on"
    assert reply.kinds.startswith("R") and "K" in reply.kinds and reply.status == "I"
    client.close()


def test_gssenc_request_is_refused(trusted: Sidecar) -> None:
    client = RawClient(trusted.port, login=False)
    client.send_raw(struct.pack(">ii", 8, 80877104))
    assert client.read_exactly(1) == b"N"
    client.send_raw(pg_client.startup_packet())
    assert client.read_until_ready().status == "I"
    client.close()


def test_execute_with_a_row_limit_suspends_the_portal(trusted: Sidecar) -> None:
    client = RawClient(trusted.port)
    client.send(
        pg_client.parse("SELECT id FROM orders WHERE id < $1 ORDER BY id", types=(20,)),
        pg_client.bind(values=(b"5",)),
        pg_client.describe("P"),
        pg_client.execute(max_rows=2),
        pg_client.execute(max_rows=2),
        pg_client.execute(max_rows=2),
        pg_client.SYNC,
    )
    reply = client.read_until_ready()
    assert reply.kinds == "12TDDsDDsDCZ"
    assert [row[0] for row in reply.rows()] == [b"0", b"1", b"2", b"3", b"4"]
    assert reply.messages[-2] == ("C", b"SELECT 1\0")
    client.close()


def test_messages_are_read_whole_however_the_stream_is_cut(trusted: Sidecar) -> None:
    """Messages arrive pipelined in one packet, cut mid-header and mid-body, and longer than
    the server's read buffer (a 100 KB statement text): each is answered once, in order."""
    client = RawClient(trusted.port)
    client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    padding = "/*" + "x" * 100_000 + "*/"
    cycle = b"".join([
        pg_client.parse(f"SELECT id FROM orders WHERE id = $1 {padding}", types=(20,)),
        pg_client.bind(values=(b"3",)),
        pg_client.describe("P"),
        pg_client.execute(),
        pg_client.SYNC,
        pg_client.parse("SELECT id FROM orders WHERE id = $1", types=(20,)),
        pg_client.bind(values=(b"4",)),
        pg_client.execute(),
        pg_client.SYNC,
    ])  # fmt: skip
    cuts = [1, 3, 5, 7, 60_000, len(cycle) - 30, len(cycle) - 9, len(cycle) - 2]
    for start, end in itertools.pairwise([0, *cuts, len(cycle)]):
        client.send_raw(cycle[start:end])
        time.sleep(0.02)
    first, second = client.read_until_ready(), client.read_until_ready()
    assert (first.kinds, first.rows()) == ("12TDCZ", [[b"3"]])
    assert (second.kinds, second.rows()) == ("12DCZ", [[b"4"]])
    client.close()


def test_describe_statement_infers_parameter_types(trusted: Sidecar) -> None:
    client = RawClient(trusted.port)
    client.send(
        pg_client.parse(
            "SELECT id FROM orders WHERE created_at > $1 AND amount < $2 LIMIT $3", "s"
        ),
        pg_client.describe("S", "s"),
        pg_client.SYNC,
    )
    reply = client.read_until_ready()
    assert reply.kinds == "1tTZ"
    description = dict(reply.messages)["t"]
    assert struct.unpack(">hiii", description) == (3, 1114, 701, 20)
    client.close()


def test_errors_in_the_extended_protocol_skip_to_sync(trusted: Sidecar) -> None:
    client = RawClient(trusted.port)
    client.send(pg_client.parse("SELEC 1"), pg_client.bind(), pg_client.execute(), pg_client.SYNC)
    reply = client.read_until_ready()
    assert reply.kinds == "EZ" and reply.errors()[0]["C"] == "42601"
    client.send(
        pg_client.parse("SELECT nope FROM orders"),
        pg_client.bind(),
        pg_client.execute(),
        pg_client.SYNC,
    )
    reply = client.read_until_ready()
    assert reply.kinds == "1EZ" and reply.errors()[0]["C"] == "42703"
    client.send(pg_client.parse("SELECT 42"), pg_client.bind(), pg_client.execute(), pg_client.SYNC)
    reply = client.read_until_ready()
    assert reply.kinds == "12DCZ" and reply.rows() == [[b"42"]]
    client.close()


def test_transaction_status_in_ready_for_query(trusted: Sidecar) -> None:
    client = RawClient(trusted.port)
    assert client.query("BEGIN").status == "T"
    assert client.query("SELECT * FROM nope").status == "E"
    failed = client.query("SELECT 1")
    assert failed.errors()[0]["C"] == "25P02" and failed.status == "E"
    assert client.query("ROLLBACK").status == "I"
    both = client.query("SELECT 1; SELECT nope FROM orders; SELECT 3")
    assert both.kinds == "TDCEZ" and both.status == "I"
    assert both.errors()[0]["P"] == str(len("SELECT 1; SELECT ") + 1)
    assert client.query("").kinds == "IZ"
    client.close()


def test_fuzzed_messages_close_only_their_own_connection(trusted: Sidecar) -> None:
    rng = random.Random(1234)
    bystander = RawClient(trusted.port)
    attacks: list[bytes] = [
        struct.pack(">i", 3),  # startup length below the minimum
        struct.pack(">ii", 2**31 - 1, 196608),  # oversized startup packet
        struct.pack(">ii", 8, 12345678),  # unknown protocol
        pg_client.startup_packet()[:-1] + b"x",  # unterminated parameters
    ]
    logged_in: list[bytes] = [
        b"Q" + struct.pack(">i", 2**30),  # oversized message
        b"Q" + struct.pack(">i", 2),  # length below its own header
        b"?" + struct.pack(">i", 4),  # unknown message type
        pg_client.message(b"B", b"\0\0" + struct.pack(">h", -5)),  # count past the end
        pg_client.message(b"B", b"\0\0\0\0\0\x01" + struct.pack(">i", 1000) + b"x"),
        pg_client.message(b"P", b"no terminator"),
        pg_client.message(b"D", b"X\0"),
        pg_client.message(b"E", b"\0"),
        pg_client.message(b"Q", b"SELECT \xff\xfe\0"),
    ]
    logged_in += [bytes([rng.choice(b"PBDECQSHFdp")]) + rng.randbytes(rng.randint(0, 64))
                  for _ in range(150)]  # fmt: skip
    for attack in attacks:
        client = RawClient(trusted.port, login=False)
        client.send_raw(attack)
        assert client.closed()
        client.close()
    for attack in logged_in:
        client = RawClient(trusted.port, timeout=2)
        try:
            client.send_raw(attack)
            client.send_raw(pg_client.SYNC)
        except OSError:
            pass
        client.closed()
        client.close()
    assert bystander.query("SELECT count(*) FROM orders").rows() == [[b"5000"]]
    with psycopg.connect(trusted.dsn(user="after")) as connection:
        assert connection.execute("SELECT count(*) FROM big").fetchone() == (300_000,)
    bystander.close()


def test_an_oversized_message_gets_a_protocol_violation(trusted: Sidecar) -> None:
    client = RawClient(trusted.port)
    client.send_raw(b"Q" + struct.pack(">i", 2**30))
    reply = client.read_until_ready()
    assert reply.errors()[0]["C"] == "08P01" and reply.errors()[0]["S"] == "FATAL"
    assert client.closed()
    client.close()


def test_a_client_reset_mid_query_ends_its_session_quietly(trusted: Sidecar) -> None:
    """A client whose connection was reset (RST) while its statement ran: uvloop refused the
    error reply's write to the closed connection with RuntimeError, which ended the session
    as an unexpected failure, traceback and all, in the log."""
    endless = "SELECT count(*) AS n FROM generate_series(1, 1000000000000) g(x) WHERE x % 7 = 3"
    logged = len(trusted.process.output)
    for messages in (
        [pg_client.message(b"Q", pg_client.cstring(endless))],
        [pg_client.parse(endless), pg_client.bind(), pg_client.execute(), pg_client.SYNC],
    ):
        client = RawClient(trusted.port)
        client.send(*messages)
        time.sleep(0.3)
        client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()  # SO_LINGER 0: closed with a reset
    bystander = RawClient(trusted.port)
    assert bystander.query("SELECT count(*) FROM orders").rows() == [[b"5000"]]
    bystander.close()
    assert "Traceback" not in trusted.process.output[logged:]


def bind_binary(oid: int, value: bytes) -> list[bytes]:
    """Parse `SELECT $1` with the parameter typed `oid`, Bind `value` in binary, Execute."""
    payload = b"\0\0" + struct.pack(">hhH", 1, 1, 1) + struct.pack(">i", len(value)) + value
    return [
        pg_client.parse("SELECT $1 AS a", types=(oid,)),
        pg_client.message(b"B", payload + struct.pack(">h", 0)),
        pg_client.execute(),
        pg_client.SYNC,
    ]


@pytest.mark.parametrize("oid", [1114, 1184])
def test_a_binary_timestamp_past_year_9999_is_out_of_range(trusted: Sidecar, oid: int) -> None:
    """A binary timestamp outside Python's years 1-9999 (PostgreSQL's 'infinity' is
    INT64_MAX) was an internal error, "a bug in the sidecar's Postgres wire server"."""
    client = RawClient(trusted.port)
    for micros in ((1 << 63) - 1, -(1 << 63)):
        client.send(*bind_binary(oid, struct.pack(">q", micros)))
        [error] = client.read_until_ready().errors()
        assert error["C"] == "22008", error
        assert "timestamp" in error["M"] and "out of range in bind parameter 1" in error["M"]
    assert client.query("SELECT 1 AS n").rows() == [[b"1"]]
    client.close()


def test_a_binary_time_past_a_day_is_refused(trusted: Sidecar) -> None:
    """PostgreSQL's time_recv takes 0 to 24:00:00: 25 hours was read as 01:00:00, and a
    negative or INT64_MAX time was an internal error."""
    client = RawClient(trusted.port)
    for micros in (25 * 3600 * 10**6, -1, (1 << 63) - 1, -(1 << 63)):
        client.send(*bind_binary(1083, struct.pack(">q", micros)))
        [error] = client.read_until_ready().errors()
        assert error["C"] == "22P03" and "time out of range" in error["D"], error
    client.send(*bind_binary(1083, struct.pack(">q", 3600 * 10**6 + 5)))
    assert client.read_until_ready().rows() == [[b"01:00:00.000005"]]
    client.close()
