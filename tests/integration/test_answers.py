"""Answers as PostgreSQL 15 gives them, on every interface of a real `sidecar run`.

One sidecar serves the same rows as a Parquet file (`t`) and as a DuckDB copy (`dk`, to which
whole queries are pushed); PostgreSQL holds them as `answers.t` and is the oracle: each
question is asked of it with psycopg, and of the sidecar over HTTP, psycopg (text and binary
results), asyncpg and ADBC Flight SQL, and the answers compared value by value.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import adbc_driver_flightsql.dbapi as adbc
import asyncpg
import httpx
import psycopg
import pyarrow as pa
import pyarrow.flight as flight
import pyarrow.parquet as pq
import pytest
import yaml
from psycopg.types.string import TextLoader

from sidecar.servers.flight import FlightSql_pb2 as pb
from sidecar.servers.flight.commands import pack
from tests.peers import unavailable
from tests.peers.postgres import Postgres, postgres  # noqa: F401
from tests.process import SidecarProcess, free_port

PGJDBC = Path("/usr/share/java/postgresql.jar")
INTERFACES = ("http", "pg-text", "pg-binary", "asyncpg", "flight")
TABLES = ("t", "dk")
BIG = "123456789012345678901234567890.123"
ROWS = [  # id, amount NUMERIC(38, 3), price float8, score int, name, seen timestamptz
    (1, Decimal(BIG), 1.5, 10, "a", "2024-01-01 12:00:00+00"),
    (2, Decimal("1.500"), 2.5, 20, "b", "2024-03-31 01:30:00+00"),
    (3, Decimal("2.250"), None, 20, "c", None),
    (4, Decimal("-7.125"), 4.0, 30, None, "2024-10-27 00:59:59.5+00"),
    (5, None, 5.5, 30, "e", "2023-12-31 23:00:00+00"),
    (6, Decimal("0.000"), 0.1, 30, "f", "2024-07-01 00:00:00+00"),
    (7, Decimal("99999999999999.999"), 7.0, None, "g", "1999-12-31 23:59:59+00"),
]


@dataclass(frozen=True)
class Answers:
    process: SidecarProcess
    postgres: Postgres

    @property
    def dsn(self) -> str:
        return f"host=127.0.0.1 port={self.process.pg_port} dbname=answers user=agent"


@pytest.fixture(scope="module")
def answers(
    postgres: Postgres,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Answers]:
    root = tmp_path_factory.mktemp("answers")
    columns = list(zip(*ROWS, strict=True))
    pq.write_table(
        pa.table(
            {
                "id": pa.array(columns[0], pa.int64()),
                "amount": pa.array(columns[1], pa.decimal128(38, 3)),
                "price": pa.array(columns[2], pa.float64()),
                "score": pa.array(columns[3], pa.int32()),
                "name": pa.array(columns[4], pa.string()),
                "seen": pa.array(
                    [None if v is None else dt.datetime.fromisoformat(v) for v in columns[5]],
                    pa.timestamp("us", tz="UTC"),
                ),
            }
        ),
        root / "t.parquet",
    )
    values = ", ".join(
        "(" + ", ".join("NULL" if v is None else repr(str(v)) for v in row) + ")" for row in ROWS
    )
    postgres.execute(
        "DROP SCHEMA IF EXISTS answers CASCADE",
        "CREATE SCHEMA answers AUTHORIZATION agent",
        "CREATE TABLE answers.t (id BIGINT, amount NUMERIC(38, 3), price FLOAT8, score INT, "
        "name TEXT, seen TIMESTAMPTZ)",
        f"INSERT INTO answers.t VALUES {values}",
        "ALTER TABLE answers.t OWNER TO agent",
    )
    port = free_port()
    config = {
        "version": 1,
        "name": "answers",
        "runtime": {"http": {"port": port}},
        "datasets": [
            {"from": "file:t.parquet", "name": "t"},
            {"from": "file:t.parquet", "name": "dk", "acceleration": {"engine": "duckdb"}},
            {
                "from": "file:t.parquet",
                "name": "keyed",
                "acceleration": {"engine": "duckdb", "primary_key": "id"},
            },
        ],
    }
    (root / "sidecar.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    process = SidecarProcess(root / "sidecar.yaml")
    process.start(port)
    try:
        yield Answers(process, postgres)
    finally:
        process.stop()
        postgres.execute("DROP SCHEMA IF EXISTS answers CASCADE")


def oracle(answers: Answers, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(**answers.postgres.params(), autocommit=True) as connection:
        return connection.execute(sql.format(t="answers.t")).fetchall()


def ask(answers: Answers, interface: str, sql: str) -> list[tuple[Any, ...]]:
    if interface == "http":
        response = httpx.post(f"{answers.process.url}/v1/sql", content=sql, timeout=30)
        assert response.status_code == 200, response.text
        return [tuple(row.values()) for row in response.json()]
    if interface == "asyncpg":
        return asyncio.run(_asyncpg(answers, sql))
    if interface.startswith("pg"):
        with psycopg.connect(answers.dsn, autocommit=True) as connection:
            return connection.execute(sql, binary=interface == "pg-binary").fetchall()
    with (
        adbc.connect(answers.process.flight_url, autocommit=True) as connection,
        connection.cursor() as cursor,
    ):
        cursor.execute(sql)
        return cursor.fetchall()


async def _asyncpg(answers: Answers, sql: str) -> list[tuple[Any, ...]]:
    connection = await asyncpg.connect(
        host="127.0.0.1", port=answers.process.pg_port, user="agent", database="answers", ssl=False
    )
    try:
        return [tuple(row) for row in await connection.fetch(sql)]
    finally:
        await connection.close()


def same(got: list[tuple[Any, ...]], want: list[tuple[Any, ...]]) -> bool:
    """Equal rows, where an exact decimal must come back exact: as a Decimal, or as the string
    of its digits in JSON (never a double)."""
    if len(got) != len(want):
        return False
    for got_row, want_row in zip(got, want, strict=True):
        for value, expected in zip(got_row, want_row, strict=True):
            if isinstance(expected, Decimal) and isinstance(value, str):
                value = Decimal(value)
            if isinstance(expected, Decimal) and not isinstance(value, Decimal):
                return False
            if value != expected:
                return False
    return True


def agree(
    answers: Answers,
    interface: str,
    templates: list[str],
    *,
    ordered: bool = True,
    value: Callable[[Any], Any] = lambda value: value,
) -> None:
    """Each statement of `templates` (`{t}`: the table) answered over `interface` on every
    table as PostgreSQL answers it; `value` reads each value first."""
    for template in templates:
        want = oracle(answers, template)
        for table in TABLES:
            got = ask(answers, interface, template.format(t=table))
            got = [tuple(map(value, row)) for row in got]
            if not ordered:
                got, want = sorted(got, key=repr), sorted(want, key=repr)
            assert same(got, want), (template, table, got, want)


# ---- decimal literals ------------------------------------------------------------------------


EXACT = [
    f"SELECT {BIG} AS x",
    f"SELECT -{BIG} AS x",
    "SELECT 12345678901234567890123 AS x",
    f"SELECT id FROM {{t}} WHERE amount = {BIG}",
    f"SELECT id FROM {{t}} WHERE amount >= {BIG} OR amount < -7.1249999999999999999 ORDER BY id",
    "SELECT id FROM {t} WHERE amount BETWEEN 99999999999999.9985 AND 99999999999999.99949",
    "SELECT id, amount + 1.0000000000000000001 AS x FROM {t} WHERE id IN (2, 7) ORDER BY id",
    f"SELECT {BIG} - amount AS x FROM {{t}} WHERE id = 1",
    "SELECT 1234567890.0987654321 * 2 AS x",
]


@pytest.mark.parametrize("interface", INTERFACES)
def test_a_literal_of_more_digits_than_a_double_holds_keeps_them(
    answers: Answers, interface: str
) -> None:
    """A number literal is a double for DataFusion: `123456789012345678901234567890.123` came
    back as 1.2345678901234568e+29, and compared with a DECIMAL column that held it, the
    comparison failed to cast it or answered with the double's digits."""
    agree(answers, interface, EXACT)


