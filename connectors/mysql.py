"""`mysql:db.table` datasets: MySQL and MariaDB through mysql-connector-python.

Rows stream unbuffered: the server sends them as they are produced and each `fetchmany` batch
becomes one Arrow record batch, so a large table never sits in memory. Values are fetched raw
(the text protocol's bytes) and parsed per column by Arrow's casts, which is faster than the
connector's per-value Python conversion; only TIME and BIT need Python.

Every session is read-only, in UTC (so TIMESTAMP columns come back as UTC instants), and has a
statement time limit, so a runaway query is stopped by the server, not just abandoned.
"""

from __future__ import annotations

import math
import struct
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from connectors import options
from connectors.base import Cancellation, DatasetSource, SourceError
from connectors.naming import parse_table
from connectors.pool import Pool
from connectors.sql import SqlConnector

try:
    import mysql.connector as mysql_connector
    from mysql.connector import FieldFlag, FieldType
    from mysql.connector.protocol import MySQLProtocol
except ImportError as error:  # only this connector's datasets fail
    raise SourceError(
        f"the MySQL driver is not installed ({error})",
        hint="pip install mysql-connector-python",
    ) from None

SSL_PARAMS = ("ssl_ca", "ssl_cert", "ssl_key", "ssl_verify_cert", "ssl_verify_identity")
BATCH_ROWS = 10_000
BINARY_CHARSET = 63
ZERO_DATE = "0000-00-00"
MAX_DECIMAL128 = 38

# Error numbers with a known fix.
ACCESS_DENIED = (1044, 1045, 1698)
UNREACHABLE = (2002, 2003, 2005, 2006, 2013, 2055)
NO_TABLE = 1146
NO_DATABASE = 1049
NO_COLUMN = 1054
TIMED_OUT = (1969, 3024)


class _Protocol(MySQLProtocol):
    """Keeps the column length and decimals that the stock parser drops, in the DB-API's
    internal_size and scale slots: DECIMAL precision and scale, BIT width and TINYINT(1)
    are only known from them."""

    @staticmethod
    def parse_column(packet: bytes, encoding: str = "utf-8") -> Any:
        name, column_type, _, _, _, _, null_ok, flags, charset = MySQLProtocol.parse_column(
            packet, encoding
        )
        length, _, _, decimals = struct.unpack("<IBHB", packet[-10:-2])
        return (name, column_type, None, length, None, decimals, null_ok, flags, charset)


@dataclass(frozen=True)
class Column:
    """One result column: its Arrow type and how its raw bytes become an Arrow array."""

    name: str
    type: pa.DataType
    decode: Callable[[list[Any]], pa.Array]


