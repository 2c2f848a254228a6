"""Arrow Flight SQL against a real `sidecar run`: ADBC's DBAPI, a raw pyarrow.flight client and
`sidecar sql`, each authenticating the way it would in production."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import adbc_driver_flightsql.dbapi as adbc
import adbc_driver_manager
import httpx
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.flight as flight
import pyarrow.parquet as pq
import pytest
from google.protobuf import any_pb2

from sidecar import cli
from sidecar.servers.flight import FlightSql_pb2 as pb
from sidecar.servers.flight import metadata
from sidecar.servers.flight.commands import TYPE_PREFIX, pack, unpack
from sidecar.servers.flight.sqlinfo import SCHEMA as SQL_INFO_SCHEMA
from tests import placeholders
from tests.certs import self_signed
from tests.http_api_server import ApiServer, Reply
from tests.process import SidecarProcess, free_port

KEY = "k-7c1e0f93d2a84b61"
OTHER_KEY = "k-0b5d8e2a9f17c364"
IDENTITY = "test-agent"


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SidecarProcess]:
    root = tmp_path_factory.mktemp("flight")
    orders = pa.table(
        {
            "id": pa.array(range(1000), pa.int64()),
            "amount": pa.array([i * 1.5 for i in range(1000)]),
            "status": pa.array(["failed" if i % 10 == 0 else "paid" for i in range(1000)]),
            "customer_id": pa.array([i % 50 for i in range(1000)], pa.int64()),
        }
    )
    pq.write_table(orders, root / "orders.parquet", row_group_size=100)
    pacsv.write_csv(
        pa.table({"customer_id": list(range(50)), "name": [f"c{i}" for i in range(50)]}),
        root / "customers.csv",
    )
    port = free_port()
    (root / "sidecar.yaml").write_text(
        textwrap.dedent(
            f"""
            name: shop
            runtime:
              http: {{port: {port}}}
              pg: {{port: 0, enabled: false}}
              auth:
                api_keys:
                  - {{key: "${{env:AGENT_KEY}}", identity: {IDENTITY}}}
                  - {{key: "{OTHER_KEY}", identity: other-agent}}
            datasets:
              - {{from: "file:orders.parquet", name: orders}}
              - {{from: "file:customers.csv", name: customers}}
            views:
              - {{name: failed_orders, sql: "SELECT * FROM orders WHERE status = 'failed'"}}
            """
        )
    )
    process = SidecarProcess(root / "sidecar.yaml", env={"AGENT_KEY": KEY})
    process.start(port)
    yield process
    process.stop()
    assert KEY not in process.output


@pytest.fixture
def conn(sidecar: SidecarProcess) -> Iterator[adbc.Connection]:
    """ADBC with user name and password: a Basic handshake answered with a bearer token."""
    with adbc.connect(
        sidecar.flight_url,
        db_kwargs={"username": IDENTITY, "password": KEY},
        autocommit=True,
    ) as connection:
        yield connection


@pytest.fixture
def raw(sidecar: SidecarProcess) -> Iterator[RawClient]:
    client = RawClient(sidecar.flight_url, KEY)
    yield client
    client.close()


class RawClient:
    """pyarrow.flight with the bearer API key on every call, speaking our own messages."""

    def __init__(self, url: str, key: str | None) -> None:
        self.client = flight.connect(url)
        headers = [(b"authorization", f"Bearer {key}".encode())] if key else []
        self.options = flight.FlightCallOptions(headers=headers)

    def info(self, message: Any) -> flight.FlightInfo:
        descriptor = flight.FlightDescriptor.for_command(pack(message))
        return self.client.get_flight_info(descriptor, self.options)

    def fetch(self, ticket: flight.Ticket) -> pa.Table:
        return self.client.do_get(ticket, self.options).read_all()

    def query(self, sql: str) -> pa.Table:
        return self.fetch(self.info(pb.CommandStatementQuery(query=sql)).endpoints[0].ticket)

    def put(self, message: Any, table: pa.Table) -> None:
        descriptor = flight.FlightDescriptor.for_command(pack(message))
        writer, _ = self.client.do_put(descriptor, table.schema, self.options)
        writer.write_table(table)
        writer.close()

    def action(self, kind: str, body: bytes) -> list[bytes]:
        results = self.client.do_action(flight.Action(kind, body), self.options)
        return [result.body.to_pybytes() for result in results]

    def close(self) -> None:
        self.client.close()


# --- ADBC -------------------------------------------------------------------------------------


def test_adbc_execute_and_fetch_arrow_table(conn: adbc.Connection) -> None:
    with conn.cursor() as cursor:
        cursor.execute("SELECT id, amount, status FROM failed_orders ORDER BY id")
        table = cursor.fetch_arrow_table()
    assert table.num_rows == 100
    assert table.schema.types == [pa.int64(), pa.float64(), pa.string()]
    assert table.column("id").to_pylist()[:3] == [0, 10, 20]


def test_adbc_joins_two_sources(conn: adbc.Connection) -> None:
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT c.name, count(*) AS n FROM orders o JOIN customers c "
            "ON o.customer_id = c.customer_id GROUP BY c.name ORDER BY c.name LIMIT 2"
        )
        assert cursor.fetchall() == [("c0", 20), ("c1", 20)]


def test_adbc_binds_parameters(conn: adbc.Connection) -> None:
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM orders WHERE customer_id = $1 AND amount > $2 ORDER BY id",
            parameters=(7, 1000.0),
        )
        assert [row[0] for row in cursor.fetchall()] == [707, 757, 807, 857, 907, 957]
        cursor.execute("SELECT id, status FROM orders WHERE id = ?", parameters=(42,))
        assert cursor.fetchall() == [(42, "paid")]
        cursor.execute("SELECT id, status FROM orders WHERE id = ?", parameters=(40,))
        assert cursor.fetchall() == [(40, "failed")]


def test_adbc_binds_question_marks_in_the_order_they_are_written(conn: adbc.Connection) -> None:
    with conn.cursor() as cursor:
        cursor.execute(placeholders.QUERY, parameters=placeholders.VALUES)
        names = [column[0] for column in cursor.description]
        assert [dict(zip(names, row, strict=True)) for row in cursor.fetchall()] == (
            placeholders.EXPECTED
        )


def test_adbc_errors_say_ambiguous_and_end_of_input_with_a_position(
    conn: adbc.Connection,
) -> None:
    with conn.cursor() as cursor:
        with pytest.raises(adbc_driver_manager.Error) as ambiguous:
            cursor.execute(
                "SELECT customer_id FROM orders o JOIN customers c ON o.customer_id = c.customer_id"
            )
        assert "is ambiguous: it could be c.customer_id or o.customer_id" in str(ambiguous.value)
        assert "POSITION: 8" in str(ambiguous.value)
        cut_short = "SELECT status, count(*) FROM orders GROUP BY"
        with pytest.raises(adbc_driver_manager.Error) as syntax:
            cursor.execute(cut_short)
        assert "syntax error at end of input" in str(syntax.value)
        assert f"POSITION: {len(cut_short) + 1}" in str(syntax.value)


def test_adbc_reports_a_missing_parameter(conn: adbc.Connection) -> None:
    with conn.cursor() as cursor, pytest.raises(adbc_driver_manager.Error, match=r"\$2"):
        cursor.execute("SELECT id FROM orders WHERE id = $1 OR id = $2", parameters=(1,))


def test_adbc_get_objects_at_every_depth(conn: adbc.Connection) -> None:
    catalogs = conn.adbc_get_objects(depth="catalogs").read_all().to_pylist()
    assert catalogs == [{"catalog_name": "shop", "catalog_db_schemas": None}]

    schemas = conn.adbc_get_objects(depth="db_schemas").read_all().to_pylist()
    assert [s["db_schema_name"] for s in schemas[0]["catalog_db_schemas"]] == [
        "information_schema",
        "public",
    ]

    tables = conn.adbc_get_objects(depth="tables", db_schema_filter="public").read_all()
    public = tables.to_pylist()[0]["catalog_db_schemas"][0]["db_schema_tables"]
    assert [(t["table_name"], t["table_type"]) for t in public] == [
        ("customers", "TABLE"),
        ("failed_orders", "VIEW"),
        ("orders", "TABLE"),
    ]
    assert all(t["table_columns"] is None for t in public)

    for depth in ("columns", "all"):
        found = conn.adbc_get_objects(depth=depth, table_name_filter="ord%").read_all()
        schemas = {s["db_schema_name"]: s for s in found.to_pylist()[0]["catalog_db_schemas"]}
        assert schemas["information_schema"]["db_schema_tables"] == []
        [orders] = schemas["public"]["db_schema_tables"]
        assert orders["table_name"] == "orders"
        columns = [(c["column_name"], c["xdbc_type_name"]) for c in orders["table_columns"]]
        assert columns == [
            ("id", "bigint"),
            ("amount", "double precision"),
            ("status", "text"),
            ("customer_id", "bigint"),
        ]
        assert [c["ordinal_position"] for c in orders["table_columns"]] == [1, 2, 3, 4]


def test_adbc_get_objects_filters(conn: adbc.Connection) -> None:
    views = conn.adbc_get_objects(depth="tables", table_types_filter=["VIEW"]).read_all()
    schemas = views.to_pylist()[0]["catalog_db_schemas"]
    names = [t["table_name"] for s in schemas for t in s["db_schema_tables"]]
    assert names == ["failed_orders"]
    system = conn.adbc_get_objects(depth="tables", db_schema_filter="information%").read_all()
    tables = system.to_pylist()[0]["catalog_db_schemas"][0]["db_schema_tables"]
    assert [t["table_name"] for t in tables] == ["columns", "schemata", "tables"]
    other = conn.adbc_get_objects(depth="db_schemas", catalog_filter="elsewhere").read_all()
    assert other.num_rows == 0


def test_adbc_get_table_schema_and_types(conn: adbc.Connection) -> None:
    schema = conn.adbc_get_table_schema("orders")
    assert schema.names == ["id", "amount", "status", "customer_id"]
    assert conn.adbc_get_table_schema("failed_orders").names == schema.names
    assert schema.field("amount").type == pa.float64()
    assert conn.adbc_get_table_schema("failed_orders", db_schema_filter="public").names[0] == "id"
    assert conn.adbc_get_table_types() == ["SYSTEM TABLE", "TABLE", "VIEW"]
    with pytest.raises(adbc_driver_manager.Error):
        conn.adbc_get_table_schema("nosuch")


def test_adbc_get_info(conn: adbc.Connection) -> None:
    info = conn.adbc_get_info()
    assert info["vendor_name"] == "agent-sidecar"
    assert info["vendor_version"] == cli.__version__
    assert info["vendor_arrow_version"] == pa.__version__


def test_adbc_auth_with_a_bearer_key(sidecar: SidecarProcess) -> None:
    with (
        adbc.connect(
            sidecar.flight_url,
            db_kwargs={"adbc.flight.sql.authorization_header": f"Bearer {KEY}"},
            autocommit=True,
        ) as connection,
        connection.cursor() as cursor,
    ):
        cursor.execute("SELECT count(*) FROM orders")
        assert cursor.fetchone() == (1000,)


@pytest.mark.parametrize(
    "db_kwargs",
    [
        {"username": IDENTITY, "password": "wrong-key"},
        {"username": "other-agent", "password": KEY},
        {"adbc.flight.sql.authorization_header": "Bearer wrong-key"},
        {},
    ],
    ids=["wrong password", "someone else's key", "wrong bearer key", "no credentials"],
)
def test_adbc_auth_refused(sidecar: SidecarProcess, db_kwargs: dict[str, str]) -> None:
    with (
        pytest.raises(adbc_driver_manager.Error, match="UNAUTHENTICATED") as refused,
        adbc.connect(sidecar.flight_url, db_kwargs=db_kwargs, autocommit=True) as connection,
        connection.cursor() as cursor,
    ):
        cursor.execute("SELECT 1")
    assert "HINT: " in str(refused.value)


def test_adbc_errors_carry_the_position_and_the_hint(conn: adbc.Connection) -> None:
    with conn.cursor() as cursor:
        with pytest.raises(adbc_driver_manager.Error) as unknown:
            cursor.execute("SELECT * FROM ordres")
        assert "NOT_FOUND" in str(unknown.value)
        assert "POSITION: 15" in str(unknown.value)
        assert "HINT: did you mean orders?" in str(unknown.value)
        with pytest.raises(adbc_driver_manager.Error) as refused:
            cursor.execute("DELETE FROM orders")
        assert "UNAUTHORIZED" in str(refused.value) or "PermissionDenied" in str(refused.value)
        assert "HINT:" in str(refused.value)


# --- A raw pyarrow.flight client ----------------------------------------------------------------


def test_raw_query_and_a_stale_ticket(raw: RawClient) -> None:
    info = raw.info(pb.CommandStatementQuery(query="SELECT id FROM orders WHERE id < 3"))
    assert info.schema == pa.schema([pa.field("id", pa.int64())])
    ticket = info.endpoints[0].ticket
    assert isinstance(unpack(ticket.ticket), pb.TicketStatementQuery)
    assert raw.fetch(ticket).column("id").to_pylist() == [0, 1, 2]
    with pytest.raises(pa.ArrowKeyError, match="already used or expired") as stale:
        raw.fetch(ticket)
    assert "call GetFlightInfo again" in str(stale.value)


def test_tickets_are_bound_to_the_identity(sidecar: SidecarProcess, raw: RawClient) -> None:
    info = raw.info(pb.CommandStatementQuery(query="SELECT 1 AS x"))
    other = RawClient(sidecar.flight_url, OTHER_KEY)
    try:
        with pytest.raises(pa.ArrowKeyError, match="unknown, already used or expired"):
            other.fetch(info.endpoints[0].ticket)
        forged = pack(pb.TicketStatementQuery(statement_handle=os.urandom(32)))
        with pytest.raises(pa.ArrowKeyError):
            other.fetch(flight.Ticket(forged))
    finally:
        other.close()
    assert raw.fetch(info.endpoints[0].ticket).to_pylist() == [{"x": 1}]


def test_writes_are_refused(raw: RawClient) -> None:
    rows = pa.table({"id": [1]})
    refusals = [
        pb.CommandStatementUpdate(query="UPDATE orders SET amount = 0"),
        pb.CommandStatementIngest(table="orders"),
        pb.CommandPreparedStatementUpdate(prepared_statement_handle=b"x"),
    ]
    for command in refusals:
        with pytest.raises(flight.FlightUnauthorizedError, match="read-only") as refused:
            raw.put(command, rows)
        assert "HINT:" in str(refused.value)
    with pytest.raises(flight.FlightUnauthorizedError) as guarded:
        raw.info(pb.CommandStatementQuery(query="DELETE FROM orders"))
    assert json.loads(guarded.value.extra_info)["code"] == "forbidden"
    with pytest.raises(flight.FlightUnauthorizedError):
        raw.action(
            "CreatePreparedStatement",
            pack(pb.ActionCreatePreparedStatementRequest(query="DROP TABLE orders")),
        )


def test_get_schema_refusals_carry_no_server_traceback(raw: RawClient) -> None:
    """pyarrow's GetSchema handler, unlike its others, does not read a FlightError as its
    status: a refused command came back UNKNOWN with the server's traceback and file paths."""
    for command in (
        pb.CommandStatementUpdate(query="UPDATE orders SET amount = 0"),
        pb.CommandStatementQuery(query="DELETE FROM orders"),
    ):
        descriptor = flight.FlightDescriptor.for_command(pack(command))
        with pytest.raises(pa.ArrowException) as refused:
            raw.client.get_schema(descriptor, raw.options)
        text = str(refused.value)
        assert "read-only" in text and "HINT: " in text, text
        assert "Traceback" not in text and ".py" not in text, text


