"""The replica: the production database behind the sidecar, as the benchmark sees it.

Its address is `--direct` (mysql://user:password@host:port/db or postgresql://...) or, without
it, the first mysql:/postgres: dataset of sidecar.yaml. It gives the direct arm its driver,
dialect and tables, the values `sample:` parameters draw from, and its own counters: what the
replica felt.

Counters are the server's own: MariaDB/MySQL `SHOW GLOBAL STATUS` (Questions, Com_select,
Innodb_rows_read, or Rows_read where MariaDB has no Innodb_rows_read) and PostgreSQL's
`pg_stat_database` plus `pg_stat_statements` when the extension is installed. What a reading
itself costs is measured at start by reading twice in a row, and subtracted. MySQL counts
connecting and disconnecting as questions, so its readings share one connection; PostgreSQL
reports a session's counters when it ends or goes idle, so each of its readings is a session
of its own, whose cost is then the same every time.

PostgreSQL publishes a busy session's counters at most once a second and an idle one's up to
10 s late (PGSTAT_IDLE_INTERVAL), so a run against PostgreSQL waits that out before its last
reading (`settle`). pg_stat_statements is updated as each statement ends and needs no wait.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote, urlsplit

from sqlglot import exp

from sidecar.config import SidecarConfig
from sidecar.secrets import REDACTOR, SecretError, resolve

Kind = Literal["mysql", "postgres"]
SCHEMES: dict[str, Kind] = {
    "mysql": "mysql",
    "mariadb": "mysql",
    "postgresql": "postgres",
    "postgres": "postgres",
}
DEFAULT_PORTS: dict[Kind, int] = {"mysql": 3306, "postgres": 5432}
CONNECT_TIMEOUT = 10
CALIBRATIONS = 2
# MySQL counts InnoDB's rows in Innodb_rows_read; MariaDB 10.11 dropped it for Rows_read.
MYSQL_COUNTERS = ("Questions", "Com_select", "Innodb_rows_read", "Rows_read")
POSTGRES_DATABASE = (
    "SELECT xact_commit, xact_rollback, tup_returned, tup_fetched "
    "FROM pg_stat_database WHERE datname = current_database()"
)
# Its own readings mention pg_stat_ and are left out, so they need no subtraction.
POSTGRES_STATEMENTS = (
    "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements "
    "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "AND query NOT LIKE '%pg_stat_%'"
)
# A session's counters may reach pg_stat_database this late (PostgreSQL's PGSTAT_IDLE_INTERVAL).
POSTGRES_SETTLE = 11.0


class ReplicaError(Exception):
    """The replica cannot be reached or read; the message says which and how to fix it."""


@dataclass(frozen=True)
class Address:
    kind: Kind
    host: str
    port: int
    user: str
    password: str | None
    database: str
    options: tuple[tuple[str, str], ...] = ()

    def display(self) -> str:
        """The address without its password, fit for logs and results.json."""
        scheme = "mysql" if self.kind == "mysql" else "postgresql"
        return f"{scheme}://{self.user}@{self.host}:{self.port}/{self.database}"

    @property
    def dialect(self) -> str:
        return self.kind


def parse_url(url: str) -> Address:
    parts = urlsplit(url)
    kind = SCHEMES.get(parts.scheme.lower())
    if kind is None:
        raise ReplicaError(
            f"--direct {parts.scheme or url}: unknown scheme; write "
            "mysql://user:password@host:3306/db or postgresql://user:password@host:5432/db"
        )
    database = unquote(parts.path.lstrip("/"))
    if not database:
        raise ReplicaError(f"--direct {parts.scheme}://...: name the database after the port")
    try:
        port = parts.port or DEFAULT_PORTS[kind]
    except ValueError:
        raise ReplicaError(f"--direct: '{parts.netloc}' has an invalid port") from None
    if parts.password:
        REDACTOR.register(unquote(parts.password))
    return Address(
        kind,
        parts.hostname or "127.0.0.1",
        port,
        unquote(parts.username or ("root" if kind == "mysql" else "postgres")),
        unquote(parts.password) if parts.password else None,
        database,
        tuple(parse_qsl(parts.query)),
    )


def from_config(config: SidecarConfig) -> Address | None:
    """The first mysql:/postgres: dataset's server, with its secrets resolved."""
    for dataset in config.datasets:
        kind = SCHEMES.get(dataset.scheme)
        if kind is None:
            continue
        try:
            params = resolve(dict(dataset.params), config.base_dir)
        except SecretError as error:
            raise ReplicaError(f"datasets '{dataset.name}': {error}") from None
        if kind == "postgres" and "uri" in params:
            return parse_url(str(params["uri"]))
        table = exp.to_table(dataset.location, dialect=kind)
        database = (params.get("database") or table.db) if kind == "mysql" else params.get("dbname")
        return Address(
            kind,
            str(params.get("host", "127.0.0.1")),
            int(params.get("port", DEFAULT_PORTS[kind])),
            str(params.get("user", "root" if kind == "mysql" else "postgres")),
            None if params.get("password") is None else str(params["password"]),
            str(database or "postgres"),
        )
    return None


