"""The edges of every interface of a real `sidecar run`, as a demanding user and an attacker
meet them with real clients: standard SQL the drivers write, values bound in the order they
are written wherever they sit, two identities at once that must never see each other's
values, cancels and bad messages followed by the next statement on the same connection.

One sidecar serves a Parquet file as itself (`t`), as a DuckDB copy with a primary key (`pk`)
and as an Arrow copy (`ar`), beside a second file (`u`); identity `open` reads everything,
`masked` reads `secret` masked and only the rows of its country. DuckDB, reading the same
files, is the oracle.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import datetime as dt
import io
import itertools
import json
import os
import re
import secrets
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import adbc_driver_flightsql.dbapi as adbc
import asyncpg
import duckdb
import httpx
import psycopg
import pyarrow as pa
import pyarrow.flight as flight
import pyarrow.parquet as pq
import pytest
import yaml

from sidecar.servers.flight.commands import pack, pb
from tests import pg_client
from tests.process import SidecarProcess, free_port

ROWS = 2000
TABLES = ("t", "pk", "ar")
INTERFACES = ("http", "pg-text", "pg-binary", "asyncpg", "flight")


@dataclass(frozen=True)
class Edges:
    process: SidecarProcess
    keys: dict[str, str]
    root: Path

    def dsn(self, identity: str = "open") -> str:
        return (
            f"host=127.0.0.1 port={self.process.pg_port} dbname=edges user={identity} "
            f"password={self.keys[identity]}"
        )

    def headers(self, identity: str = "open") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[identity]}"}

    def flight(self, identity: str = "open") -> adbc.Connection:
        credentials = {"username": identity, "password": self.keys[identity]}
        return adbc.connect(self.process.flight_url, db_kwargs=credentials, autocommit=True)


@pytest.fixture(scope="module")
def edges(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edges]:
    root = tmp_path_factory.mktemp("edges")
    ids = list(range(ROWS))
    pq.write_table(
        pa.table(
            {
                "id": pa.array(ids, pa.int64()),
                "name": [f"n{i}" for i in ids],
                "secret": [f"s{i}" for i in ids],
                "country": ["DE" if i % 2 else "FR" for i in ids],
                "amount": [i * 1.5 for i in ids],
            }
        ),
        root / "t.parquet",
    )
    pq.write_table(
        pa.table({"id": pa.array(ids[::3], pa.int64()), "v": [f"u{i}" for i in ids[::3]]}),
        root / "u.parquet",
    )
    keys = {identity: f"key-{identity}-{secrets.token_hex(8)}" for identity in ("open", "masked")}
    port = free_port()
    restricted = {"secret": "mask"}
    config = {
        "version": 1,
        "name": "edges",
        "runtime": {
            "http": {"port": port},
            "pg": {"auth_method": "password"},
            "query_timeout": "15s",  # what an abandoned statement could run for at most
            "results_cache": {"enabled": True, "item_ttl": "60s"},
            "auth": {
                "api_keys": [
                    {"key": keys["open"], "identity": "open"},
                    {"key": keys["masked"], "identity": "masked", "attributes": {"country": "DE"}},
                ]
            },
        },
        "datasets": [
            {"from": "file:t.parquet", "name": "t"},
            {"from": "file:u.parquet", "name": "u"},
            {
                "from": "file:t.parquet",
                "name": "pk",
                "acceleration": {"engine": "duckdb", "primary_key": "id"},
            },
            {"from": "file:t.parquet", "name": "ar", "acceleration": {"engine": "arrow"}},
        ],
        "policies": [
            {"identities": ["open"], "datasets": ["*"]},
            {
                "identities": ["masked"],
                "datasets": ["*"],
                "columns": {
                    f"{table}.{c}": rule for table in TABLES for c, rule in restricted.items()
                },
                "rows": {table: "country = {identity.country}" for table in TABLES},
            },
        ],
        "audit": {"path": "audit.jsonl"},
    }
    (root / "sidecar.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    process = SidecarProcess(root / "sidecar.yaml")
    process.start(port)
    try:
        yield Edges(process, keys, root)
    finally:
        process.stop()


@pytest.fixture(scope="module")
def oracle(edges: Edges) -> duckdb.DuckDBPyConnection:
    """DuckDB over the same files, under the same names."""
    connection = duckdb.connect()
    for table, file in (("t", "t"), ("pk", "t"), ("ar", "t"), ("u", "u")):
        connection.execute(f"CREATE VIEW {table} AS SELECT * FROM '{edges.root / file}.parquet'")
    return connection


def plain(rows: list[Any]) -> list[tuple[Any, ...]]:
    """Rows as tuples of Python values, exact decimals as floats (DuckDB and the sidecar type
    a few results apart)."""
    return [
        tuple(float(value) if isinstance(value, Decimal) else value for value in row)
        for row in rows
    ]


def ask(
    edges: Edges, interface: str, sql: str, values: list[Any] = (), identity: str = "open"
) -> list[tuple[Any, ...]]:
    """`sql` with `?` placeholders answered over `interface` (psycopg's `%s`, HTTP's and
    asyncpg's `$n`, ADBC's `?` as written)."""
    values = list(values)
    count = iter(range(1, len(values) + 1))
    numbered = re.sub(r"\?", lambda _: f"${next(count)}", sql)
    if interface == "http":
        response = httpx.post(
            f"{edges.process.url}/v1/sql",
            json={"sql": numbered, "parameters": values},
            headers=edges.headers(identity),
            timeout=30,
        )
        assert response.status_code == 200, response.text
        return plain([tuple(row.values()) for row in response.json()])
    if interface == "asyncpg":  # binds by the parameter types the server describes
        return plain(asyncio.run(through_asyncpg(edges, numbered, values, identity)))
    if interface.startswith("pg"):
        with psycopg.connect(edges.dsn(identity), autocommit=True) as connection:
            cursor = connection.execute(
                sql.replace("?", "%s"), values, binary=interface == "pg-binary"
            )
            return plain(cursor.fetchall())
    with edges.flight(identity) as connection, connection.cursor() as cursor:
        cursor.execute(sql, values)
        return plain(cursor.fetchall())


async def through_asyncpg(
    edges: Edges, sql: str, values: list[Any], identity: str
) -> list[tuple[Any, ...]]:
    connection = await asyncpg.connect(
        host="127.0.0.1",
        port=edges.process.pg_port,
        user=identity,
        password=edges.keys[identity],
        database="edges",
        ssl=False,
    )
    try:
        return [tuple(row) for row in await connection.fetch(sql, *values)]
    finally:
        await connection.close()


# ---- standard SQL the drivers write -----------------------------------------------------------


FETCHES = [
    ("SELECT id FROM {} ORDER BY id FETCH FIRST 3 ROWS ONLY", []),
    ("SELECT id FROM {} ORDER BY id DESC OFFSET 2 ROWS FETCH NEXT 2 ROWS ONLY", []),
    ("SELECT id FROM {} ORDER BY id FETCH FIRST ROW ONLY", []),
    ("SELECT id FROM {} WHERE id > ? ORDER BY id OFFSET ? ROWS FETCH FIRST ? ROWS ONLY", [7, 2, 4]),
]


@pytest.mark.parametrize("interface", INTERFACES)
def test_fetch_first_rows_only_is_a_limit_on_every_table(
    edges: Edges, oracle: duckdb.DuckDBPyConnection, interface: str
) -> None:
    """`FETCH FIRST n ROWS ONLY` (SQL:2008, what pgjdbc's and BI tools' dialects write) failed
    with DataFusion's "FETCH clause is not supported yet" on every table but a DuckDB copy."""
    for template, values in FETCHES:
        for table in TABLES:
            sql = template.format(table)
            want = oracle.execute(sql, values).fetchall()
            assert ask(edges, interface, sql, values) == want, sql


