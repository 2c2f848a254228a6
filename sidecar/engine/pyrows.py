"""A record batch's rows as Python values, read a row at a time from its buffers.

A key-index lookup answers one row of a large batch, and the servers then want its values as
Python objects (`to_pylist`'s). pyarrow gives them at a cost of about a microsecond per
wrapper it makes: the slice, each column of it, each list. Here each column is read once into
numpy views of its buffers when the batch is made, and a row's values are then plain indexing:
a fifth of what the wrappers cost for a three-column row.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa

Read = Callable[[int], Any]


class PyRows:
    """The rows of one batch as `to_pylist` has them (an extension type's as its storage's),
    by position."""

    def __init__(self, reads: list[Read]) -> None:
        self._reads = reads

    @classmethod
    def of(cls, batch: pa.RecordBatch) -> PyRows:
        return cls([_read(batch.column(i)) for i in range(batch.num_columns)])

    def rows(self, start: int, stop: int) -> list[tuple[Any, ...]]:
        """The values of rows `start` up to `stop`, one tuple a row."""
        reads = self._reads
        if stop == start + 1:
            return [tuple([read(start) for read in reads])]
        return [tuple([read(row) for read in reads]) for row in range(start, stop)]


def _read(array: pa.Array) -> Read:
    """How one column's value at a row is read: from views of its buffers, never a copy (a
    key index may hold millions of rows)."""
    if isinstance(array.type, pa.BaseExtensionType):
        array = array.storage  # as the encoders read it (pgwire codec's _plain)
    kind = array.type
    buffers = array.buffers()
    if pa.types.is_integer(kind) or kind in (pa.float32(), pa.float64()):
        read = np.frombuffer(buffers[1], dtype=kind.to_pandas_dtype())[array.offset :].item
    elif kind == pa.bool_():
        read = _bit(buffers[1], array.offset)
    elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
        read = _text(array)
    elif pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        read = _bytes(array)
    else:
        return _scalar(array)
    if not array.null_count:
        return read
    valid = _bit(buffers[0], array.offset)
    return lambda row: read(row) if valid(row) else None


def _bit(buffer: pa.Buffer, offset: int) -> Callable[[int], bool]:
    """Bit `offset + row` of a bitmap (validity, or a boolean column's values)."""
    bits = memoryview(buffer)
    return lambda row: bool(bits[(offset + row) >> 3] >> ((offset + row) & 7) & 1)


def _offsets(array: pa.Array) -> tuple[np.ndarray, memoryview]:
    buffers = array.buffers()
    large = pa.types.is_large_string(array.type) or pa.types.is_large_binary(array.type)
    dtype = np.int64 if large else np.int32
    offsets = np.frombuffer(buffers[1], dtype=dtype)[array.offset : array.offset + len(array) + 1]
    data = memoryview(buffers[2]) if buffers[2] is not None else memoryview(b"")
    return offsets, data


def _text(array: pa.Array) -> Read:
    offsets, data = _offsets(array)
    starts = offsets.item
    return lambda row: str(data[starts(row) : starts(row + 1)], "utf-8")


def _bytes(array: pa.Array) -> Read:
    offsets, data = _offsets(array)
    starts = offsets.item
    return lambda row: bytes(data[starts(row) : starts(row + 1)])


def _scalar(array: pa.Array) -> Read:
    """Any other type as pyarrow's scalar gives it (what `to_pylist` gives, a value at a
    time)."""
    return lambda row: array[row].as_py()