def replica_tables(config: SidecarConfig, kind: Kind) -> dict[str, exp.Table]:
    """Dataset name (lower case) -> the replica's own table, for every dataset of its kind."""
    tables: dict[str, exp.Table] = {}
    for dataset in config.datasets:
        if SCHEMES.get(dataset.scheme) != kind:
            continue
        table = exp.to_table(dataset.location, dialect=kind)
        if kind == "mysql" and not table.db and dataset.params.get("database"):
            table.set("db", exp.to_identifier(str(dataset.params["database"])))
        if kind == "postgres" and not table.db:
            table.set("db", exp.to_identifier("public"))
        tables[dataset.name.lower()] = table
    return tables


def connect(address: Address, timeout: float = CONNECT_TIMEOUT) -> Any:
    """A DB-API connection in autocommit with the replica's own driver."""
    if address.kind == "mysql":
        import mysql.connector

        return mysql.connector.connect(
            host=address.host,
            port=address.port,
            user=address.user,
            password=address.password or "",
            database=address.database,
            autocommit=True,
            connection_timeout=int(timeout),
            read_timeout=None,
        )
    import psycopg

    return psycopg.connect(
        host=address.host,
        port=address.port,
        user=address.user,
        password=address.password,
        dbname=address.database,
        autocommit=True,
        connect_timeout=max(2, int(timeout)),
        prepare_threshold=None,
        **dict(address.options),
    )


def fetch(connection: Any, sql: str) -> list[tuple[Any, ...]]:
    cursor = connection.cursor()
    try:
        cursor.execute(sql)
        return list(cursor.fetchall())
    finally:
        cursor.close()


@contextlib.contextmanager
def session(address: Address, timeout: float = CONNECT_TIMEOUT) -> Iterator[Any]:
    try:
        connection = connect(address, timeout)
    except Exception as error:
        raise ReplicaError(
            f"cannot reach the replica {address.display()}: {first_line(error)}; "
            "is it running? (--direct, or the config's params)"
        ) from None
    try:
        yield connection
    finally:
        with contextlib.suppress(Exception):
            connection.close()


def first_line(error: BaseException) -> str:
    text = REDACTOR.redact(str(error)).strip()
    return text.splitlines()[0] if text else type(error).__name__


@dataclass
class Reading:
    """One reading of the replica's counters: raw values, and the two figures derived."""

    values: dict[str, int]
    statements: int
    rows_read: int


