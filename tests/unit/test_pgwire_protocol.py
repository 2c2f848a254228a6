"""The parts of the Postgres wire server that need no socket: statements, settings, parameters."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import socket
import struct
from decimal import Decimal

import pyarrow as pa
import pytest
import sqlglot
from sqlglot.tokens import TokenType

from sidecar.servers.pgwire import commands, parameters, types
from sidecar.servers.pgwire.commands import (
    DeclareCommand,
    FetchCommand,
    QueryCommand,
    SetCommand,
    SettingsQuery,
    ShowCommand,
    Statement,
    Transaction,
    classify,
    normalize,
    split,
)
from sidecar.servers.pgwire.errors import PgError
from sidecar.servers.pgwire.messages import Body, Output, ProtocolError, Sends, parse_bind
from sidecar.servers.pgwire.names import output_names
from sidecar.servers.pgwire.settings import Settings


def test_a_query_message_splits_into_statements_with_their_offsets() -> None:
    sql = "BEGIN; SELECT 'a;b' AS x; COMMIT;"
    assert [(s.text, s.offset) for s in split(sql)] == [
        ("BEGIN", 0),
        ("SELECT 'a;b' AS x", 7),
        ("COMMIT", 26),
    ]
    assert split("  -- nothing\n ;") == []


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("begin", Transaction("BEGIN", "BEGIN")),
        ("START TRANSACTION READ ONLY", Transaction("BEGIN", "BEGIN")),
        ("end", Transaction("COMMIT", "COMMIT")),
        ("ROLLBACK TO SAVEPOINT s", Transaction("ROLLBACK TO", "ROLLBACK")),
        ("SET search_path TO public", SetCommand("search_path", "public")),
        ("set extra_float_digits = 3", SetCommand("extra_float_digits", "3")),
        ("SET TIME ZONE 'Europe/Berlin'", SetCommand("TimeZone", "Europe/Berlin")),
        ("SET application_name TO DEFAULT", SetCommand("application_name", None)),
        ("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY", SetCommand(None, None)),
        ("show transaction isolation level", ShowCommand("transaction_isolation")),
        ("SHOW ALL", ShowCommand(None)),
        ('FETCH FORWARD 10 FROM "c1"', FetchCommand("c1", 10, move=False)),
        ("FETCH ALL IN c", FetchCommand("c", None, move=False)),
        ("MOVE 5 c", FetchCommand("c", 5, move=True)),
    ],
)
def test_session_commands_are_recognised(sql: str, expected: object) -> None:
    assert classify(Statement(sql, 0)) == expected


def test_show_tables_and_queries_go_to_the_engine() -> None:
    assert isinstance(classify(Statement("SHOW TABLES", 0)), QueryCommand)
    assert isinstance(classify(Statement("select 1", 0)), QueryCommand)


def test_declare_keeps_the_position_of_its_query() -> None:
    command = classify(Statement('DECLARE "c" BINARY CURSOR WITH HOLD FOR SELECT 1', 10))
    assert isinstance(command, DeclareCommand)
    assert (command.name, command.binary, command.hold) == ("c", True, True)
    assert command.query == Statement("SELECT 1", 50)


def test_set_config_as_a_query_is_a_settings_command() -> None:
    command = classify(
        Statement("SELECT current_setting('jit') AS cur, set_config('jit', 'off', false)", 0)
    )
    assert isinstance(command, SettingsQuery)
    assert command.names == ["cur", "set_config"]
    assert isinstance(
        classify(Statement("SELECT set_config('a', 'b', false) FROM t", 0)), QueryCommand
    )


def test_arrays_of_oid_types_are_spelled_so_the_guard_can_parse_them() -> None:
    assert normalize("SELECT 1 WHERE x = any($1::oid[]) AND '[]' <> ''") == (
        "SELECT 1 WHERE x = any($1::_oid) AND '[]' <> ''"
    )


def test_settings_are_case_insensitive_and_refuse_what_cannot_be_honoured() -> None:
    settings = Settings(
        "agent", {"TimeZone": "Europe/Berlin", "options": "-c extra_float_digits=3"}
    )
    assert settings.get("timezone") == "Europe/Berlin"
    assert settings.get("extra_float_digits") == "3"
    assert settings.canonical("timezone") == "TimeZone"
    assert settings.set("datestyle", "ISO, DMY") == "DateStyle"
    assert settings.get("DateStyle") == "ISO, DMY"
    for name, value in (("DateStyle", "German"), ("client_encoding", "LATIN1"),
                        ("TimeZone", "Mars/Olympus"), ("server_version", "16")):  # fmt: skip
        with pytest.raises(PgError):
            settings.set(name, value)
    assert settings.set("client_encoding", "'utf-8'") == "client_encoding"
    assert settings.get("client_encoding") == "UTF8"
    with pytest.raises(PgError) as unknown:
        settings.get("no_such_setting")
    assert unknown.value.sqlstate == "42704"
    settings.set("statement_timeout", "1500ms")
    assert settings.statement_timeout == 1.5
    refusals = {"temp_directory": "42704", "log_statement": "42501", "wal_level": "55P02"}
    for name, sqlstate in refusals.items():
        with pytest.raises(PgError) as refused:
            settings.set(name, "x")
        assert refused.value.sqlstate == sqlstate
    settings.set("myapp.tenant", "acme")
    assert settings.get("MyApp.Tenant") == "acme"
    started = Settings("agent", {"enable_seqscan": "off", "temp_directory": "/tmp"})
    assert started.get("enable_seqscan") == "off"
    with pytest.raises(PgError):
        started.get("temp_directory")


def test_parameter_types_come_from_the_statement_context() -> None:
    columns = [("id", pa.int64()), ("amount", pa.float64()), ("status", pa.string()),
               ("at", pa.timestamp("us"))]  # fmt: skip
    schemas = {"orders": pa.schema(columns)}
    statement = sqlglot.parse_one(
        "SELECT id, $3::int FROM orders WHERE status = $1 AND amount > $2 AND id IN ($4, $5) "
        "AND at BETWEEN $6 AND $7 AND status LIKE $8 LIMIT $9 OFFSET $10",
        read="postgres",
    )
    oids = parameters.infer(statement, schemas, [])
    assert oids == [25, 701, 23, 20, 20, 1114, 1114, 25, 20, 20]
    assert parameters.infer(statement, schemas, [1043]) == [1043, *oids[1:]]
    assert parameters.infer(sqlglot.parse_one("SELECT $1", read="postgres"), {}, []) == [25]
    assert parameters.infer(sqlglot.parse_one("SELECT $1::_oid", read="postgres"), {}, []) == [1028]
    nested = sqlglot.parse_one(
        "SELECT id FROM orders WHERE (id + $1) * 2 > $2 AND abs($3 - amount) < $4 + $3",
        read="postgres",
    )
    assert parameters.infer(nested, schemas, []) == [20, 20, 701, 701]


@pytest.mark.parametrize(
    ("raw", "oid", "binary", "expected"),
    [
        (b"42", types.INT8.oid, False, 42),
        (struct.pack(">q", -7), types.INT8.oid, True, -7),
        (struct.pack(">i", 70000), types.INT4.oid, True, 70000),
        (b"yes", types.BOOL.oid, False, True),
        (b"\x00", types.BOOL.oid, True, False),
        (b"1.5", types.FLOAT8.oid, False, 1.5),
        (b"Infinity", types.FLOAT8.oid, False, float("inf")),
        (b"12.50", types.NUMERIC.oid, False, Decimal("12.50")),
        (struct.pack(">hhHHhhh", 3, 1, 0x4000, 3, 1, 2345, 6780), types.NUMERIC.oid, True,
         Decimal("-12345.678")),
        (b"2026-03-14", types.DATE.oid, False, dt.date(2026, 3, 14)),
        (struct.pack(">i", 1), types.DATE.oid, True, dt.date(2000, 1, 2)),
        (b"2026-03-14 10:00:00", types.TIMESTAMP.oid, False, dt.datetime(2026, 3, 14, 10)),
        (struct.pack(">q", 1_000_000), types.TIMESTAMP.oid, True, dt.datetime(2000, 1, 1, 0, 0, 1)),
        (b"2026-03-14 10:00:00+02", types.TIMESTAMPTZ.oid, False,
         dt.datetime(2026, 3, 14, 8, tzinfo=dt.UTC)),
        (b"\\x00ff", types.BYTEA.oid, False, b"\x00\xff"),
        (b"{1,NULL,3}", types.INT8.array_oid, False, [1, None, 3]),
        (b'{"a b",c}', types.TEXT.array_oid, False, ["a b", "c"]),
        (struct.pack(">iiiii", 1, 1, 23, 2, 1) + struct.pack(">ii", 4, 5) + struct.pack(">i", -1),
         types.INT4.array_oid, True, [5, None]),
        (b"text", 0, False, "text"),
    ],
)  # fmt: skip
def test_parameter_values_decode_from_text_and_binary(
    raw: bytes, oid: int, binary: bool, expected: object
) -> None:
    assert parameters.decode(raw, oid, binary) == expected


def test_a_malformed_parameter_is_a_22p02_error_naming_the_type() -> None:
    with pytest.raises(PgError) as error:
        parameters.decode(b"forty-two", types.INT8.oid, False)
    assert error.value.sqlstate == "22P02"
    assert "bigint" in error.value.message


@pytest.mark.parametrize(
    ("text", "oid", "expected"),
    [
        (b" -7 ", types.INT4.oid, -7),
        (b"+9223372036854775807", types.INT8.oid, 2**63 - 1),
        (b"9223372036854775808", types.INT8.oid, ("22003", "out of range for type bigint")),
        (b"-2147483649", types.INT4.oid, ("22003", "out of range for type integer")),
        (b"32768", types.INT2.oid, ("22003", "out of range for type smallint")),
        (b"1_000", types.INT8.oid, ("22P02", 'for type bigint: "1_000"')),
        ("١٢".encode(), types.INT8.oid, ("22P02", "for type bigint")),
    ],
)
def test_integers_are_read_as_postgresql_reads_them(
    text: bytes, oid: int, expected: int | tuple[str, str]
) -> None:
    """ASCII digits within the type's range: Python's int() also takes underscores and other
    scripts' digits, and a bigint past its range was bound as a NUMERIC."""
    if isinstance(expected, int):
        assert parameters.decode(text, oid, False) == expected
        return
    with pytest.raises(PgError) as error:
        parameters.decode(text, oid, False)
    assert error.value.sqlstate == expected[0] and expected[1] in error.value.message


