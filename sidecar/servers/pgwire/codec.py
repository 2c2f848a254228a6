"""Arrow record batches -> PostgreSQL DataRow messages, a column at a time.

A per-value Python encoder tops out around half a million rows a second, so nothing here loops
over values for the common types: each column becomes one Arrow binary array of its encoded
values (pyarrow.compute for text, big-endian numpy buffers for binary), and the DataRow messages
of a whole chunk are assembled by one `binary_join_element_wise` over the message header, each
column's length prefix and its values. The result is one contiguous buffer of wire bytes.

Only rare shapes (intervals as text, numeric in binary, structs as JSON) are formatted per value.
So is a result of a few rows (a point lookup), by values.py, whose encoders give the same bytes
as the ones here.
"""

from __future__ import annotations

import functools
import struct
import zoneinfo
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sidecar.servers.pgwire import messages, types
from sidecar.servers.pgwire.errors import DATETIME_OUT_OF_RANGE, PgError
from sidecar.servers.pgwire.types import Column
from sidecar.servers.pgwire.values import (
    BINARY,
    DAY_MILLIS,
    PG_EPOCH_DAYS,
    PG_EPOCH_MICROS,
    TEXT,
    UNFIT,
    UTC_NAMES,
    decimal_text,
    interval_text,
    intervals,
    json_text,
    numeric_binary,
    per_value,
    pg_float,
    pylist,
    utc_offset,
    zoned_text,
)

FEW_ROWS = 8  # a batch up to this many rows is encoded per value, when its types allow
# PostgreSQL's dates, in days from 1970-01-01: 4714-11-24 BC to 5874897-12-31
FIRST_DAY, LAST_DAY = -2_440_588, 2_145_042_905
FIRST_COMMON_DAY, LAST_COMMON_DAY = -719_162, 2_932_896  # 0001-01-01 and 9999-12-31
KEPT_SCHEMAS = 256
CHUNK_BYTES = 1 << 22
# Instants written by zoneinfo (_zoned_beyond_table): from 2038-01-01 up to 9999-01-01, before
# which any zone's wall clock is within Python's years.
TABLE_END = 2_145_916_800_000_000
YEAR_9999 = 253_370_764_800_000_000
HEX = np.array([list(f"{i:02x}".encode()) for i in range(256)], dtype=np.uint8)
_KEPT_COLUMNS: dict[int, tuple[pa.Schema, list[Column]]] = {}
# PostgreSQL quotes an array element holding any of these, or the word NULL, or nothing at all.
ARRAY_QUOTE = r'^$|^[Nn][Uu][Ll][Ll]$|[{}",\\\s]'


@dataclass
class Cells:
    """One column of a chunk as DataRow cells: each row's length (-1 for NULL) and its bytes."""

    lengths: np.ndarray
    values: pa.Array

    @classmethod
    def of(cls, encoded: pa.Array) -> Cells:
        encoded = _as_binary(encoded)
        lengths = pc.binary_length(encoded)
        if encoded.null_count:
            return cls(
                pc.fill_null(lengths, -1).to_numpy().astype(np.int32),
                pc.fill_null(encoded, pa.scalar(b"", encoded.type)),
            )
        return cls(lengths.to_numpy().astype(np.int32), encoded)

    def prefixes(self) -> pa.Array:
        return _fixed_width(self.lengths.astype(">i4").view(np.uint8), 4)


