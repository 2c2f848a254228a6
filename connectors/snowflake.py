"""`snowflake:DB.SCHEMA.TABLE` datasets through the ADBC Snowflake driver (Arrow-native).

Snowflake's NUMBER arrives as decimal128(p, s), exactly. Unquoted names are upper case there
("ID"); the columns of a table created without quotes are lower case here ("id"), as agents
write them, and mapped back in everything sent to Snowflake (see `connectors.sql`).
`host`, `port` and `protocol` reach non-default endpoints (a private link, or a local
Snowflake-compatible server in tests).

    datasets:
      - from: snowflake:ANALYTICS.PUBLIC.REVENUE
        params: {account: xy12345, user: AGENT, password: "${env:SF_PASSWORD}",
                 warehouse: READER_WH, role: READER}
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from sqlglot import exp

from connectors import options
from connectors.adbc import AdbcConnector
from connectors.base import SourceError
from connectors.drivers import package_library
from connectors.naming import parse_table

DRIVER = package_library("adbc_driver_snowflake", "ADBC Snowflake driver")

PREFIX = "adbc.snowflake.sql."
OPTION_NAMES = {
    "account": PREFIX + "account",
    "warehouse": PREFIX + "warehouse",
    "role": PREFIX + "role",
    "database": PREFIX + "db",
    "schema": PREFIX + "schema",
    "host": PREFIX + "uri.host",
    "port": PREFIX + "uri.port",
    "protocol": PREFIX + "uri.protocol",
}


class SnowflakeConnector(AdbcConnector):
    schemes = ("snowflake",)
    dialect = "snowflake"

    def configure(self) -> None:
        params = self.source.params
        if not params.get("account"):
            raise SourceError(
                "a snowflake dataset needs params.account", hint="e.g. account: xy12345.eu-west-1"
            )
        self.driver = DRIVER
        self.entrypoint = None
        table = parse_table(self.source.location, self.dialect)
        if not table.db and params.get("schema"):
            table.set("db", exp.to_identifier(str(params["schema"])))
        if not table.catalog and table.db and params.get("database"):
            table.set("catalog", exp.to_identifier(str(params["database"])))
        self._table = table
        extra = params.get("options", {})
        kwargs = {OPTION_NAMES[k]: str(v) for k, v in params.items() if k in OPTION_NAMES}
        kwargs["username"] = str(params.get("user", ""))
        kwargs["password"] = str(params.get("password", ""))
        connect = params.get("connect_timeout") or min(self.timeout, 10.0)
        kwargs[PREFIX + "client_option.login_timeout"] = f"{connect:g}s"
        kwargs[PREFIX + "client_option.request_timeout"] = f"{self.timeout:g}s"
        kwargs.update({str(k): str(v) for k, v in extra.items()})
        self.db_kwargs = kwargs
        self._password = params.get("password")
        host = params.get("host") or f"{params['account']}.snowflakecomputing.com"
        self.location = f"{params['account']}@{host}:{params.get('port', 443)}"

    def table_schema(self) -> pa.Schema:
        """A `LIMIT 0` result carries the exact types the scans will stream."""
        return self.empty_result_schema()

    def secrets(self) -> list[object]:
        return [self._password]

    def source_key(self) -> str:
        user = self.db_kwargs.get("username", "")
        return f"snowflake://{user}@{self.location}#{options.fingerprint(self._password)}"

    def display(self) -> str:
        return f"snowflake {self.location}"

    def list_tables(self, connection: Any) -> list[str] | None:
        if not self._table.db:
            return None
        prefix = f"{self._table.catalog}." if self._table.catalog else ""
        schema = self._table.db.replace("'", "''")
        cursor = connection.cursor()
        try:
            cursor.execute(
                f"SELECT table_name FROM {prefix}information_schema.tables "
                f"WHERE table_schema = '{schema}'"
            )
            return [str(row[0]) for row in cursor.fetchall()]
        finally:
            cursor.close()
