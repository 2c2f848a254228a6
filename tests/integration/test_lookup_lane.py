"""The keyed-lookup lane (engine/lookups.py, answered on the pg event loop) through real
clients: exactly the general path's answers, and the same firewall.

One sidecar serves the same Parquet file twice as DuckDB copies: `pk` with a primary key and
two indexed columns (its lookups come from the key indexes once built, their bytes in
/v1/status), `plain` without (every lookup goes down the general path), and as the file itself,
`pq` (its lookups by id come from its row group once kept decoded). Every answer of `pk` and
`pq` must be `plain`'s over psycopg (text and binary), asyncpg, HTTP and ADBC Flight SQL, and a
few rows encoded a value at a time must be the bytes the vectorised encoder writes for the same
rows in a larger result. Masks, row filters, max_rows, rate and the audit line hold on the lane.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import re
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import adbc_driver_flightsql.dbapi as adbc
import asyncpg
import httpx
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from tests import keyed
from tests.process import SidecarProcess, free_port

ROWS = 300
NFC, NFD = unicodedata.normalize("NFC", "é"), unicodedata.normalize("NFD", "é")
NAMES = {1: "abc", 2: "Abc", 3: "abc ", 4: NFC, 5: NFD, 6: None}
FLOATS = [1 / 3, -0.0, math.nan, math.inf, -math.inf, 1e20, 1e-7, 123456789.125, None, 2.5]


def table() -> pa.Table:
    ids = list(range(ROWS))
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "name": [NAMES.get(i, f"n{i % 40}") for i in ids],
            "small": pa.array([i % 25 for i in ids], pa.int32()),
            "amount": [FLOATS[i % len(FLOATS)] for i in ids],
            "f32": pa.array([FLOATS[(i + 3) % len(FLOATS)] for i in ids], pa.float32()),
            "i16": pa.array([(-1) ** i * (i * 97 % 32767) for i in ids], pa.int16()),
            "big": pa.array([(-1) ** i * (2**63 - 1 - i) for i in ids], pa.int64()),
            "flag": [None if i % 7 == 0 else i % 2 == 0 for i in ids],
            "secret": [f"s{i}" for i in ids],
            "country": ["DE" if i % 2 else "FR" for i in ids],
        }
    )


COLUMNS = "id, name, small, amount, f32, i16, big, flag"


@dataclass(frozen=True)
class Lane:
    process: SidecarProcess
    keys: dict[str, str]
    root: Path

    def dsn(self, role: str) -> str:
        return (
            f"host=127.0.0.1 port={self.process.pg_port} dbname=lane user={role} "
            f"password={self.keys[role]}"
        )

    def index_bytes(self) -> int:
        return keyed.index_bytes(self.process.url, self.keys["free"])

    def audit(self, sql: str, identity: str, count: int) -> list[dict[str, Any]]:
        return keyed.audited(self.root, sql, identity, count)


@pytest.fixture(scope="module")
def lane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lane]:
    root = tmp_path_factory.mktemp("lane")
    pq.write_table(table(), root / "t.parquet")
    keys = keyed.role_keys()
    port = free_port()
    indexes = {"name": "enabled", "small": "enabled"}
    indexed = {"engine": "duckdb", "primary_key": "id", "indexes": indexes}
    datasets = [
        {"from": "file:t.parquet", "name": "pk", "acceleration": indexed},
        {"from": "file:t.parquet", "name": "plain", "acceleration": {"engine": "duckdb"}},
        {"from": "file:t.parquet", "name": "pq"},
    ]
    config = keyed.config("lane", port, keys, datasets)
    (root / "sidecar.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    process = SidecarProcess(root / "sidecar.yaml")
    process.start(port)
    lane = Lane(process, keys, root)
    built = 0
    with psycopg.connect(lane.dsn("free"), autocommit=True) as conn:
        for column, value in (("id", 1), ("name", "abc"), ("small", 1)):
            deadline = time.monotonic() + 30
            while lane.index_bytes() <= built:  # each key column's index adds its bytes
                assert time.monotonic() < deadline, f"the key index of {column} was not built"
                conn.execute(f"SELECT id FROM pk WHERE {column} = %s", [value]).fetchall()
                time.sleep(0.05)
            built = lane.index_bytes()
    try:
        yield lane
    finally:
        process.stop()


LOOKUPS: list[tuple[str, list[Any]]] = [
    *[(f"SELECT {COLUMNS} FROM {{}} WHERE id = $1", [key]) for key in (0, 5, 7, 299, 300, -1)],
    *[(f"SELECT {COLUMNS} FROM {{}} WHERE name = $1", [name]) for name in NAMES.values() if name],
    ("SELECT id, name FROM {} WHERE name = $1", ["ABC"]),
    ("SELECT id AS k, small FROM {} WHERE small = $1", [7]),
    ("SELECT amount, id FROM {} WHERE id IN ($1, $2, $3)", [3, 3, 11]),
    ("SELECT id, amount FROM {} WHERE $1 = id", [12]),
]


def numbered(sql: str) -> str:
    """psycopg's text as the server receives it: each %s a numbered parameter."""
    count = itertools.count(1)
    return re.sub("%s", lambda _: f"${next(count)}", sql)