class RowEncoder:
    """Encodes one result's batches for one client: its column types, formats and time zone."""

    def __init__(self, schema: pa.Schema, formats: Sequence[int], timezone: str = "UTC") -> None:
        self.schema = schema
        self.columns = _columns(schema)
        self.formats = result_formats(formats, len(schema))
        self.timezone = timezone
        values = [
            per_value(field.type, column, fmt, timezone)
            for field, column, fmt in zip(schema, self.columns, self.formats, strict=True)
        ]
        fitted = [value for value in values if value is not None]
        self._values = fitted if len(fitted) == len(values) else None
        self._encoders = [value.encode for value in fitted]
        self._wrapped = [_wrapped(field.type) for field in schema]
        # whether rows' Python values (`to_pylist`'s) are what the encoders take as they are
        self._pylists = all(value.values is pylist for value in fitted)
        self._head = len(schema).to_bytes(2, "big")

    def fields(self) -> list[tuple[str, Column, int]]:
        return list(zip(self.schema.names, self.columns, self.formats, strict=True))

    @functools.cached_property
    def description(self) -> bytes:
        """The RowDescription message of these columns in these formats."""
        return messages.row_description(self.fields())

    def encode(self, batch: pa.RecordBatch) -> Iterator[pa.Buffer]:
        """DataRow messages for the batch, in chunks of about CHUNK_BYTES, ready to write."""
        if batch.num_rows == 0:
            return
        if self._values is not None and batch.num_rows <= FEW_ROWS:
            few = self._few(batch)
            if few is not None:
                yield pa.py_buffer(few)
                return
        cells = [
            self.cells(array, column, fmt)
            for array, column, fmt in zip(batch.columns, self.columns, self.formats, strict=True)
        ]
        sizes = np.full(batch.num_rows, 7, dtype=np.int64)
        for cell in cells:
            sizes += 4 + np.maximum(cell.lengths, 0)
        ends = np.cumsum(sizes)
        start = 0
        while start < batch.num_rows:
            base = ends[start - 1] if start else 0
            stop = max(int(np.searchsorted(ends, base + CHUNK_BYTES, side="right")), start + 1)
            yield _data_rows(sizes[start:stop], [_slice(c, start, stop) for c in cells])
            start = stop

    def small(
        self,
        count: int,
        batch: Callable[[], pa.RecordBatch],
        values: Callable[[], list[tuple[Any, ...]]] | None = None,
    ) -> bytes:
        """The DataRow messages of a small result of `count` rows (a lookup's answer) as one
        bytes object. `batch` gives its rows as Arrow; `values` as Python values where they are
        at hand cheaper than from a batch (pyrows.py), and the batch is then never made."""
        if self._values is not None and count <= FEW_ROWS:
            if values is not None and self._pylists:
                few = self._rows(values())
            else:
                few = self._few(batch())
            if few is not None:
                return few
        return b"".join(self.encode(batch()))

    def _few(self, batch: pa.RecordBatch) -> bytes | None:
        """The DataRow messages of a few rows, a value at a time; None when a value is one
        only the vectorised path writes (values.UNFIT)."""
        assert self._values is not None
        try:
            columns = [
                value.values(_plain(array) if wrapped else array)
                for value, wrapped, array in zip(
                    self._values, self._wrapped, batch.columns, strict=True
                )
            ]
        except UNFIT:
            return None
        return self._rows(zip(*columns, strict=True))

    def _rows(self, rows: Iterable[tuple[Any, ...]]) -> bytes | None:
        try:
            return b"".join([self._data_row(row) for row in rows])
        except UNFIT:
            return None

    def _data_row(self, row: tuple[Any, ...]) -> bytes:
        parts = [b"D", b"", self._head]
        size = 6
        for value, encode in zip(row, self._encoders, strict=True):
            if value is None:
                parts.append(NULL_CELL)
                size += 4
            else:
                data = encode(value)
                parts.append(_LENGTH.pack(len(data)))
                parts.append(data)
                size += 4 + len(data)
        parts[1] = _LENGTH.pack(size)
        return b"".join(parts)

    def cells(self, array: pa.Array, column: Column, fmt: int) -> Cells:
        array = _plain(array)
        if fmt == BINARY:
            if column.array:
                return Cells.of(_binary_array(array, column))
            return _binary(array, column)
        return Cells.of(text(array, column, self.timezone))


NULL_CELL = (-1).to_bytes(4, "big", signed=True)
_LENGTH = struct.Struct(">i")


def _columns(schema: pa.Schema) -> list[Column]:
    """Each field's column type, kept per schema object: a kept plan hands every execution
    the same schema, and the type of a column is looked up at Describe and again at Execute."""
    kept = _KEPT_COLUMNS.get(id(schema))
    if kept is not None and kept[0] is schema:
        return kept[1]
    columns = [types.field_column(field) for field in schema]
    if len(_KEPT_COLUMNS) >= KEPT_SCHEMAS:
        _KEPT_COLUMNS.clear()
    _KEPT_COLUMNS[id(schema)] = (schema, columns)
    return columns