class MySqlConnector(SqlConnector):
    schemes = ("mysql",)
    dialect = "mysql"

    def __init__(self, source: DatasetSource) -> None:
        super().__init__(source)
        params = self.source.params
        self.database, self.table_name = _location(source.location, params.get("database"))
        self.host = str(params.get("host", "127.0.0.1"))
        self.port = int(params.get("port", 3306))
        self.user = str(params.get("user", "root"))
        self._password = params.get("password")
        self.timeout = params.get("timeout") or source.timeout
        self.connect_timeout = params.get("connect_timeout") or min(self.timeout, 10.0)
        self._pool: Pool[Any] = Pool(
            self._connect, _disconnect, max_idle=int(params.get("pool_size", 4))
        )
        self._schema: pa.Schema | None = None

    def source_key(self) -> str:
        return f"mysql://{self.user}@{self.host}:{self.port}#{options.fingerprint(self._password)}"

    def table(self) -> exp.Table:
        return exp.table_(
            exp.to_identifier(self.table_name, quoted=True),
            db=exp.to_identifier(self.database, quoted=True),
        )

    def schema(self) -> pa.Schema:
        """From the columns of a `LIMIT 0` result: the same decoding as every scan, views and
        all; declared columns win, and must exist at the source."""
        if self._schema is None:
            self._schema = self.resolve_schema(self._probe(), self._where())
        return self._schema

    def query(self, sql: str, cancellation: Cancellation | None = None) -> pa.RecordBatchReader:
        connection = self._acquire()
        thread = connection.connection_id
        forget = cancellation.on_cancel(lambda: self._kill(thread)) if cancellation else _nothing
        try:
            cursor = connection.cursor(raw=True)
            cursor.execute(sql)
            columns = [_column(d) for d in cursor.description]
        except mysql_connector.Error as error:
            forget()
            self._pool.discard(connection)
            raise self._error(error) from None
        schema = pa.schema([pa.field(c.name, c.type) for c in columns])
        return pa.RecordBatchReader.from_batches(
            schema, self._batches(connection, cursor, columns, schema, forget)
        )

    def _kill(self, thread: int) -> None:
        """Stop a cancelled query at the server (KILL QUERY, on a connection of its own, from
        a thread of its own: the canceller must not wait for the server)."""

        def kill() -> None:
            try:
                connection = self._connect()
            except mysql_connector.Error:
                return
            try:
                connection.cursor().execute(f"KILL QUERY {int(thread)}")
            except mysql_connector.Error:
                pass  # the query had already ended
            finally:
                _disconnect(connection)

        threading.Thread(target=kill, name="mysql-kill-query", daemon=True).start()

    def close(self) -> None:
        self._pool.close()

    def _probe(self) -> pa.Schema:
        reader = self.query(f"SELECT * FROM {self.table().sql(self.dialect)} LIMIT 0")
        schema = reader.schema
        reader.read_all()
        return schema

    def _batches(
        self,
        connection: Any,
        cursor: Any,
        columns: Sequence[Column],
        schema: pa.Schema,
        forget: Callable[[], None],
    ) -> Iterator[pa.RecordBatch]:
        """A stream abandoned half-read (a LIMIT met above) closes its connection: reading the
        rest of the result just to reuse it could cost more than a new connection."""
        finished = False
        try:
            while True:
                rows = cursor.fetchmany(BATCH_ROWS)
                if not rows:
                    break
                yield _batch(rows, columns, schema)
            cursor.close()
            finished = True
        except mysql_connector.Error as error:
            raise self._error(error) from None
        except (pa.ArrowInvalid, ValueError, OverflowError) as error:
            raise SourceError(
                f"{self._where()} sent a value Arrow cannot hold: {error}",
                hint="check the columns declared in sidecar.yaml, or cast it in a view",
            ) from None
        finally:
            forget()
            self._pool.give_back(connection, finished=finished)

    def _acquire(self) -> Any:
        try:
            return self._pool.acquire()
        except mysql_connector.Error as error:
            raise self._error(error) from None

    def _connect(self) -> Any:
        settings: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self._password or "",
            "database": self.database,
            "connection_timeout": max(1, math.ceil(self.connect_timeout)),
            "read_timeout": max(1, math.ceil(self.timeout)),
            "autocommit": True,
            "use_pure": True,
            "charset": str(self.source.params.get("charset", "utf8mb4")),
        }
        for name in SSL_PARAMS:
            if name in self.source.params:
                settings[name] = self.source.params[name]
        sslmode = self.source.params.get("sslmode")
        if self.source.params.get("ssl_disabled") or sslmode == "disabled":
            settings["ssl_disabled"] = True
        connection = mysql_connector.connect(**settings)
        connection._protocol = _Protocol()
        cursor = connection.cursor()
        if sslmode == "required":
            _require_tls(connection, cursor)
        limit = _statement_limit(connection.server_info or "", self.timeout)
        cursor.execute(f"SET SESSION time_zone = '+00:00', {limit}")
        cursor.execute("SET SESSION TRANSACTION READ ONLY")
        cursor.close()
        return connection

    def _where(self) -> str:
        return f"{self.database}.{self.table_name}"

    def _error(self, error: Exception) -> SourceError:
        number = getattr(error, "errno", None)
        message = options.scrub(getattr(error, "msg", None) or str(error), [self._password])
        message = options.unechoed(message)
        hint = "check the query and the dataset's params"
        if number in ACCESS_DENIED:
            hint = "check params user and password (and the user's grants)"
        elif number in UNREACHABLE or isinstance(error, mysql_connector.errors.InterfaceError):
            hint = f"is the server up at {self.host}:{self.port}? check params host and port"
        elif number == NO_TABLE:
            hint = self._tables_hint()
        elif number == NO_DATABASE:
            hint = "check the database part of from: mysql:<database>.<table>"
        elif number in TIMED_OUT or isinstance(error, mysql_connector.errors.ReadTimeoutError):
            message = f"the query exceeded {self.timeout:g}s: {message}"
            hint = "raise params.timeout (or runtime.source_timeout), or narrow the query"
        elif number == NO_COLUMN:
            hint = "the table changed since start-up? the column list is read at start-up"
        return SourceError(f"mysql {self.host}:{self.port}: {message}", hint=hint)

    def _tables_hint(self) -> str:
        try:
            connection = self._pool.acquire()
        except mysql_connector.Error:
            return "check the table part of from: mysql:<database>.<table>"
        try:
            cursor = connection.cursor()
            cursor.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (self.database,),
            )
            names = [str(row[0]) for row in cursor.fetchall()]
            cursor.close()
        except mysql_connector.Error:
            self._pool.discard(connection)
            return "check the table part of from: mysql:<database>.<table>"
        self._pool.release(connection)
        return options.close_names(self.table_name, names, f"tables in {self.database}")


