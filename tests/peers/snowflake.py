"""The fakesnow server: a local Snowflake-compatible endpoint (DuckDB behind Snowflake's HTTP
API), reached by the real ADBC Snowflake driver. fakesnow pins its own sqlglot and an older
snowflake-connector-python, so `make test` installs it in .venv-peers, apart from the project."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.peers import PEERS_VENV, free_port, stop, unavailable, wait_for_port

DATABASE, SCHEMA = "SHOP", "PUBLIC"


@dataclass
class Snowflake:
    host: str
    port: int

    def params(self, **extra: Any) -> dict[str, Any]:
        return {
            "account": "fakesnow",
            "user": "agent",
            "password": "agent-secret-3",
            "host": self.host,
            "port": self.port,
            "protocol": "http",
        } | extra

    def execute(self, *statements: str) -> None:
        import adbc_driver_snowflake.dbapi as snowflake

        options = {
            "adbc.snowflake.sql.account": "fakesnow",
            "adbc.snowflake.sql.uri.protocol": "http",
            "adbc.snowflake.sql.uri.host": self.host,
            "adbc.snowflake.sql.uri.port": str(self.port),
            "username": "admin",
            "password": "admin",
        }
        with snowflake.connect(db_kwargs=options, autocommit=True) as connection:
            cursor = connection.cursor()
            for statement in statements:
                cursor.execute(statement)
            cursor.close()


def _program() -> str | None:
    configured = os.environ.get("FAKESNOW")
    if configured:
        return configured
    local = PEERS_VENV / "bin" / "fakesnow"
    return str(local) if local.exists() else shutil.which("fakesnow")


@pytest.fixture(scope="session")
def snowflake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Snowflake]:
    program = _program()
    if program is None:
        unavailable("fakesnow", "make test installs it in .venv-peers, or set FAKESNOW=<path>")
    assert program is not None
    port = free_port()
    log: Path = tmp_path_factory.mktemp("fakesnow") / "server.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [program, "-s", "--host", "127.0.0.1", "-p", str(port)],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(port, process, 60, log)
        peer = Snowflake("127.0.0.1", port)
        peer.execute(f"CREATE DATABASE {DATABASE}", f"CREATE SCHEMA {DATABASE}.{SCHEMA}")
        yield peer
    finally:
        stop(process, signal.SIGINT)