def result_formats(formats: Sequence[int], count: int) -> list[int]:
    """Bind's result format codes: none means text, one applies to all, else one per column."""
    if not formats:
        return [TEXT] * count
    if len(formats) == 1:
        return [formats[0]] * count
    if len(formats) != count:
        raise ValueError(f"{len(formats)} result formats for {count} columns")
    return list(formats)


def _data_rows(sizes: np.ndarray, cells: list[Cells]) -> pa.Buffer:
    count = len(sizes)
    header = np.empty((count, 7), dtype=np.uint8)
    header[:, 0] = ord("D")
    header[:, 1:5] = (sizes - 1).astype(">i4").view(np.uint8).reshape(count, 4)
    header[:, 5:7] = np.array([len(cells)], dtype=">i2").view(np.uint8)
    parts: list[pa.Array] = [_fixed_width(header.reshape(-1), 7)]
    for cell in cells:
        parts += [cell.prefixes(), cell.values]
    joined = pc.binary_join_element_wise(*parts, b"")
    offsets = np.frombuffer(joined.buffers()[1], dtype=np.int32, count=count + 1)
    return joined.buffers()[2].slice(int(offsets[0]), int(offsets[-1] - offsets[0]))


def _slice(cells: Cells, start: int, stop: int) -> Cells:
    return Cells(cells.lengths[start:stop], cells.values.slice(start, stop - start))


def _fixed_width(data: np.ndarray, width: int) -> pa.Array:
    """A binary array over `data` cut into `width`-byte values, without copying it."""
    count = len(data) // width if width else 0
    offsets = np.arange(0, count * width + 1, width, dtype=np.int32)
    return pa.Array.from_buffers(
        pa.binary(), count, [None, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(data))]
    )


def _as_binary(array: pa.Array) -> pa.Array:
    if pa.types.is_binary(array.type):
        return array
    if pa.types.is_string(array.type):
        return array.view(pa.binary())
    return pc.cast(array, pa.binary())


def _wrapped(kind: pa.DataType) -> bool:
    """Whether arrays of this type stand for values of another (_plain)."""
    return isinstance(kind, pa.BaseExtensionType) or pa.types.is_dictionary(kind)


def _plain(array: pa.Array) -> pa.Array:
    """Dictionary and extension arrays as the values they stand for."""
    if isinstance(array.type, pa.BaseExtensionType):
        return array.storage
    if pa.types.is_dictionary(array.type):
        return array.dictionary_decode()
    return array


def _valid(array: pa.Array) -> np.ndarray | None:
    if not array.null_count:
        return None
    return array.is_valid().to_numpy(zero_copy_only=False)


# ---- text format -------------------------------------------------------------------------------


def text(array: pa.Array, column: Column, timezone: str) -> pa.Array:
    """PostgreSQL's text output for a column, as a string array with the column's NULLs."""
    kind = array.type
    if column.array:
        return _text_array(array, column, timezone)
    if column.type is types.BOOL:
        return pc.if_else(array, "t", "f")
    if pa.types.is_floating(kind):
        return _text_float(array)
    if pa.types.is_integer(kind):
        return pc.cast(array, pa.string())
    if pa.types.is_decimal(kind):
        return _text_decimal(array)
    if pa.types.is_date(kind):
        return _text_date(_dates(array))
    if types.is_string(kind):
        return array
    if column.type is types.UUID:
        return _text_uuid(array)
    if types.is_binary(kind):
        return _text_bytea(array)
    if pa.types.is_time(kind):
        return _trim_fraction(pc.cast(pc.cast(array, pa.time64("us"), safe=False), pa.string()))
    if pa.types.is_timestamp(kind):
        return _text_timestamp(array, timezone)
    if pa.types.is_duration(kind):
        return _per_value(pc.cast(array, pa.duration("us"), safe=False), interval_text)
    if column.type is types.INTERVAL:
        return _per_value(array, interval_text)
    if column.type is types.JSON:
        return _per_value(array, json_text)
    return pc.cast(array, pa.string())


