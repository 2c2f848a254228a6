"""Policies against a real SQL source, proven from MariaDB's general log: the row filter goes to
the source with the scan, the caller's predicates on masked columns never do, an attribute
arrives as a quoted literal, and an accelerated copy applies the filter when it is read."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from policies.identity import Identity
from sidecar.config import parse_config
from sidecar.engine import Engine
from sidecar.errors import SidecarError
from tests.peers.mariadb import MariaDB, mariadb  # noqa: F401

SRE = Identity("sre", {"country": "DE"})
ROWS = [
    (1, "Anna", "DE", 500),
    (2, "Bert", "FR", 100),
    (3, "Carl", "DE", 900),
    (4, "Dora", "US", 50),
    (5, "Emil", "de", 70),
]


@pytest.fixture(scope="module")
def source(mariadb: MariaDB) -> MariaDB:  # noqa: F811
    values = ", ".join(f"({i}, '{name}', '{country}', {limit})" for i, name, country, limit in ROWS)
    mariadb.execute(
        "DROP TABLE IF EXISTS policy_customers, policy_orders",
        "CREATE TABLE policy_customers (id INT PRIMARY KEY, name VARCHAR(32), "
        "country VARCHAR(8), credit_limit INT)",
        f"INSERT INTO policy_customers VALUES {values}",
        "CREATE TABLE policy_orders (id INT PRIMARY KEY, customer_id INT)",
        "INSERT INTO policy_orders VALUES (10, 1), (11, 2), (12, 3), (13, 5)",
    )
    return mariadb


def engine_for(
    source: MariaDB, root: Path, columns: dict[str, str] | None = None, **customers: Any
) -> Engine:
    config = parse_config(
        {
            "runtime": {
                "auth": {
                    "api_keys": [
                        {"key": "k" * 20, "identity": "sre", "attributes": {"country": "DE"}}
                    ]
                }
            },
            "datasets": [
                {
                    "from": "mysql:shop.policy_customers",
                    "name": "customers",
                    "params": source.params(),
                    **customers,
                },
                {"from": "mysql:shop.policy_orders", "name": "orders", "params": source.params()},
            ],
            "policies": [
                {
                    "identities": ["sre"],
                    "datasets": ["customers", "orders"],
                    "columns": columns
                    or {"customers.name": "mask", "customers.credit_limit": "deny"},
                    "rows": {"customers": "country = {identity.country}"},
                }
            ],
        },
        root,
    )
    engine = Engine(config)
    engine.load()
    return engine


@pytest.fixture
def engine(source: MariaDB, tmp_path: Path) -> Iterator[Engine]:
    engine = engine_for(source, tmp_path)
    yield engine
    engine.close()


def rows(engine: Engine, sql: str, identity: Identity = SRE) -> list[dict[str, Any]]:
    result = engine.query(sql, (), identity)
    return pa.Table.from_batches(list(result), schema=result.schema).to_pylist()


def test_the_row_filter_is_sent_to_the_source(engine: Engine, source: MariaDB) -> None:
    assert rows(engine, "SELECT id FROM customers WHERE id > 0 ORDER BY id") == [
        {"id": 1},
        {"id": 3},
    ]  # 'de' is not 'DE': the source compares as the engine does
    [sent] = source.statements("`id` > 0")
    assert "FROM `shop`.`policy_customers`" in sent
    assert "'DE'" in sent and "`country`" in sent, sent


def test_predicates_and_sorts_on_masked_columns_stay_above_the_mask(
    engine: Engine, source: MariaDB
) -> None:
    assert rows(engine, "SELECT id FROM customers WHERE name LIKE 'A%' AND id < 77") == []
    assert rows(engine, "SELECT id FROM customers WHERE id < 78 ORDER BY name DESC LIMIT 1")
    sent = source.statements("< 77") + source.statements("< 78")
    assert len(sent) == 2, sent
    assert not any("`name`" in statement for statement in sent), sent  # not even fetched
    assert not any("LIMIT" in statement for statement in sent), sent


def test_a_join_is_not_sent_whole_past_the_policy(engine: Engine, source: MariaDB) -> None:
    found = rows(
        engine,
        "SELECT o.id FROM orders o JOIN customers c ON c.id = o.customer_id "
        "WHERE o.id < 99 ORDER BY o.id",
    )
    assert found == [{"id": 10}, {"id": 12}]
    assert not [s for s in source.statements("policy_orders") if "JOIN" in s.upper()]


def test_an_attribute_reaches_the_source_as_a_literal(engine: Engine, source: MariaDB) -> None:
    for value in ("DE' OR '1'='1", "DE\\' OR 1=1 -- ", "DE\\"):
        marker = 900 + len(value)
        caller = Identity("sre", {"country": value})
        assert rows(engine, f"SELECT id FROM customers WHERE id < {marker}", caller) == [], value
        assert source.statements(f"< {marker}"), value


def test_an_accelerated_copy_applies_the_filter_on_read(source: MariaDB, tmp_path: Path) -> None:
    engine = engine_for(source, tmp_path, acceleration={"refresh_check_interval": "1h"})
    try:
        before = len(source.statements("policy_customers"))
        assert rows(engine, "SELECT id, name FROM customers ORDER BY id") == [
            {"id": 1, "name": "****"},
            {"id": 3, "name": "****"},
        ]
        assert len(source.statements("policy_customers")) == before  # answered by the copy
        text = engine.explain("SELECT id FROM customers", (), SRE)
        assert "row filter applied by the source" in text  # the copy takes it as a filter
        with pytest.raises(SidecarError, match='relation "customers" does not exist'):
            rows(engine, "SELECT count(*) AS n FROM customers", Identity("root"))
    finally:
        engine.close()


def test_a_source_error_under_a_policy_says_what_failed_but_not_the_policy(
    source: MariaDB, tmp_path: Path
) -> None:
    """The source's own words reach the caller (they were replaced by "the source failed to
    answer"), less what would tell the policy: the filter's value, a denied column's name."""
    engine = engine_for(source, tmp_path, {"customers.country": "deny"})
    try:
        source.execute("ALTER TABLE shop.policy_customers RENAME COLUMN country TO region")
        with pytest.raises(SidecarError) as raised:
            rows(engine, "SELECT id, name FROM customers WHERE id < 50")
        error = raised.value
        assert error.code.value == "source_error"
        assert "Unknown column '***'" in error.message, error.message
        assert not any(word in error.message.lower() for word in ("country", "'de'", " de ")), (
            error.message
        )
        source.execute("ALTER TABLE shop.policy_customers RENAME COLUMN region TO country")
        source.execute("RENAME TABLE shop.policy_customers TO shop.policy_customers_gone")
        with pytest.raises(SidecarError) as raised:
            rows(engine, "SELECT id FROM customers WHERE id < 51")
        assert "policy_customers' doesn't exist" in raised.value.message, raised.value.message
    finally:
        source.execute(
            "RENAME TABLE IF EXISTS shop.policy_customers_gone TO shop.policy_customers",
            "ALTER TABLE shop.policy_customers CHANGE COLUMN IF EXISTS region country VARCHAR(8)",
        )
        engine.close()