def test_error_statuses(sidecar: SidecarProcess, raw: RawClient) -> None:
    with pytest.raises(pa.ArrowInvalid) as syntax:
        raw.query("SELECT id FROM orders WHERE")
    assert "POSITION: " in str(syntax.value) and "HINT: " in str(syntax.value)
    with pytest.raises(pa.ArrowInvalid, match="HINT: "):
        raw.query("SELECT nosuch FROM orders")
    with pytest.raises(pa.ArrowKeyError, match='relation "ordres" does not exist'):
        raw.query("SELECT * FROM ordres")
    with pytest.raises(pa.ArrowKeyError, match='relation "duckdb_tables" does not exist'):
        raw.query("WITH duckdb_tables AS (SELECT * FROM duckdb_tables) SELECT * FROM duckdb_tables")
    exported = any_pb2.Any(type_url=TYPE_PREFIX + "CommandGetExportedKeys").SerializeToString()
    with pytest.raises(pa.ArrowNotImplementedError, match="CommandGetExportedKeys"):
        raw.client.get_flight_info(flight.FlightDescriptor.for_command(exported), raw.options)
    for key in ("wrong-key", None):
        stranger = RawClient(sidecar.flight_url, key)
        try:
            with pytest.raises(flight.FlightUnauthenticatedError) as refused:
                stranger.query("SELECT 1")
            assert json.loads(refused.value.extra_info)["code"] == "unauthenticated"
        finally:
            stranger.close()