def _text_float(array: pa.Array) -> pa.Array:
    """Shortest round-trip digits, in PostgreSQL's notation (1e-05, 1e+15, Infinity, NaN)."""
    single = array.type != pa.float64()
    if array.type == pa.float16():
        array = pc.cast(array, pa.float32())
    result = pc.cast(array, pa.string())
    values = pc.fill_null(array, 0).to_numpy()
    finite = np.isfinite(values)
    if not finite.all():
        result = pc.if_else(pc.is_nan(array), "NaN", result)
        result = pc.if_else(pc.and_(pc.is_inf(array), pc.greater(array, 0)), "Infinity", result)
        result = pc.if_else(pc.and_(pc.is_inf(array), pc.less(array, 0)), "-Infinity", result)
    magnitude = np.abs(np.where(finite, values, 1))
    wants_exponent = (magnitude != 0) & (
        (magnitude < 1e-4) | (magnitude >= (1e6 if single else 1e15))
    )
    has_exponent = pc.match_substring(result, "e").to_numpy(zero_copy_only=False)
    has_exponent = np.asarray(has_exponent, dtype=bool) & finite
    if has_exponent.any():
        result = pc.replace_substring_regex(result, r"e([-+])(\d)$", r"e\10\2")
    wrong = (wants_exponent != has_exponent) & finite
    valid = _valid(array)
    if valid is not None:
        wrong &= valid
    if wrong.any():
        kind = np.float32 if single else np.float64
        fixed = [pg_float(kind(value), single) for value in values[wrong]]
        result = pc.replace_with_mask(result, pa.array(wrong), pa.array(fixed, pa.string()))
    return result


def _trim_fraction(strings: pa.Array) -> pa.Array:
    """'12:00:00.500000' -> '12:00:00.5' and '12:00:00.000000' -> '12:00:00', like PostgreSQL."""
    return pc.utf8_rtrim(pc.utf8_rtrim(strings, characters="0"), characters=".")


def _text_timestamp(array: pa.Array, timezone: str) -> pa.Array:
    micros = pc.cast(array, pa.timestamp("us", tz=array.type.tz), safe=False)
    if array.type.tz is None:
        return _trim_fraction(pc.cast(micros, pa.string()))
    if timezone.lower() in UTC_NAMES:
        wall = pc.cast(micros, pa.timestamp("us"))
        return pc.binary_join_element_wise(_trim_fraction(pc.cast(wall, pa.string())), "+00", "")
    wall = pc.local_timestamp(pc.cast(micros, pa.timestamp("us", tz=timezone)))
    offsets = (
        pc.fill_null(pc.cast(wall, pa.int64()), 0).to_numpy()
        - pc.fill_null(pc.cast(micros, pa.int64()), 0).to_numpy()
    ) // 1_000_000
    distinct, index = np.unique(offsets, return_inverse=True)
    suffix = pa.array([utc_offset(int(seconds)) for seconds in distinct]).take(pa.array(index))
    stamped = _trim_fraction(pc.cast(wall, pa.string()))
    return _zoned_beyond_table(pc.binary_join_element_wise(stamped, suffix, ""), micros, timezone)


def _zoned_beyond_table(result: pa.Array, micros: pa.Array, timezone: str) -> pa.Array:
    """Instants from 2038 on written by zoneinfo: Arrow's time zone database ends with the
    zone's table of transitions (2037) and keeps its last offset after it, where PostgreSQL
    (and zoneinfo) follow the zone's rule on (Berlin's summers stay +02)."""
    raw = pc.cast(micros, pa.int64())
    late = pc.fill_null(pc.and_(pc.greater_equal(raw, TABLE_END), pc.less(raw, YEAR_9999)), False)
    if not pc.any(late).as_py():
        return result
    render = zoned_text(zoneinfo.ZoneInfo(timezone))
    fixed = [render(value).decode() for value in raw.filter(late).to_pylist()]
    return pc.replace_with_mask(result, late, pa.array(fixed, pa.string()))


def _text_decimal(array: pa.Array) -> pa.Array:
    """Arrow writes a decimal below 1e-6 (with a scale over 6) or of a negative scale with an
    exponent (1E-7, 1.20E+4); PostgreSQL never does."""
    result = pc.cast(array, pa.string())
    if 0 <= array.type.scale <= 6:
        return result
    exponent = pc.fill_null(pc.match_substring(result, "E"), False)
    if not pc.any(exponent).as_py():
        return result
    fixed = [decimal_text(value) for value in array.filter(exponent).to_pylist()]
    return pc.replace_with_mask(result, exponent, pa.array(fixed, pa.string()))


