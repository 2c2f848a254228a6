"""What a failing source tells the agent: what failed and what to do, never a credential (in any
encoding, written inline or as a reference), the statement the sidecar sent, nor a name the
agent's policy hides (a dataset or column beneath a view it may read)."""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyarrow as pa
import pytest
import yaml

from connectors.base import DatasetSource, SourceError
from connectors.mysql import MySqlConnector
from policies.identity import Identity
from sidecar.config import parse_config
from sidecar.engine import Engine
from sidecar.errors import ErrorCode, SidecarError
from tests.http_api_server import ApiServer, Reply, Request
from tests.leaks import exposed
from tests.peers.mariadb import MariaDB, mariadb  # noqa: F401
from tests.peers.postgres import Postgres, postgres  # noqa: F401
from tests.process import SidecarProcess, free_port, settle

BI, ROOT = Identity("bi"), Identity("root")
TOKEN = "tok-" + secrets.token_hex(10)
QUERY_KEY = "qk-" + secrets.token_hex(10)
PASSWORD = "pw-" + secrets.token_hex(10)


@pytest.fixture
def shop(postgres: Postgres, tmp_path: Path) -> Iterator[tuple[Engine, Postgres]]:  # noqa: F811
    """In PostgreSQL's schema `leaks`: `customers`, the view `vip` over it, `salaries`,
    `archive` (a missing table) and the view `old_vip` over it; `bi` reads only the views,
    `analyst` only customers, `root` everything."""
    postgres.execute(
        "DROP SCHEMA IF EXISTS leaks CASCADE",
        "CREATE SCHEMA leaks AUTHORIZATION agent",
        "CREATE TABLE leaks.customers (id INT, name TEXT, credit INT)",
        "INSERT INTO leaks.customers VALUES (1, 'Anna', 900), (2, 'Bert', 100)",
        "CREATE TABLE leaks.salaries (id INT, amount INT)",
        "ALTER TABLE leaks.customers OWNER TO agent",
        "ALTER TABLE leaks.salaries OWNER TO agent",
    )
    config = parse_config(
        {
            "runtime": {
                "auth": {
                    "api_keys": [
                        {"key": "b" * 24, "identity": "bi"},
                        {"key": "r" * 24, "identity": "root"},
                        {"key": "a" * 24, "identity": "analyst"},
                    ]
                }
            },
            "datasets": [
                {
                    "from": "postgres:leaks.customers",
                    "name": "customers",
                    "params": postgres.params(),
                },
                {"from": "postgres:leaks.salaries", "name": "pay", "params": postgres.params()},
                {
                    "from": "postgres:leaks.archive",  # no such table: fails to load
                    "name": "archive",
                    "params": postgres.params(),
                },
            ],
            "views": [
                {"name": "vip", "sql": "SELECT id, name FROM customers WHERE credit > 500"},
                {"name": "old_vip", "sql": "SELECT id FROM archive WHERE id > 5"},
            ],
            "policies": [
                {"identities": ["bi"], "datasets": ["vip", "old_vip"]},
                {"identities": ["analyst"], "datasets": ["customers"]},
                {"identities": ["root"], "datasets": ["*"]},
            ],
        },
        tmp_path,
    )
    engine = Engine(config)
    engine.load()
    try:
        yield engine, postgres
    finally:
        engine.close()
        postgres.execute("DROP SCHEMA IF EXISTS leaks CASCADE")


def failure(engine: Engine, sql: str, identity: Identity) -> SidecarError:
    with pytest.raises(SidecarError) as raised:
        result = engine.query(sql, (), identity)
        pa.Table.from_batches(list(result), schema=result.schema)
    return raised.value