@pytest.mark.parametrize("interface", ["http", "pg-binary", "flight"])
def test_ordinary_literals_keep_their_types(answers: Answers, interface: str) -> None:
    """Literals a double holds stay doubles, as clients always received them: 1.5, a float
    column times 1.1, 1e3 and an AVG are floats on every interface."""
    sql = "SELECT 1.5 AS a, price * 1.1 AS b, 1e3 AS c, (SELECT avg(score) FROM t) AS d FROM t "
    rows = ask(answers, interface, sql + "WHERE id = 2")
    assert rows == [(1.5, 2.75, 1000.0, 140 / 6)]
    assert all(isinstance(value, float) for value in rows[0])


# ---- FETCH FIRST ... WITH TIES ---------------------------------------------------------------


TIES = [
    "SELECT id, score FROM {t} ORDER BY score FETCH FIRST 2 ROWS WITH TIES",
    "SELECT id FROM {t} ORDER BY score DESC FETCH FIRST 1 ROW WITH TIES",
    "SELECT id FROM {t} ORDER BY score DESC NULLS LAST FETCH FIRST 1 ROW WITH TIES",
    "SELECT id, score AS s FROM {t} ORDER BY s OFFSET 1 ROWS FETCH NEXT 1 ROWS WITH TIES",
    "SELECT id FROM {t} ORDER BY 1 FETCH FIRST 0 ROWS WITH TIES",
    "SELECT id, score FROM {t} WHERE id > 1 ORDER BY 2, price FETCH FIRST ROWS WITH TIES",
    "SELECT score, count(*) AS n FROM {t} GROUP BY score ORDER BY n DESC "
    "FETCH FIRST 1 ROWS WITH TIES",
    "SELECT * FROM (SELECT DISTINCT score FROM {t}) AS d ORDER BY score "
    "FETCH FIRST 2 ROWS WITH TIES",
]


@pytest.mark.parametrize("interface", INTERFACES)
def test_fetch_first_with_ties_returns_the_ties(answers: Answers, interface: str) -> None:
    """WITH TIES failed with DataFusion's "not implemented" on the Parquet table, and on the
    DuckDB copy (the whole query pushed to DuckDB) came back as LIMIT n without the ties."""
    agree(answers, interface, TIES, ordered=False)


@pytest.mark.parametrize(
    ("sql", "code", "message", "hint"),
    [
        (
            "SELECT id FROM t FETCH FIRST 1 ROWS WITH TIES",
            "42601",
            "WITH TIES cannot be specified without ORDER BY clause",
            "ORDER BY",
        ),
        (
            "SELECT DISTINCT score FROM t ORDER BY score FETCH FIRST 1 ROWS WITH TIES",
            "0A000",
            "FETCH FIRST ... WITH TIES with SELECT DISTINCT is not supported",
            "SELECT * FROM (SELECT DISTINCT ...) AS d",
        ),
        (
            "SELECT id FROM t UNION SELECT id FROM dk ORDER BY id FETCH FIRST 1 ROWS WITH TIES",
            "0A000",
            "FETCH FIRST ... WITH TIES on a UNION, INTERSECT or EXCEPT is not supported",
            "SELECT * FROM (... UNION ...) AS u",
        ),
    ],
)
def test_with_ties_shapes_it_cannot_answer_say_what_to_write(
    answers: Answers, sql: str, code: str, message: str, hint: str
) -> None:
    with (
        psycopg.connect(answers.dsn, autocommit=True) as connection,
        pytest.raises(psycopg.Error) as raised,
    ):
        connection.execute(sql)
    assert raised.value.sqlstate == code
    assert str(raised.value).splitlines()[0] == message
    assert hint in (raised.value.diag.message_hint or "")
    response = httpx.post(f"{answers.process.url}/v1/sql", content=sql, timeout=30)
    assert response.status_code == 400
    assert response.json()["error"]["message"] == message


