"""`iceberg:namespace.table` datasets through pyiceberg, from a SQL or REST catalog.

Projections, filters and limits go to pyiceberg's scan, which prunes data files by the
manifests' column statistics before reading any, then streams record batches file by file.
Filters are translated to pyiceberg expressions only where the meaning is the engine's exactly:
literals typed as the column (`ts >= '2024-01-01'`), LIKE only as a prefix match, no NULL
inside IN lists; the rest stays in DataFusion. A snapshot id or an as-of time pins the table to
one version, for reproducible answers while writers keep appending.

    datasets:
      - from: iceberg:sales.orders
        params:
          catalog: {type: sql, uri: "sqlite:////data/catalog.db", warehouse: "file:///data/wh"}
          as_of: "2026-03-14 12:00:00"        # or snapshot_id: 3837035046318473718
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

import pyarrow as pa
from sqlglot import exp

from connectors import options, stores
from connectors.base import Connector, DatasetSource, ScanRequest, SourceError
from connectors.batches import limit_batches
from connectors.predicates import (
    Untranslatable,
    coerce,
    column_name,
    is_pushable,
    literal_value,
    required_column,
)

try:
    from pyiceberg import expressions as ice
    from pyiceberg.catalog import Catalog, load_catalog
    from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError
    from pyiceberg.table import Table
except ImportError as error:  # only iceberg datasets fail
    raise SourceError(
        f"pyiceberg is not installed ({error})",
        hint="pip install 'pyiceberg[sql-sqlite,pyarrow]'",
    ) from None

CATALOG_TYPES = ("sql", "rest")
ICEBERG_COMPARISONS: dict[type[exp.Expression], Any] = {
    exp.EQ: ice.EqualTo,
    exp.NEQ: ice.NotEqualTo,
    exp.LT: ice.LessThan,
    exp.LTE: ice.LessThanOrEqual,
    exp.GT: ice.GreaterThan,
    exp.GTE: ice.GreaterThanOrEqual,
}
MIRRORED = {exp.LT: exp.GT, exp.LTE: exp.GTE, exp.GT: exp.LT, exp.GTE: exp.LTE}
# Errors a catalog (a database, an HTTP service) or its file store may raise while reading.
READ_ERRORS = (OSError, ValueError, pa.ArrowException, RuntimeError)


class IcebergConnector(Connector):
    schemes = ("iceberg",)
    supports_limit = True

    def __init__(self, source: DatasetSource) -> None:
        super().__init__(source)
        params = self.source.params
        self.catalog_properties = _catalog_properties(params.get("catalog"))
        parts = tuple(part for part in source.location.split(".") if part)
        if len(parts) < 2:
            raise SourceError(
                f"'{source.location}' is not namespace.table",
                hint="write from: iceberg:<namespace>.<table>",
            )
        self.identifier = parts
        self.snapshot_id = _snapshot_id(params.get("snapshot_id"))
        self.as_of = _as_of(params.get("as_of"))
        self._catalog: Catalog | None = None
        self._table: Table | None = None
        self._schema: pa.Schema | None = None

    def schema(self) -> pa.Schema:
        if self._schema is None:
            found = _plain_schema(self._load().schema().as_arrow())
            declared = self.source.declared_schema
            if declared is not None:
                missing = [name for name in declared.names if name not in found.names]
                if missing:
                    raise SourceError(
                        f"column {missing[0]!r} is declared but not in {self._name()}",
                        hint=f"columns there: {', '.join(found.names)}",
                    )
            self._schema = declared if declared is not None else found
        return self._schema

    def accepts_filter(self, predicate: exp.Expression) -> bool:
        return _translated(predicate, self.schema()) is not None

    def scan(self, request: ScanRequest) -> pa.RecordBatchReader:
        schema = self.schema()
        columns = list(request.projection) if request.projection is not None else schema.names
        output = pa.schema([schema.field(name) for name in columns])
        try:
            table = self._refreshed()
            snapshot = self._snapshot(table)
            row_filter = self._row_filter(request.filters, schema)
            scan = table.scan(
                row_filter=row_filter,
                selected_fields=tuple(columns) or ("*",),
                snapshot_id=snapshot,
                limit=request.limit,
            )
            reader = scan.to_arrow_batch_reader()
        except (NoSuchTableError, NoSuchNamespaceError) as error:
            raise self._missing(error) from None
        except READ_ERRORS as error:
            raise self._error(error) from None
        batches = limit_batches(self._guarded(reader, output), request.limit)
        return pa.RecordBatchReader.from_batches(output, batches)

    def describe(self, request: ScanRequest) -> str:
        columns = "*" if request.projection is None else ", ".join(request.projection)
        parts = [f"iceberg {self._name()}", f"columns=[{columns}]"]
        if self.snapshot_id is not None:
            parts.append(f"snapshot_id={self.snapshot_id}")
        elif self.as_of is not None:
            parts.append(f"as_of={self.as_of.isoformat()}")
        if request.filters:
            parts.append(f"row_filter={self._row_filter(request.filters, self.schema())}")
        if request.limit is not None:
            parts.append(f"limit={request.limit}")
        return " ".join(parts)

    def row_count(self) -> int | None:
        """From the snapshot summary: the catalog already counted."""
        try:
            table = self._load()
            snapshot = table.snapshot_by_id(self._snapshot(table) or -1) or table.current_snapshot()
        except (SourceError, *READ_ERRORS):
            return None
        if snapshot is None:
            return 0
        total = (snapshot.summary or {}).get("total-records")
        return int(total) if total is not None else None

    def _row_filter(self, filters: Sequence[exp.Expression], schema: pa.Schema) -> Any:
        result: Any = ice.AlwaysTrue()
        for predicate in filters:
            translated = _translated(predicate, schema)
            if translated is None:
                raise ValueError("a filter this connector did not accept was pushed to it")
            result = ice.And(result, translated)
        return result

    def _guarded(self, reader: pa.RecordBatchReader, output: pa.Schema) -> Iterator[pa.RecordBatch]:
        try:
            for batch in reader:
                yield batch.select(output.names).cast(output)
        except READ_ERRORS as error:
            raise self._error(error) from None
        finally:
            reader.close()

    def _load(self) -> Table:
        if self._table is None:
            catalog = self._catalog_client()
            try:
                self._table = catalog.load_table(self.identifier)
            except (NoSuchTableError, NoSuchNamespaceError) as error:
                raise self._missing(error) from None
            except Exception as error:  # a catalog's database or HTTP client has its own errors
                raise self._error(error) from None
        return self._table

    def _refreshed(self) -> Table:
        """Without a pinned snapshot every scan sees the latest commit."""
        table = self._load()
        return table if self.snapshot_id is not None else table.refresh()

    def _catalog_client(self) -> Catalog:
        if self._catalog is None:
            properties = dict(self.catalog_properties)
            name = str(properties.pop("name", "default"))
            try:
                self._catalog = load_catalog(name, **properties)
            except Exception as error:  # a catalog's database or HTTP client has its own errors
                raise self._error(error) from None
        return self._catalog

    def _snapshot(self, table: Table) -> int | None:
        if self.snapshot_id is not None:
            if table.snapshot_by_id(self.snapshot_id) is None:
                known = [str(s.snapshot_id) for s in table.snapshots()[-5:]]
                raise SourceError(
                    f"{self._name()} has no snapshot {self.snapshot_id}",
                    hint=f"latest snapshots: {', '.join(known) or '(none)'}",
                )
            return self.snapshot_id
        if self.as_of is not None:
            millis = int(self.as_of.timestamp() * 1000)
            snapshot = table.snapshot_as_of_timestamp(millis)
            if snapshot is None:
                raise SourceError(
                    f"{self._name()} has no snapshot as of {self.as_of.isoformat()}",
                    hint="pick a later params.as_of, or remove it to read the latest",
                )
            return snapshot.snapshot_id
        return None

    def _name(self) -> str:
        return ".".join(self.identifier)

    def _missing(self, error: Exception) -> SourceError:
        namespace = self.identifier[:-1]
        try:
            catalog = self._catalog_client()
            if isinstance(error, NoSuchNamespaceError) or not catalog.namespace_exists(namespace):
                names = [".".join(n) for n in catalog.list_namespaces()]
                hint = options.close_names(".".join(namespace), names, "namespaces")
            else:
                names = [t[-1] for t in catalog.list_tables(namespace)]
                hint = options.close_names(self.identifier[-1], names, f"tables in {namespace[0]}")
        except Exception:  # the hint is a courtesy; the error stands without it
            hint = "check from: iceberg:<namespace>.<table>"
        return SourceError(f"iceberg: {self._name()} does not exist", hint=hint)

    def _error(self, error: Exception) -> SourceError:
        secrets = [v for k, v in self.catalog_properties.items() if k not in ("type", "name")]
        message = options.unechoed(options.scrub(f"{type(error).__name__}: {error}", secrets))
        if isinstance(error, OSError) and stores.refused(str(error)):
            return SourceError(
                f"iceberg {self._name()}: the warehouse's storage refused "
                f"{self._storage_credential()}: {stores.first_line(message)}",
                hint="check the catalog's storage properties (s3.access-key-id and "
                "s3.secret-access-key, gcs.oauth2.token, adls.account-name and adls.account-key) "
                "and that they may read the warehouse",
            )
        return SourceError(
            f"iceberg {self._name()}: {message}",
            hint="check params.catalog (uri, warehouse) and that the catalog is reachable",
        )

    def _storage_credential(self) -> str:
        """Which credential pyiceberg's FileIO signed with, in words."""
        properties = self.catalog_properties
        for key in ("s3.access-key-id", "gcs.oauth2.token", "adls.account-key", "adls.sas-token"):
            if key in properties:
                return f"the credential in params.catalog {key}"
        if properties.get("type") == "rest":
            return "the credentials the REST catalog vended for the table, or the default chain"
        return "the default credential chain"


