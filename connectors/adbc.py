"""`adbc:` datasets through any ADBC driver, and the shared base of the PostgreSQL and Snowflake
connectors, which are ADBC drivers with friendlier params.

ADBC drivers answer in Arrow, so a scan is the driver's own record batch stream, normalised
only where a driver speaks in extension types the engine does not know (PostgreSQL's numeric,
json and uuid). Drivers differ in how they bound a query's time, so one watchdog covers them
all: a wait for the source longer than the timeout cancels the statement.

    datasets:
      - from: adbc:events
        params:
          driver: adbc_driver_sqlite          # a driver name, a library path or a Python module
          db_kwargs: {uri: "file:/data/events.db"}
          dialect: sqlite                     # the sqlglot dialect the source speaks
          table: main.events                  # else the location after `adbc:`
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar

import pyarrow as pa
from sqlglot import exp

from connectors import options
from connectors.base import Cancellation, DatasetSource, SourceError
from connectors.dialects import loaded
from connectors.drivers import driver_library
from connectors.naming import parse_table
from connectors.pool import Pool
from connectors.sql import SqlConnector

try:
    import adbc_driver_manager
    import adbc_driver_manager.dbapi as adbc_dbapi
except ImportError as error:  # only ADBC datasets fail
    raise SourceError(
        f"the ADBC driver manager is not installed ({error})",
        hint="pip install adbc-driver-manager",
    ) from None

NUMERIC_TYPMOD = b"POSTGRESQL:typmod"
UNAVAILABLE = ("connection refused", "could not connect", "failed to connect", "no route", "eof")
DENIED = ("password", "authentication", "access denied", "incorrect username")
NOT_FOUND_STATES = ("42P01", "42S02", "3F000", "42704")
CANCELLED_STATES = ("57014",)

Convert = Callable[[pa.Array], pa.Array]


class AdbcConnector(SqlConnector):
    schemes: ClassVar[tuple[str, ...]] = ("adbc",)
    dialect = "postgres"

    def __init__(self, source: DatasetSource) -> None:
        super().__init__(source)
        self.timeout = self.source.params.get("timeout") or source.timeout
        self._schema: pa.Schema | None = None
        self._pool: Pool[Any] = Pool(
            self._connect, _close, max_idle=int(self.source.params.get("pool_size", 4))
        )
        self.configure()

    def configure(self) -> None:
        """Read the generic `adbc:` params; subclasses read their own."""
        params = self.source.params
        driver = params.get("driver")
        if not driver:
            raise SourceError(
                "an adbc dataset needs params.driver",
                hint="e.g. driver: adbc_driver_sqlite, or the path of a driver library",
            )
        dialect = str(params.get("dialect", "postgres"))
        try:
            loaded(dialect)
        except ValueError:
            raise SourceError(
                f"unknown SQL dialect '{dialect}'",
                hint="params.dialect is a sqlglot dialect: postgres, mysql, sqlite, duckdb, ...",
            ) from None
        self.dialect = dialect
        db_kwargs = params.get("db_kwargs", {})
        self.driver = driver_library(str(driver))
        self.driver_name = str(driver)  # as configured: messages never show a local path
        self.entrypoint = params.get("entrypoint")
        self.db_kwargs = {str(k): str(v) for k, v in db_kwargs.items()}
        self._table = parse_table(str(params.get("table") or self.source.location), dialect)

    def secrets(self) -> list[object]:
        """Values to scrub from any message: every driver option may carry a credential."""
        return list(self.db_kwargs.values())

    def source_key(self) -> str:
        options_json = json.dumps(self.db_kwargs, sort_keys=True)
        return f"adbc:{self.driver}#{options.fingerprint(options_json)}"

    def table(self) -> exp.Table:
        return self._table.copy()

    def connect_options(self) -> dict[str, str]:
        return dict(self.db_kwargs)

    def display(self) -> str:
        """Where the source is, for messages: never with credentials."""
        return f"adbc {self.driver_name}"

    def list_tables(self, connection: Any) -> list[str] | None:
        """Table names near the dataset's, for the hint of a missing table, from the driver's
        own catalog listing (ADBC GetObjects)."""
        schema = self._table.db or None
        objects = connection.adbc_get_objects(depth="tables", db_schema_filter=schema)
        names = []
        for catalog in objects.read_all().to_pylist():
            for db_schema in catalog.get("catalog_db_schemas") or []:
                names += [t["table_name"] for t in db_schema.get("db_schema_tables") or []]
        return names

    def schema(self) -> pa.Schema:
        """As the driver describes the table; declared columns win."""
        if self._schema is None:
            where = self.table().sql(self.dialect)
            self._schema = self.resolve_schema(self.table_schema(), where)
        return self._schema

    def table_schema(self) -> pa.Schema:
        """ADBC's GetTableSchema: drivers that type results by their values (SQLite types an
        empty result as all integers) still know the table's declared types. Drivers without it
        describe a `LIMIT 0` result."""
        connection = self._acquire()
        try:
            found = connection.adbc_get_table_schema(
                self._table.name, db_schema_filter=self._table.db or None
            )
        except adbc_driver_manager.NotSupportedError:
            self._pool.release(connection)
            return self.empty_result_schema()
        except adbc_driver_manager.Error as error:
            self._pool.discard(connection)
            raise self._error(error, timed_out=False) from None
        self._pool.release(connection)
        return _normalised(found)[0]

    def empty_result_schema(self) -> pa.Schema:
        reader = self.query(f"SELECT * FROM {self.table().sql(self.dialect)} LIMIT 0")
        reader.read_all()
        return reader.schema

    def query(self, sql: str, cancellation: Cancellation | None = None) -> pa.RecordBatchReader:
        connection = self._acquire()
        cursor = connection.cursor()
        forget = cancellation.on_cancel(lambda: _cancel(cursor)) if cancellation else _nothing
        watchdog = _Watchdog(self.timeout, cursor)
        try:
            with watchdog.armed():
                cursor.execute(sql)
                reader = cursor.fetch_record_batch()
        except adbc_driver_manager.Error as error:
            forget()
            cursor.close()
            self._pool.discard(connection)
            raise self._error(error, timed_out=watchdog.fired) from None
        schema, converters = _normalised(reader.schema)
        batches = self._batches(connection, watchdog, cursor, reader, schema, converters, forget)
        return pa.RecordBatchReader.from_batches(schema, batches)

    def close(self) -> None:
        self._pool.close()

    def _batches(
        self,
        connection: Any,
        watchdog: _Watchdog,
        cursor: Any,
        reader: pa.RecordBatchReader,
        schema: pa.Schema,
        converters: Sequence[Convert | None],
        forget: Callable[[], None],
    ) -> Iterator[pa.RecordBatch]:
        """A stream abandoned half-read is cancelled at the source and its connection closed."""
        finished = False
        try:
            while True:
                with watchdog.armed():
                    try:
                        batch = reader.read_next_batch()
                    except StopIteration:
                        break
                yield _convert(batch, schema, converters)
            finished = True
        except (adbc_driver_manager.Error, pa.ArrowException, OSError) as error:
            raise self._error(error, timed_out=watchdog.fired) from None
        finally:
            forget()
            if not finished:
                _cancel(cursor)
            cursor.close()
            self._pool.give_back(connection, finished=finished)

    def _acquire(self) -> Any:
        try:
            return self._pool.acquire()
        except adbc_driver_manager.Error as error:
            raise self._error(error, timed_out=False) from None

    def _connect(self) -> Any:
        return adbc_dbapi.connect(
            driver=self.driver,
            entrypoint=self.entrypoint,
            db_kwargs=self.connect_options(),
            autocommit=True,
        )

    def _error(self, error: Exception, *, timed_out: bool) -> SourceError:
        message = options.unechoed(options.scrub(str(error).strip(), self.secrets()))
        lowered = message.lower()
        state = getattr(error, "sqlstate", None)
        hint = "check the query and the dataset's params"
        if timed_out or state in CANCELLED_STATES or "statement timeout" in lowered:
            message = f"the query exceeded {self.timeout:g}s: {message}"
            hint = "raise params.timeout (or runtime.source_timeout), or narrow the query"
        elif any(word in lowered for word in DENIED):
            hint = "check the user and password params"
        elif any(word in lowered for word in UNAVAILABLE):
            hint = "is the server up and reachable? check the host and port params"
        elif state in NOT_FOUND_STATES or "not_found" in lowered or "no such table" in lowered:
            hint = self._tables_hint()
        return SourceError(f"{self.display()}: {message}", hint=hint)

    def _tables_hint(self) -> str:
        fallback = f"check the table name ({self.table().sql(self.dialect)})"
        try:
            connection = self._pool.acquire()
        except adbc_driver_manager.Error:
            return fallback
        try:
            names = self.list_tables(connection)
        except adbc_driver_manager.Error:
            self._pool.discard(connection)
            return fallback
        self._pool.release(connection)
        if names is None:
            return fallback
        where = ".".join(p.name for p in self.table().parts[:-1]) or "the schema"
        return options.close_names(self.table().name, names, f"tables in {where}")


class _Watchdog:
    """Cancels the statement if the source has not answered within `seconds` of any one wait.

    One per statement, armed for each wait (execute, then each batch): a cancel it sent as one
    wait ended surfaces in the next, and must still read as a timeout there."""

    def __init__(self, seconds: float, cursor: Any) -> None:
        self.fired = False
        self._seconds = seconds
        self._cursor = cursor

    @contextmanager
    def armed(self) -> Iterator[None]:
        timer = threading.Timer(self._seconds, self._fire)
        timer.daemon = True
        timer.start()
        try:
            yield
        finally:
            timer.cancel()

    def _fire(self) -> None:
        self.fired = True
        _cancel(self._cursor)


def _cancel(cursor: Any) -> None:
    try:
        cursor.adbc_cancel()
    except (adbc_driver_manager.Error, AttributeError):
        return


def _nothing() -> None:
    return None


def _close(connection: Any) -> None:
    connection.close()


def _normalised(schema: pa.Schema) -> tuple[pa.Schema, list[Convert | None]]:
    """The stream's schema in plain Arrow types, and per column the conversion to it."""
    fields, converters = [], []
    for field in schema:
        arrow_type, convert = _plain(field)
        fields.append(pa.field(field.name, arrow_type))
        converters.append(convert)
    return pa.schema(fields), converters