# ---- order ---------------------------------------------------------------------------------


PLACED = [
    # `?` in every position a value may take, several per statement, nested
    (
        "WITH a AS (SELECT id FROM {} WHERE id < ?), b AS (SELECT id FROM u WHERE id > ?) "
        "SELECT a.id FROM a JOIN b ON a.id = b.id WHERE a.id <> ? ORDER BY 1",
        [[90, 30, 42], [300, 250, 255]],
    ),
    (
        "SELECT id FROM {} WHERE id IN (SELECT id FROM u WHERE id > ? AND id < ?) "
        "AND id NOT IN (?, ?) ORDER BY id DESC LIMIT ? OFFSET ?",
        [[10, 40, 12, 33, 3, 1], [100, 200, 150, 111, 4, 2]],
    ),
    (
        "SELECT id, CASE WHEN id < ? THEN 'lo' WHEN id < ? THEN 'mid' ELSE 'hi' END AS k, "
        "substr(name, ?, ?) AS s FROM {} WHERE id BETWEEN ? AND ? ORDER BY id",
        [[5, 8, 1, 2, 3, 9], [102, 104, 2, 3, 100, 106]],
    ),
    (
        "SELECT country, count(*) AS n FROM {} WHERE id < ? GROUP BY country "
        "HAVING count(*) > ? ORDER BY country",
        [[10, 4], [500, 249]],
    ),
    (
        "SELECT (SELECT max(id) FROM u WHERE u.id < ?) AS m, id FROM {} "
        "WHERE id = ? OR name = ? ORDER BY id",
        [[100, 3, "n7"], [10, 1999, "n0"]],
    ),
    # values the planner computes with: a kept plan kept the first run's results of them
    ("SELECT id FROM {} WHERE id = ? * 2", [[3], [8]]),
    ("SELECT id FROM {} WHERE id BETWEEN ? AND ? + 2 ORDER BY id", [[3, 3], [8, 8]]),
    ("SELECT id FROM {} WHERE id IN (?, ? + 1) ORDER BY id", [[3, 3], [8, 8]]),
    ("SELECT id FROM {} WHERE name = ? || ?", [["n", "3"], ["n", "8"]]),
    ("SELECT id FROM {} WHERE name = lower(?)", [["N3"], ["N8"]]),
    ("SELECT id FROM {} WHERE id = ? AND ? = 'x'", [[7, "x"], [7, "y"]]),
    ("SELECT id FROM {} WHERE id < 3 AND ? BETWEEN 1 AND 2 ORDER BY id", [[1], [7]]),
]