class Replica:
    """Reads the replica's counters and samples its columns."""

    def __init__(self, address: Address) -> None:
        self.address = address
        self.version = ""
        self.pg_stat_statements = False
        self.own: dict[str, int] = {}
        self._reader: Any = None

    @property
    def kind(self) -> Kind:
        return self.address.kind

    @property
    def statement_counter(self) -> str:
        if self.kind == "mysql":
            return "Questions"
        return "pg_stat_statements.calls" if self.pg_stat_statements else "xact_commit+rollback"

    @property
    def rows_counter(self) -> str:
        if self.kind == "postgres":
            return "tup_returned+tup_fetched"
        return "Innodb_rows_read" if "Innodb_rows_read" in self.own else "Rows_read"

    @property
    def settle(self) -> float:
        return 0.0 if self.kind == "mysql" else POSTGRES_SETTLE

    def open(self) -> None:
        """Check the replica answers, learn what it can report, and measure a reading's cost."""
        with session(self.address) as connection:
            if self.kind == "mysql":
                self.version = str(fetch(connection, "SELECT VERSION()")[0][0])
            else:
                self.version = str(fetch(connection, "SHOW server_version")[0][0])
                try:
                    fetch(connection, POSTGRES_STATEMENTS)
                    self.pg_stat_statements = True
                except Exception:
                    self.pg_stat_statements = False
        pairs = [(self.read(), self.read()) for _ in range(CALIBRATIONS)]
        self.own = {
            name: max(0, min(after.values[name] - before.values[name] for before, after in pairs))
            for name in pairs[0][0].values
        }

    def read(self) -> Reading:
        if self.kind == "mysql":
            return self._read_mysql()
        with session(self.address) as connection:
            row = fetch(connection, POSTGRES_DATABASE)[0]
            values = dict(
                zip(
                    ("xact_commit", "xact_rollback", "tup_returned", "tup_fetched"),
                    map(int, row),
                    strict=True,
                )
            )
            if self.pg_stat_statements:
                values["pg_stat_statements.calls"] = int(
                    fetch(connection, POSTGRES_STATEMENTS)[0][0]
                )
            statements = values.get(
                "pg_stat_statements.calls", values["xact_commit"] + values["xact_rollback"]
            )
            return Reading(values, statements, values["tup_returned"] + values["tup_fetched"])

    def _read_mysql(self) -> Reading:
        if self._reader is None:
            try:
                self._reader = connect(self.address)
            except Exception as error:
                raise ReplicaError(
                    f"cannot reach the replica {self.address.display()}: {first_line(error)}"
                ) from None
        names = ", ".join(f"'{name}'" for name in MYSQL_COUNTERS)
        try:
            rows = fetch(self._reader, f"SHOW GLOBAL STATUS WHERE Variable_name IN ({names})")
        except Exception as error:
            self.close()
            raise ReplicaError(f"cannot read the replica's counters: {first_line(error)}") from None
        values = {str(name): int(value) for name, value in rows}
        rows_read = values.get("Innodb_rows_read", values.get("Rows_read", 0))
        return Reading(values, values["Questions"], rows_read)

    def close(self) -> None:
        if self._reader is not None:
            with contextlib.suppress(Exception):
                self._reader.close()
            self._reader = None

    def delta(self, before: Reading, after: Reading, disconnects: int = 0) -> dict[str, Any]:
        """What happened on the replica between two readings, less the readings' own cost and
        the benchmark's `disconnects` (MySQL counts a client's COM_QUIT as a question)."""
        quits = disconnects if self.kind == "mysql" else 0
        counters = {
            name: after.values[name] - before.values[name] - self.own.get(name, 0)
            for name in after.values
        }
        if "Questions" in counters:
            counters["Questions"] -= quits
        own_statements = self._own_statements() + quits
        return {
            "counters": counters,
            "own_subtracted": dict(self.own) | ({"disconnects": quits} if quits else {}),
            "statements": after.statements - before.statements - own_statements,
            "rows_read": after.rows_read - before.rows_read - self._own_rows(),
        }

    def _own_statements(self) -> int:
        if self.kind == "mysql":
            return self.own.get("Questions", 0)
        if self.pg_stat_statements:
            return self.own.get("pg_stat_statements.calls", 0)
        return self.own.get("xact_commit", 0) + self.own.get("xact_rollback", 0)

    def _own_rows(self) -> int:
        if self.kind == "mysql":
            return self.own.get(self.rows_counter, 0)
        return self.own.get("tup_returned", 0) + self.own.get("tup_fetched", 0)

    def sample(self, table: exp.Table, column: str, size: int, rng: Any) -> list[Any]:
        """`size` distinct values of a column, drawn with the run's seed, so a workload's
        parameters are the same in every arm and every run with that seed."""
        query = (
            exp.select(exp.column(column, quoted=True))
            .distinct()
            .from_(table.copy())
            .where(exp.column(column, quoted=True).is_(exp.null()).not_())
            .order_by(exp.column(column, quoted=True))
        )
        with session(self.address) as connection:
            try:
                values = [row[0] for row in fetch(connection, query.sql(self.kind))]
            except Exception as error:
                raise ReplicaError(
                    f"sampling {table.sql(self.kind)}.{column} failed: {first_line(error)}"
                ) from None
        if not values:
            raise ReplicaError(f"sample: {table.sql(self.kind)}.{column} has no values to draw")
        return values if len(values) <= size else rng.sample(values, size)


def per_thousand(value: float | None, queries: int) -> float | None:
    return None if value is None or queries <= 0 else value * 1000.0 / queries


def summary(reading: Mapping[str, Any] | None, queries: int) -> dict[str, Any]:
    """The per-run replica figures: raw deltas and the per-1,000-agent-query ratios."""
    if reading is None:
        return {
            "statements": None,
            "rows_read": None,
            "statements_per_1000": None,
            "rows_read_per_1000": None,
        }
    return {
        **reading,
        "statements_per_1000": per_thousand(reading["statements"], queries),
        "rows_read_per_1000": per_thousand(reading["rows_read"], queries),
    }
