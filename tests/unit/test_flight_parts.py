"""The Flight SQL server's parts on their own: generated messages, commands, handles, metadata
results, SqlInfo and error mapping (the real clients are in tests/integration/test_flight_sql.py).
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.flight as flight
import pytest
from google.protobuf import any_pb2

from sidecar.client.flight import server_error
from sidecar.errors import ErrorCode, SidecarError
from sidecar.servers.flight import FlightSql_pb2 as pb
from sidecar.servers.flight import metadata
from sidecar.servers.flight.commands import TYPE_PREFIX, Unsupported, pack, unpack
from sidecar.servers.flight.errors import InvalidArgument, NotFound, NotImplementedHere, to_flight
from sidecar.servers.flight.sqlinfo import SCHEMA as SQL_INFO_SCHEMA
from sidecar.servers.flight.sqlinfo import sql_info
from sidecar.servers.flight.tickets import Handles, UnknownHandle
from tests.clock import Clock

ROOT = Path(__file__).parents[2]
GENERATED = ROOT / "sidecar" / "servers" / "flight"


# --- Generated code ---------------------------------------------------------------------------


def test_generated_module_is_fresh(tmp_path: Path) -> None:
    """FlightSql_pb2.py is committed; regenerating it from proto/ must change nothing."""
    proto = ROOT / "proto"
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{proto}", f"--python_out={tmp_path}",
         f"--pyi_out={tmp_path}", str(proto / "FlightSql.proto")],
        check=True,
    )  # fmt: skip
    for name in ("FlightSql_pb2.py", "FlightSql_pb2.pyi"):
        assert (tmp_path / name).read_text() == (GENERATED / name).read_text(), (
            f"{name} is stale: run the protoc command at the top of proto/FlightSql.proto"
        )


SPEC_FIELDS = {
    # message: {field: number}, as in the Arrow Flight SQL specification (format/FlightSql.proto)
    "CommandGetSqlInfo": {"info": 1},
    "CommandGetXdbcTypeInfo": {"data_type": 1},
    "CommandGetDbSchemas": {"catalog": 1, "db_schema_filter_pattern": 2},
    "CommandGetTables": {
        "catalog": 1, "db_schema_filter_pattern": 2, "table_name_filter_pattern": 3,
        "table_types": 4, "include_schema": 5,
    },
    "CommandGetPrimaryKeys": {"catalog": 1, "db_schema": 2, "table": 3},
    "CommandStatementQuery": {"query": 1, "transaction_id": 2},
    "TicketStatementQuery": {"statement_handle": 1},
    "ActionCreatePreparedStatementRequest": {"query": 1, "transaction_id": 2},
    "ActionCreatePreparedStatementResult": {
        "prepared_statement_handle": 1, "dataset_schema": 2, "parameter_schema": 3,
    },
    "ActionClosePreparedStatementRequest": {"prepared_statement_handle": 1},
    "CommandPreparedStatementQuery": {"prepared_statement_handle": 1},
    "CommandStatementUpdate": {"query": 1, "transaction_id": 2},
    "CommandPreparedStatementUpdate": {"prepared_statement_handle": 1},
    "CommandStatementIngest": {"table": 2, "schema": 3, "catalog": 4},
    "ActionCancelQueryRequest": {"info": 1},
    "ActionCancelQueryResult": {"result": 1},
}  # fmt: skip


def test_field_numbers_are_the_specifications() -> None:
    assert pb.DESCRIPTOR.package == "arrow.flight.protocol.sql"
    declared = {
        name: {field.name: field.number for field in message.fields}
        for name, message in pb.DESCRIPTOR.message_types_by_name.items()
    }
    for name, fields in SPEC_FIELDS.items():
        assert declared.pop(name) == fields, name
    assert set(declared) <= {"CommandGetCatalogs", "CommandGetTableTypes"}


# --- Metadata schemas, as the specification writes them ------------------------------------------


DOCUMENTED = re.compile(
    r"/\*((?:(?!\*/).)*?The returned (?:Arrow )?schema will be:(?:(?!\*/).)*)\*/\s*message (\w+)",
    re.DOTALL,
)
SCALARS = {
    "utf8": pa.string(), "bytes": pa.binary(), "bool": pa.bool_(), "int32": pa.int32(),
    "int64": pa.int64(), "uint32": pa.uint32(), "uint8": pa.uint8(),
}  # fmt: skip


class SchemaText:
    """Reads a schema as FlightSql.proto's comments write it: `name: type [not null] (note)`,
    separated by commas, line breaks or a full stop, nested in list<>, map<> and dense_union<>;
    [optional] marks a field sent only on request. Brackets left open close at the end."""

    def __init__(self, text: str) -> None:
        self.text, self.at = text, 0
        self.optional: list[str] = []

    def schema(self) -> pa.Schema:
        return pa.schema(self._fields(">"))

    def _fields(self, closing: str) -> list[pa.Field]:
        found = []
        while not self._ahead(closing) and self._rest():
            if self._take("[optional]"):
                self.optional.append(self._peek_word())
            found.append(self._field())
            self._take(",") or self._take(".")
        self._take(closing)
        return found

    def _field(self) -> pa.Field:
        first = self._word()
        name, kind = ("item", self._type(first)) if not self._take(":") else (first, None)
        kind = kind or self._type(self._word())
        nullable = not self._take_words("not", "null")
        if self._ahead("("):
            self._note()
        return pa.field(name, kind, nullable)

    def _type(self, word: str) -> pa.DataType:
        if word in SCALARS:
            return SCALARS[word]
        self._take("<")
        if word == "list":
            item = self._field()
            self._take(">")
            return pa.list_(item)
        members = self._fields(">")
        if word == "map":
            return pa.map_(members[0].type, members[1])
        assert word == "dense_union", word
        return pa.dense_union(members)

    def _note(self) -> None:
        depth = 0
        for index in range(self.at, len(self.text)):
            depth += {"(": 1, ")": -1}.get(self.text[index], 0)
            if depth == 0:
                self.at = index + 1
                return

    def _rest(self) -> str:
        self.at = len(self.text) - len(self.text[self.at :].lstrip())
        return self.text[self.at :]

    def _ahead(self, text: str) -> bool:
        return self._rest().startswith(text)

    def _take(self, text: str) -> bool:
        if self._ahead(text):
            self.at += len(text)
            return True
        return False

    def _peek_word(self) -> str:
        match = re.match(r"[\w$]+", self._rest())
        assert match, self._rest()[:40]
        return match.group()

    def _word(self) -> str:
        word = self._peek_word()
        self.at += len(word)
        return word

    def _take_words(self, *words: str) -> bool:
        match = re.match(r"\s+".join(words) + r"\b", self._rest())
        if match:
            self.at += match.end()
        return match is not None


def documented_schemas() -> dict[str, tuple[pa.Schema, list[str]]]:
    """Each documented message's result schema and its [optional] fields."""
    text = (ROOT / "proto" / "FlightSql.proto").read_text()
    found = {}
    for comment, message in DOCUMENTED.findall(text):
        lines = [re.sub(r"^\s*\* ?", "", line) for line in comment.splitlines()]
        start = next(i for i, line in enumerate(lines) if "schema will be:" in line) + 1
        assert lines[start].strip() == "<", message
        end = next(i for i in range(len(lines) - 1, start, -1) if lines[i].strip() == ">")
        reader = SchemaText("\n".join(lines[start + 1 : end]))
        found[message] = (reader.schema(), reader.optional)
    return found