def _contiguous(array: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Offsets (rebased to 0) and bytes of a binary array, nulls as empty values."""
    array = pc.fill_null(_as_binary(array), b"") if array.null_count else _as_binary(array)
    if pa.types.is_fixed_size_binary(array.type):
        array = pc.cast(array, pa.binary())
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int32)[
        array.offset : array.offset + len(array) + 1
    ]
    data = np.frombuffer(array.buffers()[2] or b"", dtype=np.uint8)[offsets[0] : offsets[-1]]
    return offsets - offsets[0], data


def _text_bytea(array: pa.Array) -> pa.Array:
    offsets, data = _contiguous(array)
    hexed = HEX[data].reshape(-1)
    digits = pa.Array.from_buffers(
        pa.binary(),
        len(array),
        [None, pa.py_buffer((offsets * 2).astype(np.int32)), pa.py_buffer(hexed)],
    )
    return _with_nulls(pc.binary_join_element_wise(b"\\x", digits, b""), array)


def _text_uuid(array: pa.Array) -> pa.Array:
    raw = _uuid_bytes(array)
    hexed = HEX[raw].reshape(-1, 32)
    dashed = np.full((len(array), 36), ord("-"), dtype=np.uint8)
    for source, target, width in ((0, 0, 8), (8, 9, 4), (12, 14, 4), (16, 19, 4), (20, 24, 12)):
        dashed[:, target : target + width] = hexed[:, source : source + width]
    return _with_nulls(_fixed_width(dashed.reshape(-1), 36), array)


def _uuid_bytes(array: pa.Array) -> np.ndarray:
    """A UUID array's 16 bytes a row, NULLs as zeros (fill_null's copy starts at offset 0)."""
    filled = pc.fill_null(array, b"\0" * 16) if array.null_count else array
    raw = np.frombuffer(filled.buffers()[1], dtype=np.uint8)
    return raw[filled.offset * 16 : (filled.offset + len(filled)) * 16].reshape(-1, 16)


def _with_nulls(result: pa.Array, original: pa.Array) -> pa.Array:
    if not original.null_count:
        return result
    return pc.if_else(original.is_valid(), result, pa.scalar(None, result.type))


def _text_array(array: pa.Array, column: Column, timezone: str) -> pa.Array:
    """'{1,2,NULL}' and '{"a b",c}': elements encoded together, then joined per list."""
    lists = _as_list(array)
    offsets = np.frombuffer(lists.offsets.buffers()[1], dtype=np.int32)[
        lists.offset : lists.offset + len(lists) + 1
    ]
    values = _plain(lists.values.slice(offsets[0], offsets[-1] - offsets[0]))
    element = Column(column.type)
    strings = pc.cast(text(values, element, timezone), pa.string())
    quoted = pc.binary_join_element_wise(
        '"', pc.replace_substring_regex(strings, r'(["\\])', r"\\\1"), '"', ""
    )
    strings = pc.if_else(pc.match_substring_regex(strings, ARRAY_QUOTE), quoted, strings)
    strings = pc.fill_null(strings, "NULL")
    joined = pc.binary_join(
        pa.ListArray.from_arrays(pa.array(offsets - offsets[0], pa.int32()), strings), ","
    )
    return _with_nulls(pc.binary_join_element_wise("{", joined, "}", ""), array)


def _as_list(array: pa.Array) -> pa.ListArray:
    if pa.types.is_list(array.type):
        return array
    return pc.cast(array, pa.list_(array.type.value_type))


def _per_value(array: pa.Array, render: Callable[[Any], str]) -> pa.Array:
    return pa.array(
        [None if value is None else render(value) for value in array.to_pylist()], pa.string()
    )


# ---- binary format -----------------------------------------------------------------------------


def _binary(array: pa.Array, column: Column) -> Cells:
    """PostgreSQL's binary send format: fixed-width types straight from numpy, big-endian."""
    kind = array.type
    pg = column.type
    if pg is types.BOOL:
        return _fixed_cells(pc.fill_null(array, False).to_numpy(zero_copy_only=False), "u1", array)
    if pg in (types.INT2, types.INT4, types.INT8, types.OID, types.FLOAT4, types.FLOAT8):
        width = {types.INT2: ">i2", types.INT4: ">i4", types.INT8: ">i8", types.OID: ">u4"}.get(pg)
        width = width or (">f4" if pg is types.FLOAT4 else ">f8")
        source = pc.cast(array, pa.float32()) if kind == pa.float16() else array
        return _fixed_cells(pc.fill_null(source, 0).to_numpy(), width, array)
    if pg is types.DATE:
        days = pc.cast(_dates(array), pa.int32())
        return _fixed_cells(pc.fill_null(days, 0).to_numpy() - PG_EPOCH_DAYS, ">i4", array)
    if pg is types.TIME:
        micros = pc.cast(pc.cast(array, pa.time64("us"), safe=False), pa.int64())
        return _fixed_cells(pc.fill_null(micros, 0).to_numpy(), ">i8", array)
    if pg in (types.TIMESTAMP, types.TIMESTAMPTZ):
        micros = pc.cast(pc.cast(array, pa.timestamp("us", tz=kind.tz), safe=False), pa.int64())
        return _fixed_cells(pc.fill_null(micros, 0).to_numpy() - PG_EPOCH_MICROS, ">i8", array)
    if pg is types.INTERVAL:
        return _binary_interval(array)
    if pg is types.UUID:
        return _uuid_cells(array)
    if pg is types.NUMERIC:
        return Cells.of(_per_value_bytes(array, numeric_binary))
    if pg is types.JSON and not types.is_string(kind):
        return Cells.of(_per_value_bytes(array, lambda v: json_text(v).encode()))
    return Cells.of(array)


