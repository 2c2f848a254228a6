"""A slow source is stopped at the configured timeout, at the server, with a hint to act on."""

from __future__ import annotations

import time

import pytest

from connectors import open_connector
from connectors.base import DatasetSource, SourceError
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
