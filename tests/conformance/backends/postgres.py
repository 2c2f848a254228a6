"""`postgres:` over PostgreSQL, logging every statement it runs (log_statement=all)."""

from __future__ import annotations

from typing import Any

from tests.conformance.backends.sql_server import SqlServerConf
from tests.conformance.data import types_table
from tests.peers.data import create_and_insert

SQL_TYPES = {
    "id": "BIGINT PRIMARY KEY",
    "i32": "INTEGER",
    "big": "BIGINT",
    "dec": "NUMERIC(12,2)",
    "f64": "DOUBLE PRECISION",
    "txt": "TEXT",
    "flag": "BOOLEAN",
    "day": "DATE",
    "ts": "TIMESTAMP",
}


class PostgreSql(SqlServerConf):
    name = "postgres"
    scheme = "postgres"
    orders = True
    fixture = "postgres"
    where = "public.types"
    table = "public.types"
    # Text ordered by byte (COLLATE "C"), as the engine orders it.
    statements = {
        "limit": 'SELECT "id" FROM public.types WHERE "i32" > 2 LIMIT 2',
        "lookup": 'SELECT "id", "txt" FROM public.types WHERE "i32" = 3 LIMIT 5',
        "top": 'SELECT "id", "txt" FROM public.types ORDER BY "txt" COLLATE "C" DESC LIMIT 3',
    }

    @classmethod
    def setup(cls, peer: Any) -> list[str]:
        return [
            "DROP TABLE IF EXISTS public.types",
            *create_and_insert(types_table(), "public.types", SQL_TYPES),
            f"GRANT SELECT ON public.types TO {peer.user}",
        ]

    @classmethod
    def failures(cls, port: int, down: int) -> dict[str, tuple[str, str]]:
        return {
            "missing": (
                f"postgres 127.0.0.1:{port}/shop: NOT_FOUND: Failed to prepare query: "
                'ERROR:  relation "public.typos" does not exist (SQLSTATE 42P01)',
                "did you mean types? tables in public: types",
            ),
            "credentials": (
                f"postgres 127.0.0.1:{port}/shop: IO: [libpq] Failed to connect: connection "
                f'to server at "127.0.0.1", port {port} failed: FATAL:  password '
                'authentication failed for user "agent"',
                "check the user and password params",
            ),
            "down": (
                f"postgres 127.0.0.1:{down}/shop: IO: [libpq] Failed to connect: …",
                "is the server up and reachable? check the host and port params",
            ),
        }

    @staticmethod
    def logged(statement: str) -> str:
        """The ADBC driver reads results with binary COPY."""
        return f"COPY ({statement}) TO STDOUT (FORMAT binary)"


CONF = PostgreSql
