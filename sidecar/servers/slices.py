"""How much of a result an interface encodes and writes at once: about SLICE_BYTES of a batch.

A batch from the engine is up to 64K rows, which with wide rows is tens of megabytes. Encoded
whole, a client that stops reading held that batch's encoding in the transport and the next
one's being made, on top of the rows; encoded a slice at a time, with no slice taken before
the transport has drained the last, it holds about two slices' encoding besides the rows.
"""

from __future__ import annotations

import pyarrow as pa

SLICE_BYTES = 2 << 20  # as a Flight DoGet slices a batch


def slice_rows(batch: pa.RecordBatch) -> int:
    """The number of `batch`'s rows that make about SLICE_BYTES of Arrow data (at least one)."""
    rows = batch.num_rows
    if rows <= 1:
        return rows
    size = batch.nbytes
    if size <= SLICE_BYTES:
        return rows
    return max(1, rows * SLICE_BYTES // size)