def test_malformed_requests_get_invalid_argument_without_a_traceback(raw: RawClient) -> None:
    garbage = flight.Action("CancelFlightInfo", b"\xff\xfe not a request")
    empty = pb.ActionCancelQueryRequest(info=b"not a FlightInfo").SerializeToString()
    requests = {
        "path descriptor": lambda: raw.client.get_flight_info(
            flight.FlightDescriptor.for_path("orders"), raw.options
        ),
        "path schema": lambda: raw.client.get_schema(
            flight.FlightDescriptor.for_path("orders"), raw.options
        ),
        "garbage CancelFlightInfo": lambda: list(raw.client.do_action(garbage, raw.options)),
        "CancelFlightInfo without a FlightInfo": lambda: raw.action("CancelFlightInfo", empty),
        "garbage ticket": lambda: raw.fetch(flight.Ticket(b"\x00garbage")),
        "syntax error": lambda: raw.query("SELECT id FROM orders WHERE"),
    }
    for name, request in requests.items():
        with pytest.raises(pa.ArrowInvalid) as refused:
            request()
        text = str(refused.value)
        assert "HINT: " in text, name
        assert "Traceback" not in text and ".py" not in text, (name, text)
    for error, request in (
        (pa.ArrowKeyError, lambda: raw.query("SELECT * FROM ordres")),
        (pa.ArrowNotImplementedError, lambda: raw.action("BeginTransaction", b"")),
    ):
        with pytest.raises(error) as refused:
            request()
        assert "Traceback" not in str(refused.value) and ".py" not in str(refused.value)