def test_a_view_over_a_hidden_dataset_fails_without_naming_what_is_beneath(
    shop: tuple[Engine, Postgres],
) -> None:
    engine, source = shop
    assert (
        engine.query("SELECT count(*) AS n FROM vip", (), BI).reader().read_all()[0][0].as_py() == 1
    )
    source.execute("ALTER TABLE leaks.customers RENAME TO customers_gone")
    for sql in ("SELECT * FROM vip", "SELECT count(*) FROM vip", "SELECT name FROM vip LIMIT 1"):
        error = failure(engine, sql, BI)
        said = f"{error.message} {error.hint}".lower()
        assert error.code is ErrorCode.SOURCE, error.message
        assert error.message.startswith("vip: "), error.message
        for hidden in ("customers", "credit", "select", "leaks", "query was"):
            assert hidden not in said, (hidden, error.message, error.hint)


def test_a_view_over_a_hidden_dataset_that_failed_to_load_names_nothing_beneath(
    shop: tuple[Engine, Postgres],
) -> None:
    engine, _ = shop
    error = failure(engine, "SELECT * FROM old_vip", BI)
    said = f"{error.message} {error.hint}".lower()
    assert error.code is ErrorCode.SOURCE and error.message.startswith("old_vip: "), said
    for hidden in ("archive", "select", "leaks", "postgres"):
        assert hidden not in said, (hidden, error.message, error.hint)
    assert "archive" in failure(engine, "SELECT * FROM archive", ROOT).message


def test_postgres_says_a_table_is_missing_without_the_statement_sent(
    shop: tuple[Engine, Postgres],
) -> None:
    """The source's tables are listed to help, but not those of datasets hidden from the
    caller (`salaries` is dataset `pay`, which `analyst` may not read)."""
    engine, source = shop
    source.execute("ALTER TABLE leaks.customers RENAME TO customers_gone")
    message = (
        f"customers: postgres 127.0.0.1:{source.port}/shop: NOT_FOUND: Failed to prepare query: "
        'ERROR:  relation "leaks.customers" does not exist (SQLSTATE 42P01)'
    )
    error = failure(engine, "SELECT name FROM customers WHERE credit > 7", ROOT)
    assert error.message == message
    assert error.hint == "did you mean customers_gone? tables in leaks: customers_gone, salaries"
    error = failure(engine, "SELECT name FROM customers WHERE credit > 7", Identity("analyst"))
    assert error.message == message
    assert error.hint == "did you mean customers_gone? tables in leaks: customers_gone, ***"


def echo(request: Request) -> Reply:
    """An API that quotes the credentials it was sent back in every encoding it can think of."""
    said = request.headers.get("authorization", "") + " key=" + request.query.get("api_key", "")
    raw = said.encode()
    return Reply(
        {
            "message": f"bad credentials {said}",
            "hex": raw.hex(),
            "base64": base64.b64encode(raw).decode(),
            "wrapped": "\n  ".join(said[i : i + 9] for i in range(0, len(said), 9)),
            "quoted": json.dumps(said),
        },
        status=401,
    )


