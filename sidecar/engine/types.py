"""SQL type names <-> Arrow types, so declared columns and information_schema speak SQL."""

from __future__ import annotations

import pyarrow as pa
from sqlglot import exp
from sqlglot.errors import ParseError

DataType = exp.DataType.Type

SIMPLE: dict[exp.DataType.Type, pa.DataType] = {
    DataType.BOOLEAN: pa.bool_(),
    DataType.TINYINT: pa.int8(),
    DataType.SMALLINT: pa.int16(),
    DataType.INT: pa.int32(),
    DataType.BIGINT: pa.int64(),
    DataType.UTINYINT: pa.uint8(),
    DataType.USMALLINT: pa.uint16(),
    DataType.UINT: pa.uint32(),
    DataType.UBIGINT: pa.uint64(),
    DataType.FLOAT: pa.float32(),
    DataType.DOUBLE: pa.float64(),
    DataType.TEXT: pa.string(),
    DataType.VARCHAR: pa.string(),
    DataType.CHAR: pa.string(),
    DataType.NVARCHAR: pa.string(),
    DataType.JSON: pa.string(),
    DataType.JSONB: pa.string(),
    DataType.UUID: pa.string(),
    DataType.BINARY: pa.binary(),
    DataType.VARBINARY: pa.binary(),
    DataType.DATE: pa.date32(),
    DataType.TIME: pa.time64("us"),
    DataType.TIMESTAMP: pa.timestamp("us"),
    DataType.DATETIME: pa.timestamp("us"),
    DataType.TIMESTAMPTZ: pa.timestamp("us", tz="UTC"),
    DataType.INTERVAL: pa.month_day_nano_interval(),
}


class UnknownType(ValueError):
    """A declared column type that has no Arrow equivalent."""


def arrow_type(sql_type: str) -> pa.DataType:
    """The Arrow type for a SQL type name as written in sidecar.yaml (`decimal(10,2)`, `text[]`)."""
    try:
        parsed = exp.DataType.build(sql_type, dialect="postgres")
    except (ParseError, ValueError):
        raise UnknownType(_unknown(sql_type)) from None
    return _from_sqlglot(parsed, sql_type)


def _unknown(original: str) -> str:
    return (
        f"unknown type '{original}'; use e.g. bigint, double, decimal(p,s), text, boolean, "
        "date, timestamp, timestamptz, bytea, json, or an array like text[]"
    )


def _from_sqlglot(data_type: exp.DataType, original: str) -> pa.DataType:
    kind = data_type.this
    if kind in SIMPLE:
        return SIMPLE[kind]
    params = [int(p.this.this) for p in data_type.expressions if isinstance(p, exp.DataTypeParam)]
    if kind == DataType.DECIMAL:
        if not params:
            return pa.decimal128(38, 9)
        return pa.decimal128(params[0], params[1] if len(params) > 1 else 0)
    if kind == DataType.ARRAY and data_type.expressions:
        return pa.list_(_from_sqlglot(data_type.expressions[0], original))
    raise UnknownType(_unknown(original))


def sql_type(arrow: pa.DataType) -> str:
    """The PostgreSQL-style name of an Arrow type, as shown in information_schema and DESCRIBE."""
    if pa.types.is_boolean(arrow):
        return "boolean"
    if pa.types.is_int8(arrow) or pa.types.is_int16(arrow) or pa.types.is_uint8(arrow):
        return "smallint"
    if pa.types.is_int32(arrow) or pa.types.is_uint16(arrow):
        return "integer"
    if pa.types.is_integer(arrow):
        return "bigint"
    if pa.types.is_float16(arrow) or pa.types.is_float32(arrow):
        return "real"
    if pa.types.is_floating(arrow):
        return "double precision"
    if pa.types.is_decimal(arrow):
        return f"numeric({arrow.precision},{arrow.scale})"
    if (
        pa.types.is_string(arrow)
        or pa.types.is_large_string(arrow)
        or pa.types.is_string_view(arrow)
    ):
        return "text"
    if pa.types.is_binary(arrow) or pa.types.is_large_binary(arrow):
        return "bytea"
    if pa.types.is_date(arrow):
        return "date"
    if pa.types.is_time(arrow):
        return "time"
    if pa.types.is_timestamp(arrow):
        return "timestamp with time zone" if arrow.tz else "timestamp"
    if pa.types.is_interval(arrow) or pa.types.is_duration(arrow):
        return "interval"
    if pa.types.is_list(arrow) or pa.types.is_large_list(arrow):
        return sql_type(arrow.value_type) + "[]"
    if pa.types.is_struct(arrow) or pa.types.is_map(arrow):
        return "json"
    if pa.types.is_dictionary(arrow):
        return sql_type(arrow.value_type)
    return str(arrow)
