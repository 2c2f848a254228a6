"""What `RecordBatch.nbytes` says of a slice of a batch, worked out from the batch's offsets.

A key-index lookup is a slice of a few rows of one kept batch, and every statement counts its
bytes against max_bytes and in its audit line. pyarrow's `nbytes` of such a slice costs about
3 us a column (a tenth of a whole lookup on the event loop); the same number comes from the
validity bits and value offsets the slice spans, read here from numpy views made once per
batch. Columns of other layouts (nested, dictionary, views) are not sized here: `Sizer.of`
gives None for a batch holding one, and its slices are measured by pyarrow.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa

Size = Callable[[int, int], int]  # bytes of rows [start, stop) of one column


class Sizer:
    """The referenced bytes of any slice of one batch."""

    def __init__(self, columns: list[Size], width: int = 0) -> None:
        self._columns = columns
        self._width = width  # bytes a row of the fixed-width columns without validity takes

    @classmethod
    def of(cls, batch: pa.RecordBatch) -> Sizer | None:
        columns = []
        width = 0
        for array in batch.columns:
            size = _column(array)
            if size is None:
                return None
            if isinstance(size, int):
                width += size
            else:
                columns.append(size)
        return cls(columns, width)

    def size(self, start: int, stop: int) -> int:
        """`batch.slice(start, stop - start).nbytes`."""
        fixed = self._width * (stop - start)
        return (
            fixed + sum([column(start, stop) for column in self._columns])
            if self._columns
            else fixed
        )


def _column(array: pa.Array) -> Size | int | None:
    """How a column's slices are sized: a row's width where that is all there is to it."""
    kind = array.type
    if pa.types.is_dictionary(kind) or isinstance(kind, pa.BaseExtensionType):
        return None
    buffers = array.buffers()
    if len(buffers) < 2 or (buffers[0] is None and array.null_count):
        return None
    offset = array.offset
    bits = _bits(offset) if buffers[0] is not None else _nothing
    if pa.types.is_boolean(kind):
        return lambda start, stop: bits(start, stop) + _span(offset + start, stop - start)
    if pa.types.is_string(kind) or pa.types.is_binary(kind):
        return _variable(array, buffers, np.int32, 4, bits)
    if pa.types.is_large_string(kind) or pa.types.is_large_binary(kind):
        return _variable(array, buffers, np.int64, 8, bits)
    if len(buffers) != 2 or kind.num_fields or not _fixed(kind):
        return None
    width = kind.bit_width // 8
    if buffers[0] is None:
        return width
    return lambda start, stop: bits(start, stop) + width * (stop - start)


def _fixed(kind: pa.DataType) -> bool:
    try:
        return kind.bit_width % 8 == 0 and kind.bit_width > 0
    except ValueError:
        return False


def _variable(
    array: pa.Array, buffers: list[pa.Buffer | None], dtype: type, width: int, bits: Size
) -> Size:
    offsets = np.frombuffer(buffers[1], dtype=dtype)[array.offset : array.offset + len(array) + 1]
    at = offsets.item

    def size(start: int, stop: int) -> int:
        return bits(start, stop) + width * (stop - start) + at(stop) - at(start)

    return size


def _bits(offset: int) -> Size:
    return lambda start, stop: _span(offset + start, stop - start)


def _span(first: int, count: int) -> int:
    """The bytes a run of `count` bits from bit `first` touches."""
    return (first + count + 7) // 8 - first // 8


def _nothing(start: int, stop: int) -> int:
    return 0
