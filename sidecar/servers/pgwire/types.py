"""Arrow types <-> PostgreSQL type OIDs: what RowDescription announces and parameters decode as.

Each Arrow type maps to the closest PostgreSQL type, so drivers pick their native decoder: an
unsigned 64-bit integer becomes numeric (it does not fit int8), a struct becomes json. The same
table feeds the shadow catalog's `format_type()`, so `\\d` shows the names a driver is sent.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import pyarrow as pa
from sqlglot import exp


@dataclass(frozen=True)
class PgType:
    oid: int
    name: str
    sql_name: str
    size: int
    array_oid: int


BOOL = PgType(16, "bool", "boolean", 1, 1000)
BYTEA = PgType(17, "bytea", "bytea", -1, 1001)
CHAR = PgType(18, "char", '"char"', 1, 1002)
NAME = PgType(19, "name", "name", 64, 1003)
INT8 = PgType(20, "int8", "bigint", 8, 1016)
INT2 = PgType(21, "int2", "smallint", 2, 1005)
INT4 = PgType(23, "int4", "integer", 4, 1007)
TEXT = PgType(25, "text", "text", -1, 1009)
OID = PgType(26, "oid", "oid", 4, 1028)
JSON = PgType(114, "json", "json", -1, 199)
FLOAT4 = PgType(700, "float4", "real", 4, 1021)
FLOAT8 = PgType(701, "float8", "double precision", 8, 1022)
UNKNOWN = PgType(705, "unknown", "unknown", -2, 0)
BPCHAR = PgType(1042, "bpchar", "character", -1, 1014)
VARCHAR = PgType(1043, "varchar", "character varying", -1, 1015)
DATE = PgType(1082, "date", "date", 4, 1182)
TIME = PgType(1083, "time", "time without time zone", 8, 1183)
TIMESTAMP = PgType(1114, "timestamp", "timestamp without time zone", 8, 1115)
TIMESTAMPTZ = PgType(1184, "timestamptz", "timestamp with time zone", 8, 1185)
INTERVAL = PgType(1186, "interval", "interval", 16, 1187)
NUMERIC = PgType(1700, "numeric", "numeric", -1, 1231)
REGCLASS = PgType(2205, "regclass", "regclass", 4, 2210)
REGTYPE = PgType(2206, "regtype", "regtype", 4, 2211)
UUID = PgType(2950, "uuid", "uuid", 16, 2951)
JSONB = PgType(3802, "jsonb", "jsonb", -1, 3807)

SCALARS = (
    BOOL,
    BYTEA,
    CHAR,
    NAME,
    INT8,
    INT2,
    INT4,
    TEXT,
    OID,
    JSON,
    FLOAT4,
    FLOAT8,
    BPCHAR,
    VARCHAR,
    DATE,
    TIME,
    TIMESTAMP,
    TIMESTAMPTZ,
    INTERVAL,
    NUMERIC,
    REGCLASS,
    REGTYPE,
    UUID,
    JSONB,
)
BY_OID: dict[int, PgType] = {t.oid: t for t in (*SCALARS, UNKNOWN)}
OID_METADATA = b"pg_type_oid"
ELEMENTS: dict[int, PgType] = {t.array_oid: t for t in SCALARS}


@dataclass(frozen=True)
class Column:
    """How one result column travels: its type, whether it is an array of it, and its typmod."""

    type: PgType
    array: bool = False
    typmod: int = -1

    @property
    def oid(self) -> int:
        return self.type.array_oid if self.array else self.type.oid

    @property
    def size(self) -> int:
        return -1 if self.array else self.type.size


def field_column(field: pa.Field) -> Column:
    """The column's type, or the one its metadata pins (the shadow catalog's oid columns)."""
    pinned = (field.metadata or {}).get(OID_METADATA)
    if pinned is not None:
        oid = int(pinned)
        if oid in ELEMENTS:
            return Column(ELEMENTS[oid], array=True)
        return Column(BY_OID[oid])
    return column(field.type)


@functools.lru_cache(maxsize=1024)
def column(arrow: pa.DataType) -> Column:
    """The PostgreSQL type a column of this Arrow type is sent as (kept per type: every
    result's encoder asks for each of its columns)."""
    if pa.types.is_dictionary(arrow):
        return column(arrow.value_type)
    if is_list(arrow):
        element = arrow.value_type
        if is_list(element) or pa.types.is_struct(element) or pa.types.is_map(element):
            return Column(JSON)
        return Column(column(element).type, array=True)
    if pa.types.is_decimal(arrow):
        return Column(NUMERIC, typmod=((arrow.precision << 16) | max(arrow.scale, 0)) + 4)
    return Column(scalar(arrow))


def scalar(arrow: pa.DataType) -> PgType:
    if isinstance(arrow, pa.BaseExtensionType):
        if arrow.extension_name == "arrow.uuid":
            return UUID
        if arrow.extension_name == "arrow.json":
            return JSON
        return scalar(arrow.storage_type)
    checks = (
        (pa.types.is_boolean, BOOL),
        (lambda t: t in (pa.int8(), pa.int16(), pa.uint8()), INT2),
        (lambda t: t in (pa.int32(), pa.uint16()), INT4),
        (lambda t: t in (pa.int64(), pa.uint32()), INT8),
        (pa.types.is_uint64, NUMERIC),
        (lambda t: t in (pa.float16(), pa.float32()), FLOAT4),
        (pa.types.is_float64, FLOAT8),
        (is_string, TEXT),
        (is_binary, BYTEA),
        (pa.types.is_date, DATE),
        (pa.types.is_time, TIME),
        (lambda t: pa.types.is_timestamp(t) and t.tz is None, TIMESTAMP),
        (pa.types.is_timestamp, TIMESTAMPTZ),
        (lambda t: pa.types.is_interval(t) or pa.types.is_duration(t), INTERVAL),
        (lambda t: pa.types.is_struct(t) or pa.types.is_map(t), JSON),
    )
    return next((pg for check, pg in checks if check(arrow)), TEXT)


def is_list(arrow: pa.DataType) -> bool:
    return (
        pa.types.is_list(arrow)
        or pa.types.is_large_list(arrow)
        or pa.types.is_fixed_size_list(arrow)
        or pa.types.is_list_view(arrow)
        or pa.types.is_large_list_view(arrow)
    )


def is_string(arrow: pa.DataType) -> bool:
    return (
        pa.types.is_string(arrow)
        or pa.types.is_large_string(arrow)
        or pa.types.is_string_view(arrow)
    )


def is_binary(arrow: pa.DataType) -> bool:
    return (
        pa.types.is_binary(arrow)
        or pa.types.is_large_binary(arrow)
        or pa.types.is_binary_view(arrow)
        or pa.types.is_fixed_size_binary(arrow)
    )


DataType = exp.DataType.Type
SQL_TYPES: dict[exp.DataType.Type, PgType] = {
    DataType.BOOLEAN: BOOL,
    DataType.TINYINT: INT2,
    DataType.SMALLINT: INT2,
    DataType.INT: INT4,
    DataType.BIGINT: INT8,
    DataType.FLOAT: FLOAT4,
    DataType.DOUBLE: FLOAT8,
    DataType.DECIMAL: NUMERIC,
    DataType.TEXT: TEXT,
    DataType.VARCHAR: VARCHAR,
    DataType.CHAR: BPCHAR,
    DataType.NAME: NAME,
    DataType.JSON: JSON,
    DataType.JSONB: JSONB,
    DataType.UUID: UUID,
    DataType.VARBINARY: BYTEA,
    DataType.BINARY: BYTEA,
    DataType.DATE: DATE,
    DataType.TIME: TIME,
    DataType.TIMESTAMP: TIMESTAMP,
    DataType.DATETIME: TIMESTAMP,
    DataType.TIMESTAMPTZ: TIMESTAMPTZ,
    DataType.INTERVAL: INTERVAL,
}


def oid_of(data_type: exp.DataType) -> int | None:
    """The OID for a SQL type as sqlglot parsed it (a cast target, an annotated column type)."""
    if data_type.this == DataType.ARRAY and data_type.expressions:
        element = data_type.expressions[0]
        inner = SQL_TYPES.get(element.this) if isinstance(element, exp.DataType) else None
        return inner.array_oid if inner else None
    if data_type.this == DataType.USERDEFINED:
        kind = data_type.args.get("kind")
        last = kind.expression if isinstance(kind, exp.Dot) else kind
        name = last.name.lower() if isinstance(last, exp.Expression) else str(last or "").lower()
        element = name.removeprefix("_")
        named = next((t for t in SCALARS if t.name == element), None)
        if named is None:
            return None
        return named.array_oid if name.startswith("_") else named.oid
    found = SQL_TYPES.get(data_type.this)
    return found.oid if found else None