def shown(rows: list[Any]) -> list[str]:
    """Rows as comparable text: -0.0 and NaN told apart, order aside."""
    return sorted(repr(tuple(row)) for row in rows)


def through_psycopg(lane: Lane, sql: str, values: list[Any], binary: bool) -> list[str]:
    text = re.sub(r"\$\d", "%s", sql)
    with psycopg.connect(lane.dsn("free"), autocommit=True) as conn:
        answers = [shown(conn.execute(text, values, binary=binary).fetchall()) for _ in range(3)]
    assert answers[0] == answers[1] == answers[2]
    return answers[0]


def through_asyncpg(lane: Lane, sql: str, values: list[Any]) -> list[str]:
    async def run() -> list[str]:
        port, key = lane.process.pg_port, lane.keys["free"]
        conn = await asyncpg.connect(
            host="127.0.0.1", port=port, user="free", password=key, database="lane", ssl=False
        )
        try:
            statement = await conn.prepare(sql)
            answers = [shown(await statement.fetch(*values)) for _ in range(3)]
        finally:
            await conn.close()
        assert answers[0] == answers[1] == answers[2]
        return answers[0]

    return asyncio.run(run())


def through_http(lane: Lane, sql: str, values: list[Any]) -> list[str]:
    headers = {"Authorization": f"Bearer {lane.keys['free']}"}
    answers = []
    for _ in range(3):
        reply = httpx.post(
            f"{lane.process.url}/v1/sql",
            json={"sql": sql, "parameters": values},
            headers=headers,
            timeout=30,
        )
        assert reply.status_code == 200, reply.text
        answers.append(sorted(json.dumps(row, sort_keys=True) for row in reply.json()))
    assert answers[0] == answers[1] == answers[2]
    return answers[0]


def through_adbc(lane: Lane, sql: str, values: list[Any]) -> list[str]:
    kwargs = {"username": "free", "password": lane.keys["free"]}
    answers = []
    with (
        adbc.connect(lane.process.flight_url, db_kwargs=kwargs, autocommit=True) as conn,
        conn.cursor() as cursor,
    ):
        for _ in range(3):
            cursor.execute(re.sub(r"\$\d", "?", sql), values)
            answers.append(shown(cursor.fetchall()))
    assert answers[0] == answers[1] == answers[2]
    return answers[0]


@pytest.mark.parametrize("client", ["psycopg-text", "psycopg-binary", "asyncpg", "http", "adbc"])
def test_the_lane_answers_as_the_general_path(lane: Lane, client: str) -> None:
    for sql, values in LOOKUPS:
        answers = []
        for dataset in ("pk", "pq", "plain"):
            text = sql.format(dataset)
            if client.startswith("psycopg"):
                answers.append(through_psycopg(lane, text, values, client.endswith("binary")))
            elif client == "asyncpg":
                answers.append(through_asyncpg(lane, text, values))
            elif client == "http":
                answers.append(through_http(lane, text, values))
            else:
                answers.append(through_adbc(lane, text, values))
        assert answers[0] == answers[1] == answers[2], (client, sql, values)


