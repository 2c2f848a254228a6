"""`mysql:` over MariaDB, its general log showing each statement received."""

from __future__ import annotations

from typing import Any

from tests.conformance.backends.sql_server import SqlServerConf
from tests.conformance.data import types_table
from tests.peers.data import create_and_insert

SQL_TYPES = {
    "id": "BIGINT PRIMARY KEY",
    "i32": "INT",
    "big": "BIGINT",
    "dec": "DECIMAL(12,2)",
    "f64": "DOUBLE",
    "txt": "VARCHAR(40)",
    "flag": "BOOLEAN",
    "day": "DATE",
    "ts": "DATETIME(6)",
}


class MySql(SqlServerConf):
    name = "mysql"
    scheme = "mysql"
    # MariaDB's LIKE and its BOOLEAN (a TINYINT) do not compare as SQL's do.
    refuses = frozenset({"like_underscore", "ilike", "bool"})
    orders = True
    fixture = "mariadb"
    where = "shop.types"
    table = "`shop`.`types`"
    # Text compared as bytes, NULLs placed as asked.
    statements = {
        "limit": "SELECT `id` FROM `shop`.`types` WHERE `i32` > 2 LIMIT 2",
        "lookup": "SELECT `id`, `txt` FROM `shop`.`types` WHERE `i32` = 3 LIMIT 5",
        "top": "SELECT `id`, `txt` FROM `shop`.`types` ORDER BY CASE WHEN CAST(`txt` AS BINARY) "
        "IS NULL THEN 1 ELSE 0 END DESC, CAST(`txt` AS BINARY) DESC LIMIT 3",
    }

    @classmethod
    def setup(cls, peer: Any) -> list[str]:
        return [
            "DROP TABLE IF EXISTS shop.types",
            *create_and_insert(types_table(), "shop.types", SQL_TYPES, quote="`"),
        ]

    @classmethod
    def failures(cls, port: int, down: int) -> dict[str, tuple[str, str]]:
        return {
            "missing": (
                f"mysql 127.0.0.1:{port}: Table 'shop.typos' doesn't exist",
                "did you mean types? tables in shop: types",
            ),
            "credentials": (
                f"mysql 127.0.0.1:{port}: Access denied for user 'agent'@'localhost' "
                "(using password: YES)",
                "check params user and password (and the user's grants)",
            ),
            "down": (
                f"mysql 127.0.0.1:{down}: Can't connect to MySQL server on "
                f"'127.0.0.1:{down}' (Errno 111: Connection refused)",
                f"is the server up at 127.0.0.1:{down}? check params host and port",
            ),
        }


CONF = MySql
