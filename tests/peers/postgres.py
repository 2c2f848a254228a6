"""PostgreSQL (Debian's postgresql) in a temporary cluster, logging every statement it runs
(log_statement=all) to a file the tests read. Password authentication over TCP, so wrong
credentials really fail; the tests' own setup goes through the Unix socket."""

from __future__ import annotations

import glob
import os
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.peers import free_port, unavailable

USER, PASSWORD, DATABASE = "agent", "agent-secret-2", "shop"
LOGGED = re.compile(r"LOG:  (?:statement|execute [^:]*): (.*)")


@dataclass
class Postgres:
    host: str
    port: int
    user: str
    password: str
    database: str
    socket_dir: Path
    log: Path

    def params(self, **extra: Any) -> dict[str, Any]:
        return {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "dbname": self.database,
        } | extra

    def admin_uri(self) -> str:
        return (
            f"postgresql:///{self.database}?host={self.socket_dir}&port={self.port}&user=postgres"
        )

    def execute(self, *statements: str) -> None:
        import adbc_driver_postgresql.dbapi as pg

        with pg.connect(self.admin_uri(), autocommit=True) as connection:
            cursor = connection.cursor()
            for statement in statements:
                cursor.execute(statement)
            cursor.close()

    def stop(self) -> None:
        """Stop the server at once, as a crash would: a source going down under a test."""
        bin_dir = _bin_dir()
        assert bin_dir is not None
        data = str(self.socket_dir / "data")
        command = [str(bin_dir / "pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop"]
        subprocess.run(_as_postgres(command), capture_output=True)

    def freeze(self, signal_number: int = signal.SIGSTOP) -> None:
        """Stop (SIGSTOP) or resume (SIGCONT) every process of the server: connections stay
        open and nothing answers, as a hung server or a network dropping packets."""
        import psutil

        postmaster = int((self.socket_dir / "data" / "postmaster.pid").read_text().split()[0])
        server = psutil.Process(postmaster)
        for process in (server, *server.children(recursive=True)):
            process.send_signal(signal_number)

    def statements(self, containing: str) -> list[str]:
        """Statements the server logged that contain the text, oldest first."""
        text = self.log.read_text(errors="replace")
        found = [m.group(1) for m in LOGGED.finditer(text)]
        return [s for s in found if containing in s]


def _bin_dir() -> Path | None:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    if candidates:
        return Path(candidates[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _version(path: str) -> int:
    match = re.search(r"/postgresql/(\d+)/", path)
    return int(match.group(1)) if match else 0


def _as_postgres(command: list[str]) -> list[str]:
    """initdb and the server refuse to run as root."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


@contextmanager
def running(
    root: Path, *, log_statements: bool = True, settings: tuple[str, ...] = ()
) -> Iterator[Postgres]:
    """A PostgreSQL cluster of its own under `root`, stopped (and removed) on exit. `settings`
    are extra server options, e.g. `shared_preload_libraries=pg_stat_statements`."""
    bin_dir = _bin_dir()
    if bin_dir is None:
        unavailable("PostgreSQL (initdb)", "apt-get install postgresql, or run make test")
    assert bin_dir is not None
    root.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    data, log = root / "data", root / "server.log"
    port = free_port()
    subprocess.run(
        _as_postgres(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-E",
                "UTF8",
                "--no-locale",
            ]
        ),
        check=True,
        capture_output=True,
    )
    options = (
        f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off "
        "-c full_page_writes=off"
        + (" -c log_statement=all" if log_statements else "")
        + "".join(f" -c {setting}" for setting in settings)
    )
    pg_ctl = str(bin_dir / "pg_ctl")
    subprocess.run(
        _as_postgres([pg_ctl, "-D", str(data), "-l", str(log), "-w", "-o", options, "start"]),
        check=True,
        capture_output=True,
    )
    try:
        peer = Postgres("127.0.0.1", port, USER, PASSWORD, DATABASE, root, log)
        psql = [str(bin_dir / "psql"), "-h", str(root), "-p", str(port), "-U", "postgres"]
        for statement in (
            f"CREATE ROLE {USER} LOGIN PASSWORD '{PASSWORD}'",
            f"CREATE DATABASE {DATABASE} OWNER {USER}",
        ):
            subprocess.run([*psql, "-c", statement], check=True, capture_output=True)
        yield peer
    finally:
        subprocess.run(
            _as_postgres([pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    with running(Path(tempfile.mkdtemp(prefix="sidecar-pg-"))) as peer:
        yield peer
