"""Record batch streams as sources hand them to the engine."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa


def limit_batches(batches: Iterator[pa.RecordBatch], limit: int | None) -> Iterator[pa.RecordBatch]:
    """Stop pulling from the source as soon as `limit` rows are out, and close it, so that the
    files behind a `LIMIT 10` are left unread (and an API's later pages unfetched)."""
    try:
        remaining = limit
        while remaining is None or remaining > 0:
            batch = next(batches, None)
            if batch is None:
                return
            if batch.num_rows == 0:
                continue
            if remaining is not None:
                batch = batch.slice(0, remaining)
                remaining -= batch.num_rows
            yield batch
    finally:
        close = getattr(batches, "close", None)
        if close is not None:
            close()
