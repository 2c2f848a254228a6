"""Record batch streams as sources hand them to the engine."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from concurrent.futures import ThreadPoolExecutor

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


def read_ahead(batches: Generator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Decode the next batch on a worker while the consumer encodes and sends this one.

    A reader that decodes in the caller's pull (`ParquetFile.iter_batches`) otherwise leaves
    the consumer's work and the decode in turn on one thread: the Postgres wire streamed a file
    about 7% slower so. Decoding releases the GIL, so the two overlap. One batch ahead only,
    so memory stays one batch above the consumer's; closing the stream waits for that batch
    and closes the source."""
    worker = ThreadPoolExecutor(1, thread_name_prefix="read-ahead")
    try:
        ahead = worker.submit(next, batches, None)
        while (batch := ahead.result()) is not None:
            ahead = worker.submit(next, batches, None)
            yield batch
    finally:
        worker.shutdown(wait=True)
        batches.close()
