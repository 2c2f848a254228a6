"""What each SQL dialect is sent for a pushed predicate, and what is kept in the engine."""

from __future__ import annotations

from typing import ClassVar

import pyarrow as pa
import pytest
import sqlglot
from sqlglot import exp

from connectors.base import DatasetSource, ScanRequest
from connectors.options import fingerprint, scrub
from connectors.sql import SqlConnector
from connectors.sql_render import render_filter, render_order, rules_for

SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("name", pa.string()),
        ("day", pa.date32()),
        ("at", pa.timestamp("us", tz="UTC")),
        ("ratio", pa.float32()),
        ("flag", pa.bool_()),
        ("amount", pa.decimal128(12, 2)),
    ]
)


def rendered(sql: str, dialect: str) -> str | None:
    condition = sqlglot.parse_one(f"SELECT 1 FROM t WHERE {sql}", read="postgres").args["where"]
    result = render_filter(condition.this, SCHEMA, rules_for(dialect))
    return None if result is None else result.sql(dialect)


@pytest.mark.parametrize(
    ("sql", "dialect", "expected"),
    [
        ("id = '7'", "postgres", '"id" = 7'),
        ("name < 'b'", "postgres", '"name" COLLATE "C" < \'b\''),
        ("name = 'b'", "postgres", "\"name\" = 'b'"),
        ("name = 'b'", "mysql", "CAST(`name` AS BINARY) = 'b'"),
        ("name LIKE 'a%'", "mysql", "CAST(`name` AS BINARY) LIKE 'a%'"),
        ("name LIKE 'a_'", "mysql", None),
        ("name ILIKE 'a%'", "mysql", None),
        ("name LIKE 'a%'", "sqlite", None),
        ("name LIKE 'a\\%'", "postgres", None),
        ("day >= '2024-01-01'", "snowflake", "\"day\" >= CAST('2024-01-01' AS DATE)"),
        ("day >= '2024-01-01 10:00:00'", "postgres", None),
        ("at < '2024-01-01 10:00:00'", "mysql", "`at` < '2024-01-01 10:00:00'"),
        (
            "at < '2024-01-01 10:00:00'",
            "postgres",
            "\"at\" < CAST('2024-01-01 10:00:00+00:00' AS TIMESTAMPTZ)",
        ),
        ("ratio > 0.5", "postgres", None),
        ("flag = TRUE", "mysql", None),
        ("flag = TRUE", "postgres", '"flag" = TRUE'),
        ("amount > 1.5", "mysql", "`amount` > 1.5"),
        (
            "NOT (id IN (1, 2) OR name IS NULL)",
            "postgres",
            'NOT ("id" IN (1, 2) OR "name" IS NULL)',
        ),
        ("lower(name) = 'a'", "postgres", None),
        ("id = 1", "clickhouse", '"id" = 1'),
        ("name = 'a'", "clickhouse", None),
    ],
)
def test_rendered_predicates(sql: str, dialect: str, expected: str | None) -> None:
    assert rendered(sql, dialect) == expected


def test_text_order_keys_are_byte_ordered() -> None:
    key = exp.Ordered(this=exp.column("name", quoted=True), desc=True, nulls_first=True)
    mysql = render_order(key, SCHEMA, rules_for("mysql"))
    assert mysql is not None and "CAST(`name` AS BINARY) DESC" in mysql.sql("mysql")
    assert render_order(key, SCHEMA, rules_for("clickhouse")) is None


def test_secrets_are_scrubbed_and_fingerprinted() -> None:
    text = "could not connect to postgresql://agent:hunter22@db:5432/x (password hunter22)"
    assert scrub(text, ["hunter22"]) == (
        "could not connect to postgresql://agent:***@db:5432/x (password ***)"
    )
    assert fingerprint("hunter22") == fingerprint("hunter22") != fingerprint("hunter23")
    assert "hunter22" not in fingerprint("hunter22")


class UpperCaseSource(SqlConnector):
    """A source that stores unquoted names in upper case (Snowflake's rule); never queried."""

    dialect: ClassVar[str] = "snowflake"

    def source_key(self) -> str:
        return "upper"

    def table(self) -> exp.Table:
        return exp.to_table("DB.PUBLIC.T")

    def query(self, sql: str, cancellation: object = None) -> pa.RecordBatchReader:
        raise AssertionError(sql)

    def schema(self) -> pa.Schema:
        return self.resolve_schema(STORED, "DB.PUBLIC.T")


STORED = pa.schema(
    [("ID", pa.int64()), ("id", pa.int64()), ("NAME", pa.string()), ("MixedCase", pa.string())]
)


def upper_case_source(declared: pa.Schema | None = None) -> UpperCaseSource:
    return UpperCaseSource(DatasetSource("t", "upper", "T", declared_schema=declared))


def test_upper_case_names_are_exposed_in_lower_case_only_when_unambiguous() -> None:
    source = upper_case_source()
    assert source.schema().names == ["ID", "id", "name", "MixedCase"]
    where = sqlglot.parse_one("SELECT 1 FROM t WHERE name = 'x'", read="postgres").args["where"]
    request = ScanRequest(["name", "id", "MixedCase"], [where.this], order_by=[], limit=5)
    assert source.select(request) == (
        'SELECT "NAME", "id", "MixedCase" FROM DB.PUBLIC.T WHERE "NAME" = \'x\' LIMIT 5'
    )


def test_a_name_declared_as_stored_is_kept() -> None:
    declared = pa.schema([("NAME", pa.string()), ("MixedCase", pa.string())])
    assert upper_case_source(declared).schema().names == ["NAME", "MixedCase"]
