"""Keyed lookups over Flight SQL answered at once (gateway.at_once in GetFlightInfo, the rows
sent by DoGet from the ticket), through ADBC against a real sidecar: exactly the general
path's answers, and the same firewall.

`pk` is a DuckDB copy with a primary key and an indexed column (its lookups come from the key
index), `plain` the same rows without (every lookup is planned and run).
`sidecar_at_once_answers_total{interface="flight"}` counts the statements answered at once,
so each test also shows which way answered.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import adbc_driver_flightsql.dbapi as adbc
import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from tests import keyed
from tests.process import SidecarProcess, free_port

ROWS = 200
COLUMNS = "id, name, small, amount, f32, day, flag, secret, country"
BY_ID = f"SELECT {COLUMNS} FROM {{}} WHERE id = $1"


def table() -> pa.Table:
    ids = list(range(ROWS))
    floats = [1 / 3, -0.0, math.nan, math.inf, None, 2.5]
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "name": [None if i % 9 == 0 else f"n{i % 30}" for i in ids],
            "small": pa.array([i % 25 for i in ids], pa.int32()),
            "amount": [floats[i % len(floats)] for i in ids],
            "f32": pa.array([floats[(i + 1) % len(floats)] for i in ids], pa.float32()),
            "day": pa.array([i * 86_400 * 1000 for i in ids], pa.date64()).cast(pa.date32()),
            "flag": [None if i % 7 == 0 else i % 2 == 0 for i in ids],
            "secret": [f"s{i}" for i in ids],
            "country": ["DE" if i % 2 else "FR" for i in ids],
        }
    )


@dataclass(frozen=True)
class Sidecar:
    process: SidecarProcess
    keys: dict[str, str]
    root: Path

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys['free']}"}

    def index_bytes(self) -> int:
        return keyed.index_bytes(self.process.url, self.keys["free"])

    def connect(self, role: str) -> adbc.Connection:
        kwargs = {"username": role, "password": self.keys[role]}
        return adbc.connect(self.process.flight_url, db_kwargs=kwargs, autocommit=True)

    def answered_at_once(self) -> int:
        text = httpx.get(f"{self.process.url}/metrics", headers=self.headers).text
        found = re.search(r'sidecar_at_once_answers_total\{interface="flight"\} (\S+)', text)
        return int(float(found.group(1))) if found else 0

    def audit(self, sql: str, identity: str, count: int) -> list[dict[str, Any]]:
        return keyed.audited(self.root, sql, identity, count)


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sidecar]:
    root = tmp_path_factory.mktemp("flight_lookups")
    pq.write_table(table(), root / "t.parquet")
    keys = keyed.role_keys()
    port = free_port()
    indexed = {"engine": "duckdb", "primary_key": "id", "indexes": {"small": "enabled"}}
    datasets = [
        {"from": "file:t.parquet", "name": "pk", "acceleration": indexed},
        {"from": "file:t.parquet", "name": "plain", "acceleration": {"engine": "duckdb"}},
    ]
    config = keyed.config("flight_lookups", port, keys, datasets)
    (root / "sidecar.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    process = SidecarProcess(root / "sidecar.yaml")
    process.start(port)
    sidecar = Sidecar(process, keys, root)
    built = 0
    with sidecar.connect("free") as conn, conn.cursor() as cursor:
        for column in ("id", "small"):  # each key column's index is built on first use
            deadline = time.monotonic() + 30
            while sidecar.index_bytes() <= built:
                assert time.monotonic() < deadline, f"the key index of {column} was not built"
                cursor.execute(f"SELECT id FROM pk WHERE {column} = $1", parameters=[1])
                cursor.fetch_arrow_table()
                time.sleep(0.05)
            built = sidecar.index_bytes()
    try:
        yield sidecar
    finally:
        process.stop()


def answers(sidecar: Sidecar, role: str, sql: str, values: list[Any], times: int) -> pa.Table:
    """The same statement `times` over on one cursor (one prepared statement, as a loop of
    ADBC's `execute` runs it): every answer the same table, which is returned."""
    with sidecar.connect(role) as conn, conn.cursor() as cursor:
        tables = []
        for _ in range(times):
            cursor.execute(sql, parameters=values)
            tables.append(cursor.fetch_arrow_table())
    for other in tables[1:]:  # NaN is not equal to itself: compared by repr
        assert other.schema.equals(tables[0].schema, check_metadata=True)
        assert repr(other.to_pylist()) == repr(tables[0].to_pylist())
    return tables[0]


LOOKUPS: list[tuple[str, list[Any]]] = [
    *[(BY_ID, [key]) for key in (0, 5, 7, 9, 14, 199, 200, -1)],
    ("SELECT id AS k, small, name FROM {} WHERE small = $1", [7]),
    ("SELECT amount, id FROM {} WHERE id IN ($1, $2, $3)", [3, 3, 11]),
    ("SELECT id, day FROM {} WHERE $1 = id", [12]),
]


def test_lookups_at_once_are_the_general_paths_answers(sidecar: Sidecar) -> None:
    """Values, types, field names and nullability, NULLs, NaN and -0.0, missing keys: the
    key index's answer is the planned one, and all but the first of a loop are at once."""
    for sql, values in LOOKUPS:
        before = sidecar.answered_at_once()
        fast = answers(sidecar, "free", sql.format("pk"), values, 4)
        if values != [-1]:  # a negative key is planned (engine.lookup), on every interface
            assert sidecar.answered_at_once() - before >= 3, (sql, values)
        general = answers(sidecar, "free", sql.format("plain"), values, 2)
        assert fast.schema.equals(general.schema), (sql, fast.schema, general.schema)
        assert repr(fast.to_pylist()) == repr(general.to_pylist()), (sql, values)
    assert answers(sidecar, "free", BY_ID.format("pk"), [9], 2).to_pylist()[0]["name"] is None


def test_masks_and_row_filters_hold(sidecar: Sidecar) -> None:
    sql = "SELECT id, secret, country FROM {} WHERE id = $1"
    for dataset in ("pk", "plain"):
        masked = answers(sidecar, "masked", sql.format(dataset), [5], 3)
        assert masked.to_pylist() == [{"id": 5, "secret": "****", "country": "DE"}]
        kept = answers(sidecar, "rowf", sql.format(dataset), [5], 3)
        assert kept.to_pylist() == [{"id": 5, "secret": "s5", "country": "DE"}]
        assert answers(sidecar, "rowf", sql.format(dataset), [6], 3).num_rows == 0


def test_every_lookup_is_audited_once(sidecar: Sidecar) -> None:
    sql = BY_ID.format("pk").replace("SELECT id,", "SELECT id AS audited,")
    before = sidecar.answered_at_once()
    with sidecar.connect("free") as conn, conn.cursor() as cursor:
        for key in range(12):
            cursor.execute(sql, parameters=[key])
            assert cursor.fetch_arrow_table().column("audited").to_pylist() == [key]
    assert sidecar.answered_at_once() - before >= 11
    lines = sidecar.audit(sql, "free", 13)
    assert len(lines) == 12  # the prepare's description is not audited
    assert {(e["decision"], e["rows"], e["interface"]) for e in lines} == {("ok", 1, "flight")}
    assert [e["lane"] for e in lines][1:] == ["key_index"] * 11


def test_rate_limit_refuses_with_its_flight_status(sidecar: Sidecar) -> None:
    sql = "SELECT id, name FROM pk WHERE id = $1"
    with sidecar.connect("paced") as conn, conn.cursor() as cursor:
        for key in range(3):
            cursor.execute(sql, parameters=[key])
            assert cursor.fetch_arrow_table().num_rows == 1
        before = sidecar.answered_at_once()
        with pytest.raises(adbc.OperationalError, match=r"(?s)rate limit.*retry in.*Unavailable"):
            cursor.execute(sql, parameters=[4])
            cursor.fetch_arrow_table()
        assert sidecar.answered_at_once() == before
    lines = sidecar.audit(sql, "paced", 4)
    assert [e["decision"] for e in lines] == ["ok"] * 3 + ["refused"]


def test_max_rows_refuses_a_lookup_past_it(sidecar: Sidecar) -> None:
    by_small = "SELECT id FROM pk WHERE small = $1"  # 8 rows, max_rows 5
    by_id = "SELECT id, name FROM pk WHERE id = $1"
    with sidecar.connect("capped") as conn, conn.cursor() as cursor:
        for _ in range(3):
            cursor.execute(by_id, parameters=[7])
            assert cursor.fetch_arrow_table().to_pylist() == [{"id": 7, "name": "n7"}]
            with pytest.raises(adbc.ProgrammingError, match="max_rows"):
                cursor.execute(by_small, parameters=[7])
                cursor.fetch_arrow_table()
    assert [e["decision"] for e in sidecar.audit(by_small, "capped", 3)] == ["refused"] * 3