def test_inline_credentials_are_never_shown_in_any_encoding(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Written inline in sidecar.yaml (not as a `${env:..}` reference), a header's token and a
    secret query value are masked wherever the source's answer carries them."""
    with ApiServer() as api:
        api.route("/items", echo)
        params = {"headers": {"Authorization": f"Bearer {TOKEN}"}, "retries": 0}
        config = parse_config(
            {
                "datasets": [
                    {
                        "from": api.url(f"/items?api_key={QUERY_KEY}"),
                        "name": name,
                        "params": params,
                        **extra,
                    }
                    for name, extra in (
                        ("declared", {"columns": [{"name": "x", "type": "bigint"}]}),
                        ("inferred", {}),
                    )
                ]
            },
            tmp_path,
        )
        engine = Engine(config)
        with caplog.at_level(logging.DEBUG):
            engine.load()
            try:
                error = failure(engine, "SELECT * FROM declared", ROOT)
                explained = engine.query("EXPLAIN SELECT * FROM declared", (), ROOT)
                plan = json.dumps(explained.reader().read_all().to_pylist())
                loaded = str(engine.catalog.datasets["inferred"].last_error)
            finally:
                engine.close()
    assert "HTTP 401" in error.message and "HTTP 401" in loaded, (error.message, loaded)
    for where, text in {
        "error": f"{error.message} {error.hint}",
        "status": loaded,
        "explain": plan,
        "log": caplog.text,
    }.items():
        assert not exposed(text, TOKEN, QUERY_KEY), (where, exposed(text, TOKEN, QUERY_KEY), text)


def test_mariadb_says_where_its_syntax_error_is_without_the_statement_sent(
    mariadb: MariaDB,  # noqa: F811
) -> None:
    """MySQL's and MariaDB's syntax errors quote the statement from where parsing stopped to
    its end: there stand the pushed filters (a policy's row filter and its values among them)."""
    mariadb.execute(
        "CREATE DATABASE IF NOT EXISTS echoes",
        "CREATE TABLE IF NOT EXISTS echoes.t (id INT PRIMARY KEY, region VARCHAR(8))",
    )
    connector = MySqlConnector(DatasetSource("t", "mysql", "echoes.t", mariadb.params()))
    try:
        with pytest.raises(SourceError) as caught:
            connector.query("SELECT id FROM echoes.t WHERE WHERE region = 'filter-value-7'")
    finally:
        connector.close()
    assert str(caught.value) == (
        f"mysql 127.0.0.1:{mariadb.port}: You have an error in your SQL syntax; check the manual "
        "that corresponds to your MariaDB server version for the right syntax to use at line 1"
    )
    assert caught.value.hint == "check the query and the dataset's params"


def test_the_operators_views_of_a_failed_source_mask_its_credentials(tmp_path: Path) -> None:
    """`sidecar status` prints each dataset's error whole, and `sidecar config check --connect`
    and the start-up lines each dataset's: a source that quotes back what it was sent (a URL's
    password as the Basic header's base64, a header's token, a query key) shows none of them
    in any encoding there, nor on the HTTP API (status, readiness, the refresh endpoint)."""
    with ApiServer() as api:
        api.route("/items", echo)
        keyed = api.url(f"/items?api_key={QUERY_KEY}")
        port = free_port()
        config = {
            "runtime": {"http": {"port": port}},
            "datasets": [
                {
                    "from": keyed,
                    "name": "tokened",
                    "params": {"headers": {"Authorization": f"Bearer {TOKEN}"}, "retries": 0},
                    "acceleration": {"refresh_retry_max_attempts": 0},
                },
                {
                    "from": keyed.replace("://", f"://agent:{PASSWORD}@"),
                    "name": "passworded",
                    "params": {"retries": 0},
                },
            ],
        }
        (tmp_path / "sidecar.yaml").write_text(yaml.safe_dump(config))
        checked = subprocess.run(
            [sys.executable, "-m", "sidecar", "config", "check", "--connect"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            env={**os.environ, "COLUMNS": "1000"},
        )
        process = SidecarProcess(tmp_path / "sidecar.yaml")
        process.start(port, "/health")
        try:

            def failed() -> bool:
                found = httpx.get(f"{process.url}/v1/status").json()["datasets"]
                return all(dataset["last_error"] for dataset in found)

            settle(failed, "both datasets' first loads")
            shown = {
                "config check": checked.stdout + checked.stderr,
                "status": httpx.get(f"{process.url}/v1/status").text,
                "ready": httpx.get(f"{process.url}/v1/ready").text,
                "refresh": httpx.post(
                    f"{process.url}/v1/datasets/tokened/acceleration/refresh"
                ).text,
                "sidecar status": subprocess.run(
                    [sys.executable, "-m", "sidecar", "status", "--url", process.url],
                    capture_output=True,
                    text=True,
                    env={**os.environ, "COLUMNS": "1000"},
                ).stdout,
            }
        finally:
            process.stop()
    shown["start-up"] = process.output
    for where, text in shown.items():
        assert "HTTP 401" in text, (where, text)
        leaked = exposed(text, TOKEN, QUERY_KEY, PASSWORD)
        assert not leaked, (where, leaked, text)
