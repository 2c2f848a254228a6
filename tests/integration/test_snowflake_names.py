"""Snowflake names as agents type them: tables created without quotes store S_SUPPKEY, and
`SELECT s_suppkey FROM suppliers` must work, through the real ADBC Snowflake driver against
fakesnow, in scans with pushed filters and in whole queries sent to Snowflake."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sidecar.engine import Engine
from sidecar.errors import SidecarError
from tests.engines import loaded_engine, rows
from tests.peers.snowflake import Snowflake, snowflake  # noqa: F401


@pytest.fixture(scope="module")
def engine(
    snowflake: Snowflake,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Engine]:
    snowflake.execute(
        "CREATE OR REPLACE TABLE SHOP.PUBLIC.SUPPLIERS (s_suppkey NUMBER(9,0), "
        's_name VARCHAR, s_nationkey NUMBER(9,0), "MixedCase" VARCHAR)',
        "INSERT INTO SHOP.PUBLIC.SUPPLIERS VALUES (1, 'Acme', 10, 'a'), (2, 'Brio', 20, 'b'), "
        "(3, 'Cora', 10, 'c')",
        "CREATE OR REPLACE TABLE SHOP.PUBLIC.NATIONS (n_nationkey NUMBER(9,0), n_name VARCHAR)",
        "INSERT INTO SHOP.PUBLIC.NATIONS VALUES (10, 'FRANCE'), (20, 'PERU')",
    )
    root = tmp_path_factory.mktemp("snowflake-names")
    pq.write_table(pa.table({"s_suppkey": [2, 3], "rating": [4, 5]}), root / "ratings.parquet")
    params = snowflake.params(database="SHOP", schema="PUBLIC")
    engine = loaded_engine(
        {
            "datasets": [
                {"from": "snowflake:SHOP.PUBLIC.SUPPLIERS", "name": "suppliers", "params": params},
                {"from": "snowflake:SHOP.PUBLIC.NATIONS", "name": "nations", "params": params},
                {"from": "file:ratings.parquet", "name": "ratings"},
            ]
        },
        root,
    )
    yield engine
    engine.close()


def test_unquoted_names_are_lower_case(engine: Engine) -> None:
    found = rows(engine, "SELECT s_suppkey, s_name FROM suppliers WHERE s_suppkey >= 2")
    assert [(int(r["s_suppkey"]), r["s_name"]) for r in found] == [(2, "Brio"), (3, "Cora")]
    columns = rows(
        engine,
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'suppliers'",
    )
    assert [c["column_name"] for c in columns] == [
        "s_suppkey",
        "s_name",
        "s_nationkey",
        "MixedCase",
    ]


def test_a_pushed_filter_names_the_stored_columns(engine: Engine) -> None:
    sql = (
        "SELECT s.s_name, r.rating FROM suppliers s JOIN ratings r ON r.s_suppkey = s.s_suppkey "
        "WHERE s.s_name <> 'Cora' AND S.S_NATIONKEY = 20"
    )
    result = engine.query(sql)
    scan = next(scan for scan in result.plan.scans if scan.relation == "suppliers")
    assert len(scan.request.filters) == 2
    sent = scan.connector.describe(scan.request)
    assert '"S_NATIONKEY" = 20' in sent and '"S_NAME"' in sent
    assert rows(engine, sql) == [{"s_name": "Brio", "rating": 4}]


def test_a_whole_query_goes_to_snowflake_with_its_stored_names(engine: Engine) -> None:
    sql = (
        "SELECT n.n_name, count(*) AS suppliers, max(s_name) AS last FROM suppliers "
        "JOIN nations n ON s_nationkey = n.n_nationkey WHERE s_suppkey < 10 "
        "GROUP BY n.n_name ORDER BY n_name"
    )
    result = engine.query(sql)
    assert result.plan.pushed is not None
    assert '"S_NATIONKEY" = "n"."N_NATIONKEY"' in result.plan.pushed.sql
    assert rows(engine, sql) == [
        {"n_name": "FRANCE", "suppliers": 2, "last": "Cora"},
        {"n_name": "PERU", "suppliers": 1, "last": "Brio"},
    ]


def test_quoted_names_keep_their_case(engine: Engine) -> None:
    found = rows(engine, 'SELECT "MixedCase" FROM suppliers WHERE "MixedCase" = \'b\'')
    assert found == [{"MixedCase": "b"}]
    with pytest.raises(SidecarError) as caught:
        engine.query('SELECT "mixedcase" FROM suppliers')
    assert "MixedCase" in (caught.value.hint or caught.value.message)
