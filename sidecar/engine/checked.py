"""Integer arithmetic that fails on overflow, as PostgreSQL's does, where DataFusion wraps.

DataFusion computes `+`, `-`, `*` and unary `-` of integers with wrapping arithmetic and has
no option to check them (`enable_ansi_mode` leaves them as they are), so
`9223372036854775807 + 1` answered -9223372036854775808 where PostgreSQL raises 22003
`bigint out of range`. Arrow's checked kernels (`pyarrow.compute.add_checked`...) compute the
same in C and raise on overflow: each is a DataFusion function here, one per operation and
integer type, called once per batch. The planner marks the integer operations whose operand
types it knows (`readings`), and `dialect` writes them as calls of these functions; DataFusion
casts narrower operands to the function's type, and folds constant calls while planning.

SUM of a BIGINT wraps too. It is written as the sums of the values' high and low 32 bits,
each of which cannot overflow below 2^31 rows, recombined as a DECIMAL and cast back to
BIGINT: the cast fails when the true sum is out of range. Two native sums cost far less than
summing DECIMALs (benchmarks/README.md).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import pyarrow as pa
import pyarrow.compute as pc
from datafusion import ScalarUDF, SessionContext, udf

# an integer type's name in PostgreSQL's words (`bigint out of range`), by its bit width
WORDS = {8: "tinyint", 16: "smallint", 32: "integer", 64: "bigint"}
BITS = {words: bits for bits, words in WORDS.items()}
TYPES = {8: pa.int8(), 16: pa.int16(), 32: pa.int32(), 64: pa.int64()}
BINARY: dict[str, Callable[[pa.Array, pa.Array], pa.Array]] = {
    "add": pc.add_checked,
    "subtract": pc.subtract_checked,
    "multiply": pc.multiply_checked,
}
UNARY: dict[str, Callable[[pa.Array], pa.Array]] = {"negate": pc.negate_checked}


def name(operation: str, bits: int) -> str:
    """The function computing `operation` on integers of `bits` bits, checked."""
    return f"checked_{operation}_{WORDS[bits]}"


def out_of_range(bits: int) -> str:
    return f"{WORDS[bits]} out of range"


def register(ctx: SessionContext) -> None:
    for function in _functions():
        ctx.register_udf(function)
    for function in _divisors():
        ctx.register_udf(function)


def divisor(bits: int) -> str:
    """The function a floating-point divisor of `bits` bits is passed through (`nonzero`)."""
    return f"nonzero_{'real' if bits == 32 else 'double'}"


@cache
def _divisors() -> tuple[ScalarUDF, ...]:
    """A floating-point division (or modulo) by zero is Infinity (NaN) in DataFusion and an
    error in PostgreSQL (22012 `division by zero`): the divisor passes through a function
    that fails on a zero, its values unchanged otherwise."""
    return tuple(
        udf(_nonzero, [data_type], data_type, "immutable", name=divisor(bits))
        for bits, data_type in ((32, pa.float32()), (64, pa.float64()))
    )


def _nonzero(values: pa.Array) -> pa.Array:
    if pc.any(pc.equal(values, 0)).as_py():
        raise ZeroDivisionError("division by zero")
    return values


@cache
def _functions() -> tuple[ScalarUDF, ...]:
    functions = []
    for bits, data_type in TYPES.items():
        for operation, compute in {**BINARY, **UNARY}.items():
            arity = 2 if operation in BINARY else 1
            functions.append(
                udf(
                    _raising(compute, out_of_range(bits)),
                    [data_type] * arity,
                    data_type,
                    "immutable",
                    name=name(operation, bits),
                )
            )
    return tuple(functions)


def _raising(compute: Callable[..., pa.Array], words: str) -> Callable[..., pa.Array]:
    def checked(*operands: pa.Array) -> pa.Array:
        try:
            return compute(*operands)
        except pa.ArrowInvalid:
            raise OverflowError(words) from None

    return checked


def summed(value: str) -> str:
    """SUM of the BIGINT `value` (SQL text), failing when the sum is out of range."""
    return (
        f"CAST(CAST(sum(({value}) >> 32) AS DECIMAL(38, 0)) * 4294967296 "
        f"+ sum(({value}) & 4294967295) AS BIGINT)"
    )
