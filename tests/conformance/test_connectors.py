"""One suite, every connector: schema, type round-trip, scans and each pushdown, errors.

Each connector is a `Conf` in backends/; tests read its flags, never its name. Rows are
compared exactly (in order where the scan orders) with what DuckDB answers over the same
Arrow table, and each standard scan with the exact text EXPLAIN shows and, where the source
keeps a log (MariaDB's general log, PostgreSQL's statement log, the HTTP servers' request
logs, the search bodies osmem received), the exact statements or requests the source got.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pytest
import sqlglot
from sqlglot import exp

from connectors.base import Connector, ScanRequest, SourceError
from connectors.sql import SqlConnector
from tests.conformance.backends import Conf
from tests.conformance.data import FILTERS, TYPES, columns_of, expected, predicate
from tests.leaks import exposed


@dataclass(frozen=True)
class Standard:
    """A scan every connector is sent: `where` goes along only if the connector takes it."""

    columns: tuple[str, ...]
    limit: int
    where: str | None = None
    order: str | None = None  # ORDER BY, in the engine's (PostgreSQL's) terms

    def request(self, case: Conf, connector: Connector) -> tuple[ScanRequest, str]:
        """The request in the source's column names, and the SQL that answers it."""
        names = case.columns
        filters = [predicate(self.where, names)] if self.where else []
        filters = [f for f in filters if connector.accepts_filter(f)]
        order_by = []
        if self.order:
            parsed = sqlglot.parse_one(f"SELECT 1 FROM t ORDER BY {self.order}", read="postgres")
            for key in parsed.args["order"].expressions:
                key.set("this", exp.column(names[key.this.name], quoted=True))
                order_by.append(key)
        request = ScanRequest(
            projection=[names[c] for c in self.columns],
            filters=filters,
            limit=self.limit,
            order_by=order_by,
        )
        where = f" WHERE {self.where}" if filters else ""
        order = f" ORDER BY {self.order}" if self.order else ""
        sql = f"SELECT {', '.join(self.columns)} FROM types{where}{order} LIMIT {self.limit}"
        return request, sql


STANDARD = {
    "limit": Standard(("id",), 2, where="i32 > 2"),
    "lookup": Standard(("id", "txt"), 5, where="i32 = 3"),
    "top": Standard(("id", "txt"), 3, order="txt DESC NULLS FIRST"),
}


def shared(table: pa.Table, case: Conf) -> list[dict[str, Any]]:
    """The scanned rows under the shared names and types, for comparing with DuckDB's."""
    names = {source: name for name, source in case.columns.items()}
    table = table.select([c for c in table.column_names if c in names])
    table = table.rename_columns([names[c] for c in table.column_names])
    return table.cast(pa.schema([TYPES.field(c) for c in table.column_names])).to_pylist()


def want(sql: str, case: Conf) -> list[dict[str, Any]]:
    return [{k: case.kept(k, v) for k, v in row.items()} for row in expected(sql)]


def by_id(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda row: row["id"])


def new_entries(case: Conf, before: list[str] | None) -> list[str] | None:
    after = case.received()
    return None if after is None or before is None else after[len(before) :]


def fail(connector: Connector) -> None:
    """Reach the source: its schema, then (for a declared or fixed schema) its first row."""
    connector.schema()
    connector.scan(ScanRequest(limit=1)).read_all()


def test_schema(case: Conf) -> None:
    assert case.connector().schema() == case.schema


def test_capability_flags(case: Conf) -> None:
    connector = case.connector()
    assert connector.supports_limit
    assert connector.supports_order == case.orders


def test_type_round_trip(case: Conf) -> None:
    table = case.connector().scan(ScanRequest()).read_all()
    assert table.schema == case.schema
    columns = ", ".join(case.columns)
    assert by_id(shared(table, case)) == want(f"SELECT {columns} FROM types ORDER BY id", case)


def test_projection_keeps_the_requested_order(case: Conf) -> None:
    projection = [case.columns["txt"], case.columns["id"]]
    table = case.connector().scan(ScanRequest(projection=projection)).read_all()
    assert table.column_names == projection
    assert by_id(shared(table, case)) == want("SELECT txt, id FROM types ORDER BY id", case)


@pytest.mark.parametrize("shape", sorted(FILTERS))
def test_filter_pushdown_is_exact(case: Conf, shape: str) -> None:
    where = FILTERS[shape]
    missing = columns_of(where) - set(case.columns)
    if missing:
        pytest.skip(f"{case.name} holds no {', '.join(sorted(missing))}")
    connector = case.connector()
    condition = predicate(where, case.columns)
    accepted = connector.accepts_filter(condition)
    assert accepted == (shape not in case.refuses), f"{case.name}: flag refuses vs {shape}"
    if not accepted:
        return
    request = ScanRequest(projection=[case.columns["id"]], filters=[condition])
    before = case.received()
    got = shared(connector.scan(request).read_all(), case)
    assert by_id(got) == want(f"SELECT id FROM types WHERE {where} ORDER BY id", case)
    sent = new_entries(case, before)
    if sent is not None and isinstance(connector, SqlConnector):
        assert sent == [case.logged(connector.select(request))]


@pytest.mark.parametrize("kind", sorted(STANDARD))
def test_standard_scan_sends_exactly(case: Conf, kind: str) -> None:
    """Rows in the source's order (the order asked for, if any), EXPLAIN's text, and what
    the source received, all exact."""
    standard = STANDARD[kind]
    if standard.order and not case.orders:
        pytest.skip(f"{case.name} leaves ORDER BY to the engine")
    connector = case.connector()
    request, sql = standard.request(case, connector)
    assert connector.describe(request) == case.sends.get(kind), kind
    before = case.received()
    got = shared(connector.scan(request).read_all(), case)
    assert got == want(sql, case)
    assert new_entries(case, before) == case.receives.get(kind)


def raises(case: Conf, kind: str, **changes: Any) -> None:
    """Opening the connector with `changes` fails with exactly the error the Conf expects."""
    with pytest.raises(SourceError) as caught:
        fail(case.connector(timeout=5.0, **changes))
    message, hint = case.errors[kind]
    got = str(caught.value)
    assert got.startswith(message[:-1]) if message.endswith("…") else got == message, got
    assert caught.value.hint == hint
    assert not exposed(f"{got} {hint}", *case.private()), got
    for echo in ("Query was", "\nLINE ", "sqlalche.me", "[SQL:"):  # the statement sent, noise
        assert echo not in got, got


def test_unknown_table_names_the_ones_that_exist(case: Conf) -> None:
    raises(case, "missing", location=case.typo())


@pytest.mark.parametrize("kind", ["credentials", "down"])
def test_a_broken_source_fails_with_its_error(case: Conf, kind: str) -> None:
    """Wrong credentials name the param to fix and never the secret; a server that is down
    is a source error with a hint, not a hang."""
    if kind not in case.broken:
        pytest.skip(f"{case.name} has no {kind} case")
    raises(case, kind, **case.broken[kind])


def test_source_key_hides_the_password(case: Conf) -> None:
    connector = case.connector()
    if not isinstance(connector, SqlConnector):
        pytest.skip("not a SQL source")
    key = connector.source_key()
    assert key == case.connector().source_key()
    password = str(case.params.get("password", "") or "")
    assert not password or password not in key