@pytest.mark.parametrize("binary", [False, True])
def test_a_few_rows_encode_as_many_rows_do(lane: Lane, binary: bool) -> None:
    """Up to 8 rows are encoded a value at a time, more by the vectorised encoder: the same
    rows must come out the same (floats' text, -0, NaN, infinities, NULLs, int16, bool)."""
    with psycopg.connect(lane.dsn("free"), autocommit=True) as conn:
        many = conn.execute(f"SELECT {COLUMNS} FROM pk WHERE id < 40", binary=binary).fetchall()
        assert len(many) == 40
        few = [
            conn.execute(f"SELECT {COLUMNS} FROM pk WHERE id = %s", [key], binary=binary).fetchone()
            for key in range(40)
        ]
    assert shown(few) == shown(many)


@pytest.mark.parametrize("dataset", ["pk", "pq"])
def test_masks_and_row_filters_hold_on_the_lane(lane: Lane, dataset: str) -> None:
    by_id = f"SELECT id, secret, country FROM {dataset} WHERE id = %s"
    with psycopg.connect(lane.dsn("free"), autocommit=True) as conn:
        for _ in range(4):
            assert conn.execute(by_id, [5]).fetchall() == [(5, "s5", "DE")]
    with psycopg.connect(lane.dsn("masked"), autocommit=True) as conn:
        for _ in range(4):
            assert conn.execute(by_id, [5]).fetchall() == [(5, "****", "DE")]
    with psycopg.connect(lane.dsn("rowf"), autocommit=True) as conn:
        for _ in range(4):
            assert conn.execute(by_id, [5]).fetchall() == [(5, "s5", "DE")]
            assert conn.execute(by_id, [6]).fetchall() == []
    free = [entry.get("lane") for entry in lane.audit(numbered(by_id), "free", 4)]
    assert free[-1] == {"pk": "key_index", "pq": "row_groups"}[dataset]
    for restricted in ("masked", "rowf"):  # planned every time, with their policies
        assert {e.get("lane") for e in lane.audit(numbered(by_id), restricted, 4)} == {None}


def test_limits_hold_on_the_lane(lane: Lane) -> None:
    by_id = "SELECT id, secret, country FROM pk WHERE id = %s"
    by_small = "SELECT id FROM pk WHERE small = %s"
    by_ids = "SELECT id FROM pq WHERE id IN (%s, %s, %s, %s, %s, %s)"
    with psycopg.connect(lane.dsn("capped"), autocommit=True) as conn:
        for _ in range(4):
            assert conn.execute(by_id, [7]).fetchall() == [(7, "s7", "DE")]
            with pytest.raises(psycopg.Error) as refused:
                conn.execute(by_small, [7]).fetchall()  # 12 rows, max_rows 5
            assert refused.value.sqlstate == "53400"
            with pytest.raises(psycopg.Error) as refused:  # the file's kept group: 6 rows
                conn.execute(by_ids, list(range(10, 16))).fetchall()
            assert refused.value.sqlstate == "53400"
    for sql in (by_small, by_ids):
        capped = lane.audit(numbered(sql), "capped", 4)
        assert [e["decision"] for e in capped] == ["refused"] * 4
    with psycopg.connect(lane.dsn("paced"), autocommit=True) as conn:
        for _ in range(3):
            assert conn.execute(by_id, [9]).fetchall() == [(9, "s9", "DE")]
        with pytest.raises(psycopg.Error) as refused:
            conn.execute(by_id, [9]).fetchall()
        assert refused.value.sqlstate == "53400"
    sql = by_id.replace("%s", "$1")
    assert [e["decision"] for e in lane.audit(sql, "paced", 4)] == ["ok"] * 3 + ["refused"]
    lines = lane.audit(sql, "capped", 4)
    assert len(lines) == 4 and {e["rows"] for e in lines} == {1}
    assert len(lane.audit(sql, "masked", 4)) == 4