def _catalog_properties(catalog: object) -> dict[str, str]:
    if not isinstance(catalog, Mapping) or catalog.get("type") not in CATALOG_TYPES:
        raise SourceError(
            "params.catalog must say which catalog holds the table",
            hint="e.g. catalog: {type: sql, uri: 'sqlite:///cat.db', warehouse: 'file:///wh'} "
            "or {type: rest, uri: 'https://catalog:8181'}",
        )
    if not catalog.get("uri"):
        raise SourceError("params.catalog.uri is required", hint="the catalog's database or URL")
    return {str(k): str(v) for k, v in catalog.items()}


def _snapshot_id(value: object) -> int | None:
    if value is None:
        return None
    try:
        return int(str(value))
    except ValueError:
        raise SourceError(f"params.snapshot_id '{value}' is not a snapshot id") from None


def _as_of(value: object) -> dt.datetime | None:
    """A naive as-of time is UTC, like every timestamp the engine compares."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        moment = value
    else:
        try:
            moment = dt.datetime.fromisoformat(str(value))
        except ValueError:
            raise SourceError(
                f"params.as_of '{value}' is not a timestamp", hint="e.g. 2026-03-14 12:00:00"
            ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _plain_schema(schema: pa.Schema) -> pa.Schema:
    """pyiceberg's Arrow schema without Parquet field ids, in the engine's plain types."""
    return pa.schema([pa.field(f.name, _plain_type(f.type)) for f in schema])


def _plain_type(arrow_type: pa.DataType) -> pa.DataType:
    if pa.types.is_large_string(arrow_type):
        return pa.string()
    if pa.types.is_large_binary(arrow_type):
        return pa.binary()
    if pa.types.is_large_list(arrow_type) or pa.types.is_list(arrow_type):
        return pa.list_(_plain_type(arrow_type.value_type))
    return arrow_type


def _translated(predicate: exp.Expression, schema: pa.Schema) -> Any | None:
    if not is_pushable(predicate):
        return None
    try:
        return _translate(predicate.unnest(), schema)
    except (Untranslatable, ValueError, ArithmeticError):
        return None


def _translate(node: exp.Expression, schema: pa.Schema, *, negate: bool = False) -> Any:
    """NOT is pushed down to the leaves by De Morgan, which holds in SQL's three-valued logic,
    and a negated leaf also requires its column to be non-NULL: pyiceberg's NOT IN keeps the
    NULL rows that SQL's drops."""
    node = node.unnest()
    if isinstance(node, exp.Not):
        return _translate(node.this, schema, negate=not negate)
    if isinstance(node, exp.And | exp.Or):
        left = _translate(node.left, schema, negate=negate)
        right = _translate(node.right, schema, negate=negate)
        return ice.And(left, right) if isinstance(node, exp.And) != negate else ice.Or(left, right)
    negate = negate != bool(node.args.get("negate"))  # `x IS NOT NULL`, `x NOT LIKE 'a%'`
    if isinstance(node, exp.Is):
        name = required_column(node.this)
        return ice.NotNull(name) if negate else ice.IsNull(name)
    name, leaf = _leaf(node, schema)
    return ice.And(ice.NotNull(name), ice.Not(leaf)) if negate else leaf


