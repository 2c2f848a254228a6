"""Table names as a SQL source's dialect reads them.

A dataset's location (`postgres:public.orders`, `snowflake:DB.SCHEMA.T`, an `adbc:` table
param) is parsed by sqlglot in the source's own dialect, so quoting and case follow the
source's rules; anything that is not a table name is one error with the shape it should take.
"""

from __future__ import annotations

from sqlglot import exp

from connectors.base import SourceError


def parse_table(name: str, dialect: str, hint: str = "e.g. schema.table") -> exp.Table:
    try:
        table = exp.to_table(name, dialect=dialect)
    except Exception:
        table = None
    if table is None or not table.name:
        raise SourceError(f"'{name}' is not a table name", hint=hint)
    return table
