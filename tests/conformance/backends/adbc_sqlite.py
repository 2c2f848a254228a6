"""`adbc:` with the SQLite driver: a generic ADBC source, its column types declared."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from tests.conformance.backends import Conf
from tests.conformance.data import TYPES, types_table
from tests.peers.data import create_and_insert

SQL_TYPES = {
    "id": "INTEGER",
    "i32": "INTEGER",
    "big": "INTEGER",
    "dec": "TEXT",
    "f64": "REAL",
    "txt": "TEXT",
    "flag": "INTEGER",
    "day": "TEXT",
    "ts": "TEXT",
}
# SQLite stores every integer as a 64-bit one; dates, times and decimals are declared.
DECLARED = TYPES.set(1, pa.field("i32", pa.int64()))

SENDS = {
    "limit": 'adbc: SELECT "id" FROM types WHERE "i32" > 2 LIMIT 2',
    "lookup": 'adbc: SELECT "id", "txt" FROM types WHERE "i32" = 3 LIMIT 5',
    "top": 'adbc: SELECT "id", "txt" FROM types ORDER BY "txt" DESC NULLS FIRST LIMIT 3',
}


class AdbcSqlite(Conf):
    name = "adbc_sqlite"
    scheme = "adbc"
    # Declared types that differ from SQLite's stored ones (TEXT dates and decimals, INTEGER
    # booleans) keep their filters in the engine, and SQLite's LIKE ignores case.
    refuses = frozenset(
        {"like", "not_like", "like_underscore", "ilike", "date", "timestamp", "lt"}
        | {"between", "and_or", "bool"}
    )
    orders = True

    @classmethod
    def load(cls, request: pytest.FixtureRequest, root: Path) -> Conf:
        sqlite = pytest.importorskip("adbc_driver_sqlite.dbapi")
        path = root / "types.sqlite"
        with sqlite.connect(str(path)) as connection:
            cursor = connection.cursor()
            for statement in create_and_insert(types_table(), "types", SQL_TYPES):
                cursor.execute(statement)
            cursor.close()
            connection.commit()
        params = {"driver": "adbc_driver_sqlite", "db_kwargs": {"uri": str(path)}}
        missing = (
            "adbc adbc_driver_sqlite: NOT_FOUND: GetTableSchema: no such table: main.typos",
            "did you mean types? tables in the schema: types",
        )
        return cls(
            "types",
            params | {"dialect": "sqlite"},
            DECLARED,
            declared=DECLARED,
            sends=SENDS,
            errors={"missing": missing},
        )


CONF = AdbcSqlite