def _leaf(node: exp.Expression, schema: pa.Schema) -> tuple[str, Any]:
    if type(node) in ICEBERG_COMPARISONS:
        op, left, right = type(node), node.this, node.expression
        if column_name(left) is None:
            op, left, right = MIRRORED.get(op, op), right, left
        name = required_column(left)
        return name, ICEBERG_COMPARISONS[op](name, _value(right, name, schema))
    if isinstance(node, exp.In):
        name = required_column(node.this)
        return name, ice.In(name, {_value(v, name, schema) for v in node.expressions})
    if isinstance(node, exp.Between):
        name = required_column(node.this)
        low = ice.GreaterThanOrEqual(name, _value(node.args["low"], name, schema))
        high = ice.LessThanOrEqual(name, _value(node.args["high"], name, schema))
        return name, ice.And(low, high)
    if isinstance(node, exp.Like):
        name = required_column(node.this)
        return name, _starts_with(node, name, schema)
    raise Untranslatable(node.sql())


def _starts_with(node: exp.Like, name: str, schema: pa.Schema) -> Any:
    """Only `col LIKE 'prefix%'`: Iceberg has no general pattern match."""
    pattern = literal_value(node.expression)
    if not pa.types.is_string(_type(name, schema)) or not isinstance(pattern, str):
        raise Untranslatable(node.sql())
    prefix = pattern[:-1]
    if not pattern.endswith("%") or any(c in prefix for c in "%_\\") or node.args.get("escape"):
        raise Untranslatable("only prefix patterns")
    return ice.StartsWith(name, prefix)


