"""`postgres:schema.table` datasets through the ADBC PostgreSQL driver (libpq, Arrow-native).

Sessions are opened read-only with a server-side `statement_timeout`, set in the connection's
startup options so they cost no extra round trip; the ADBC watchdog backs it up for a server
that stops answering altogether.

    datasets:
      - from: postgres:public.orders
        params: {host: db, port: 5432, user: agent, password: "${env:PG_PASSWORD}", dbname: shop}
      - from: postgres:orders                 # schema public
        params: {uri: "${env:PG_URI}"}        # postgresql://user:pass@host:5432/db?sslmode=require
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import pyarrow as pa
from sqlglot import exp

from connectors import options
from connectors.adbc import AdbcConnector
from connectors.base import SourceError
from connectors.drivers import package_library
from connectors.naming import parse_table

DRIVER = package_library("adbc_driver_postgresql", "ADBC PostgreSQL driver")

LIBPQ_MIN_CONNECT_TIMEOUT = 2


class PostgresConnector(AdbcConnector):
    schemes = ("postgres",)
    dialect = "postgres"

    def configure(self) -> None:
        params = self.source.params
        self.driver = DRIVER
        self.entrypoint = None
        self._table = parse_table(self.source.location, self.dialect)
        if not self._table.db:
            self._table.set("db", exp.to_identifier("public"))
        if self._table.catalog:
            raise SourceError(
                f"'{self.source.location}' names a database; PostgreSQL reads one per connection",
                hint="write from: postgres:<schema>.<table> and set params.dbname",
            )
        connect_timeout = params.get("connect_timeout") or min(self.timeout, 10.0)
        self.uri = self._uri(params, connect_timeout)
        parts = urlsplit(self.uri)
        self._password = parts.password
        self.location = f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path}"
        self.user = parts.username or ""
        self.db_kwargs = {"uri": self.uri}

    def _uri(self, params: Any, connect_timeout: float) -> str:
        """A libpq URI from `uri` or the separate params, plus the session settings."""
        if "uri" in params:
            uri = str(params["uri"])
        else:
            user = quote(str(params.get("user", "postgres")), safe="")
            password = params.get("password")
            auth = user + (":" + quote(str(password), safe="") if password is not None else "")
            host = params.get("host", "127.0.0.1")
            dbname = quote(str(params.get("dbname", "postgres")), safe="")
            uri = f"postgresql://{auth}@{host}:{int(params.get('port', 5432))}/{dbname}"
        parts = urlsplit(uri)
        query = dict(parse_qsl(parts.query))
        for name in ("sslmode", "sslrootcert"):
            if name in params:
                query[name] = str(params[name])
        seconds = max(LIBPQ_MIN_CONNECT_TIMEOUT, math.ceil(connect_timeout))
        query.setdefault("connect_timeout", str(seconds))
        query.setdefault("application_name", "agent-sidecar")
        statement_ms = max(1, math.ceil(self.timeout * 1000))
        query["options"] = (
            f"-c default_transaction_read_only=on -c statement_timeout={statement_ms}"
        )
        return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))

    def table_schema(self) -> pa.Schema:
        """A `LIMIT 0` result carries the exact types the scans will stream."""
        return self.empty_result_schema()

    def secrets(self) -> list[object]:
        return [self._password, self.uri]

    def source_key(self) -> str:
        return f"postgres://{self.user}@{self.location}#{options.fingerprint(self._password)}"

    def display(self) -> str:
        return f"postgres {self.location}"

    def list_tables(self, connection: Any) -> list[str] | None:
        cursor = connection.cursor()
        try:
            schema = self._table.db.replace("'", "''")
            cursor.execute(
                f"SELECT table_name FROM information_schema.tables WHERE table_schema = '{schema}'"
            )
            return [str(row[0]) for row in cursor.fetchall()]
        finally:
            cursor.close()