def test_a_pipeline_with_an_error_in_the_middle(lane: Lane) -> None:
    """Lookups answered at once and held until Sync, an error among them: the replies before
    it arrive, those after it until the Sync are skipped, and the connection goes on."""
    by_id = "SELECT id, name FROM pk WHERE id = %s"
    with psycopg.connect(lane.dsn("free"), autocommit=True) as conn:
        with pytest.raises(psycopg.Error), conn.pipeline():
            first = conn.execute(by_id, [1])
            second = conn.execute(by_id, [2])
            conn.execute("SELECT id FROM pk WHERE id = %s::bigint", ["not a number"])
            conn.execute(by_id, [3])
        assert first.fetchall() == [(1, "abc")]
        assert second.fetchall() == [(2, "Abc")]
        with conn.pipeline():
            cursors = [conn.execute(by_id, [key]) for key in (4, 5, 300)]
        assert [c.fetchall() for c in cursors] == [[(4, NFC)], [(5, NFD)], []]


# Texts a pattern read before (engine/patterns.py) must not answer: each differs from the one
# read first in a character the guard refuses or the parser reads otherwise.
PATTERNS = [
    ("SELECT id, name FROM {} WHERE id = 2", "SELECT id, name\u00a0FROM {} WHERE id = 4"),
    ("SELECT id, name FROM {} WHERE id = 2", "SELECT id, name\x1cFROM {} WHERE id = 4"),
    ("SELECT id, name FROM {} WHERE id = 2", "SELECT id, name FROM {} WHERE id = \uff14"),
    ('SELECT "name" "id" FROM {} WHERE id = 2', 'SELECT "name""id" FROM {} WHERE id = 4'),
]


def attempt(lane: Lane, client: str, sql: str, role: str = "free") -> list[str] | None:
    """`sql`'s rows as text through `client`, or None when it is refused."""
    try:
        if client.startswith("psycopg"):
            with psycopg.connect(lane.dsn(role), autocommit=True) as conn:
                cursor = conn.execute(sql.encode(), prepare=client.endswith("extended"))
                return sorted(map(repr, cursor.fetchall()))
        if client == "http":
            reply = httpx.post(
                f"{lane.process.url}/v1/sql",
                json={"sql": sql},
                headers={"Authorization": f"Bearer {lane.keys[role]}"},
                timeout=30,
            )
            return None if reply.is_error else sorted(repr(tuple(r.values())) for r in reply.json())
        kwargs = {"username": role, "password": lane.keys[role]}
        with (
            adbc.connect(lane.process.flight_url, db_kwargs=kwargs, autocommit=True) as conn,
            conn.cursor() as cursor,
        ):
            cursor.execute(sql)
            return sorted(map(repr, cursor.fetchall()))
    except (psycopg.Error, adbc.Error):
        return None


@pytest.mark.parametrize("client", ["psycopg-simple", "psycopg-extended", "http", "adbc"])
def test_a_pattern_answers_only_texts_read_the_same(lane: Lane, client: str) -> None:
    """A text differing from one read before only in its compared literals is answered from
    that text's pattern, unparsed: one with a space the guard refuses, a full-width digit
    (a name to the parser) or quoted names run together (one name) is no text of it."""
    for dataset in ("pk", "pq"):
        for learnt, other in PATTERNS:
            for _ in range(2):
                answer = attempt(lane, client, learnt.format(dataset))
                assert answer in (["(2, 'Abc')"], ["('Abc',)"])
            assert attempt(lane, client, other.format(dataset)) is None, (client, other)


def test_a_pattern_keeps_each_identitys_policy(lane: Lane) -> None:
    """A pattern learnt for one identity never answers another's texts of it."""
    for dataset in ("pk", "pq"):
        text = f"SELECT id, secret FROM {dataset} WHERE id = {{}}"
        assert attempt(lane, "psycopg-simple", text.format(5)) == ["(5, 's5')"]
        assert attempt(lane, "psycopg-simple", text.format(7), "masked") == ["(7, '****')"]
        assert attempt(lane, "http", text.format(9), "masked") == ["(9, '****')"]
        assert attempt(lane, "psycopg-simple", text.format(6), "rowf") == []
        assert attempt(lane, "adbc", text.format(8), "rowf") == []
        assert attempt(lane, "psycopg-simple", text.format(11), "rowf") == ["(11, 's11')"]