def _comparable(kind: pa.DataType) -> pa.DataType:
    """The type with its list items named `item`: Arrow gives list child names no meaning, and
    the specification's comments name them freely (string_data, $data$)."""
    if pa.types.is_map(kind):
        return pa.map_(
            _comparable(kind.key_type), kind.item_field.with_type(_comparable(kind.item_type))
        )
    if pa.types.is_list(kind):
        item = kind.value_field
        return pa.list_(pa.field("item", _comparable(item.type), item.nullable))
    if pa.types.is_union(kind):
        members = [f.with_type(_comparable(f.type)) for f in kind]
        return pa.dense_union(members, list(kind.type_codes))
    return kind


def _plain(schema: pa.Schema) -> pa.Schema:
    return pa.schema([f.with_type(_comparable(f.type)) for f in schema])


def test_every_metadata_result_schema_is_the_one_the_proto_documents() -> None:
    documented = documented_schemas()
    metadata_commands = {
        n for n in pb.DESCRIPTOR.message_types_by_name if n.startswith("CommandGet")
    }
    assert set(documented) == metadata_commands
    served = {
        "CommandGetCatalogs": metadata.CATALOGS,
        "CommandGetDbSchemas": metadata.DB_SCHEMAS,
        "CommandGetTables": metadata.TABLES_WITH_SCHEMA,
        "CommandGetTableTypes": metadata.TABLE_TYPES,
        "CommandGetPrimaryKeys": metadata.PRIMARY_KEYS,
        "CommandGetXdbcTypeInfo": metadata.XDBC_TYPE_INFO,
        "CommandGetSqlInfo": SQL_INFO_SCHEMA,
    }
    for name, (schema, optional) in documented.items():
        assert _plain(served[name]) == _plain(schema), f"{name}:\n{served[name]}\n---\n{schema}"
        if optional:
            required = pa.schema([f for f in schema if f.name not in optional])
            assert name == "CommandGetTables" and required == metadata.TABLES
    assert documented["CommandGetPrimaryKeys"][0].names[-2:] == ["key_name", "key_sequence"]