def test_cancel_flight_info_cancels_the_query(raw: RawClient) -> None:
    info = raw.info(pb.CommandStatementQuery(query="SELECT * FROM orders"))
    request = pb.ActionCancelQueryRequest(info=info.serialize()).SerializeToString()
    [answer] = raw.action("CancelFlightInfo", request)
    assert pb.ActionCancelQueryResult.FromString(answer).result == (
        pb.ActionCancelQueryResult.CANCEL_RESULT_CANCELLED
    )
    with pytest.raises(flight.FlightCancelledError, match="cancelled"):
        raw.fetch(info.endpoints[0].ticket)


def test_cancel_flight_info_after_its_stream_ended_is_not_cancellable(raw: RawClient) -> None:
    """A FlightInfo read to the end has nothing left to cancel: NOT_CANCELLABLE (the client
    should not retry), as the spec says, not a NOT_FOUND error."""
    info = raw.info(pb.CommandStatementQuery(query="SELECT id FROM orders WHERE id < 3"))
    assert raw.fetch(info.endpoints[0].ticket).num_rows == 3
    request = pb.ActionCancelQueryRequest(info=info.serialize()).SerializeToString()
    [answer] = raw.action("CancelFlightInfo", request)
    assert pb.ActionCancelQueryResult.FromString(answer).result == (
        pb.ActionCancelQueryResult.CANCEL_RESULT_NOT_CANCELLABLE
    )