def _fixed_cells(values: np.ndarray, dtype: str, original: pa.Array) -> Cells:
    encoded = np.ascontiguousarray(values.astype(dtype)).view(np.uint8)
    width = np.dtype(dtype).itemsize
    valid = _valid(original)
    if valid is None:
        return Cells(np.full(len(values), width, dtype=np.int32), _fixed_width(encoded, width))
    return _masked_cells(encoded.reshape(-1, width), valid)


def _masked_cells(rows: np.ndarray, valid: np.ndarray) -> Cells:
    """Fixed-width rows with NULLs taking no bytes."""
    width = rows.shape[1]
    lengths = np.where(valid, width, -1).astype(np.int32)
    offsets = np.concatenate([[0], np.cumsum(np.where(valid, width, 0))]).astype(np.int32)
    data = np.ascontiguousarray(rows[valid]).reshape(-1)
    values = pa.Array.from_buffers(
        pa.binary(), len(valid), [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )
    return Cells(lengths, values)


def _binary_interval(array: pa.Array) -> Cells:
    """int64 microseconds, int32 days, int32 months."""
    count = len(array)
    rows = np.zeros((count, 16), dtype=np.uint8)
    if pa.types.is_duration(array.type):
        micros = pc.cast(pc.cast(array, pa.duration("us"), safe=False), pa.int64())
        rows[:, :8] = pc.fill_null(micros, 0).to_numpy().astype(">i8").view(np.uint8).reshape(-1, 8)
    else:
        parts = np.array(
            [
                (0, 0, 0) if v is None else (v.months, v.days, v.nanoseconds)
                for v in intervals(array)
            ],
            dtype=np.int64,
        ).reshape(count, 3)
        rows[:, :8] = (parts[:, 2] // 1000).astype(">i8").view(np.uint8).reshape(-1, 8)
        rows[:, 8:12] = parts[:, 1].astype(">i4").view(np.uint8).reshape(-1, 4)
        rows[:, 12:16] = parts[:, 0].astype(">i4").view(np.uint8).reshape(-1, 4)
    valid = _valid(array)
    if valid is None:
        return Cells(np.full(count, 16, dtype=np.int32), _fixed_width(rows.reshape(-1), 16))
    return _masked_cells(rows, valid)


def _uuid_cells(array: pa.Array) -> Cells:
    if not pa.types.is_fixed_size_binary(array.type):
        return Cells.of(array)
    rows = _uuid_bytes(array)
    valid = _valid(array)
    if valid is None:
        return Cells(np.full(len(array), 16, dtype=np.int32), _fixed_width(rows.reshape(-1), 16))
    return _masked_cells(rows, valid)


def _per_value_bytes(array: pa.Array, render: Callable[[Any], bytes]) -> pa.Array:
    return pa.array(
        [None if value is None else render(value) for value in array.to_pylist()], pa.binary()
    )


def _binary_array(array: pa.Array, column: Column) -> pa.Array:
    """ndim, has-null flag, element OID, then (length, lower bound) and the elements' cells."""
    lists = _as_list(array)
    offsets = np.frombuffer(lists.offsets.buffers()[1], dtype=np.int32)[
        lists.offset : lists.offset + len(lists) + 1
    ]
    values = _plain(lists.values.slice(offsets[0], offsets[-1] - offsets[0]))
    offsets = offsets - offsets[0]
    cells = _binary(values, Column(column.type))
    elements = pc.binary_join_element_wise(cells.prefixes(), cells.values, b"")
    body = pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), elements), b"")
    lengths = np.diff(offsets)
    nulls = np.concatenate([[0], np.cumsum(cells.lengths < 0)])
    has_null = (nulls[offsets[1:]] - nulls[offsets[:-1]]) > 0
    header = np.zeros((len(lengths), 5), dtype=">i4")
    header[:, 0] = lengths > 0
    header[:, 1] = has_null
    header[:, 2] = column.type.oid
    header[:, 3] = lengths
    header[:, 4] = 1
    keep = np.ones((len(lengths), 20), dtype=bool)
    keep[:, 12:] = (lengths > 0)[:, None]
    data = header.view(np.uint8).reshape(-1, 20)[keep]
    starts = np.concatenate([[0], np.cumsum(np.where(lengths > 0, 20, 12))]).astype(np.int32)
    heads = pa.Array.from_buffers(
        pa.binary(), len(lengths), [None, pa.py_buffer(starts), pa.py_buffer(data)]
    )
    return _with_nulls(pc.binary_join_element_wise(heads, pc.fill_null(body, b""), b""), array)