# --- Commands ---------------------------------------------------------------------------------


def test_commands_round_trip_as_any() -> None:
    data = pack(pb.CommandStatementQuery(query="SELECT 1"))
    wrapper = any_pb2.Any.FromString(data)
    assert wrapper.type_url == TYPE_PREFIX + "CommandStatementQuery"
    assert unpack(data) == pb.CommandStatementQuery(query="SELECT 1")


def test_unknown_commands_are_named() -> None:
    substrait = any_pb2.Any(type_url=TYPE_PREFIX + "CommandStatementSubstraitPlan")
    with pytest.raises(Unsupported, match="CommandStatementSubstraitPlan") as caught:
        unpack(substrait.SerializeToString())
    assert "CommandStatementQuery" in (caught.value.hint or "")
    with pytest.raises(SidecarError, match="not a Flight SQL command"):
        unpack(b"SELECT 1")
    with pytest.raises(SidecarError, match="not a Flight SQL command"):
        unpack(any_pb2.Any(type_url="type.googleapis.com/other.Message").SerializeToString())


# --- Handles ----------------------------------------------------------------------------------


def test_handles_are_random_bound_to_their_owner_and_single_use() -> None:
    handles: Handles[str] = Handles("ticket", "ask again", 60)
    first, second = handles.issue("agent", "a"), handles.issue("agent", "b")
    assert len(first) == 32 and first != second
    with pytest.raises(UnknownHandle, match="unknown, already used or expired"):
        handles.take(first, "someone-else")
    assert handles.take(first, "agent") == "a"
    with pytest.raises(UnknownHandle) as caught:
        handles.take(first, "agent")
    assert caught.value.hint == "ask again"
    with pytest.raises(UnknownHandle):
        handles.take(b"\0" * 32, "agent")


def test_handles_expire_and_use_keeps_them_alive() -> None:
    clock = Clock()
    expired: list[str] = []
    handles: Handles[str] = Handles("x", "again", 10, clock=clock, on_expire=expired.append)
    kept, dropped = handles.issue("a", "kept"), handles.issue("a", "dropped")
    clock.now = 8
    assert handles.get(kept, "a") == "kept"
    clock.now = 15
    assert handles.get(kept, "a") == "kept"
    with pytest.raises(UnknownHandle, match="expired"):
        handles.get(dropped, "a")
    assert expired == ["dropped"] and len(handles) == 1


def test_handles_drop_the_oldest_beyond_capacity() -> None:
    handles: Handles[int] = Handles("x", "again", 60, capacity=2, per_owner=2)
    oldest = handles.issue("a", 1)
    handles.issue("a", 2)
    handles.issue("a", 3)
    assert len(handles) == 2
    with pytest.raises(UnknownHandle):
        handles.get(oldest, "a")


def test_one_owner_flooding_handles_cannot_push_out_anothers() -> None:
    closed: list[int] = []
    handles: Handles[int] = Handles("x", "again", 60, capacity=100, on_expire=closed.append)
    theirs = handles.issue("victim", -1)
    for number in range(1000):
        handles.issue("flooder", number)
    assert handles.get(theirs, "victim") == -1
    assert len(handles) == 11 and closed == list(range(990))  # the flooder's own oldest went


# --- Metadata ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "matches", "misses"),
    [
        (None, ["orders", ""], []),
        ("ord%", ["orders", "ord"], ["border"]),
        ("_rders", ["orders"], ["rders", "oorders"]),
        ("a\\_b", ["a_b"], ["axb"]),
        ("100\\%", ["100%"], ["1000"]),
        ("a.b", ["a.b"], ["axb"]),
    ],
)
def test_like_patterns(pattern: str | None, matches: list[str], misses: list[str]) -> None:
    matcher = metadata.like(pattern)
    assert all(matcher(name) for name in matches)
    assert not any(matcher(name) for name in misses)