def test_basic_handshake_gives_a_bearer_token(sidecar: SidecarProcess) -> None:
    client = flight.connect(sidecar.flight_url)
    try:
        header, value = client.authenticate_basic_token(IDENTITY, KEY)
        assert header == b"authorization" and value.startswith(b"Bearer sidecar-session.")
        assert KEY.encode() not in value
        options = flight.FlightCallOptions(headers=[(header, value)])
        descriptor = flight.FlightDescriptor.for_command(
            pack(pb.CommandStatementQuery(query="SELECT count(*) AS n FROM orders"))
        )
        info = client.get_flight_info(descriptor, options)
        assert client.do_get(info.endpoints[0].ticket, options).read_all().to_pylist() == [
            {"n": 1000}
        ]
        with pytest.raises(flight.FlightUnauthenticatedError):
            client.authenticate_basic_token(IDENTITY, "wrong")
        expired = flight.FlightCallOptions(
            headers=[(b"authorization", b"Bearer sidecar-session.AAAA")]
        )
        with pytest.raises(flight.FlightUnauthenticatedError, match="session token"):
            client.get_flight_info(descriptor, expired)
    finally:
        client.close()


def test_parameter_batches_pyarrow_mishandles_are_refused(raw: RawClient) -> None:
    """DoPut's parameters were sized with pyarrow's `nbytes`, which crashed the whole process
    (SIGSEGV) on an empty sparse union column; a timestamp outside Python's years 1-9999
    was an internal error ("a bug in the sidecar")."""
    request = pb.ActionCreatePreparedStatementRequest(query="SELECT $1 AS a")
    [created] = raw.action("CreatePreparedStatement", pack(request))
    handle = unpack(created).prepared_statement_handle
    command = pb.CommandPreparedStatementQuery(prepared_statement_handle=handle)
    descriptor = flight.FlightDescriptor.for_command(pack(command))
    union = pa.UnionArray.from_sparse(pa.array([0], pa.int8()), [pa.array([1]), pa.array(["a"])])
    empty = pa.record_batch([union], names=["a"]).slice(0, 0)
    writer, _ = raw.client.do_put(descriptor, empty.schema, raw.options)
    writer.write_batch(empty)
    with pytest.raises(pa.ArrowInvalid, match=r"0 parameter\(s\) bound"):
        writer.close()
    with pytest.raises(pa.ArrowInvalid, match=r"parameter a of type timestamp.*cannot be read"):
        raw.put(command, pa.table({"a": pa.array([-(2**63) + 1], pa.timestamp("s"))}))
    assert raw.query("SELECT count(*) AS n FROM orders").column(0).to_pylist() == [1000]