def timezone_valid(name: str) -> bool:
    if name.lower() in UTC_NAMES:
        return True
    try:
        zoneinfo.ZoneInfo(name)
        pa.scalar(0, pa.timestamp("us", tz=name))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, pa.ArrowInvalid):
        return False
    return True


def _text_date(days: pa.Array) -> pa.Array:
    """PostgreSQL's text of dates: Arrow's where it writes the same (years 1 to 9999), else
    PostgreSQL's own, `0044-03-15 BC` for year -43 (Arrow wrote `-0043-03-15`, year 0 for
    1 BC, and `<value out of range: ...>` past year 262143)."""
    numbers = pc.cast(days, pa.int32())
    low, high = (bound.as_py() for bound in pc.min_max(numbers).values())
    if low is None or FIRST_COMMON_DAY <= low <= high <= LAST_COMMON_DAY:
        return pc.cast(days, pa.string())
    return pa.array([None if day is None else _date_words(day) for day in numbers.to_pylist()])


def _date_words(day: int) -> str:
    """The proleptic Gregorian date `day` days from 1970-01-01 (H. Hinnant's civil_from_days),
    as PostgreSQL writes it."""
    shifted = day + 719_468  # days from 0000-03-01
    era, of_era = divmod(shifted, 146_097)
    year_of_era = (of_era - of_era // 1460 + of_era // 36_524 - of_era // 146_096) // 365
    of_year = of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    shifted_month = (5 * of_year + 2) // 153
    date = of_year - (153 * shifted_month + 2) // 5 + 1
    month = shifted_month + 3 if shifted_month < 10 else shifted_month - 9
    year = year_of_era + era * 400 + (month <= 2)
    if year > 0:
        return f"{year:04d}-{month:02d}-{date:02d}"
    return f"{1 - year:04d}-{month:02d}-{date:02d} BC"


def _dates(array: pa.Array) -> pa.Array:
    """A date column as days: a date64 as the day its milliseconds fall in, as PostgreSQL casts
    a timestamp to a date. Arrow allows date64 values that are not whole days (a source's date
    with its time, `arrow_cast(86400001, 'Date64')`), which a date cast refused as lossy: an
    internal error. A day outside PostgreSQL's dates is its error, 22008."""
    if pa.types.is_date32(array.type):
        return array
    millis = pc.fill_null(pc.cast(array, pa.int64()), 0).to_numpy()
    days = millis // DAY_MILLIS
    if len(days) and (days.min() < FIRST_DAY or days.max() > LAST_DAY):
        raise PgError(DATETIME_OUT_OF_RANGE, "date out of range")
    return pa.array(days.astype(np.int32), pa.date32(), mask=array.is_null().to_numpy(False))