def test_xdbc_type_info_is_ordered_and_filterable() -> None:
    every = metadata.xdbc_type_info(pb.CommandGetXdbcTypeInfo())
    codes = every.column("data_type").to_pylist()
    assert codes == sorted(codes) and every.schema == metadata.XDBC_TYPE_INFO
    bigint = metadata.xdbc_type_info(pb.CommandGetXdbcTypeInfo(data_type=-5))
    assert bigint.column("type_name").to_pylist() == ["bigint"]
    timestamps = metadata.xdbc_type_info(pb.CommandGetXdbcTypeInfo(data_type=93))
    assert timestamps.column("datetime_subcode").to_pylist() == [3, 5]


def test_sql_info_is_a_dense_union_of_the_requested_keys() -> None:
    every = sql_info([])
    assert every.schema == SQL_INFO_SCHEMA
    assert SQL_INFO_SCHEMA.field("value").type.type_codes == [0, 1, 2, 3, 4, 5]
    every.validate(full=True)
    values = dict(zip(*every.to_pydict().values(), strict=True))
    assert values[0] == "agent-sidecar" and values[3] is True and values[504] == '"'
    assert "ILIKE" in values[508]
    asked = sql_info([3, 0, 99999])
    assert asked.column("info_name").to_pylist() == [3, 0]


# --- Errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (ErrorCode.SYNTAX, InvalidArgument),
        (ErrorCode.UNDEFINED_COLUMN, InvalidArgument),
        (ErrorCode.INVALID_PARAMETER, InvalidArgument),
        (ErrorCode.UNDEFINED_TABLE, NotFound),
        (ErrorCode.FORBIDDEN, flight.FlightUnauthorizedError),
        (ErrorCode.UNAUTHENTICATED, flight.FlightUnauthenticatedError),
        (ErrorCode.CANCELED, flight.FlightCancelledError),
        (ErrorCode.TIMEOUT, flight.FlightTimedOutError),
        (ErrorCode.SOURCE, flight.FlightUnavailableError),
        (ErrorCode.INTERNAL, flight.FlightInternalError),
    ],
)
def test_error_codes_map_to_flight_statuses(code: ErrorCode, kind: type[Exception]) -> None:
    error = to_flight(SidecarError(code, "it failed", hint="do this", position=7))
    assert isinstance(error, kind)
    assert str(error).splitlines() == ["it failed", "POSITION: 7", "HINT: do this"]
    if isinstance(error, flight.FlightError):
        assert json.loads(error.extra_info)["hint"] == "do this"
    assert isinstance(to_flight(Unsupported("no", "yes")), NotImplementedHere)
    assert isinstance(to_flight(UnknownHandle(ErrorCode.INVALID_REQUEST, "gone")), NotFound)


def test_the_cli_reads_errors_back_from_text_or_extra_info() -> None:
    sent = "relation x does not exist\nPOSITION: 15\nHINT: did you mean y?"
    received = pa.ArrowInvalid(sent + ". Detail: Python exception: Traceback ...")
    error = server_error(received)
    assert (error.message, error.position, error.hint) == (
        "relation x does not exist",
        15,
        "did you mean y?",
    )
    refused = to_flight(SidecarError(ErrorCode.FORBIDDEN, "DELETE is not allowed", hint="h"))
    error = server_error(refused)
    assert (error.message, error.hint) == ("DELETE is not allowed", "h")


def test_like_patterns_match_as_sql_like_does_in_linear_time() -> None:
    """Every pattern over a small alphabet matches exactly where SQL's LIKE (a regular
    expression of it) does; runs of % against a long name answer at once (a regular
    expression backtracked for seconds, then minutes, as % runs were added)."""
    alphabet = ["a", "b", "%", "_", "\\%", "\\_"]
    names = ["", "a", "b", "ab", "ba", "aab", "a%b", "a_b", "%", "_", "abab"]
    for size in range(4):
        for parts in itertools.product(alphabet, repeat=size):
            pattern = "".join(parts)
            regex = "".join({"%": ".*", "_": "."}.get(part, re.escape(part[-1])) for part in parts)
            matcher = metadata.like(pattern)
            for name in names:
                expected = re.fullmatch(regex, name, re.DOTALL) is not None
                assert matcher(name) == expected, (pattern, name)
    started = time.monotonic()
    assert not metadata.like("%a" * 40 + "%b")("a" * 255)
    assert not metadata.like("_" * 200_000)("a" * 255)
    assert metadata.like("%" * 200_000 + "a")("a" * 255)
    assert time.monotonic() - started < 1.0