def test_prepared_statements_over_the_raw_protocol(raw: RawClient) -> None:
    request = pb.ActionCreatePreparedStatementRequest(
        query="SELECT id, status FROM orders WHERE id = $1"
    )
    [created] = raw.action("CreatePreparedStatement", pack(request))
    result = unpack(created)
    assert isinstance(result, pb.ActionCreatePreparedStatementResult)
    assert pa.ipc.read_schema(pa.py_buffer(result.dataset_schema)).names == ["id", "status"]
    assert pa.ipc.read_schema(pa.py_buffer(result.parameter_schema)).names == ["$1"]
    handle = result.prepared_statement_handle
    command = pb.CommandPreparedStatementQuery(prepared_statement_handle=handle)
    raw.put(command, pa.table({"$1": [5]}))
    assert raw.fetch(raw.info(command).endpoints[0].ticket).to_pylist() == [
        {"id": 5, "status": "paid"}
    ]
    with pytest.raises(pa.ArrowInvalid, match="one"):
        raw.put(command, pa.table({"$1": [5, 6]}))
    closing = pb.ActionClosePreparedStatementRequest(prepared_statement_handle=handle)
    assert raw.action("ClosePreparedStatement", pack(closing)) == []
    with pytest.raises(pa.ArrowKeyError, match="prepared statement"):
        raw.info(command)