def _location(location: str, database: object) -> tuple[str, str]:
    hint = "write from: mysql:<database>.<table>"
    table = parse_table(location, "mysql", hint)
    if table.catalog:
        raise SourceError(f"'{location}' is not a table name", hint=hint)
    db = table.db or (str(database) if database else "")
    if not db:
        raise SourceError(
            f"no database for table {table.name}",
            hint="write from: mysql:<database>.<table>, or set params.database",
        )
    return db, table.name


def _statement_limit(server: str, seconds: float) -> str:
    """MariaDB's limit is in seconds and covers every statement; MySQL's is in milliseconds."""
    if "mariadb" in server.lower():
        return f"max_statement_time = {seconds:g}"
    return f"max_execution_time = {max(1, math.ceil(seconds * 1000))}"


def _require_tls(connection: Any, cursor: Any) -> None:
    """Spice's `mysql_sslmode: required`: a server that did not agree to TLS is refused."""
    cursor.execute("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
    row = cursor.fetchone()
    if not row or not row[1]:
        connection.close()
        raise SourceError(
            "the MySQL server did not encrypt the connection, and sslmode is required",
            hint="enable TLS on the server, or set sslmode: preferred (or disabled)",
        )


def _disconnect(connection: Any) -> None:
    """Closes the socket without the polite QUIT, which would first drain unread rows."""
    connection.shutdown()


def _batch(
    rows: list[tuple[Any, ...]], columns: Sequence[Column], schema: pa.Schema
) -> pa.RecordBatch:
    values = zip(*rows, strict=True)
    arrays = [column.decode(list(v)) for column, v in zip(columns, values, strict=True)]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _column(description: Sequence[Any]) -> Column:
    name, code, _, length, _, decimals, _, flags, charset = description
    unsigned = bool(flags & FieldFlag.UNSIGNED)
    arrow_type, decode = _decoder(code, length or 0, decimals or 0, unsigned, charset)
    return Column(name, arrow_type, decode)


def _decoder(
    code: int, length: int, decimals: int, unsigned: bool, charset: int
) -> tuple[pa.DataType, Callable[[list[Any]], pa.Array]]:
    integers = {
        FieldType.TINY: (pa.int8(), pa.uint8()),
        FieldType.SHORT: (pa.int16(), pa.uint16()),
        FieldType.INT24: (pa.int32(), pa.uint32()),
        FieldType.LONG: (pa.int32(), pa.uint32()),
        FieldType.LONGLONG: (pa.int64(), pa.uint64()),
    }
    if code == FieldType.TINY and length == 1:
        return pa.bool_(), lambda v: _parsed(v, pa.int8()).cast(pa.bool_())
    if code in integers:
        arrow_type = integers[code][1 if unsigned else 0]
        return arrow_type, lambda v: _parsed(v, arrow_type)
    if code in (FieldType.DECIMAL, FieldType.NEWDECIMAL):
        arrow_type = _decimal(length, decimals, unsigned)
        return arrow_type, lambda v: _parsed(v, arrow_type)
    if code == FieldType.FLOAT:
        return pa.float32(), lambda v: _parsed(v, pa.float32())
    if code == FieldType.DOUBLE:
        return pa.float64(), lambda v: _parsed(v, pa.float64())
    if code == FieldType.YEAR:
        return pa.int16(), lambda v: _parsed(v, pa.int16())
    if code in (FieldType.DATE, FieldType.NEWDATE):
        return pa.date32(), lambda v: _temporal(v, pa.date32())
    if code == FieldType.DATETIME:
        return pa.timestamp("us"), lambda v: _temporal(v, pa.timestamp("us"))
    if code == FieldType.TIMESTAMP:
        zoned = pa.timestamp("us", tz="UTC")
        return zoned, lambda v: _temporal(v, pa.timestamp("us")).cast(zoned)
    if code == FieldType.TIME:
        return pa.time64("us"), _times
    if code == FieldType.BIT:
        if length == 1:
            return pa.bool_(), lambda v: pa.array([None if b is None else any(b) for b in v])
        return pa.uint64(), _bits
    if code == FieldType.NULL:
        return pa.null(), lambda v: pa.nulls(len(v))
    if code == FieldType.GEOMETRY or charset == BINARY_CHARSET:
        return pa.binary(), lambda v: pa.array(v, pa.binary())
    return pa.string(), lambda v: pa.array(v, pa.binary()).cast(pa.string())


def _decimal(length: int, scale: int, unsigned: bool) -> pa.DataType:
    """DECIMAL(M,D) is sent with length M, plus one for the point and one for the sign."""
    precision = max(1, length - (1 if scale else 0) - (0 if unsigned else 1))
    if precision > MAX_DECIMAL128:
        return pa.decimal256(precision, scale)
    return pa.decimal128(precision, scale)


def _parsed(values: list[Any], arrow_type: pa.DataType) -> pa.Array:
    return pa.array(values, pa.binary()).cast(pa.string()).cast(arrow_type)


def _temporal(values: list[Any], arrow_type: pa.DataType) -> pa.Array:
    """MySQL's zero dates ('0000-00-00') are not dates; like the connector itself, they read
    as NULL."""
    text = pa.array(values, pa.binary()).cast(pa.string())
    zero = pc.starts_with(text, ZERO_DATE)
    text = pc.if_else(zero, pa.scalar(None, pa.string()), text)
    return text.cast(arrow_type)


def _times(values: list[Any]) -> pa.Array:
    """TIME also holds durations (-838:59:59 to 838:59:59); only times of day fit Arrow's."""
    micros = []
    for value in values:
        if value is None:
            micros.append(None)
            continue
        text = bytes(value).decode()
        sign = -1 if text.startswith("-") else 1
        hours, minutes, seconds = text.lstrip("-").split(":")
        total = round((int(hours) * 3600 + int(minutes) * 60 + float(seconds)) * 1_000_000)
        if sign < 0 or total >= 86_400_000_000:
            raise ValueError(f"TIME {text} is not a time of day")
        micros.append(total)
    return pa.array(micros, pa.int64()).cast(pa.time64("us"))


def _bits(values: list[Any]) -> pa.Array:
    return pa.array(
        [None if b is None else int.from_bytes(bytes(b), "big") for b in values], pa.uint64()
    )


def _nothing() -> None:
    return None
