"""Functions in whole queries sent to a SQL source answer exactly what the sidecar answers
locally: each expression is run over the same rows in MariaDB, PostgreSQL and Snowflake
(fakesnow), sent there whole, and over a Parquet copy in DataFusion, and the answers compared.

A function that the source computes differently (HEX's upper case for to_hex, CONCAT's NULL,
integer division, rounding casts) must be transpiled to the source's exact equivalent or keep
the query in the engine: a pushed query may be faster, never different.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sidecar.config import parse_config
from sidecar.engine import Engine
from sidecar.errors import SidecarError
from tests.peers.mariadb import MariaDB, mariadb  # noqa: F401
from tests.peers.postgres import Postgres, postgres  # noqa: F401
from tests.peers.snowflake import Snowflake, snowflake  # noqa: F401

ROWS = [
    (1, 255, "Alpha", "x", 2.5),
    (2, -7, "beta gamma", None, -1.5),
    (3, 10, "ÄÖü", "yz", 0.45),
    (4, None, "a_b%c", "", None),
]
EXPRESSIONS = [
    "to_hex(n)",
    "upper(name)",
    "lower(name)",
    "length(name)",
    "char_length(name)",
    "substr(name, 2, 3)",
    "left(name, 2)",
    "right(name, 2)",
    "strpos(name, 'a')",
    "replace(name, 'a', 'A')",
    "trim(concat(' ', name, ' '))",
    "lpad(name, 12, '*')",
    "rpad(name, 12, '*')",
    "concat(name, note)",
    "name || note",
    "concat_ws('-', name, note)",
    "coalesce(note, name)",
    "nullif(n, 10)",
    "abs(n)",
    "round(x, 1)",
    "round(x)",
    "ceil(x)",
    "floor(x)",
    "n / 2",
    "n % 3",
    "power(n, 2)",
    "sign(n)",
    "greatest(n, 0)",
    "least(n, id)",
    "md5(name)",
    "reverse(name)",
    "repeat(note, 2)",
    "split_part(name, ' ', 2)",
    "initcap(name)",
    "ascii(name)",
    "starts_with(name, 'A')",
    "CAST(x AS INT)",
    "CAST(n AS VARCHAR)",
    "CAST(x AS VARCHAR)",
    "n::double / 4",
    "CASE WHEN note = '' THEN 'empty' ELSE note END",
    "btrim(name, 'A')",
]


@pytest.fixture(scope="module")
def engine(
    mariadb: MariaDB,  # noqa: F811
    postgres: Postgres,  # noqa: F811
    snowflake: Snowflake,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Engine]:
    values = ", ".join(
        "(" + ", ".join("NULL" if v is None else repr(v) for v in row) + ")" for row in ROWS
    )
    columns = "id INT, n INT, name VARCHAR(20), note VARCHAR(20), x DOUBLE PRECISION"
    mariadb.execute(
        "CREATE OR REPLACE TABLE shop.fn_items "
        "(id INT, n INT, name VARCHAR(20), note VARCHAR(20), x DOUBLE) CHARACTER SET utf8mb4",
        f"INSERT INTO shop.fn_items VALUES {values}",
    )
    postgres.execute(
        "DROP TABLE IF EXISTS fn_items",
        f"CREATE TABLE fn_items ({columns})",
        f"INSERT INTO fn_items VALUES {values}",
        "GRANT SELECT ON fn_items TO agent",
    )
    snowflake.execute(
        "CREATE OR REPLACE TABLE SHOP.PUBLIC.FN_ITEMS "
        f"({columns.replace('DOUBLE PRECISION', 'DOUBLE')})",
        f"INSERT INTO SHOP.PUBLIC.FN_ITEMS VALUES {values}",
    )
    root: Path = tmp_path_factory.mktemp("pushed-functions")
    table = pa.table(
        {
            "id": pa.array([r[0] for r in ROWS], pa.int32()),
            "n": pa.array([r[1] for r in ROWS], pa.int32()),
            "name": pa.array([r[2] for r in ROWS], pa.string()),
            "note": pa.array([r[3] for r in ROWS], pa.string()),
            "x": pa.array([r[4] for r in ROWS], pa.float64()),
        }
    )
    pq.write_table(table, root / "items.parquet")
    pq.write_table(pa.table({"one_marker": [1]}), root / "one.parquet")
    config = parse_config(
        {
            "datasets": [
                {"from": "file:items.parquet", "name": "local_items"},
                {"from": "file:one.parquet", "name": "local_one"},
                {"from": "file:items.parquet", "name": "duck_items", "acceleration": {}},
                {"from": "mysql:shop.fn_items", "name": "mysql_items", "params": mariadb.params()},
                {
                    "from": "postgres:public.fn_items",
                    "name": "pg_items",
                    "params": postgres.params(),
                },
                {
                    "from": "snowflake:SHOP.PUBLIC.FN_ITEMS",
                    "name": "sf_items",
                    "params": snowflake.params(database="SHOP", schema="PUBLIC"),
                },
            ]
        },
        root,
    )
    engine = Engine(config)
    engine.load()
    yield engine
    engine.close()


def answer(engine: Engine, expression: str, table: str, *, pushed: bool = True) -> list[Any]:
    """The expression over `table`: sent whole to its source, or (`pushed=False`) computed
    by the engine over the same rows and types, joined with a local table so it stays here."""
    tail = "" if pushed else " CROSS JOIN local_one"
    sql = f"SELECT id, {expression} AS v FROM {table}{tail} ORDER BY id"
    return [_plain(row["v"]) for row in rows(engine, sql)]


def _plain(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 9)
    if hasattr(value, "is_integer") and not isinstance(value, bool | int):  # Decimal
        return round(float(value), 9)
    return value


# fakesnow answers slowly: Snowflake is asked what sqlglot writes in its own words (the rest
# is the same text everywhere). fakesnow (DuckDB underneath) leaves TRIM(x, 'A') untrimmed,
# which Snowflake documents trimming; Snowflake's integers are NUMBER(38, 0), decimals, which
# to_hex does not take.
SNOWFLAKE = [
    "strpos(name, 'a')",
    "concat(name, note)",
    "name || note",
    "concat_ws('-', name, note)",
    "round(x)",
    "n / 2",
    "n::double / 4",
    "greatest(n, 0)",
    "least(n, id)",
    "CAST(x AS INT)",
    "md5(name)",
]


@pytest.mark.parametrize("table", ["mysql_items", "pg_items", "sf_items", "duck_items"])
def test_a_pushed_function_answers_as_the_engine_does(engine: Engine, table: str) -> None:
    wrong = {}
    for expression in SNOWFLAKE if table == "sf_items" else EXPRESSIONS:
        local = answer(engine, expression, table, pushed=False)
        try:
            pushed: Any = answer(engine, expression, table)
        except SidecarError as error:
            pushed = f"ERROR {error.message}"
        if pushed != local:
            wrong[expression] = (local, pushed)
    assert not wrong, "\n".join(f"{e}: engine {a}, pushed {b}" for e, (a, b) in wrong.items())


def test_to_hex_is_lower_case_and_still_pushed_where_the_source_has_it(engine: Engine) -> None:
    assert answer(engine, "to_hex(n)", "local_items") == ["ff", "fffffffffffffff9", "a", None]
    for table, sent in (("pg_items", "TO_HEX("), ("mysql_items", "LOWER(HEX(")):
        explained = rows(engine, f"EXPLAIN SELECT to_hex(n) FROM {table}")
        assert sent in str(explained), explained


def rows(engine: Engine, sql: str) -> list[dict[str, Any]]:
    result = engine.query(sql)
    return pa.Table.from_batches(list(result), schema=result.schema).to_pylist()