def test_metadata_results_have_the_specified_schemas(raw: RawClient) -> None:
    expected = [
        (pb.CommandGetCatalogs(), metadata.CATALOGS),
        (pb.CommandGetDbSchemas(), metadata.DB_SCHEMAS),
        (pb.CommandGetTables(), metadata.TABLES),
        (pb.CommandGetTables(include_schema=True), metadata.TABLES_WITH_SCHEMA),
        (pb.CommandGetTableTypes(), metadata.TABLE_TYPES),
        (pb.CommandGetPrimaryKeys(table="orders"), metadata.PRIMARY_KEYS),
        (pb.CommandGetXdbcTypeInfo(), metadata.XDBC_TYPE_INFO),
        (pb.CommandGetSqlInfo(), SQL_INFO_SCHEMA),
    ]
    for command, schema in expected:
        info = raw.info(command)
        assert info.schema == schema, type(command).__name__
        assert raw.fetch(info.endpoints[0].ticket).schema == schema
        descriptor = flight.FlightDescriptor.for_command(pack(command))
        assert raw.client.get_schema(descriptor, raw.options).schema == schema
    tables = raw.fetch(
        raw.info(
            pb.CommandGetTables(
                table_name_filter_pattern="orders", include_schema=True, table_types=["TABLE"]
            )
        )
        .endpoints[0]
        .ticket
    )
    [row] = tables.to_pylist()
    schema = pa.ipc.read_schema(pa.py_buffer(row["table_schema"]))
    assert schema.field("status").metadata[b"ARROW:FLIGHT:SQL:TYPE_NAME"] == b"text"


def test_flight_queries_show_in_metrics(sidecar: SidecarProcess, raw: RawClient) -> None:
    raw.query("SELECT 1")
    metrics = httpx.get(f"{sidecar.url}/metrics", headers={"Authorization": f"Bearer {KEY}"})
    counted = 'sidecar_queries_total{identity="test-agent",interface="flight",outcome="ok"}'
    assert counted in metrics.text


# --- sidecar sql ------------------------------------------------------------------------------


def sidecar_sql(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sidecar", "sql", *args],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "COLUMNS": "200", "SIDECAR_URL": url, "SIDECAR_API_KEY": KEY},
    )  # fmt: skip


def test_sidecar_sql_over_flight(sidecar: SidecarProcess) -> None:
    result = sidecar_sql("--format", "csv", "-e", "SELECT id, status FROM failed_orders "
                         "ORDER BY id LIMIT 2", url=sidecar.flight_url)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["id,status", "0,failed", "10,failed"]
    error = sidecar_sql("-e", "SELECT *\nFROM ordres", url=sidecar.flight_url)
    assert error.returncode == 1
    assert error.stderr.splitlines() == [
        'ERROR: relation "ordres" does not exist',
        "LINE 2: FROM ordres",
        "             ^",
        "HINT: did you mean orders? known tables: customers, failed_orders, orders",
    ]