@pytest.mark.parametrize("interface", INTERFACES)
def test_values_bind_where_they_are_written_however_deep_and_again(
    edges: Edges, oracle: duckdb.DuckDBPyConnection, interface: str
) -> None:
    """Each statement twice with other values (the second answered from its kept plan, the
    values written into the slots it marked), on each table: sqlglot walks breadth-first, so
    any positional bookkeeping by its walk binds a CTE's or a subquery's values in the wrong
    order; and a value the planner folds into a constant (`? * 2`, `? || ?`, `lower(?)`) left
    the kept plan filtering the Parquet scan by the first run's constant."""
    for template, runs in PLACED:
        for table in TABLES:
            sql = template.format(table)
            for values in runs:
                want = oracle.execute(sql, values).fetchall()
                assert ask(edges, interface, sql, values) == want, (sql, values)


# ---- two identities at once ----------------------------------------------------------------


def test_a_masked_identity_and_an_open_one_at_once_never_see_each_others_values(
    edges: Edges,
) -> None:
    """The same texts from both identities on every interface at once, the results cache on and
    the key-index lane warm: a plan, a cached result or a lane answer kept for one identity and
    served to the other would show `masked` a secret or a row of another country, or `open` a
    mask."""
    texts = [
        "SELECT id, secret, country FROM {} WHERE id = ?",
        "SELECT id, secret, country FROM {} WHERE id IN (?, ?)",
        "SELECT id, secret, country FROM {} WHERE id BETWEEN ? AND ? ORDER BY id LIMIT 3",
    ]
    seen: list[str] = []

    def check(identity: str, rows: list[tuple[Any, ...]]) -> None:
        for key, secret, country in rows:
            if identity == "open" and secret != f"s{key}":
                seen.append(f"open read {secret!r} for row {key}")
            if identity == "masked" and (secret != "****" or country != "DE"):
                seen.append(f"masked read {secret!r}, {country} for row {key}")

    def loop(identity: str, interface: str, seed: int) -> None:
        """24 statements on one connection (pg's lane answers a session's repeated lookups)."""
        with contextlib.ExitStack() as stack:
            if interface.startswith("pg"):
                session = stack.enter_context(psycopg.connect(edges.dsn(identity), autocommit=True))
            elif interface == "flight":
                cursor = stack.enter_context(stack.enter_context(edges.flight(identity)).cursor())
            for turn in range(24):
                key = (seed * 31 + turn * 7) % ROWS
                sql = texts[turn % len(texts)].format(TABLES[turn % len(TABLES)])
                values = [key, (key + 1) % ROWS][: sql.count("?")]
                try:
                    if interface.startswith("pg"):
                        binary = interface == "pg-binary"
                        rows = session.execute(sql.replace("?", "%s"), values, binary=binary)
                        check(identity, rows.fetchall())
                    elif interface == "flight":
                        cursor.execute(sql, values)
                        check(identity, cursor.fetchall())
                    else:
                        check(identity, ask(edges, interface, sql, values, identity))
                except Exception as error:  # every failure is reported below
                    seen.append(f"{identity} over {interface}: {error!r}")

    threads = [
        threading.Thread(target=loop, args=(identity, interface, seed))
        for seed, (identity, interface) in enumerate(
            itertools.product(("open", "masked"), INTERFACES)
        )
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == []


# ---- the extended protocol's bad values: an error each, the connection kept ----------------


def raw_client(edges: Edges, identity: str = "open") -> pg_client.RawClient:
    """A bare frontend logged in with the cleartext password (runtime.pg.auth_method)."""
    client = pg_client.RawClient(edges.process.pg_port, login=False)
    client.send_raw(pg_client.startup_packet(identity, "edges"))
    kind, body = client.read_message()
    assert (kind, struct.unpack(">i", body)[0]) == ("R", 3), (kind, body)
    client.send(pg_client.message(b"p", pg_client.cstring(edges.keys[identity])))
    reply = client.read_until_ready()
    client.pid, client.secret = struct.unpack(">ii", dict(reply.messages)["K"])
    assert reply.status == "I", reply.kinds
    return client


def bind(
    values: tuple[bytes | None, ...], formats: tuple[int, ...] = (0,), results: tuple[int, ...] = ()
) -> bytes:
    """Bind of the unnamed statement to the unnamed portal with any format codes."""
    payload = b"\0\0" + struct.pack(f">h{len(formats)}h", len(formats), *formats)
    payload += struct.pack(">H", len(values))
    for value in values:
        payload += struct.pack(">i", -1) if value is None else struct.pack(">i", len(value)) + value
    payload += struct.pack(f">h{len(results)}h", len(results), *results)
    return pg_client.message(b"B", payload)


BAD_BINDS = [
    # (bound values, parameter formats, result formats, SQLSTATE, message)
    ((b"1",), (2,), (), "22023", "unsupported format code: 2"),
    ((b"1",), (0,), (7,), "22023", "unsupported format code: 7"),
    ((b"\0\0\0\1",), (1,), (), "22P03", "incorrect binary data format in bind parameter 1"),
    ((b"abc",), (0,), (), "22P02", 'invalid input syntax for type bigint: "abc"'),
    ((b"n\xff1",), (0,), (), "22021", '"UTF8": 0xff in bind parameter 1'),
]


@pytest.mark.parametrize("table", TABLES)
def test_a_bad_bind_is_postgresqls_error_and_the_connection_goes_on(
    edges: Edges, table: str
) -> None:
    """A format code other than text or binary ended the connection as a protocol violation
    (PostgreSQL answers 22023 and goes on); a binary value of the wrong length was 22P02
    quoting Python's bytes (`b'\\x00...'`), text that is not UTF-8 too, and a NUL inside text
    was taken as part of the value."""
    client = raw_client(edges)
    lookup = f"SELECT id FROM {table} WHERE id = $1 AND name <> $2"
    for values, formats, results, code, text in BAD_BINDS:
        for _ in range(2):  # the statement is kept after the first: the same answer again
            client.send(
                pg_client.parse(lookup, types=(20, 25)),
                bind((*values, b"x"), formats * 2, results),
                pg_client.execute(),
                pg_client.SYNC,
            )
            reply = client.read_until_ready()
            assert reply.kinds == "1EZ", (values, reply.kinds, reply.errors())
            [error] = reply.errors()
            assert (error["C"], text in error["M"]) == (code, True), error
            assert "b'" not in error["M"], error
    client.send(
        pg_client.parse(f"SELECT id FROM {table} WHERE name = $1"),
        bind((b"n3\0' OR 'x' = 'x",)),
        pg_client.execute(),
        pg_client.SYNC,
    )
    assert [error["C"] for error in client.read_until_ready().errors()] == ["22021"]
    client.send(pg_client.parse(lookup), bind((b"5", b"x")), pg_client.execute(), pg_client.SYNC)
    assert client.read_until_ready().rows() == [[b"5"]]
    client.close()


# ---- depth ---------------------------------------------------------------------------------


def test_mcp_arguments_nested_past_the_json_parsers_depth_are_a_parse_error(edges: Edges) -> None:
    """A tool call whose arguments nest 100,000 arrays deep was a 500 Internal Server Error
    with a RecursionError traceback in the log (the envelope check's json.loads), where
    shallower nesting is the SDK's JSON-RPC parse error."""
    deep = "[" * 100_000 + "]" * 100_000
    body = (
        '{"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "sql", '
        f'"arguments": {{"sql": "SELECT 1", "deep": {deep}}}}}}}'
    )
    answer = httpx.post(
        f"{edges.process.url}/v1/mcp",
        content=body,
        headers={
            **edges.headers(),
            "Accept": "application/json, text/event-stream",
            "Content-Type": "application/json",
        },
        timeout=30,
    )
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["code"] == -32700 and "recursion limit" in error["message"], error
    assert "Traceback" not in edges.process.output


# ---- transactions --------------------------------------------------------------------------


def test_a_failed_transaction_refuses_named_statements_and_held_portals(edges: Edges) -> None:
    """pgjdbc past its prepareThreshold and psycopg's prepared statements send only Bind and
    Execute for a statement they have prepared: after an error inside a transaction, such a
    statement answered rows as if nothing had failed, and so did a cursor opened before it."""
    lookup = "SELECT id, secret FROM pk WHERE id = %s"
    with psycopg.connect(edges.dsn()) as connection:
        assert connection.execute(lookup, [1], prepare=True).fetchall() == [(1, "s1")]
        with pytest.raises(psycopg.errors.UndefinedColumn):
            connection.execute("SELECT nope FROM t")
        with pytest.raises(psycopg.errors.InFailedSqlTransaction):
            connection.execute(lookup, [2], prepare=True)
        connection.rollback()
        assert connection.execute(lookup, [3], prepare=True).fetchall() == [(3, "s3")]

    client = raw_client(edges)
    client.query("BEGIN")
    client.send(
        pg_client.parse("SELECT id FROM t ORDER BY id", "all"),
        pg_client.bind("held", "all"),
        pg_client.execute("held", 2),
        pg_client.SYNC,
    )
    assert client.read_until_ready().rows() == [[b"0"], [b"1"]]
    assert client.query("SELECT nope FROM t").status == "E"
    client.send(pg_client.execute("held", 2), pg_client.SYNC)
    reply = client.read_until_ready()
    assert [error["C"] for error in reply.errors()] == ["25P02"] and reply.rows() == []
    assert client.query("ROLLBACK").status == "I"
    client.close()


def test_a_parameter_of_lists_nested_300_deep_is_refused_not_planned_forever(
    edges: Edges,
) -> None:
    """The statement's depth is bounded before planning, but not a parameter's: a JSON
    parameter of lists nested 300 deep became a 300-deep literal that DataFusion's parser
    worked on past the statement's timeout, uninterruptible, a core per request."""
    nested: Any = 1
    for _ in range(300):
        nested = [nested]
    response = httpx.post(
        f"{edges.process.url}/v1/sql",
        json={"sql": "SELECT $1 AS v", "parameters": [nested]},
        headers=edges.headers(),
        timeout=30,
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_parameter"
    assert "parameter $1: lists are nested more than 32 levels deep" in error["message"]
    before = cpu_seconds(edges.process)
    time.sleep(1.0)
    assert cpu_seconds(edges.process) - before < 0.3, "the parameter is being planned"
    shallow = httpx.post(
        f"{edges.process.url}/v1/sql",
        json={"sql": "SELECT $1 AS v", "parameters": [[[1, 2], [3]]]},
        headers=edges.headers(),
    )
    assert shallow.json() == [{"v": [[1, 2], [3]]}]


# ---- HTTP result formats -------------------------------------------------------------------


def test_csv_writes_bytes_nested_values_and_intervals_as_json_does(edges: Edges) -> None:
    """`Accept: text/csv` was a 500 Internal Server Error (a traceback in the log) for bytes
    that are not UTF-8, structs, lists, maps, intervals and string views, which JSON answers."""
    sql = (
        "SELECT X'00ff' AS b, named_struct('a', id, 'b', name) AS s, make_array(id, NULL) AS l, "
        "map(['k'], [id]) AS m, interval '1 day 2 hours' AS i, arrow_cast(name, 'Utf8View') AS v "
        "FROM t WHERE id = 3"
    )
    answers = {}
    for media in ("application/json", "text/csv"):
        response = httpx.post(
            f"{edges.process.url}/v1/sql",
            content=sql,
            headers={**edges.headers(), "Accept": media},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        answers[media] = response
    [row] = answers["application/json"].json()
    [header, line] = list(csv.reader(io.StringIO(answers["text/csv"].text)))
    assert header == list(row)
    assert line == [
        value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        for value in row.values()
    ]
    assert line[:4] == ["AP8=", '{"a":3,"b":"n3"}', "[3,null]", '[["k",3]]']


# ---- cancellation --------------------------------------------------------------------------


def cpu_seconds(process: SidecarProcess) -> float:
    assert process.process is not None
    fields = Path(f"/proc/{process.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_flight_client_giving_up_before_the_first_batch_stops_its_query(edges: Edges) -> None:
    """A DoGet whose client cancels the call or passes its own deadline (ADBC's
    adbc_cancel, a gRPC timeout) while the first batch is computed: nothing was written yet,
    so nothing noticed, and the aggregate ran on every core to runtime.query_timeout. Then the
    same client's next query answers."""
    client = flight.connect(edges.process.flight_url)
    bearer = [(b"authorization", f"Bearer {edges.keys['open']}".encode())]
    endless = "SELECT count(*) AS n FROM generate_series(1, 1000000000000) g(x) WHERE x % 7 = 3"
    command = pack(pb.CommandStatementQuery(query=endless))
    for _ in range(2):
        info = client.get_flight_info(
            flight.FlightDescriptor.for_command(command), flight.FlightCallOptions(headers=bearer)
        )
        impatient = flight.FlightCallOptions(headers=bearer, timeout=1.0)
        with pytest.raises(flight.FlightTimedOutError):
            client.do_get(info.endpoints[0].ticket, impatient).read_all()
    time.sleep(1.5)  # a cancel reaches DataFusion's pull within a second (stoppable.py)
    before = cpu_seconds(edges.process)
    time.sleep(2.0)
    assert cpu_seconds(edges.process) - before < 0.3, "the query ran on for a client gone"
    with edges.flight() as connection, connection.cursor() as cursor:
        cursor.execute("SELECT count(*) AS n FROM t")
        assert cursor.fetchall() == [(ROWS,)]
    client.close()
    assert "Traceback" not in edges.process.output, edges.process.output


def audited(edges: Edges, sql: str) -> list[dict[str, Any]]:
    """The audit lines of `sql`, once its statement has ended (written off its path)."""
    deadline = time.monotonic() + 10
    while True:
        lines = (edges.root / "audit.jsonl").read_text().splitlines()
        found = [line for line in map(json.loads, lines) if line["sql"] == sql]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_a_postgres_client_hanging_up_mid_aggregate_stops_its_query(edges: Edges) -> None:
    endless = "SELECT count(*) AS n FROM generate_series(1, 1000000000001) g(x) WHERE x % 7 = 3"
    client = raw_client(edges)
    client.send(pg_client.message(b"Q", pg_client.cstring(endless)))
    time.sleep(0.5)
    client.close()
    time.sleep(1.5)
    before = cpu_seconds(edges.process)
    time.sleep(2.0)
    assert cpu_seconds(edges.process) - before < 0.3, "the query ran on for a client gone"


def test_a_result_cut_short_by_a_hang_up_is_not_audited_as_answered(edges: Edges) -> None:
    endless = "SELECT x FROM generate_series(1, 1000000000002) g(x)"
    client = raw_client(edges)
    client.send(pg_client.message(b"Q", pg_client.cstring(endless)))
    client.read_message()  # RowDescription: rows are on their way
    time.sleep(0.3)
    client.close()
    [line] = audited(edges, endless)
    assert line["decision"] != "ok" and line["code"] == "canceled", line


# ---- size ----------------------------------------------------------------------------------


@pytest.mark.parametrize("table", ["t", "ar"])
def test_a_batch_past_a_grpc_message_limit_reaches_adbc_in_pieces(edges: Edges, table: str) -> None:
    """One batch of a wide result (here 2,000 rows of 20 KB, one Parquet row group or one Arrow
    copy batch) went out as one 40 MB DoGet message: ADBC (16 MiB limit) failed with
    "grpc: received message larger than max", as would grpc-go's and tonic's 4 MiB."""
    sql = f"SELECT id, repeat(name, 4000) AS s FROM {table} ORDER BY id"
    with edges.flight() as connection, connection.cursor() as cursor:
        cursor.execute(sql)
        result = cursor.fetch_arrow_table()
    assert result.num_rows == ROWS and result.column("id").to_pylist() == list(range(ROWS))
    assert result.column("s")[7].as_py() == "n7" * 4000
    assert result.nbytes > 32 << 20


def test_a_call_with_arguments_of_the_wrong_types_names_the_candidates_not_a_bug(
    edges: Edges,
) -> None:
    """DataFusion calls it an internal error and asks for a bug report in its tracker: the
    agent read that the engine was broken, with the candidate signatures at the end."""
    sql = "SELECT substr(name, 'a', 'b') AS s FROM t"
    response = httpx.post(
        f"{edges.process.url}/v1/sql", content=sql, headers=edges.headers(), timeout=30
    )
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert message.startswith("No function matches the given name and argument types")
    assert "substr(str: String, start_pos: Int64, length: Int64)" in message
    assert "bug" not in message and "Internal error" not in message
    with psycopg.connect(edges.dsn(), autocommit=True) as connection:
        with pytest.raises(psycopg.Error) as refused:
            connection.execute(sql)
        assert refused.value.sqlstate == "42883"


def test_times_and_intervals_bind_as_their_types(edges: Edges) -> None:
    """A Flight interval parameter was bound as the list of its three numbers (a wrong answer),
    a duration or a time was refused; asyncpg's interval (binary) became PostgreSQL's text
    '7 days 00:00:05.000006', which DataFusion cannot read."""
    week = dt.timedelta(days=7, seconds=5, microseconds=6)
    values = pa.record_batch(
        [
            pa.array([pa.MonthDayNano([1, 2, 3])]),
            pa.array([week], pa.duration("us")),
            pa.array([dt.time(1, 2, 3, 4)], pa.time64("us")),
        ],
        names=["a", "b", "c"],
    )
    with edges.flight() as connection, connection.cursor() as cursor:
        cursor.execute("SELECT $1 AS a, $2 AS b, $3 AS c, $2 > INTERVAL '7 days' AS d", values)
        assert cursor.fetchall() == [
            (
                pa.MonthDayNano([1, 2, 3]),
                pa.MonthDayNano([0, 7, 5_000_006_000]),
                dt.time(1, 2, 3, 4),
                True,
            )
        ]
    sql = "SELECT $1::interval AS v, count(*) FROM t WHERE id < 3"
    assert asyncio.run(through_asyncpg(edges, sql, [week], "open")) == [(week, 3)]


def test_flight_rpcs_outside_flight_sql_are_refused_in_words(edges: Edges) -> None:
    """ListFlights and DoExchange were pyarrow's UNIMPLEMENTED with an empty message and a
    Python traceback for detail."""
    client = flight.FlightClient(edges.process.flight_url)
    options = flight.FlightCallOptions(
        headers=[(b"authorization", edges.headers()["Authorization"].encode())]
    )
    with pytest.raises(pa.ArrowNotImplementedError) as listed:
        list(client.list_flights(b"", options))
    descriptor = flight.FlightDescriptor.for_command(b"")
    with pytest.raises(pa.ArrowNotImplementedError) as exchanged:
        client.do_exchange(descriptor, options)[1].read_all()
    for caught, call in ((listed, "ListFlights"), (exchanged, "DoExchange")):
        message = str(caught.value)
        assert f"{call} is not a Flight SQL call" in message and "HINT:" in message
        assert "Traceback" not in message
    with pytest.raises(flight.FlightUnauthenticatedError):
        list(client.list_flights(b""))


def test_explain_takes_its_options_and_points_into_the_agents_text(edges: Edges) -> None:
    """The guard let `EXPLAIN VERBOSE`, `ANALYSE` and Postgres' `(ANALYZE, BUFFERS)` through,
    then the engine ran `VERBOSE SELECT ...` as the query: a syntax error at "column 1"; a
    FORMAT was ignored; positions inside any EXPLAIN counted from the explained query."""
    http = httpx.Client(base_url=edges.process.url, headers=edges.headers(), timeout=30)

    def plans(sql: str) -> dict[str, str]:
        response = http.post("/v1/sql", content=sql)
        assert response.status_code == 200, (sql, response.text)
        return {row["plan_type"]: row["plan"] for row in response.json()}

    assert "fetched:" not in plans("EXPLAIN VERBOSE SELECT count(*) FROM t")["federation"]
    assert "fetched:" in plans("EXPLAIN ANALYSE SELECT count(*) FROM t")["federation"]
    assert "fetched:" in plans("EXPLAIN (ANALYZE, BUFFERS) SELECT id FROM t")["federation"]
    assert "fetched:" not in plans("EXPLAIN (ANALYZE false) SELECT id FROM t")["federation"]
    wrong = http.post("/v1/sql", content="EXPLAIN (FORMAT JSON) SELECT nope FROM t").json()
    assert "FORMAT JSON is not supported" in wrong["error"]["message"]
    with psycopg.connect(edges.dsn(), autocommit=True) as connection:
        with pytest.raises(psycopg.errors.UndefinedColumn) as caught:
            connection.execute("EXPLAIN VERBOSE SELECT nope FROM t")
        assert caught.value.diag.statement_position == "24"
        rows = connection.execute("EXPLAIN (ANALYZE) SELECT count(*) FROM t WHERE id < 5")
        assert "fetched:" in dict(rows.fetchall())["federation"]


def test_fetching_backward_says_cursors_scan_forward(edges: Edges) -> None:
    """`FETCH -1` was read as a cursor named "-" (34000 'cursor "-" does not exist'); and the
    hint said to declare the cursor SCROLL, which is refused."""
    with psycopg.connect(edges.dsn()) as connection:
        for backward in ("FETCH -1 FROM c", "FETCH BACKWARD 1 FROM c", "MOVE -2 IN c"):
            connection.execute("DECLARE c CURSOR FOR SELECT id FROM t ORDER BY id")
            assert connection.execute("FETCH 2 FROM c").fetchall() == [(0,), (1,)]
            with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState) as caught:
                connection.execute(backward)
            assert "can only scan forward" in str(caught.value)
            assert "declare it with SCROLL" not in str(caught.value.diag.message_hint)
            connection.rollback()
