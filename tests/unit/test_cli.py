"""The `sidecar` CLI: arguments, init, config check/schema, and the client commands against a
stand-in HTTP API (the end-to-end runs against `sidecar run` live in the integration tests)."""

from __future__ import annotations

import io
import json
import re
import socket
import sys
import threading
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.ipc
import pytest
from prompt_toolkit import PromptSession
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

import connectors
from connectors.params import PARAMS
from sidecar import __version__
from sidecar.cli import (
    Io,
    Shell,
    build_parser,
    caret_lines,
    main,
    print_result,
    split_statements,
    statement_complete,
    submit_bindings,
)
from sidecar.client import ARROW_STREAM, HttpClient, server_error
from sidecar.config import load_config

TEMPLATE = Path(__file__).parents[2] / "sidecar" / "templates" / "sidecar.yaml"
ORDERS = pa.table(
    {
        "id": pa.array([1, 2], pa.int64()),
        "customer": ["ada [bold]x[/bold]", None],
        "amount": [9.5, 20.0],
        "day": pa.array([date(2026, 3, 14), date(2026, 3, 15)], pa.date32()),
    }
)
TABLES = pa.table({"table_schema": ["public"] * 2, "table_name": ["customers", "orders"]})
STATUS = {
    "name": "test-agent",
    "ready": False,
    "datasets": [
        {"name": "orders", "connector": "file", "state": "ready", "rows": 1234,
         "last_error": None, "loaded_at": 1.0, "load_seconds": 0.25},
        {"name": "tickets", "connector": "https", "state": "error", "rows": None,
         "last_error": "HTTP 503 from api.example.com", "loaded_at": None, "load_seconds": None},
    ],
}  # fmt: skip
DATASETS = [
    {"name": "orders", "connector": "file", "description": "One row per order", "kind": "dataset",
     "columns": [{"name": "id", "type": "bigint"}, {"name": "day", "type": "date"}]},
    {"name": "by_day", "connector": "view", "description": None, "kind": "view", "columns": []},
]  # fmt: skip

GUIDES_REFRESHED = {
    "name": "guides", "connector": "file", "state": "ready", "rows": 6,
    "search": {"state": "ready", "mode": "memory", "rows": 6, "chunks": 9, "build_seconds": 0.08},
}  # fmt: skip


def arrow_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pyarrow.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