# ---- malformed array parameters --------------------------------------------------------------


MALFORMED = ["{1,2", "1,2", "{1,2}x", "{1,,2}", "{1,2,}", '{1 "2"}', "{1,a}", '{1,"a b"}']


def _error(connection: psycopg.Connection, value: str) -> tuple[str | None, str, str | None]:
    with pytest.raises(psycopg.Error) as raised:
        connection.execute("SELECT id FROM t WHERE id = ANY(%s::int8[])", [value])
    error = raised.value
    return error.sqlstate, str(error).splitlines()[0], error.diag.message_detail


def test_a_malformed_array_parameter_is_postgresqls_malformed_array_literal(
    answers: Answers,
) -> None:
    """`{1,2` bound as an int8[] said `invalid input syntax for type bigint: "{1,2"`;
    PostgreSQL says `malformed array literal: "{1,2"` with a DETAIL saying what is wrong, and
    for a bad element quotes only the element."""
    with (
        psycopg.connect(answers.dsn, autocommit=True) as sidecar,
        psycopg.connect(**answers.postgres.params(), autocommit=True) as peer,
    ):
        peer.execute("SET search_path = answers")
        for value in MALFORMED:
            assert _error(sidecar, value) == _error(peer, value), value
        rows = sidecar.execute("SELECT id FROM t WHERE id = ANY(%s::int8[])", ['{1, "2"}'])
        assert rows.fetchall() == [(1,), (2,)]


PROBE = """
import java.sql.*;
import java.util.Properties;
import org.postgresql.util.PSQLException;
import org.postgresql.util.ServerErrorMessage;

public class ArrayProbe {
    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        props.setProperty("user", args[1]);
        props.setProperty("password", args[2]);
        try (Connection conn = DriverManager.getConnection(args[0], props)) {
            for (int i = 4; i < args.length; i++) {
                try (PreparedStatement ps = conn.prepareStatement(
                        "SELECT id FROM " + args[3] + " WHERE id = ANY(?::int8[])")) {
                    ps.setObject(1, args[i], Types.OTHER);
                    ps.executeQuery().close();
                    System.out.println("ok");
                } catch (PSQLException e) {
                    ServerErrorMessage error = e.getServerErrorMessage();
                    System.out.println(e.getSQLState() + "|" + error.getMessage() + "|"
                        + error.getDetail());
                }
            }
        }
    }
}
"""