def _value(node: exp.Expression, name: str, schema: pa.Schema) -> Any:
    """The literal as a value of the column's type, as the engine's implicit cast reads it.

    NULL literals are refused (Iceberg has no comparison with NULL), and so are float columns:
    pyiceberg compares NaN as IEEE does, where the engine orders it above every number.
    """
    arrow_type = _type(name, schema)
    value = literal_value(node)
    if value is None:
        raise Untranslatable("a comparison with NULL")
    typed = coerce(value, arrow_type).as_py()
    if pa.types.is_integer(arrow_type):
        if isinstance(typed, bool) or typed != int(typed):
            raise Untranslatable("a fraction compared with an integer column")
        return int(typed)
    if pa.types.is_decimal(arrow_type):
        number = Decimal(typed)
        exponent = Decimal(1).scaleb(-arrow_type.scale)
        if number != number.quantize(exponent):
            raise Untranslatable("more decimals than the column has")
        return number.quantize(exponent)
    if pa.types.is_string(arrow_type) or pa.types.is_boolean(arrow_type):
        return typed
    if pa.types.is_date(arrow_type):
        return typed.isoformat()
    if pa.types.is_timestamp(arrow_type):
        if arrow_type.tz is None:
            return typed.isoformat()
        return typed.astimezone(dt.UTC).isoformat()
    raise Untranslatable(f"no Iceberg literals for {arrow_type} columns")


def _type(name: str, schema: pa.Schema) -> pa.DataType:
    index = schema.get_field_index(name)
    if index < 0:
        raise Untranslatable(f"no column {name!r}")
    return schema.field(index).type