class StandIn(BaseHTTPRequestHandler):
    """Answers like the sidecar's HTTP API: Arrow for SQL, JSON for errors and status."""

    server: StandInServer

    def do_POST(self) -> None:
        sql = self.rfile.read(int(self.headers["Content-Length"])).decode()
        self.server.seen.append({"path": self.path, "sql": sql, "headers": dict(self.headers)})
        if self.path == "/v1/datasets/guides/acceleration/refresh":
            self.reply(200, "application/json", json.dumps(GUIDES_REFRESHED).encode())
        elif "nosuch" in sql:
            self.reply(404, "application/json", json.dumps({"error": {
                "code": "undefined_table", "message": 'relation "nosuch" does not exist',
                "hint": "did you mean orders?", "position": sql.index("nosuch") + 1,
            }}).encode())  # fmt: skip
        elif sql.startswith("SHOW TABLES"):
            self.reply(200, ARROW_STREAM, arrow_bytes(TABLES))
        elif "many" in sql:
            self.reply(200, ARROW_STREAM, arrow_bytes(pa.table({"n": list(range(1005))})))
        else:
            self.reply(200, ARROW_STREAM, arrow_bytes(ORDERS))

    def do_GET(self) -> None:
        self.server.seen.append({"path": self.path, "headers": dict(self.headers)})
        body = {"/v1/status": STATUS, "/v1/datasets": DATASETS}.get(self.path)
        if body is None:
            self.reply(404, "text/html", b"<html>not here</html>")
        else:
            self.reply(200, "application/json", json.dumps(body).encode())

    def reply(self, status: int, media: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", media)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep pytest's captured stderr for the CLI's own output."""


class StandInServer(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), StandIn)
        self.seen: list[dict[str, Any]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def api() -> Iterator[StandInServer]:
    server = StandInServer()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def shell(api: StandInServer) -> Iterator[Shell]:
    client = HttpClient(api.url)
    yield Shell(client, Io.standard())
    client.close()


@pytest.fixture(autouse=True)
def no_client_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SIDECAR_URL", raising=False)
    monkeypatch.delenv("SIDECAR_API_KEY", raising=False)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# --- Arguments -------------------------------------------------------------------------------


def test_parses_every_command() -> None:
    parser = build_parser()
    sql = parser.parse_args(["sql", "-e", "SELECT 1", "--format", "csv", "--url", "h:1"])
    assert (sql.execute, sql.format, sql.url, sql.api_key) == ("SELECT 1", "csv", "h:1", None)
    run = parser.parse_args(["run", "-c", "x.yaml", "--http-port", "9000", "--host", "0.0.0.0"])
    assert (run.config, run.http_port, run.host) == ("x.yaml", 9000, "0.0.0.0")
    check = parser.parse_args(["config", "check", "--connect"])
    assert (check.config, check.connect) == (None, True)
    init = parser.parse_args(["init"])
    assert (init.path, init.force) == ("sidecar.yaml", False)
    assert parser.parse_args(["sql"]).format == "table"


@pytest.mark.parametrize(
    "argv",
    [[], ["config"], ["run", "--http-port", "70000"], ["sql", "--format", "xml"], ["nope"]],
)
def test_rejects_bad_arguments(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert "usage: sidecar" in capsys.readouterr().err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"sidecar {__version__}"


# --- init ------------------------------------------------------------------------------------


def test_init_writes_a_valid_starter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["init"]) == 0
    written = tmp_path / "sidecar.yaml"
    assert written.read_text() == TEMPLATE.read_text()
    assert "sidecar run" in capsys.readouterr().out
    config = load_config(written)
    assert [d.name for d in config.datasets] == ["orders"]
    assert [v.name for v in config.views] == ["orders_by_status"]


def test_init_starters_commented_firewall_is_valid_once_uncommented(tmp_path: Path) -> None:
    lines = TEMPLATE.read_text().splitlines()
    start, end = lines.index("# policies:"), lines.index("# audit:") + 2
    uncommented = [line.removeprefix("# ") for line in lines[start:end]]
    written = write(tmp_path / "sidecar.yaml", "\n".join([*lines[:start], *uncommented]))
    config = load_config(written)
    assert config.policies is not None and config.policies[0].datasets == [
        "orders",
        "orders_by_status",
    ]
    assert config.audit is not None


def test_init_into_a_directory_and_a_new_folder(tmp_path: Path) -> None:
    assert main(["init", str(tmp_path)]) == 0
    assert (tmp_path / "sidecar.yaml").is_file()
    assert main(["init", str(tmp_path / "deploy" / "agent.yaml")]) == 0
    assert (tmp_path / "deploy" / "agent.yaml").is_file()


def test_init_refuses_to_overwrite_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = write(tmp_path / "sidecar.yaml", "name: mine\n")
    assert main(["init", str(target)]) == 1
    assert target.read_text() == "name: mine\n"
    assert "--force" in capsys.readouterr().err
    assert main(["init", str(target), "--force"]) == 0
    assert target.read_text() == TEMPLATE.read_text()


def test_template_examples_are_valid_once_uncommented(tmp_path: Path) -> None:
    """Users enable the bucket, https, auth and columns examples by deleting `# `; that must
    work."""
    text = re.sub(r"(?m)^( *)# ( *(?:- )?[A-Za-z_]+:)", r"\1\2", TEMPLATE.read_text())
    config = load_config(write(tmp_path / "sidecar.yaml", text))
    assert [d.name for d in config.datasets] == ["orders", "events", "tickets"]
    assert config.datasets[1].from_ == "s3://my-bucket/events/"
    assert config.datasets[2].params["headers"]["Authorization"] == "Bearer ${env:TICKETS_TOKEN}"
    assert config.runtime.auth.api_keys[0].identity == "my-agent"


# --- config ----------------------------------------------------------------------------------

GOOD = """\
name: t
datasets:
  - from: s3://lake/orders.parquet
    name: orders
    params: {secret_access_key: hunter2-secret}
views:
  - name: v
    sql: SELECT 1
"""


def test_config_check_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path / "sidecar.yaml", GOOD)
    assert main(["config", "check", "-c", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.strip() == "OK: 1 dataset, 1 view"
    assert "hunter2" not in out


def test_config_check_defaults_to_local_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["config", "check"]) == 2
    assert "cannot read sidecar.yaml" in capsys.readouterr().err
    write(tmp_path / "sidecar.yaml", GOOD)
    assert main(["config", "check"]) == 0


def test_config_check_locates_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path / "bad.yaml", GOOD.replace("s3:", "flie:") + "extra: 1\n")
    assert main(["config", "check", "-c", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"{path}: invalid configuration" in captured.err
    assert "datasets[0].from: unknown connector 'flie'" in captured.err
    assert "did you mean 'file'?" in captured.err
    assert "extra: unknown key" in captured.err


ZERO_PERIODS = """\
runtime: {query_timeout: 0s, source_timeout: 0}
datasets:
  - from: file:orders.csv
    name: orders
    acceleration: {refresh_check_interval: 0s, refresh_retry_backoff: 0ms}
policies:
  - {identities: [agent], limits: {query_timeout: 0s}}
"""


def test_config_check_refuses_zero_timeouts_and_intervals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A zero query_timeout timed every query out at once ("did not answer within 0s"), and
    a zero refresh_check_interval killed the copy's refresh thread with a traceback (and a
    zero backoff would retry a down source in a busy loop): each is refused, by its key."""
    path = write(tmp_path / "sidecar.yaml", ZERO_PERIODS)
    assert main(["config", "check", "-c", str(path)]) == 2
    err = capsys.readouterr().err
    for key in (
        "runtime.query_timeout",
        "runtime.source_timeout",
        "datasets[0].acceleration.refresh_check_interval",
        "datasets[0].acceleration.refresh_retry_backoff",
        "policies[0].limits.query_timeout",
    ):
        assert f"{key}: Input should be greater than 0" in err, err


VIEWS_BAD = """\
name: shop
datasets:
  - from: file:orders.csv
    name: orders
views:
  - name: fine
    sql: WITH o AS (SELECT id FROM orders) SELECT * FROM o JOIN shop.public.orders USING (id)
  - name: missing
    sql: SELECT id FROM ordres
  - name: wrong_column
    sql: SELECT id, totl FROM orders
"""


def test_config_check_locates_views_over_missing_relations_and_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A missing relation is known without a connection; a missing column once --connect has
    the datasets' schemas: each reported where it is, with what exists, as a query would."""
    write(tmp_path / "orders.csv", "id,total\n1,9.5\n")
    path = write(tmp_path / "sidecar.yaml", VIEWS_BAD)
    assert main(["config", "check", "-c", str(path)]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        'views[1].sql: relation "ordres" does not exist (at character 16); did you mean '
        "orders? known tables: fine, missing, orders, wrong_column"
    ]
    write(path, VIEWS_BAD.replace("ordres", "orders"))
    assert main(["config", "check", "-c", str(path)]) == 0
    assert main(["config", "check", "--connect", "-c", str(path)]) == 1
    err = capsys.readouterr().err
    assert 'views[2].sql: column "totl" does not exist (at character 12)' in err
    assert "orders.id, orders.total" in err and "views[0]" not in err


PARAMS_BAD = """\
datasets:
  - from: file:a.csv
    name: a
  - from: mysql:shop.orders
    name: orders
    params: {host: db, port: three, pasword: x, pool_size: -1}
  - from: postgres:public.items
    name: items
    params: {pg_port: "${env:PG_PORT}", pg_sslmode: sometimes}
  - from: elasticsearch:logs
    name: logs
    params: {paging: scroll, page_size: 10, flatten: maybe}
"""


def test_config_check_locates_param_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "bad.yaml", PARAMS_BAD)
    assert main(["config", "check", "-c", str(path)]) == 2
    lines = capsys.readouterr().err.splitlines()[1:]
    assert [line.strip() for line in lines] == [
        "datasets[1].params.port: must be an integer",
        "datasets[1].params.pool_size: must be >= 0, not -1",
        "datasets[1].params.pasword: unknown mysql param; did you mean 'password'?",
        "datasets[2].params.pg_sslmode: must be one of 'disable', 'allow', 'prefer', 'require', "
        "'verify-ca' or 'verify-full', not 'sometimes'",
        "datasets[3].params.flatten: must be true or false",
    ]