def test_result_columns_are_named_as_postgresql_names_them() -> None:
    statement = sqlglot.parse_one(
        "SELECT count(*), min(o.at), 1, 1::int, x::text, CASE WHEN a THEN 1 END, Foo, "
        '"Bar", 1 AS Baz, true, version() FROM t AS o',
        read="postgres",
    )
    assert output_names(statement) == [
        "count", "min", "?column?", "int4", "x", "case", "foo", "Bar", "baz", "?column?", "version"
    ]  # fmt: skip
    assert output_names(sqlglot.parse_one("SELECT * FROM t", read="postgres")) is None


def test_bind_messages_are_checked_against_their_own_lengths() -> None:
    valid = b"p\0s\0" + struct.pack(">hh", 1, 1) + struct.pack(">h", 1) + struct.pack(">i", 2)
    valid += b"42" + struct.pack(">h", 0)
    bind = parse_bind(Body(valid))
    assert (bind.portal, bind.statement, bind.values) == ("p", "s", [b"42"])
    for broken in (
        valid[:-1],
        valid + b"x",
        valid.replace(struct.pack(">i", 2), struct.pack(">i", 99)),
    ):
        with pytest.raises(ProtocolError):
            parse_bind(Body(broken))


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1", "  SELECT 1  ", "\n\tSELECT 'a  '\r\n", "", "   ", "SELECT $$x$$",
        "SELECT 'it''s'", "select\u00a0 1 ", "SELECT 1 \x0b", "\u2003SELECT 1\u2003",
        "\x0cSELECT\x0c1\x1c", "SELECT 'unterminated", "SELECT 1; SELECT 2", "SELECT 1 -- c",
        "/* c */ SELECT 1", "SELECT ';'", "SELECT 1;", " SELECT 1 ; ", ";", "SELECT 1;;",
        "SELECT 'a;'", "SELECT 1; ", " ; SELECT 1",
    ],
)  # fmt: skip
def test_a_text_is_split_into_statements_as_its_tokens_say(sql: str) -> None:
    """commands.split takes a text with no semicolon or comment as one statement without
    tokenizing it: the statement and its offset are the tokens' all the same."""
    found = commands.tokens(sql)
    if found is None:
        expected = [commands.Statement(sql, 0)] if sql.strip() else []
    else:
        expected, current = [], []
        for token in [*found, None]:
            if token is None or token.token_type == TokenType.SEMICOLON:
                if current:
                    start, end = current[0].start, current[-1].end + 1
                    expected.append(commands.Statement(sql[start:end], start))
                current = []
            else:
                current.append(token)
    assert commands.split(sql) == expected


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1", "select * from t", "WITH a AS (SELECT 1) SELECT * FROM a", "VALUES (1)",
        "SELECT set_config('a.b', 'c', false)", "BEGIN", "begin isolation level serializable",
        "SET search_path = public", "SHOW timezone", "SHOW TABLES", "RESET ALL", "COMMIT",
        "ROLLBACK TO SAVEPOINT s", "DECLARE c CURSOR FOR SELECT 1", "FETCH 5 FROM c",
        "CLOSE c", "DEALLOCATE ALL", "DISCARD ALL", "START TRANSACTION", "END", "ABORT",
        "SELECT$1", "\"SET\" ", "(SELECT 1)", "EXPLAIN SELECT 1", "TABLE t",
    ],
)  # fmt: skip
def test_a_statement_known_a_query_by_its_first_word_is_classified_as_its_tokens_say(
    sql: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    statement = commands.Statement(sql, 0)
    commands._classified.cache_clear()
    fast = commands.classify(statement)
    commands._classified.cache_clear()
    monkeypatch.setattr(commands, "FIRST_WORD", re.compile(r"(?!)"))  # tokens decide each
    slow = commands.classify(statement)
    commands._classified.cache_clear()
    assert type(fast) is type(slow) and repr(fast) == repr(slow)


def test_the_replies_of_one_turn_of_the_loop_leave_together_at_its_end() -> None:
    """A lookup's reply is sent once every ready socket was read (messages.Sends), not as it
    is answered: a send wakes its client, which the kernel then ran first on the loop's CPU.
    A connection closed meanwhile is skipped, the others still sent."""

    async def scenario() -> None:
        sends = Sends()
        pairs = [socket.socketpair() for _ in range(3)]
        outputs = []
        for ours, _ in pairs:
            _, writer = await asyncio.open_connection(sock=ours)
            outputs.append(Output(writer))
        for number, output in enumerate(outputs):
            output.write(b"reply %d" % number)
            sends.add(output)
        outputs[1].writer.close()
        for _, theirs in pairs:
            theirs.setblocking(False)
            with pytest.raises(BlockingIOError):
                theirs.recv(100)
        await asyncio.sleep(0)
        assert [pairs[n][1].recv(100) for n in (0, 2)] == [b"reply 0", b"reply 2"]
        for output in outputs:
            output.writer.close()
        for _, theirs in pairs:
            theirs.close()

    asyncio.run(scenario())
