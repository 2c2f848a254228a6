"""`snowflake:` over fakesnow, its NUMBER columns read back as decimals."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest

from tests.conformance.backends import Conf
from tests.conformance.data import types_table
from tests.peers.data import create_and_insert
from tests.peers.snowflake import Snowflake

SQL_TYPES = {
    "id": "NUMBER(18,0)",
    "i32": "NUMBER(9,0)",
    "big": "NUMBER(18,0)",
    "dec": "NUMBER(12,2)",
    "f64": "FLOAT",
    "txt": "VARCHAR",
    "flag": "BOOLEAN",
    "day": "DATE",
    "ts": "TIMESTAMP_NTZ(6)",
}
SCHEMA = pa.schema(
    [
        ("id", pa.decimal128(18, 0)),
        ("i32", pa.decimal128(9, 0)),
        ("big", pa.decimal128(18, 0)),
        ("dec", pa.decimal128(12, 2)),
        ("f64", pa.float64()),
        ("txt", pa.string()),
        ("flag", pa.bool_()),
        ("day", pa.date32()),
        ("ts", pa.timestamp("ns")),
    ]
)

SENDS = {
    "limit": 'snowflake: SELECT "id" FROM SHOP.PUBLIC.TYPES WHERE "i32" > 2 LIMIT 2',
    "lookup": 'snowflake: SELECT "id", "txt" FROM SHOP.PUBLIC.TYPES WHERE "i32" = 3 LIMIT 5',
    "top": 'snowflake: SELECT "id", "txt" FROM SHOP.PUBLIC.TYPES ORDER BY "txt" DESC LIMIT 3',
}


class SnowflakeConf(Conf):
    name = "snowflake"
    scheme = "snowflake"
    orders = True
    # fakesnow sends a NULL timestamp as the epoch; a real Snowflake sends NULL.
    null_timestamp = dt.datetime(1970, 1, 1)

    @classmethod
    def load(cls, request: pytest.FixtureRequest, root: Path) -> Conf:
        peer: Snowflake = request.getfixturevalue("snowflake")
        peer.execute(
            "DROP TABLE IF EXISTS SHOP.PUBLIC.TYPES",
            *create_and_insert(types_table(), "SHOP.PUBLIC.TYPES", SQL_TYPES),
        )
        return cls(
            "SHOP.PUBLIC.TYPES",
            peer.params(database="SHOP", schema="PUBLIC"),
            SCHEMA,
            broken={"down": {"params": peer.params(port=1, connect_timeout="1s")}},
            sends=SENDS,
            errors={
                "missing": (
                    f"snowflake fakesnow@127.0.0.1:{peer.port}: NOT_FOUND: [Snowflake] 002003 "
                    "(42S02): …",
                    "did you mean TYPES? tables in SHOP.PUBLIC: TYPES",
                ),
                "down": (
                    'snowflake fakesnow@127.0.0.1:1: IO: Post "http://127.0.0.1:1/session/v1/'
                    "login-request?…",
                    "is the server up and reachable? check the host and port params",
                ),
            },
        )


CONF = SnowflakeConf