def test_config_schema_documents_every_connector_params(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["config", "schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    for scheme in connectors.known_schemes():
        model = PARAMS[scheme].__name__
        assert schema["$defs"][model]["additionalProperties"] is False
        assert {
            "if": {"properties": {"from": {"pattern": f"^{scheme}:"}}},
            "then": {"properties": {"params": {"$ref": f"#/$defs/{model}"}}},
        } in schema["$defs"]["Dataset"]["allOf"]
    mysql = schema["$defs"]["MySqlParams"]["properties"]
    assert mysql["port"]["anyOf"][0] == {"maximum": 65535, "minimum": 1, "type": "integer"}


def test_config_check_reports_invalid_yaml(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "bad.yaml", "datasets: [\n")
    assert main(["config", "check", "-c", str(path)]) == 2
    assert "invalid YAML at line" in capsys.readouterr().err


def test_config_check_connect_loads_each_dataset(
    api: StandInServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("policies.guard")
    path = write(
        tmp_path / "sidecar.yaml",
        f"""\
datasets:
  - from: {api.url}/v1/datasets
    name: catalog
    params: {{headers: {{X-Token: "${{env:CLI_TEST_TOKEN}}"}}, retries: 0}}
  - from: {api.url}/missing
    name: broken
    params: {{retries: 0}}
""",
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CLI_TEST_TOKEN", "token-value-never-shown")
        assert main(["config", "check", "-c", str(path), "--connect"]) == 1
    captured = capsys.readouterr()
    assert re.search(r"✓ catalog\s+in \d+\.\d\ds", captured.out)
    assert re.search(r"✗ broken\s+.*404", captured.out)
    assert "1 of 2 datasets failed to load" in captured.err
    assert "token-value-never-shown" not in captured.out + captured.err


def test_config_schema_is_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert {"datasets", "policies", "audit", "models"} <= set(schema["properties"])
    assert "base_dir" not in schema["properties"]  # internal: where the file was read from
    definitions = schema["$defs"]
    assert "search" in definitions["Dataset"]["properties"]
    assert "limits" in definitions["Policy"]["properties"]
    assert "max_statement_size" in definitions["Runtime"]["properties"]
    assert schema["title"] == "sidecar.yaml"


# --- sql -------------------------------------------------------------------------------------


def test_sql_prints_a_table(api: StandInServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sql", "--url", api.url, "-e", "SELECT * FROM orders"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"1\s+ada \[bold\]x\[/bold\]\s+9\.5\s+2026-03-14", out)
    assert re.search(r"2\s+NULL\s+20\.0\s+2026-03-15", out)
    assert "(2 rows)" in out
    request = api.seen[0]
    assert (request["path"], request["sql"]) == ("/v1/sql", "SELECT * FROM orders")
    assert request["headers"]["Accept"] == ARROW_STREAM
    assert "Authorization" not in request["headers"]


def test_sql_sends_the_api_key_and_honours_env(
    api: StandInServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIDECAR_URL", api.url.removeprefix("http://"))
    monkeypatch.setenv("SIDECAR_API_KEY", "from-env")
    assert main(["sql", "-e", "SELECT 1"]) == 0
    assert main(["sql", "-e", "SELECT 1", "--api-key", "from-flag"]) == 0
    keys = [request["headers"]["Authorization"] for request in api.seen]
    assert keys == ["Bearer from-env", "Bearer from-flag"]


def test_sql_json_and_csv(api: StandInServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sql", "--url", api.url, "--format", "json", "-e", "SELECT 1"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0] == {
        "id": 1,
        "customer": "ada [bold]x[/bold]",
        "amount": 9.5,
        "day": "2026-03-14",
    }
    assert rows[1]["customer"] is None
    assert main(["sql", "--url", api.url, "--format", "csv", "-e", "SELECT 1"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "id,customer,amount,day",
        "1,ada [bold]x[/bold],9.5,2026-03-14",
        "2,,20.0,2026-03-15",
    ]


def test_decimals_print_with_their_digits(capsys: pytest.CaptureFixture[str]) -> None:
    """A decimal shows its digits at its scale in every format, as the HTTP API's JSON has it:
    never 0E-10, never rounded."""
    exact = [Decimal("0E-10"), Decimal("12345678901234567890.1234567890")]
    table = pa.table({"d": pa.array(exact, pa.decimal128(38, 10))})
    print_result(table, "json", Io.standard())
    assert json.loads(capsys.readouterr().out) == [
        {"d": "0.0000000000"},
        {"d": "12345678901234567890.1234567890"},
    ]
    print_result(table, "csv", Io.standard())
    assert capsys.readouterr().out.splitlines() == [
        "d",
        "0.0000000000",
        "12345678901234567890.1234567890",
    ]
    print_result(table, "table", Io.standard())
    assert "0.0000000000" in capsys.readouterr().out


def test_sql_caps_displayed_rows(api: StandInServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sql", "--url", api.url, "-e", "SELECT many"]) == 0
    out = capsys.readouterr().out
    assert "… 5 more rows" in out
    assert "(1,005 rows)" in out
    shown = [line.strip() for line in out.splitlines()]
    assert "999" in shown
    assert "1000" not in shown


def test_sql_error_points_at_the_position(
    api: StandInServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sql", "--url", api.url, "-e", "SELECT *\nFROM nosuch"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        'ERROR: relation "nosuch" does not exist',
        "LINE 2: FROM nosuch",
        "             ^",
        "HINT: did you mean orders?",
    ]


def test_sql_reads_statements_from_stdin(
    api: StandInServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    script = "SELECT 'a;b' FROM orders;\n-- a comment; still a comment\nSELECT 2;\n\n"
    monkeypatch.setattr(sys, "stdin", io.StringIO(script))
    assert main(["sql", "--url", api.url, "--format", "csv"]) == 0
    assert [request["sql"] for request in api.seen] == [
        "SELECT 'a;b' FROM orders",
        "-- a comment; still a comment\nSELECT 2",
    ]
    assert capsys.readouterr().out.count("id,customer,amount,day") == 2


def test_sql_script_runs_backslash_commands_as_psql_does(
    api: StandInServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    script = "\\dt\nSELECT 1;\n  \\d orders\n\\q\nSELECT 2;\n"
    monkeypatch.setattr(sys, "stdin", io.StringIO(script))
    assert main(["sql", "--url", api.url, "--format", "csv"]) == 0
    assert [request["sql"] for request in api.seen] == [
        "SHOW TABLES",
        "SELECT 1",
        "DESCRIBE orders",
    ]
    assert main(["sql", "--url", api.url, "-e", "\\nosuch"]) == 1
    assert "unknown command \\nosuch" in capsys.readouterr().err


def test_sql_script_stops_at_the_first_error(
    api: StandInServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("SELECT 1; SELECT * FROM nosuch; SELECT 3"))
    assert main(["sql", "--url", api.url]) == 1
    assert [request["sql"] for request in api.seen] == ["SELECT 1", "SELECT * FROM nosuch"]


def test_sql_unreachable_sidecar(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    assert main(["sql", "--url", url, "-e", "SELECT 1"]) == 1
    assert capsys.readouterr().err.strip() == (
        f"ERROR: cannot reach the sidecar at {url}: is `sidecar run` running?"
    )


@pytest.mark.parametrize(
    ("text", "statements"),
    [
        ("SELECT 1", ["SELECT 1"]),
        ("SELECT 1;;  ; SELECT 2;", ["SELECT 1", "SELECT 2"]),
        ("SELECT 'it''s; fine'; SELECT \"a;b\"", ["SELECT 'it''s; fine'", 'SELECT "a;b"']),
        ("SELECT 1 /* ; */ + 1; -- done;\n", ["SELECT 1 /* ; */ + 1"]),
        ("  \n-- only a comment\n", []),
        (
            "SELECT $$a;b$$ AS x; SELECT $tag$ ; $tag$",
            ["SELECT $$a;b$$ AS x", "SELECT $tag$ ; $tag$"],
        ),
        ("SHOW TABLES; SET x = 'a;b'; SELECT 2", ["SHOW TABLES", "SET x = 'a;b'", "SELECT 2"]),
        ("SELECT 'open; SELECT 2", ["SELECT 'open; SELECT 2"]),
    ],
)
def test_split_statements(text: str, statements: list[str]) -> None:
    assert split_statements(text) == statements


def test_statement_complete() -> None:
    assert statement_complete("SELECT 1;")
    assert statement_complete("  \\dt")
    assert statement_complete("exit")
    assert statement_complete("")
    assert not statement_complete("SELECT *\nFROM orders")
    assert not statement_complete("SELECT $$a;")  # the ; is inside an open $$ string
    assert not statement_complete("SELECT 'x;")
    assert statement_complete("SELECT $$a;$$;")
    assert statement_complete("SELECT 1; -- done")


def test_caret_lines_clamp_and_expand_tabs() -> None:
    assert caret_lines("SELECT\tx", 8) == ["LINE 1: SELECT  x", "                ^"]
    assert caret_lines("SELECT", 99)[1] == " " * 14 + "^"


def test_unexpected_error_bodies_are_shown_as_they_came() -> None:
    error = server_error(httpx.Response(502, text="<html>Bad gateway</html>"))
    assert error.message == "HTTP 502: <html>Bad gateway</html>"
    assert error.hint is None


# --- The shell -------------------------------------------------------------------------------


def test_shell_commands(
    shell: Shell, api: StandInServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert shell.handle("\\dt")
    assert shell.handle("\\d orders;")
    assert shell.handle("\\timing")
    assert shell.handle("SELECT 1; SELECT 2;")
    assert shell.handle("\\nope")
    assert not shell.handle("\\q")
    assert not shell.handle("exit;")
    assert [r["sql"] for r in api.seen] == [
        "SHOW TABLES",
        "DESCRIBE orders",
        "SELECT 1",
        "SELECT 2",
    ]
    captured = capsys.readouterr()
    assert "Timing is on." in captured.out
    assert re.search(r"\(2 rows, \d+\.\d ms\)", captured.out)
    assert "unknown command \\nope" in captured.err


def test_repl_reads_multiline_statements(
    shell: Shell, api: StandInServer, capsys: pytest.CaptureFixture[str]
) -> None:
    with create_pipe_input() as pipe:
        pipe.send_text("SELECT *\rFROM orders;\rSELECT * FROM nosuch;\r\\q\r")
        session: PromptSession[str] = PromptSession(
            input=pipe, output=DummyOutput(), multiline=True, key_bindings=submit_bindings()
        )
        assert shell.repl(session) == 0
    assert [r["sql"] for r in api.seen] == ["SELECT *\nFROM orders", "SELECT * FROM nosuch"]
    captured = capsys.readouterr()
    assert "(2 rows)" in captured.out
    assert 'ERROR: relation "nosuch" does not exist' in captured.err


# --- status, datasets ------------------------------------------------------------------------


def test_status(api: StandInServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--url", api.url, "--api-key", "k"]) == 0
    out = capsys.readouterr().out
    assert "test-agent" in out and "not ready" in out
    assert re.search(r"orders\s+file\s+ready\s+1,234\s+0\.25s", out)
    assert re.search(r"tickets\s+https\s+error\s+HTTP 503 from", out)
    assert api.seen[0]["path"] == "/v1/status"
    assert api.seen[0]["headers"]["Authorization"] == "Bearer k"


def test_datasets(api: StandInServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["datasets", "--url", api.url]) == 0
    out = capsys.readouterr().out
    assert re.search(r"orders\s+file\s+One row per order\s+2", out)
    assert re.search(r"by_day\s+view\s+-", out)


def test_refresh_of_a_searchable_dataset_reports_its_index(
    api: StandInServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["refresh", "guides", "--url", api.url]) == 0
    out = capsys.readouterr().out
    assert "guides: search index ready: 6 rows, 9 chunks, built in 0.08s" in out
    assert "0 rows" not in out


def test_status_unreachable(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--url", f"127.0.0.1:{closed_port()}"]) == 1
    assert "is `sidecar run` running?" in capsys.readouterr().err


POLICED = """\
runtime:
  auth:
    hash_key: cli-hash-key
    api_keys:
      - {key: sre-key-0123456789, identity: sre, attributes: {country: DE}}
      - {key: bi-key-0123456789, identity: bi}
datasets:
  - {from: "file:customers.csv", name: customers}
views:
  - {name: german, sql: "SELECT id FROM customers WHERE country = 'DE'"}
policies:
  - identities: [sre]
    datasets: [customers]
    columns: {customers.name: mask, customers.email: hash, customers.limit: deny}
    rows: {customers: "country = {identity.country}"}
    limits: {max_rows: 100}
  - identities: [bi]
    datasets: [german]
"""


def test_config_check_locates_policy_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = POLICED.replace("datasets: [german]", "datasets: [germen]").replace(
        "{identity.country}", "{identity.region}"
    )
    assert main(["config", "check", "-c", str(write(tmp_path / "sidecar.yaml", broken))]) == 2
    err = capsys.readouterr().err
    assert "policies[1].datasets[0]: unknown dataset 'germen'; did you mean german?" in err
    assert "policies[0].rows.customers: {identity.region} is not set for identity 'sre'" in err


def test_config_check_connect_checks_policy_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "customers.csv").write_text("id,name,email,country\n1,Ann,a@x,DE\n")
    path = write(tmp_path / "sidecar.yaml", POLICED)
    assert main(["config", "check", "-c", str(path), "--connect"]) == 1
    err = capsys.readouterr().err
    assert "policies[0].columns.customers.limit: customers has no column 'limit'" in err


def test_policy_explain_shows_what_an_identity_sees(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "customers.csv").write_text(
        "id,name,email,country,limit\n1,Ann,a@x,DE,5\n2,Bob,b@x,FR,7\n"
    )
    path = str(write(tmp_path / "sidecar.yaml", POLICED))
    sql = "SELECT name FROM customers WHERE name LIKE 'A%'"
    assert main(["policy", "explain", "-c", path, "--identity", "sre", sql]) == 0
    out = capsys.readouterr().out
    assert "policy: policies[0]" in out
    assert "columns: id, name (mask), email (hash), country" in out
    assert "denied: limit" in out and "rows: \"country\" = 'DE'" in out
    assert "limits: max_rows=100" in out
    assert "decision: allowed" in out
    assert "row filter \"country\" = 'DE' applied by the source; masked: name" in out
    assert main(["policy", "explain", "-c", path, "--identity", "bi", sql]) == 1
    out = capsys.readouterr().out
    assert "german (view)" in out and "decision: refused (undefined_table)" in out
    assert main(["policy", "explain", "-c", path, "--identity", "nobody"]) == 0
    assert "sees nothing (deny by default)" in capsys.readouterr().out


def test_policy_explain_reads_sidecar_config_like_run_and_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "customers.csv").write_text("id,name,email,country\n1,Ann,a@x,DE\n")
    monkeypatch.setenv("SIDECAR_CONFIG", str(write(tmp_path / "agent.yaml", POLICED)))
    monkeypatch.chdir(tmp_path)  # no ./sidecar.yaml here
    assert main(["policy", "explain", "--identity", "bi"]) == 0
    assert "german (view)" in capsys.readouterr().out
