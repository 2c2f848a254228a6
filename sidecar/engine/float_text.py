"""A double written as text the way PostgreSQL writes it.

PostgreSQL (float8out, extra_float_digits 1) writes the shortest digits that read back as the
same double, in fixed notation when the decimal exponent is from -4 to 14 and in scientific
notation otherwise: `4`, `0.1`, `1e-05`, `1e+15`, `Infinity`. Arrow's cast writes `4.0`,
`0.00001` and `1e15`, so `price::text` answered otherwise on a Parquet table than on a DuckDB
copy and in PostgreSQL. The planner marks a cast of a double to text (`readings`) and
`dialect` writes it as this function.
"""

from __future__ import annotations

import math
from decimal import Decimal
from functools import cache

import pyarrow as pa
from datafusion import ScalarUDF, SessionContext, udf

NAME = "float8_text"
FIXED_EXPONENTS = range(-4, 15)  # DBL_DIG: 15 digits and more are written with an exponent


def register(ctx: SessionContext) -> None:
    ctx.register_udf(_function())


@cache
def _function() -> ScalarUDF:
    return udf(_texts, [pa.float64()], pa.string(), "immutable", name=NAME)


def _texts(values: pa.Array) -> pa.Array:
    return pa.array([None if v is None else text(v) for v in values.to_pylist()], pa.string())


def text(value: float) -> str:
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
