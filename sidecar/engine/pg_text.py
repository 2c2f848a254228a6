"""Doubles and timestamps written as text the way PostgreSQL writes them.

A cast to text answered in Arrow's forms: `price::text` was `4.0`, `0.00001` and `1e15`, and
`seen::text` `2024-01-01T12:00:00Z`, where PostgreSQL (and so a DuckDB copy, which writes
timestamps as it does) answers `4`, `1e-05`, `1e+15` and `2024-01-01 12:00:00+00`. The planner
marks a cast to text of a double or a timestamp (`readings`) and `dialect` writes it as one of
these functions.

- A double (float8out, extra_float_digits 1): the shortest digits that read back as the same
  double, in fixed notation when the decimal exponent is from -4 to 14, in scientific notation
  otherwise, `Infinity` and `NaN` spelled out.
- A timestamp (a time of day alike): ISO 8601 with a space, the fraction of a second without
  trailing zeros, and a zoned one in UTC (the engine's time zone) with its offset, `+00`.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from functools import cache

import pyarrow as pa
from datafusion import ScalarUDF, SessionContext, udf

FLOAT = "float8_text"
TIMESTAMP = "timestamp_text"
ZONED_TIMESTAMP = "timestamptz_text"
TIME = "time_text"
FIXED_EXPONENTS = range(-4, 15)  # DBL_DIG: 15 digits and more are written with an exponent
MICROSECONDS = pa.timestamp("us")  # PostgreSQL's resolution; a zoned one's UTC wall time


def register(ctx: SessionContext) -> None:
    for function in _functions():
        ctx.register_udf(function)


@cache
def _functions() -> tuple[ScalarUDF, ...]:
    return (
        udf(_floats, [pa.float64()], pa.string(), "immutable", name=FLOAT),
        udf(_timestamps, [MICROSECONDS], pa.string(), "immutable", name=TIMESTAMP),
        udf(_zoned, [MICROSECONDS], pa.string(), "immutable", name=ZONED_TIMESTAMP),
        udf(_times, [pa.time64("ns")], pa.string(), "immutable", name=TIME),
    )


def call(name: str, operand: str) -> str:
    """The SQL text writing `operand` (SQL text) with the function `name`: a timestamp is
    handed over as microseconds without a zone (a zoned one's wall time in UTC), the type its
    functions take (DataFusion does not coerce a UDF's arguments)."""
    if name == FLOAT:
        return f"{name}({operand})"
    return f"{name}(CAST({operand} AS {'TIME' if name == TIME else 'TIMESTAMP(6)'}))"


def _floats(values: pa.Array) -> pa.Array:
    return pa.array([None if v is None else float_text(v) for v in values.to_pylist()], pa.string())


def _timestamps(values: pa.Array, zone: str = "") -> pa.Array:
    return pa.array(
        [None if v is None else timestamp_text(v) + zone for v in values.to_pylist()], pa.string()
    )


def _times(values: pa.Array) -> pa.Array:
    return pa.array([None if v is None else time_text(v) for v in values.to_pylist()], pa.string())


def _zoned(values: pa.Array) -> pa.Array:
    return _timestamps(values, "+00")


def float_text(value: float) -> str:
    """`value` as PostgreSQL's float8out writes it."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    number = Decimal(repr(value))  # repr: the shortest digits that read back as `value`
    sign, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)
    shown = "".join(map(str, digits)).rstrip("0") or "0"
    scientific = len(digits) + exponent - 1
    if number and scientific not in FIXED_EXPONENTS:
        mantissa = shown[0] + ("." + shown[1:] if len(shown) > 1 else "")
        power = f"{'-' if scientific < 0 else '+'}{abs(scientific):02d}"
        return f"{'-' if sign else ''}{mantissa}e{power}"
    fixed = format(number, "f")
    return fixed.rstrip("0").rstrip(".") if "." in fixed else fixed


def timestamp_text(value: dt.datetime) -> str:
    """`value` as PostgreSQL's timestamp_out writes it."""
    return f"{value.year:04d}-{value:%m-%d} {time_text(value.time())}"


def time_text(value: dt.time) -> str:
    """`value` as PostgreSQL's time_out writes it: the fraction without trailing zeros."""
    text = f"{value:%H:%M:%S}"
    return text + f".{value.microsecond:06d}".rstrip("0") if value.microsecond else text