def test_sidecar_sql_defaults_to_flight(
    sidecar: SidecarProcess, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SIDECAR_URL", raising=False)
    monkeypatch.setenv("SIDECAR_API_KEY", KEY)
    monkeypatch.setattr(cli, "DEFAULT_SQL_URL", sidecar.flight_url)
    assert cli.main(["sql", "--format", "json", "-e", "SELECT count(*) AS n FROM orders"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"n": 1000}]
    monkeypatch.delenv("SIDECAR_API_KEY")
    assert cli.main(["sql", "-e", "SELECT 1"]) == 1
    assert "ERROR: an API key is required" in capsys.readouterr().err


def test_sidecar_sql_reports_an_unreachable_flight_endpoint(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = f"grpc://127.0.0.1:{free_port()}"
    started = time.monotonic()
    assert cli.main(["sql", "--url", url, "-e", "SELECT 1"]) == 1
    assert capsys.readouterr().err.strip() == (
        f"ERROR: cannot reach the sidecar at {url}: is `sidecar run` running?"
    )
    assert time.monotonic() - started < 30


def test_status_needs_the_http_address(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["status", "--url", "grpc://127.0.0.1:50051"]) == 1
    assert "uses the HTTP API" in capsys.readouterr().err


def test_tls_for_flight_and_https(tmp_path: Path) -> None:
    """runtime.tls for Flight SQL and runtime.http.tls for the HTTP API, one certificate."""
    cert_path, _ = self_signed(tmp_path)
    port = free_port()
    (tmp_path / "sidecar.yaml").write_text(
        f"runtime: {{http: {{port: {port}, tls: {{cert: cert.pem, key: key.pem}}}}, "
        "pg: {port: 0, enabled: false}, tls: {cert: cert.pem, key: key.pem}}\n"
        "views: [{name: one, sql: 'SELECT 1 AS x'}]\n"
    )
    process = SidecarProcess(tmp_path / "sidecar.yaml")
    https = process.start(port, https_ca=cert_path)
    try:
        trusted = ssl.create_default_context(cafile=cert_path)
        answer = httpx.post(f"{https}/v1/sql", content="SELECT * FROM one", verify=trusted)
        assert answer.status_code == 200 and answer.json() == [{"x": 1}]
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
        assert "HTTP    https://" in process.output
        url = process.flight_url.replace("grpc://", "grpc+tls://")
        cert = (tmp_path / "cert.pem").read_bytes()
        client = flight.connect(url, tls_root_certs=cert)
        descriptor = flight.FlightDescriptor.for_command(
            pack(pb.CommandStatementQuery(query="SELECT * FROM one"))
        )
        info = client.get_flight_info(descriptor)
        assert client.do_get(info.endpoints[0].ticket).read_all().to_pylist() == [{"x": 1}]
        client.close()
        with (
            adbc.connect(
                url,
                db_kwargs={"adbc.flight.sql.client_option.tls_root_certs": cert.decode()},
                autocommit=True,
            ) as connection,
            connection.cursor() as cursor,
        ):
            cursor.execute("SELECT * FROM one")
            assert cursor.fetchall() == [(1,)]
        plain = flight.connect(process.flight_url)
        with pytest.raises(flight.FlightUnavailableError):
            plain.get_flight_info(descriptor, flight.FlightCallOptions(timeout=5))
        plain.close()
    finally:
        process.stop()


def test_a_slow_source_times_out_and_others_keep_answering(tmp_path: Path) -> None:
    with ApiServer() as api:
        # Fast while the sidecar learns the schema, then slower than the query timeout.
        api.route(
            "/slow", lambda _: Reply([{"x": 1}], delay=5 if len(api.hits("/slow")) > 1 else 0)
        )
        port = free_port()
        (tmp_path / "sidecar.yaml").write_text(
            f"runtime: {{http: {{port: {port}}}, query_timeout: 1s, "
            "pg: {port: 0, enabled: false}}\n"
            f"datasets: [{{from: '{api.url('/slow')}', name: slow, params: {{retries: 0}}}}]\n"
            "views: [{name: one, sql: 'SELECT 1 AS x'}]\n"
        )
        process = SidecarProcess(tmp_path / "sidecar.yaml")
        process.start(port)
        client = RawClient(process.flight_url, None)
        try:
            started = time.monotonic()
            with pytest.raises(flight.FlightTimedOutError, match="query_timeout") as timed_out:
                client.query("SELECT * FROM slow")
            assert time.monotonic() - started < 4
            assert json.loads(timed_out.value.extra_info)["code"] == "timeout"
            assert client.query("SELECT * FROM one").to_pylist() == [{"x": 1}]
        finally:
            client.close()
            process.stop()
