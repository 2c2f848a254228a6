"""A slow source is stopped at the configured timeout, at the server, with a hint to act on."""

from __future__ import annotations

import contextlib
import threading
import time

import pytest

from connectors import open_connector
from connectors.base import Cancellation, DatasetSource, SourceError
from tests.peers.mariadb import MariaDB
from tests.peers.postgres import Postgres


def test_mariadb_statement_time_limit(mariadb: MariaDB) -> None:
    source = DatasetSource("slow", "mysql", "mysql.user", mariadb.params(timeout="1s"))
    connector = open_connector(source)
    started = time.monotonic()
    with pytest.raises(SourceError) as caught:
        connector.query("SELECT SLEEP(5)").read_all()
    assert time.monotonic() - started < 4
    assert "exceeded 1s" in str(caught.value) and "timeout" in (caught.value.hint or "")


def test_postgres_statement_timeout(postgres: Postgres) -> None:
    source = DatasetSource("slow", "postgres", "pg_catalog.pg_class", postgres.params(timeout="1s"))
    connector = open_connector(source)
    started = time.monotonic()
    with pytest.raises(SourceError) as caught:
        connector.query("SELECT pg_sleep(5)").read_all()
    assert time.monotonic() - started < 4
    assert "exceeded 1s" in str(caught.value)


def test_connect_timeout_to_a_silent_host(mariadb: MariaDB) -> None:
    """A port that accepts nothing (here: a listening socket that never answers the handshake)
    fails within connect_timeout instead of hanging the query."""
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        params = mariadb.params(port=port, connect_timeout="1s", timeout="1s")
        connector = open_connector(DatasetSource("t", "mysql", "shop.t", params))
        started = time.monotonic()
        with pytest.raises(SourceError):
            connector.schema()
        assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    ("peer", "location", "statement"),
    [
        ("mariadb", "mysql.user", "SELECT BENCHMARK(100000000000, md5('x'))"),
        ("postgres", "pg_catalog.pg_class", "SELECT pg_sleep(60)"),
    ],
)
def test_a_cancel_stops_the_statement_at_the_source(
    request: pytest.FixtureRequest, peer: str, location: str, statement: str
) -> None:
    """The query's cancel reaches the server (KILL QUERY, PostgreSQL's cancel request) long
    before the source timeout would."""
    server = request.getfixturevalue(peer)
    scheme = "mysql" if peer == "mariadb" else "postgres"
    connector = open_connector(
        DatasetSource("slow", scheme, location, server.params(timeout="60s"))
    )
    cancellation = Cancellation()
    threading.Timer(0.5, cancellation.set).start()
    started = time.monotonic()
    with contextlib.suppress(SourceError):
        connector.query(statement, cancellation).read_all()
    assert time.monotonic() - started < 10
    assert cancellation.is_set()
