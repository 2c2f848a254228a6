"""One suite, every connector: schema, type round-trip, scans and each pushdown, errors.

Expected rows come from DuckDB over the same Arrow table, so "exact pushdown" means exactly
what a SQL engine answers: byte-order text, SQL NULL logic, typed literals.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest
import sqlglot
from sqlglot import exp

from connectors.base import ScanRequest, SourceError
from connectors.sql import SqlConnector
from tests.conformance.conftest import TYPES, Case, types_table

FILTERS = {
    "eq": "i32 = 3",
    "neq": "i32 <> 3",
    "lt": "dec < 10",
    "f64": "f64 >= 1.25",
    "text_eq": "txt = 'alpha'",
    "text_lt": "txt < 'b'",
    "in": "txt IN ('beta', 'delta', 'nope')",
    "not_in": "NOT i32 IN (1, 2)",
    "between": "dec BETWEEN 0 AND 50",
    "like": "txt LIKE 'al%'",
    "not_like": "NOT txt LIKE 'a%'",
    "like_underscore": "txt LIKE 'a_b'",
    "ilike": "txt ILIKE 'al%'",
    "is_null": "txt IS NULL",
    "is_not_null": "txt IS NOT NULL",
    "and_or": "(i32 > 6 OR txt = 'beta') AND dec > 0",
    "date": "day >= '2024-01-03'",
    "timestamp": "ts < '2024-01-03 00:00:00'",
    "bool": "flag = TRUE",
    "big": "big > 9007199254740992",
}
# Shapes every connector must push down (unless it says why not in Case.refuses).
CORE = set(FILTERS) - {"f64", "ilike", "like_underscore"}


def predicate(sql: str) -> exp.Expression:
    """As the planner hands it over: unqualified, quoted column names."""
    where = sqlglot.parse_one(f"SELECT 1 FROM t WHERE {sql}", read="postgres").args["where"]
    condition = where.this
    for column in list(condition.find_all(exp.Column)):
        column.replace(exp.column(column.name, quoted=True))
    return condition


def expected_ids(sql: str) -> list[int]:
    types = types_table()  # noqa: F841  (read by DuckDB by name)
    rows = duckdb.sql(f"SELECT id FROM types WHERE {sql} ORDER BY id").fetchall()
    return [row[0] for row in rows]


def ids(reader: pa.RecordBatchReader) -> list[int]:
    return sorted(int(v) for v in reader.read_all().column("id").to_pylist())


def test_schema(case: Case) -> None:
    assert case.connector().schema() == case.schema


def test_type_round_trip(case: Case) -> None:
    table = case.connector().scan(ScanRequest()).read_all()
    assert table.schema == case.schema
    got = table.cast(TYPES).sort_by("id").to_pylist()
    want = types_table().to_pylist()
    if case.name == "snowflake":
        # fakesnow sends NULL timestamps as the epoch; a real Snowflake sends NULL.
        got[-1]["ts"] = None
    if case.name in ("mongodb", "elasticsearch"):
        # BSON and Elasticsearch dates hold milliseconds.
        for row in want:
            if row["ts"] is not None:
                row["ts"] = row["ts"].replace(microsecond=row["ts"].microsecond // 1000 * 1000)
    assert got == want


def test_projection_keeps_the_requested_order(case: Case) -> None:
    table = case.connector().scan(ScanRequest(projection=["txt", "id"])).read_all()
    assert table.column_names == ["txt", "id"]
    assert table.num_rows == 9


@pytest.mark.parametrize("shape", sorted(FILTERS))
def test_filter_pushdown_is_exact(case: Case, shape: str) -> None:
    connector = case.connector()
    condition = predicate(FILTERS[shape])
    accepted = connector.accepts_filter(condition)
    if shape in case.refuses:
        assert not accepted, f"{case.name} should leave {shape} to the engine"
        return
    if shape in CORE:
        assert accepted, f"{case.name} should push {shape} down"
    if not accepted:
        pytest.skip(f"{case.name} leaves {shape} to the engine")
    reader = connector.scan(ScanRequest(projection=["id"], filters=[condition]))
    assert ids(reader) == expected_ids(FILTERS[shape])


def test_limit_stops_early(case: Case) -> None:
    connector = case.connector()
    assert connector.supports_limit
    reader = connector.scan(ScanRequest(projection=["id"], filters=[predicate("i32 > 2")], limit=2))
    got = ids(reader)
    assert len(got) == 2 and set(got) <= set(expected_ids("i32 > 2"))


def test_order_and_limit(case: Case) -> None:
    connector = case.connector()
    if not connector.supports_order:
        pytest.skip(f"{case.name} does not order")
    key = sqlglot.parse_one("SELECT 1 FROM t ORDER BY txt DESC LIMIT 1", read="postgres")
    ordered = key.args["order"].expressions[0]
    ordered.set("this", exp.column("txt", quoted=True))
    request = ScanRequest(projection=["id", "txt"], limit=3, order_by=[ordered])
    got = connector.scan(request).read_all().column("id").to_pylist()
    types = types_table()  # noqa: F841
    want = duckdb.sql("SELECT id FROM types ORDER BY txt DESC NULLS FIRST LIMIT 3").fetchall()
    if isinstance(connector, SqlConnector) and "ORDER BY" in connector.select(request):
        assert [int(v) for v in got] == [row[0] for row in want]
    else:
        assert len(got) <= 9


def test_describe_shows_what_is_sent(case: Case) -> None:
    connector = case.connector()
    condition = predicate("i32 = 3")
    request = ScanRequest(projection=["id"], filters=[condition], limit=5)
    text = connector.describe(request)
    assert "5" in text and "3" in text
    if isinstance(connector, SqlConnector):
        assert text.endswith(connector.select(request))
        assert "SELECT" in text and "LIMIT 5" in text and "WHERE" in text


def test_unknown_table_names_the_ones_that_exist(case: Case) -> None:
    location = case.location.replace("types", "typos").replace("TYPES", "TYPOS")
    with pytest.raises(SourceError) as caught:
        case.connector(location=location).schema()
    assert "typos" in str(caught.value).lower()
    assert caught.value.hint and "types" in caught.value.hint.lower()


def test_bad_credentials_fail_without_the_password(case: Case) -> None:
    if "credentials" not in case.broken:
        pytest.skip(f"{case.name} has no credentials to get wrong")
    source = case.broken["credentials"]()
    with pytest.raises(SourceError) as caught:
        case.connector(params=source.params).schema()
    text = f"{caught.value} {caught.value.hint}"
    assert "wrong" not in text and case.params[case.secret_param] not in text
    assert case.secret_param in (caught.value.hint or "")


def test_source_down_is_a_source_error(case: Case) -> None:
    if "down" not in case.broken:
        pytest.skip(f"{case.name} is a local file")
    source = case.broken["down"]()
    with pytest.raises(SourceError) as caught:
        case.connector(params=source.params).schema()
    assert caught.value.hint
    if "password" in case.params:
        assert case.params["password"] not in str(caught.value)


def test_source_key_hides_the_password(case: Case) -> None:
    connector = case.connector()
    if not isinstance(connector, SqlConnector):
        pytest.skip("not a SQL source")
    key = connector.source_key()
    assert key == case.connector().source_key()
    password = str(case.params.get("password", "") or "")
    assert not password or password not in key
