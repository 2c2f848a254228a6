"""Loading Arrow tables into the peers as plain SQL, so each source stores them in its own
column types (the point of the type round-trip), not in types an ingest API would pick."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

import pyarrow as pa

INSERT_ROWS = 500


def literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dt.datetime):
        return "'" + value.isoformat(" ") + "'"
    if isinstance(value, dt.date):
        return "'" + value.isoformat() + "'"
    return "'" + str(value).replace("'", "''") + "'"


def create_and_insert(
    table: pa.Table, name: str, types: Mapping[str, str], quote: str = '"'
) -> list[str]:
    """CREATE TABLE with the given SQL types, then INSERTs of a few hundred rows each."""
    columns = ", ".join(f"{quote}{c}{quote} {types[c]}" for c in table.column_names)
    statements = [f"CREATE TABLE {name} ({columns})"]
    statements += inserts(table, name, quote)
    return statements


def inserts(table: pa.Table, name: str, quote: str = '"') -> Iterable[str]:
    rows = table.to_pylist()
    names = ", ".join(f"{quote}{c}{quote}" for c in table.column_names)
    for start in range(0, len(rows), INSERT_ROWS):
        chunk = rows[start : start + INSERT_ROWS]
        values = ", ".join(
            "(" + ", ".join(literal(row[c]) for c in table.column_names) + ")" for row in chunk
        )
        yield f"INSERT INTO {name} ({names}) VALUES {values}"