def test_pgjdbc_reads_the_same_array_errors_as_from_postgresql(
    answers: Answers, tmp_path: Path
) -> None:
    """pgjdbc sends a string as an untyped parameter that the statement makes an int8[]."""
    if not PGJDBC.exists() or not shutil.which("java"):
        unavailable("pgjdbc or a JDK", "make test installs libpostgresql-jdbc-java")
    (tmp_path / "ArrayProbe.java").write_text(PROBE)
    peer = answers.postgres

    def run(url: str, user: str, password: str, table: str) -> list[str]:
        command = ["java", "-cp", str(PGJDBC), "ArrayProbe.java", url, user, password, table]
        result = subprocess.run(
            [*command, *MALFORMED],
            cwd=tmp_path, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        return result.stdout.splitlines()

    sidecar = run(
        f"jdbc:postgresql://127.0.0.1:{answers.process.pg_port}/answers", "agent", "x", "t"
    )
    oracle_lines = run(
        f"jdbc:postgresql://127.0.0.1:{peer.port}/{peer.database}",
        peer.user, peer.password, "answers.t",
    )  # fmt: skip
    assert sidecar == oracle_lines
    assert sidecar[0] == '22P02|malformed array literal: "{1,2"|Unexpected end of input.'


# ---- intervals in JSON ---------------------------------------------------------------------


INTERVALS = (
    "SELECT (interval '1 year 2 months 3 days 4 hours 5 minutes 6.5 seconds') AS a, "
    "(interval '-1 day 2 hours') AS b, (interval '0 seconds') AS c, "
    "(interval '-14 months') AS d, "
    "(timestamp '2024-01-02 12:00:00' - timestamp '2024-01-01') AS e, "
    "(timestamp '2024-01-01' - timestamp '2024-01-02 12:00:00.25') AS f"
)


def test_intervals_are_iso_8601_durations_on_every_http_format(answers: Answers) -> None:
    """JSON had intervals as `[months, days, nanoseconds]` lists and durations (timestamp
    minus timestamp) as seconds, CSV durations as nanoseconds: now each is an ISO 8601
    duration, written as PostgreSQL writes it under IntervalStyle iso_8601."""
    with psycopg.connect(**answers.postgres.params(), autocommit=True) as connection:
        connection.execute("SET IntervalStyle = iso_8601")
        [want] = connection.execute(INTERVALS.replace(") AS ", ")::text AS ")).fetchall()
    url = f"{answers.process.url}/v1/sql"
    [row] = httpx.post(url, content=INTERVALS, timeout=30).json()
    assert tuple(row.values()) == want == (
        "P1Y2M3DT4H5M6.5S", "P-1DT2H", "PT0S", "P-1Y-2M", "P1DT12H", "P-1DT-12H-0.25S"
    )  # fmt: skip
    ndjson = httpx.post(url, content=INTERVALS, headers={"Accept": "application/x-ndjson"})
    assert ndjson.json() == row
    csv = httpx.post(url, content=INTERVALS, headers={"Accept": "text/csv"}, timeout=30)
    assert csv.text.splitlines()[1] == ",".join(f'"{value}"' for value in want)


def test_a_negative_duration_on_the_wire_is_postgresqls_text(answers: Answers) -> None:
    """`-1 days -12:00:00`, as PostgreSQL writes `timestamp - timestamp`, not Python's
    normalised `-2 days +12:00:00` (the same time span, another text)."""
    sql = "SELECT timestamp '2024-01-01' - timestamp '2024-01-02 12:00:00' AS f"
    texts = []
    for params in (dict(conninfo=answers.dsn), answers.postgres.params()):
        with psycopg.connect(**params, autocommit=True) as connection:
            connection.adapters.register_loader("interval", TextLoader)
            texts.append(connection.execute(sql).fetchall())
    assert texts[0] == texts[1] == [("-1 days -12:00:00",)]


# ---- errors and operators as PostgreSQL has them -------------------------------------------


ERRORS = [
    "SELECT id / 0 FROM {t} WHERE id = 2",
    "SELECT amount / 0 FROM {t} WHERE id = 2",
    "SELECT id % 0 FROM {t} WHERE id = 2",
    "SELECT id FROM {t} ORDER BY id LIMIT -1",
    "SELECT id FROM {t} ORDER BY id OFFSET -2",
    "SELECT 9223372036854775807 + id FROM {t}",
    "SELECT id * 4611686018427387904 AS x FROM {t} ORDER BY id",
    "SELECT -(id - 9223372036854775807 - 2) FROM {t}",
    "SELECT sum(id * 4611686018427387904) FROM {t}",
    "SELECT 9223372036854775807 + 1",
    "SELECT abs(-9223372036854775807 - 1)",
    "SELECT score, CAST(id * 3000000000 AS INT) FROM {t}",
    "SELECT CAST('abc' AS INT)",
    "SELECT id FROM {t} WHERE id = 'x1'::bigint",
    "SELECT 'maybe'::boolean",
    "SELECT price / 0 FROM {t} WHERE id = 2",
    "SELECT id, price / (id - 2) FROM {t} ORDER BY id",
    "SELECT 1::float8 / 0",
    "SELECT 1.5 % 0",
    "SELECT avg(score) / (min(id) - 1) FROM {t}",
    "SELECT id FROM {t} WHERE id * 4611686018427387904 > 0",
    "SELECT id FROM {t} WHERE 0 < 9223372036854775801 + id",
    "SELECT max(id) * 4611686018427387904 FROM {t}",
    "SELECT power(id, 40)::bigint FROM {t}",
    "SELECT '3000000000'::int",
    "SELECT 'abc'::numeric",
    "SELECT 'NaN'::float8::int",
    "SELECT id * 4611686018427387904 FROM (SELECT id FROM {t}) AS s",
    "SELECT (SELECT max(id) FROM {t}) * 4611686018427387904",
    "SELECT x / 0 FROM (SELECT price AS x FROM {t}) AS s",
    "SELECT '2024-02-30'::date",
    "SELECT date '2024-13-01'",
    "SELECT 'abc'::date",
    "SELECT '2024-02-29 25:00:00'::timestamp",
    "SELECT 'soon'::timestamp",
    "SELECT ('2024-02-3' || id)::date FROM {t} WHERE id = 2",
]


def _failure(dsn: dict[str, Any], sql: str) -> tuple[str | None, str]:
    with (
        psycopg.connect(**dsn, autocommit=True) as connection,
        pytest.raises(psycopg.Error) as raised,
    ):
        connection.execute(sql)
    return raised.value.sqlstate, str(raised.value).splitlines()[0]


def test_errors_are_worded_and_coded_as_postgresql_words_them(answers: Answers) -> None:
    """DataFusion said `Arrow error: Divide by zero error` and `LIMIT must be >= 0, '-1' was
    provided` (42000) where PostgreSQL says `division by zero` and `LIMIT must not be negative`
    (2201W); the HTTP API and Flight carry the same words."""
    for template in ERRORS:
        want = _failure(answers.postgres.params(), template.format(t="answers.t"))
        for table in TABLES:
            sql = template.format(t=table)
            assert _failure({"conninfo": answers.dsn}, sql) == want, sql
            response = httpx.post(f"{answers.process.url}/v1/sql", content=sql, timeout=30)
            assert response.json()["error"]["message"] == want[1], sql


DIVISIONS = [
    "SELECT id, price / 2 AS a, id / price AS b, price / NULLIF(id - 2, 0) AS c, "
    "sqrt(id) / id AS d FROM {t} ORDER BY id",
]


@pytest.mark.parametrize("interface", INTERFACES)
def test_floating_point_division_is_answered_as_before(answers: Answers, interface: str) -> None:
    """What failing on a floating-point division by zero must not change."""
    agree(answers, interface, DIVISIONS)


TEXTS = [
    "SELECT id, price::text AS a, (price * 2)::text AS b, CAST(price / 3 AS TEXT) AS c, "
    "(price * 1e20)::text AS d, (price / 1e6)::varchar AS e FROM {t} ORDER BY id",
    "SELECT id, seen::text AS a, (seen AT TIME ZONE 'America/New_York')::text AS b, "
    "(seen + interval '1 day')::text AS c, (seen::date + interval '1 hour')::text AS d, "
    "seen::time::text AS e FROM {t} ORDER BY id",
    "SELECT id, 'x' || price AS a, concat('p=', price, ' at ', seen) AS b, "
    "name || ':' || price * 10 AS c FROM {t} ORDER BY id",
    "SELECT x::text AS a, id * 2 AS b FROM (SELECT price * 2 AS x, price AS id FROM {t}) AS s "
    "ORDER BY 1",
]


@pytest.mark.parametrize("interface", INTERFACES)
def test_a_double_or_a_timestamp_cast_to_text_is_postgresqls_text(
    answers: Answers, interface: str
) -> None:
    """`price::text` was '4.0' and '1e20' (Arrow's, and DuckDB's on the copy) where PostgreSQL
    writes '4' and '1e+20'; `seen::text` was '2024-01-01T12:00:00Z' on the Parquet table,
    '2024-01-01 12:00:00+00' on the DuckDB copy and in PostgreSQL; `'x' || price` was 'x4.0'."""
    agree(answers, interface, TEXTS)


def test_an_average_of_decimals_keeps_its_digits_on_a_duckdb_copy(answers: Answers) -> None:
    """DuckDB averages a DECIMAL as a DOUBLE: the average of `amount` (30 digits) came back
    from the DuckDB copy as 20576131502057632037821480960, wrong from the 17th digit; every
    table now answers the engine's exact average (PostgreSQL's rounds it to 3 places)."""
    sql = "SELECT avg(amount) AS a FROM {t}"
    [(want,)] = oracle(answers, sql)
    for interface in ("pg-binary", "flight"):
        got = [ask(answers, interface, sql.format(t=table)) for table in TABLES]
        assert got[0] == got[1], (interface, got)
        assert abs(Decimal(got[0][0][0]) - want) < Decimal("0.001"), (interface, got, want)


DATES = [
    "SELECT id, seen::date + interval '90 minutes' AS a, date '2024-01-31' + interval '1 month' "
    "AS b, seen::date - interval '1 day' AS c, interval '36 hours' + date '2024-01-01' AS d "
    "FROM {t} ORDER BY id",
    "SELECT id, seen - timestamptz '2024-01-01 00:00:00+00' AS a, "
    "extract(epoch from seen)::bigint AS b FROM {t} ORDER BY id",
]


@pytest.mark.parametrize("interface", ["pg-text", "pg-binary", "asyncpg", "flight"])
def test_dates_and_timestamps_compute_as_in_postgresql(answers: Answers, interface: str) -> None:
    """`date + interval` was a date, its hours dropped (`date '2024-01-01' + interval '90
    minutes'` was 2024-01-01); PostgreSQL's is the timestamp 2024-01-01 01:30. `seen - ts`
    failed on the DuckDB copy (DuckDB answers an interval where a duration is planned), and
    `extract(epoch ...)::bigint` of 00:59:59.5 was truncated (PostgreSQL rounds its NUMERIC)."""
    agree(answers, interface, DATES)


UNIONS = [
    "SELECT 1 AS x UNION SELECT 1.5 ORDER BY 1",
    "SELECT x FROM (SELECT id AS x FROM {t} WHERE id < 3 UNION ALL SELECT 2.5) AS u ORDER BY 1",
]


@pytest.mark.parametrize("interface", INTERFACES)
def test_a_union_of_an_integer_and_a_fraction_is_answered(answers: Answers, interface: str) -> None:
    """`SELECT 1 UNION SELECT 1.5` failed ("Float value 1.5 was truncated converting to
    int64"): DataFusion's unoptimised plan types the union as its first branch. The answer is
    PostgreSQL's, as doubles (a literal with a point is a double here)."""
    for template in UNIONS:
        want = [tuple(float(value) for value in row) for row in oracle(answers, template)]
        for table in TABLES:
            got = ask(answers, interface, template.format(t=table))
            assert got == want and all(type(row[0]) is float for row in got), (template, got)


SERIES = [
    "SELECT generate_series(1, 3) AS g",
    "SELECT generate_series(1, 3) AS a, generate_series(1, 2) AS b",
    "SELECT id, generate_series(1, 2) AS g FROM {t} WHERE id < 3 ORDER BY 1, 2",
    "SELECT count(*) AS n FROM (SELECT generate_series(1, 5) AS g) AS s",
]


@pytest.mark.parametrize("interface", INTERFACES)
def test_a_series_in_a_select_list_is_rows(answers: Answers, interface: str) -> None:
    """`SELECT generate_series(1, 3)` answered one row holding the list [1, 2, 3]; PostgreSQL
    answers a row per value, side-by-side series zipped and the shorter padded with NULLs."""
    agree(answers, interface, SERIES)


def test_a_series_in_a_select_list_is_named_as_in_postgresql(answers: Answers) -> None:
    with psycopg.connect(answers.dsn, autocommit=True) as connection:
        cursor = connection.execute("SELECT generate_series(1, 2)")
        assert [c.name for c in cursor.description] == ["generate_series"]
        assert cursor.fetchall() == [(1,), (2,)]


SUMS = [
    "SELECT sum(id * -1000000000000)::bigint AS s, sum(id)::bigint AS n FROM {t}",
    "SELECT score, sum(id - 4000000000)::bigint AS s FROM {t} GROUP BY score ORDER BY 1",
    "SELECT id + 1, id * score, -id, score - 1 FROM {t} ORDER BY 1",
    "SELECT id + 1 AS x, count(*) * 2 AS n FROM {t} GROUP BY id ORDER BY 1",
]


@pytest.mark.parametrize("interface", INTERFACES)
def test_integer_arithmetic_in_range_is_answered_as_before(
    answers: Answers, interface: str
) -> None:
    """What checking integer arithmetic for overflow must not change: sums (of negative
    values too), products and groups in range."""
    agree(answers, interface, SUMS)


def test_a_bigint_sum_out_of_range_is_refused_not_wrapped(answers: Answers) -> None:
    """SUM of a BIGINT wrapped around silently (9 times 2^62 summed to a small number).
    PostgreSQL sums BIGINTs as NUMERIC; here the sum stays a BIGINT and, past its range,
    fails as PostgreSQL's arithmetic does."""
    sql = "SELECT sum(id + 9223372036854775000) AS s FROM {t}"
    for table in TABLES:
        assert _failure({"conninfo": answers.dsn}, sql.format(t=table)) == (
            "22003",
            "bigint out of range",
        )
        response = httpx.post(f"{answers.process.url}/v1/sql", content=sql.format(t=table))
        assert response.json()["error"]["message"] == "bigint out of range"
    with (
        adbc.connect(answers.process.flight_url) as connection,
        connection.cursor() as cursor,
        pytest.raises(adbc.Error, match="bigint out of range"),
    ):
        cursor.execute(sql.format(t="t"))
        cursor.fetchall()
    [(value,)] = oracle(answers, sql)  # PostgreSQL answers, in NUMERIC
    assert value == 7 * 9223372036854775000 + 28


PATTERNS = [
    "SELECT to_char(timestamp '2024-05-17 10:03:04', 'YYYY-MM-DD HH24:MI:SS') AS a",
    "SELECT id, to_char(seen, 'DD/MM/YYYY HH24:MI') AS d FROM {t} ORDER BY id",
    "SELECT id, to_char(seen, 'DD Mon YYYY, HH12:MI AM') AS a, to_char(seen, 'FMDay, FMMonth DD') "
    "AS b, to_char(seen, 'Dy HH12 pm') AS c FROM {t} ORDER BY id",
    "SELECT to_date('17/05/2024', 'DD/MM/YYYY')::text AS a, "
    "to_date(name || '-01-01', 'YYYY-MM-DD') IS NULL AS b FROM {t} WHERE id = 4",
    "SELECT 'abc' SIMILAR TO 'a%' AS a, 'abc' SIMILAR TO 'b%' AS b, "
    "'abc' SIMILAR TO '%(b|x)%' AS c, 'abc' SIMILAR TO 'a.c' AS d, "
    "'abc' NOT SIMILAR TO '_b_' AS e",
    "SELECT id, name SIMILAR TO '[a-c]' AS x FROM {t} ORDER BY id",
    "SELECT 'a%c' LIKE 'a#%c' ESCAPE '#' AS a, 'abc' LIKE 'a#%c' ESCAPE '#' AS b, "
    "'A%C' ILIKE 'a!%c' ESCAPE '!' AS c, 'a_c' LIKE 'a\\_c' AS d",
    "SELECT id FROM {t} WHERE name LIKE '#_' ESCAPE '#' ORDER BY id",
]


@pytest.mark.parametrize("interface", INTERFACES)
def test_patterns_are_read_as_postgresql_reads_them(answers: Answers, interface: str) -> None:
    """`to_char(ts, 'YYYY-MM-DD')` answered 'YYYY-MM-DD' (DataFusion reads chrono's
    patterns), `to_char(ts, 'DD Mon YYYY HH12 AM')` '05 Mon 2024 01 AM' (sqlglot reads only the
    numeric fields), `'abc' SIMILAR TO 'a%'` was false (read as a regular expression of its own),
    and LIKE with an ESCAPE other than the backslash was refused."""
    agree(answers, interface, PATTERNS)


RANKS = [
    "SELECT id, row_number() OVER (PARTITION BY score ORDER BY id) AS r, "
    "rank() OVER (ORDER BY score) AS k, dense_rank() OVER (ORDER BY score) AS d "
    "FROM {t} ORDER BY id",
]


@pytest.mark.parametrize("interface", ["pg-text", "pg-binary", "asyncpg"])
def test_ranks_are_bigints(answers: Answers, interface: str) -> None:
    """row_number(), rank() and dense_rank() came back as NUMERIC (Decimal('1')): DataFusion's
    are unsigned 64-bit integers, which the Postgres wire can only send as NUMERIC."""
    agree(answers, interface, RANKS)
    rows = ask(answers, interface, RANKS[0].format(t="t"))
    assert all(type(value) is int for row in rows for value in row)


QUANTIFIED = [
    "SELECT id FROM {t} WHERE score = ANY (SELECT score FROM {t} WHERE score > 15) ORDER BY id",
    "SELECT id FROM {t} WHERE score = SOME (SELECT score FROM {t} WHERE score > 15) ORDER BY id",
    "SELECT id FROM {t} WHERE score <> ALL (SELECT score FROM {t} WHERE score > 15) ORDER BY id",
    "SELECT id FROM {t} WHERE NOT (score = ANY (SELECT score FROM {t} WHERE id < 3)) ORDER BY 1",
]


@pytest.mark.parametrize("interface", INTERFACES)
def test_any_and_all_of_a_subquery_are_answered_right_or_refused(
    answers: Answers, interface: str
) -> None:
    """DataFusion answered `score = ANY (SELECT ...)` with the wrong rows and `score > ALL
    (...)` with none; the first is now IN, the second refused with what to write."""
    agree(answers, interface, QUANTIFIED)
    if interface == "pg-text":
        sql = "SELECT id FROM t WHERE score > ALL (SELECT score FROM t WHERE score < 25)"
        assert _failure({"conninfo": answers.dsn}, sql) == (
            "0A000",
            "> ALL (subquery) is not supported: the engine answers it wrongly",
        )


OPERATORS = [
    "SELECT id, ~id AS n, ~score AS m, id # 5 AS x FROM {t} ORDER BY id",
    "SELECT ~5 AS a, 5 & 3 AS b, 5 | 3 AS c, 5 # 3 AS d, 1 << 3 AS e, 16 >> 2 AS f",
]


@pytest.mark.parametrize("interface", INTERFACES)
def test_bitwise_operators_answer_as_in_postgresql(answers: Answers, interface: str) -> None:
    """`~x` (bitwise not) failed: DataFusion does not implement the operator."""
    agree(answers, interface, OPERATORS)


def test_asyncpg_binds_a_list_to_any_and_all(answers: Answers) -> None:
    """`WHERE id = ANY($1)` is asyncpg's IN list: the parameter was described as text, so
    asyncpg refused to encode a list for it (`expected str, got list`)."""

    async def fetch(port: int, user: str, password: str | None, database: str) -> list[Any]:
        connection = await asyncpg.connect(
            host="127.0.0.1", port=port, user=user, password=password, database=database, ssl=False
        )
        try:
            table = "t" if database == "answers" else "answers.t"
            return [
                [tuple(row) for row in await connection.fetch(sql.format(t=table), values)]
                for sql, values in (
                    ("SELECT id FROM {t} WHERE id = ANY($1) ORDER BY id", [1, 3, 9]),
                    ("SELECT id FROM {t} WHERE id <> ALL($1) ORDER BY id", [1, 3]),
                    ("SELECT id FROM {t} WHERE name = ANY($1) ORDER BY id", ["b", "g"]),
                )
            ]
        finally:
            await connection.close()

    peer = answers.postgres
    got = asyncio.run(fetch(answers.process.pg_port, "agent", None, "answers"))
    want = asyncio.run(fetch(peer.port, peer.user, peer.password, peer.database))
    assert got == want == [[(1,), (3,)], [(2,), (4,), (5,), (6,), (7,)], [(2,), (7,)]]


# ---- time zones ----------------------------------------------------------------------------


ZONES = [
    "SELECT id, seen AT TIME ZONE 'America/New_York' AS local FROM {t} ORDER BY id",
    "SELECT id, (seen AT TIME ZONE 'UTC') AT TIME ZONE 'Asia/Kolkata' AS x FROM {t} ORDER BY id",
    "SELECT id, date_trunc('day', seen AT TIME ZONE 'Europe/Berlin') AS day FROM {t} ORDER BY id",
    "SELECT count(*) AS n FROM {t} WHERE seen AT TIME ZONE 'Europe/Berlin' >= "
    "timestamp '2024-01-01 00:00:00'",
    "SELECT timestamp '2024-01-01 12:00:00' AT TIME ZONE 'America/New_York' AS x",
    "SELECT max(seen) AT TIME ZONE 'America/New_York' AS a, "
    "(SELECT min(seen) FROM {t}) AT TIME ZONE 'Asia/Kolkata' AS b FROM {t}",
]


@pytest.mark.parametrize("interface", ["pg-text", "pg-binary", "asyncpg", "flight"])
def test_at_time_zone_of_a_zoned_timestamp_is_the_local_time(
    answers: Answers, interface: str
) -> None:
    """`seen AT TIME ZONE 'America/New_York'` of a timestamptz is the wall time there (07:00
    for noon UTC), a timestamp without zone; DataFusion answered the same instant again."""
    agree(answers, interface, ZONES)


# ---- casts and names -------------------------------------------------------------------------


CASTS = [
    "SELECT id, price::int AS a, (price * 3)::int AS b, (-price)::bigint AS c, "
    "amount::bigint AS d FROM {t} WHERE id > 1 ORDER BY id",
    "SELECT CAST(2.5 AS INT) AS a, CAST(-2.5 AS INT) AS b, CAST(5.7 AS INT) AS c, "
    "CAST(2.5::float8 AS INT) AS d, CAST(-3.5::float8 AS INT) AS e, CAST(0.5::float8 AS INT) AS f",
    "SELECT sum(CAST(price AS INT)) AS s FROM {t}",
    "SELECT id, round(price) AS r, round(amount) AS s, round(-price * 1) AS t FROM {t} ORDER BY id",
    "SELECT round(2.5::float8) AS a, round(-3.5::float8) AS b, round(0.5::float8) AS c",
]


@pytest.mark.parametrize("interface", INTERFACES)
def test_a_fraction_cast_to_an_integer_is_rounded(answers: Answers, interface: str) -> None:
    """PostgreSQL rounds (a double halfway to even, a NUMERIC away from zero): CAST(5.5 AS INT)
    is 6 there and was 5 here, DataFusion truncating; round(2.5::float8) is 2 there, was 3."""
    agree(answers, interface, CASTS)


NAMES = [
    "SELECT id, NULL, NULL FROM {t} WHERE id < 3 "
    "UNION ALL SELECT id, 1, 2 FROM {t} WHERE id = 4 ORDER BY 1, 2",
    "SELECT count(*), count(*) FROM {t}",
    "SELECT a.id, b.id FROM {t} AS a JOIN {t} AS b ON a.id = b.id - 1 ORDER BY 1",
    "SELECT id::text, id::int FROM {t} ORDER BY 2",
    "SELECT CAST(score AS BIGINT) FROM {t} ORDER BY score, id",
]


@pytest.mark.parametrize("interface", INTERFACES)
def test_columns_of_one_name_are_all_answered(answers: Answers, interface: str) -> None:
    """`SELECT id, NULL, NULL ... UNION ALL` (what BI tools write), `count(*), count(*)` and
    `CAST(id AS INT) ... ORDER BY id` failed with DataFusion's "Projections require unique
    expression names"; two joined `id`s came back over HTTP as one JSON key."""
    agree(answers, interface, NAMES)


INTERVAL_INPUT = [
    "SELECT interval '1 day 04:05:06' AS a, interval '04:05' AS b, "
    "interval '-1 days +02:00:00' AS c, interval '@ 1 day 2 hours ago' AS d",
    "SELECT '1 year 2 mons 3 days 04:05:06.5'::interval AS a, "
    "CAST('P1Y2M3DT4H5M6.5S' AS INTERVAL) AS b, 'P-1DT2H'::interval AS c",
    "SELECT id, seen - interval '1 day 02:30' AS x FROM {t} WHERE id < 3 ORDER BY id",
]


@pytest.mark.parametrize("interface", ["pg-text", "pg-binary", "asyncpg", "flight"])
def test_interval_text_is_read_as_postgresql_reads_it(answers: Answers, interface: str) -> None:
    """`interval '1 day 04:05:06'` was one day (sqlglot kept its first pair, DataFusion then
    refused the clock in a cast), `'@ 1 day ago'` was plus one day, ISO 8601 (what the HTTP
    API answers) was refused."""
    agree(answers, interface, INTERVAL_INPUT, value=_span)


def _span(value: Any) -> Any:
    """An Arrow interval (ADBC's) as the timedelta psycopg reads (a year as 365 days, a month
    as 30)."""
    if isinstance(value, pa.MonthDayNano):
        years, months = divmod(value.months, 12)
        days = years * 365 + months * 30 + value.days
        return dt.timedelta(days=days, microseconds=value.nanoseconds // 1000)
    return value


def test_an_interval_the_http_api_answered_binds_back(answers: Answers) -> None:
    body = {"sql": "SELECT $1::interval AS i", "parameters": ["P-1DT2H"]}
    response = httpx.post(f"{answers.process.url}/v1/sql", json=body, timeout=30)
    assert response.json() == [{"i": "P-1DT2H"}]


# ---- stars and names -------------------------------------------------------------------------


COLUMNS = "(SELECT id, amount, price, score, name FROM {t}) AS s"
STARS = [
    f"SELECT *, id FROM {COLUMNS} ORDER BY id",
    f"SELECT id, * FROM {COLUMNS} ORDER BY id",
    f"SELECT s.*, name FROM {COLUMNS} WHERE id < 4 ORDER BY 1",
    "SELECT *, id * 2 AS id FROM (SELECT id, name FROM {t}) AS s ORDER BY 1",
]


@pytest.mark.parametrize("interface", INTERFACES)
def test_a_star_beside_a_column_it_names_is_answered(answers: Answers, interface: str) -> None:
    """`SELECT *, id` failed with DataFusion's "Projections require unique expression names":
    the `*` names `id` too."""
    agree(answers, interface, STARS)


NAMED = [
    "power(2, 3)", "pow(2, 3)", "2 ^ 3", "mod(7, 3)", "7 % 3", "trim(' a ')",
    "trim(leading 'x' from 'xa')", "trim(trailing 'x' from 'ax')", "btrim('xax', 'x')",
    "ltrim(' a')", "substr('abc', 2)", "strpos('abc', 'b')", "char_length(name)",
    "ceiling(price)", "now() IS NULL", "now()", "variance(price)", "to_hex(id)", "true",
    "percentile_cont(0.5) WITHIN GROUP (ORDER BY price)", '"lower"(name)',
    "count(*) FILTER (WHERE id > 1)", "max(seen) AT TIME ZONE 'UTC'",
    "now() AT TIME ZONE 'UTC'",
]  # fmt: skip


def test_columns_are_named_as_postgresql_names_them(answers: Answers) -> None:
    """`power(2, 3)` and `mod(7, 3)` came back as `?column?`, `trim(x)` as `trim`, `now()` as
    `current_timestamp`: sqlglot reads them as other functions; PostgreSQL names a call as
    it was written (and `trim` as the btrim, ltrim or rtrim it calls)."""

    def names(connection: psycopg.Connection, table: str) -> list[list[str]]:
        return [
            [column.name for column in connection.execute(sql.format(t=table)).description or []]
            for sql in [f"SELECT {item} FROM {{t}} GROUP BY id, name, price" for item in NAMED]
            + ["SELECT *, id FROM {t}", "SELECT id, {t}.*, 1 FROM {t}"]
        ]

    with (
        psycopg.connect(answers.dsn, autocommit=True) as sidecar,
        psycopg.connect(**answers.postgres.params(), autocommit=True) as peer,
    ):
        want = names(peer, "answers.t")
        assert want[0][0] == "power" and want[5] == ["btrim"]
        for table in TABLES:
            assert names(sidecar, table) == want


# ---- cursors ---------------------------------------------------------------------------------


def test_a_backward_fetch_in_a_failed_transaction_says_the_transaction_failed(
    answers: Answers,
) -> None:
    """In a failed transaction every command but its end is refused with 25P02; FETCH
    BACKWARD was refused for scrolling backward first (55000)."""
    got = []
    for params, table in (
        ({"conninfo": answers.dsn}, "t"),
        (answers.postgres.params(), "answers.t"),
    ):
        with psycopg.connect(**params) as connection:
            connection.execute(f"DECLARE c CURSOR FOR SELECT id FROM {table}")
            with pytest.raises(psycopg.Error):
                connection.execute("SELECT 1 / 0")
            for sql in ("FETCH BACKWARD 1 FROM c", "MOVE LAST IN c", "FETCH -1 FROM c"):
                with pytest.raises(psycopg.Error) as raised:
                    connection.execute(sql)
                got.append(raised.value.sqlstate)
    assert got == ["25P02"] * 6


def test_a_syntax_error_in_a_failed_transaction_is_a_syntax_error(answers: Answers) -> None:
    """PostgreSQL parses a statement before it refuses it in a failed transaction: `SELEC 1`
    there is 42601 (the sidecar said 25P02), simple or extended, a well-formed query 25P02."""
    got = []
    for params in ({"conninfo": answers.dsn}, answers.postgres.params()):
        with psycopg.connect(**params) as connection:
            with pytest.raises(psycopg.Error):
                connection.execute("SELECT 1 / 0")
            for sql, values in (
                ("SELEC 1", None), ("SELEC %s", [1]), ("SELECT 1 FROM", None),
                ("SELECT 1", None), ("SELECT %s::int", [1]),
            ):  # fmt: skip
                with pytest.raises(psycopg.Error) as raised:
                    connection.execute(sql, values)
                got.append(raised.value.sqlstate)
    assert got == ["42601", "42601", "42601", "25P02", "25P02"] * 2


# ---- keys ------------------------------------------------------------------------------------


def test_flight_lists_the_primary_key_of_an_accelerated_copy(answers: Answers) -> None:
    """GetPrimaryKeys was empty for every table, even a copy declaring `primary_key: id`
    (JDBC's getPrimaryKeys and BI tools' join suggestions read it)."""
    client = flight.connect(answers.process.flight_url)

    def keys(**command: str) -> list[dict[str, Any]]:
        descriptor = flight.FlightDescriptor.for_command(pack(pb.CommandGetPrimaryKeys(**command)))
        info = client.get_flight_info(descriptor)
        return client.do_get(info.endpoints[0].ticket).read_all().to_pylist()

    try:
        assert keys(table="keyed") == [
            {
                "catalog_name": "answers",
                "db_schema_name": "public",
                "table_name": "keyed",
                "column_name": "id",
                "key_name": None,
                "key_sequence": 1,
            }
        ]
        assert keys(table="keyed", db_schema="public", catalog="answers") == keys(table="keyed")
        assert keys(table="t") == keys(table="dk") == keys(table="Keyed") == []
        assert keys(table="keyed", db_schema="information_schema") == []
    finally:
        client.close()
