"""Arrow columns as SQLite stores them, and back, value for value.

SQLite has five storage classes (NULL, INTEGER, REAL, TEXT, BLOB) and no decimals, dates or
booleans. Each Arrow type the copy accepts is stored in the one class that keeps every value
exactly *and* compares and sorts the way the engine does, so a filter or ORDER BY that SQLite
evaluates on the stored form keeps the engine's rows in the engine's order:

- integers, booleans (0/1), dates (days), timestamps (units since the epoch, in UTC; the time
  zone is the schema's), times and durations: INTEGER;
- decimals of up to 18 digits: INTEGER holding the unscaled value (1.50 in decimal(10,2) is
  150), so `amount > 100` is an integer comparison SQLite answers from an index;
- wider decimals: TEXT. Exact, but text does not compare as numbers: filters and sorts on such
  a column are left to the engine;
- floats: REAL (SQLite keeps NaN as NULL, so a NaN refuses the load; -0.0 is stored as 0.0,
  which every comparison treats as equal);
- text: TEXT, compared byte by byte (SQLite's BINARY collation, the engine's order);
  binary: BLOB; dictionaries: their values; the null type: NULL.

What SQLite cannot hold exactly is refused with the reason (`refusal`): unsigned 64-bit
integers, half floats, intervals, and nested values (lists, structs, maps).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

INTEGER, REAL, TEXT, BLOB, ANY = "INTEGER", "REAL", "TEXT", "BLOB", "ANY"
MAX_INTEGER_DIGITS = 18


class Unstorable(ValueError):
    """A value of an accepted type that SQLite would not give back (a float NaN)."""


def refusal(arrow_type: pa.DataType) -> str | None:
    """Why SQLite cannot hold this type exactly, or None when it can."""
    if pa.types.is_dictionary(arrow_type):
        return refusal(arrow_type.value_type)
    if pa.types.is_uint64(arrow_type):
        return "SQLite integers are signed 64-bit: unsigned 64-bit values above 2^63 do not fit"
    if pa.types.is_float16(arrow_type):
        return "SQLite has no half-precision floats"
    if pa.types.is_interval(arrow_type):
        return "SQLite has no intervals (months, days and nanoseconds in one value)"
    if pa.types.is_decimal256(arrow_type):
        return "SQLite has no 256-bit decimals"
    nested = (
        pa.types.is_list(arrow_type)
        or pa.types.is_large_list(arrow_type)
        or pa.types.is_fixed_size_list(arrow_type)
        or pa.types.is_struct(arrow_type)
        or pa.types.is_map(arrow_type)
        or pa.types.is_union(arrow_type)
    )
    if nested:
        return "SQLite holds no nested values (lists, structs, maps)"
    if _storage(arrow_type) is None:
        return f"SQLite has no exact place for {arrow_type}"
    return None


def _storage(arrow_type: pa.DataType) -> str | None:
    if pa.types.is_dictionary(arrow_type):
        return _storage(arrow_type.value_type)
    if pa.types.is_null(arrow_type):
        return ANY
    integral = (
        pa.types.is_integer(arrow_type)
        or pa.types.is_boolean(arrow_type)
        or pa.types.is_temporal(arrow_type)
    )
    if integral and not pa.types.is_interval(arrow_type):
        return INTEGER
    if pa.types.is_decimal128(arrow_type):
        return INTEGER if arrow_type.precision <= MAX_INTEGER_DIGITS else TEXT
    if pa.types.is_float32(arrow_type) or pa.types.is_float64(arrow_type):
        return REAL
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return TEXT
    binary = (
        pa.types.is_binary(arrow_type)
        or pa.types.is_large_binary(arrow_type)
        or pa.types.is_fixed_size_binary(arrow_type)
    )
    return BLOB if binary else None


@dataclass(frozen=True)
class Column:
    """One column of the copy: its Arrow field and how SQLite holds its values."""

    field: pa.Field

    @property
    def storage(self) -> str:
        storage = _storage(self.field.type)
        assert storage is not None, f"{self.field.type} was refused before it was stored"
        return storage

    @property
    def comparable(self) -> bool:
        """Whether SQLite compares the stored values as the engine compares the values."""
        return self.storage != TEXT or not pa.types.is_decimal(self.field.type)

    def encode(self, array: pa.Array) -> list[Any]:
        """The column's values as Python objects sqlite3 binds into the stored class."""
        arrow_type = self.field.type
        if pa.types.is_dictionary(arrow_type):
            array = array.cast(arrow_type.value_type)
            arrow_type = arrow_type.value_type
        if pa.types.is_decimal(arrow_type):
            if self.storage == TEXT:
                return array.cast(pa.string()).to_pylist()
            return _unscaled(array).to_pylist()
        if pa.types.is_floating(arrow_type):
            if pc.any(pc.is_nan(array)).as_py():
                raise Unstorable(
                    f"column {self.field.name} holds NaN, which SQLite stores as NULL; filter it "
                    "out (refresh_sql) or use engine: duckdb"
                )
            return array.cast(pa.float64()).to_pylist()
        if self.storage == INTEGER:
            return array.cast(_integers(arrow_type)).to_pylist()
        return array.to_pylist()

    @property
    def read_type(self) -> pa.DataType:
        """The Arrow type sqlite3's values of this column are first read into."""
        return {INTEGER: pa.int64(), REAL: pa.float64(), TEXT: pa.string(), BLOB: pa.binary()}.get(
            self.storage, pa.null()
        )

    def decode(self, stored: pa.Array) -> pa.Array:
        """The column's values from what SQLite gave back (an array of `read_type`)."""
        arrow_type = self.field.type
        value_type = arrow_type.value_type if pa.types.is_dictionary(arrow_type) else arrow_type
        if pa.types.is_decimal(value_type) and self.storage == INTEGER:
            array = _scaled(stored, value_type)
        elif self.storage == INTEGER:
            array = stored.cast(_integers(value_type)).cast(value_type)
        else:
            array = stored.cast(value_type)
        return array.cast(arrow_type) if array.type != arrow_type else array

    def literal(self, value: pa.Scalar) -> Any:
        """A literal, typed as the engine compares it with this column, as the value SQLite
        must compare the stored values with; Unstorable when there is no exact one."""
        arrow_type = self.field.type
        if pa.types.is_dictionary(arrow_type):
            arrow_type = arrow_type.value_type
        number = value.as_py()
        if pa.types.is_decimal(arrow_type):
            if isinstance(number, float) or not isinstance(number, int | Decimal):
                raise Unstorable(f"{number!r} is not an exact decimal")
            scaled = Decimal(number).scaleb(arrow_type.scale)
            if scaled != scaled.to_integral_value():
                raise Unstorable(f"{number} has more digits than {arrow_type} keeps")
            return int(scaled)
        if pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type):
            return number  # SQLite compares integers and reals by value
        try:
            typed = value.cast(arrow_type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
            raise Unstorable(str(error)) from None
        return Column(pa.field(self.field.name, arrow_type)).encode(pa.array([typed]))[0]


def columns(schema: pa.Schema) -> list[Column]:
    return [Column(field) for field in schema]


def _integers(arrow_type: pa.DataType) -> pa.DataType:
    """The integer type Arrow casts this type to and from without changing a value."""
    if pa.types.is_date32(arrow_type) or pa.types.is_time32(arrow_type):
        return pa.int32()
    return pa.int64()


def _unscaled(array: pa.Array) -> pa.Array:
    """A decimal128 array of at most 18 digits as its unscaled int64 values: the low word of
    each 128-bit value (the high word is only the sign)."""
    words = np.frombuffer(array.buffers()[1], dtype="<i8")
    low = words[2 * array.offset : 2 * (array.offset + len(array)) : 2]
    return pa.array(low, pa.int64(), mask=array.is_null().to_numpy(zero_copy_only=False))


def _scaled(unscaled: pa.Array, arrow_type: pa.DataType) -> pa.Array:
    """Unscaled int64 values as a decimal128 array: each becomes the low word of a 128-bit
    value whose high word is its sign."""
    low = unscaled.fill_null(0).to_numpy()
    words = np.empty(2 * len(low), dtype="<i8")
    words[0::2] = low
    words[1::2] = low >> 63
    validity = unscaled.is_valid().buffers()[1] if unscaled.null_count else None
    return pa.Array.from_buffers(
        arrow_type, len(low), [validity, pa.py_buffer(words)], unscaled.null_count
    )