def _plain(field: pa.Field) -> tuple[pa.DataType, Convert | None]:
    arrow_type = field.type
    if not isinstance(arrow_type, pa.BaseExtensionType):
        return arrow_type, None
    if arrow_type.extension_name == "arrow.uuid":
        return pa.string(), _uuids
    if getattr(arrow_type, "type_name", None) == "numeric":
        numeric = _numeric_type(field)
        return numeric, lambda array: array.storage.cast(numeric)
    storage = arrow_type.storage_type
    return storage, lambda array: array.storage


def _numeric_type(field: pa.Field) -> pa.DataType:
    """PostgreSQL numeric(p,s) is exact; unconstrained numeric has no fixed scale, so it reads as
    double precision (as DuckDB's PostgreSQL scanner does)."""
    typmod = int((field.metadata or {}).get(NUMERIC_TYPMOD, b"-1"))
    if typmod < 4:
        return pa.float64()
    precision, scale = ((typmod - 4) >> 16) & 0xFFFF, (typmod - 4) & 0xFFFF
    return pa.decimal128(precision, scale) if precision <= 38 else pa.decimal256(precision, scale)


def _uuids(array: pa.Array) -> pa.Array:
    storage = array.storage if isinstance(array, pa.ExtensionArray) else array
    return pa.array(
        [None if b is None else str(uuid.UUID(bytes=b)) for b in storage.to_pylist()], pa.string()
    )


def _convert(
    batch: pa.RecordBatch, schema: pa.Schema, converters: Sequence[Convert | None]
) -> pa.RecordBatch:
    if all(c is None for c in converters) and batch.schema.equals(schema, check_metadata=True):
        return batch
    arrays = [
        convert(column) if convert is not None else column
        for column, convert in zip(batch.columns, converters, strict=True)
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
