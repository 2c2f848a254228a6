"""MariaDB (Debian's mariadb-server) in a temporary datadir, with the general log in a table so
tests can read every statement the server received."""

from __future__ import annotations

import shutil
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.peers import free_port, stop, unavailable, wait_for_port

USER, PASSWORD, DATABASE = "agent", "agent-secret-1", "shop"
SBIN = ("/usr/sbin", "/usr/bin", "/usr/local/bin")


@dataclass
class MariaDB:
    host: str
    port: int
    user: str
    password: str
    database: str
    process: subprocess.Popen[bytes] | None = None

    def stop_server(self) -> None:
        """Take the server down, as an outage would."""
        if self.process is not None:
            stop(self.process, signal.SIGTERM, 30)

    def params(self, **extra: Any) -> dict[str, Any]:
        return {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
        } | extra

    def connect(self) -> Any:
        import mysql.connector

        return mysql.connector.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            database=self.database,
            autocommit=True,
            use_pure=True,
        )

    def execute(self, *statements: str) -> None:
        connection = self.connect()
        try:
            cursor = connection.cursor()
            for statement in statements:
                cursor.execute(statement)
            cursor.close()
        finally:
            connection.close()

    def fetch(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        connection = self.connect()
        try:
            cursor = connection.cursor()
            cursor.execute(sql, params)
            rows = cursor.fetchall()
            cursor.close()
            return rows
        finally:
            connection.close()

    def statements(self, containing: str) -> list[str]:
        """Statements the server received that contain the text, oldest first."""
        rows = self.fetch(
            "SELECT CONVERT(argument USING utf8mb4) FROM mysql.general_log "
            "WHERE command_type = 'Query' AND CONVERT(argument USING utf8mb4) LIKE %s "
            "AND CONVERT(argument USING utf8mb4) NOT LIKE '%%general_log%%' ORDER BY event_time",
            (f"%{containing}%",),
        )
        return [str(row[0]) for row in rows]


def _program(name: str) -> str | None:
    return shutil.which(name) or next(
        (f"{d}/{name}" for d in SBIN if Path(f"{d}/{name}").exists()), None
    )


@contextmanager
def running(
    datadir: Path, *, general_log: bool = True, options: tuple[str, ...] = ()
) -> Iterator[MariaDB]:
    """A MariaDB server of its own in `datadir`, stopped on exit (or earlier, by `stop_server`).
    The general log (every statement, for tests to read) costs throughput; benchmarks drop it."""
    server, installer = _program("mariadbd"), _program("mariadb-install-db")
    if server is None or installer is None:
        unavailable("MariaDB (mariadbd)", "apt-get install mariadb-server, or run make test")
    assert server is not None and installer is not None
    subprocess.run(
        [
            installer,
            "--no-defaults",
            "--user=root",
            f"--datadir={datadir}",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
        ],
        check=True,
        capture_output=True,
    )
    port = free_port()
    log = datadir / "err.log"
    process = subprocess.Popen(
        [
            server,
            "--no-defaults",
            "--user=root",
            f"--datadir={datadir}",
            f"--socket={datadir}/sock",
            f"--port={port}",
            "--bind-address=127.0.0.1",
            f"--pid-file={datadir}/pid",
            f"--log-error={log}",
            "--skip-log-bin",
            *(["--general-log=1", "--log-output=TABLE"] if general_log else []),
            *options,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, process, 30, log)
        client = _program("mariadb")
        assert client is not None
        setup = (
            f"CREATE USER '{USER}'@'%' IDENTIFIED BY '{PASSWORD}'; "
            f"CREATE USER '{USER}'@'localhost' IDENTIFIED BY '{PASSWORD}'; "
            f"GRANT ALL ON *.* TO '{USER}'@'%'; GRANT ALL ON *.* TO '{USER}'@'localhost'; "
            f"CREATE DATABASE {DATABASE};"
        )
        subprocess.run(
            [client, "--no-defaults", "-uroot", f"--socket={datadir}/sock", "-e", setup],
            check=True,
            capture_output=True,
        )
        found = MariaDB("127.0.0.1", port, USER, PASSWORD, DATABASE)
        found.process = process
        yield found
    finally:
        stop(process, signal.SIGTERM, 30)


@pytest.fixture(scope="session")
def mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDB]:
    with running(tmp_path_factory.mktemp("mariadb")) as server:
        yield server
