"""Result encodings for the HTTP API, each turning record batches into body chunks as they come."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import math
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from sidecar.servers.slices import slice_rows

ARROW = "application/vnd.apache.arrow.stream"
JSON = "application/json"
NDJSON = "application/x-ndjson"
CSV = "text/csv"
MEDIA_TYPES = (JSON, ARROW, CSV, NDJSON)
SECOND_NANOSECONDS = 1_000_000_000
DAY_NANOSECONDS = 86_400 * SECOND_NANOSECONDS


def negotiate(accept: str | None) -> str | None:
    """The media type we produce that the client prefers (RFC 9110: by its `q` weights, then
    in the order written; `q=0` means "not this"); JSON when it doesn't care."""
    if not accept:
        return JSON
    for media in _by_preference(accept):
        if media in MEDIA_TYPES:
            return media
        if media in ("*/*", "application/*"):
            return JSON
        if media == "text/*":
            return CSV
    return None


def _by_preference(accept: str) -> list[str]:
    ranked = []
    for order, part in enumerate(accept.split(",")):
        media, *parameters = (piece.strip() for piece in part.split(";"))
        weight = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if weight > 0:  # NaN too is no preference
            ranked.append((-weight, order, media.lower()))
    return [media for _, _, media in sorted(ranked)]


def encode(media: str, schema: pa.Schema, batches: Iterator[pa.RecordBatch]) -> Iterator[bytes]:
    encoders = {ARROW: _arrow, JSON: _json, NDJSON: _ndjson, CSV: _csv}
    return encoders[media](schema, _slices(batches))


def _slices(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Each batch in pieces of about SLICE_BYTES (views, not copies). A piece is encoded and
    handed to the transport, which waits for the client before taking the next: a client
    reading slowly holds one piece's encoding. Whole batches (64K rows, up to a quarter of
    runtime.memory_limit) held ~480 MB of rows, JSON text and transport buffer per waiting
    client, so a few slow readers outgrew a pod's memory."""
    for batch in batches:
        rows = slice_rows(batch)
        if rows == batch.num_rows:
            yield batch
            continue
        for start in range(0, batch.num_rows, rows):
            yield batch.slice(start, rows)


def _arrow(schema: pa.Schema, batches: Iterator[pa.RecordBatch]) -> Iterator[bytes]:
    chunks = _Chunks()
    writer = pa.ipc.new_stream(pa.PythonFile(chunks, mode="w"), schema)
    yield chunks.take()
    for batch in batches:
        writer.write_batch(batch)
        yield chunks.take()
    writer.close()
    yield chunks.take()


class _Chunks(io.RawIOBase):
    """A sink the IPC writer fills and the response drains per batch, so memory stays bounded."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data = b"".join(self.parts)
        self.parts.clear()
        return data


def _json(schema: pa.Schema, batches: Iterator[pa.RecordBatch]) -> Iterator[bytes]:
    yield b"["
    first = True
    for batch in batches:
        rows = _durations_as_text(batch).to_pylist()
        if not rows:
            continue
        body = ",".join(_dumps(row) for row in rows)
        yield (body if first else "," + body).encode()
        first = False
    yield b"]"


def _ndjson(schema: pa.Schema, batches: Iterator[pa.RecordBatch]) -> Iterator[bytes]:
    for batch in batches:
        rows = _durations_as_text(batch).to_pylist()
        if rows:
            yield ("\n".join(_dumps(row) for row in rows) + "\n").encode()


def _csv(schema: pa.Schema, batches: Iterator[pa.RecordBatch]) -> Iterator[bytes]:
    header = True
    for batch in batches:
        sink = pa.BufferOutputStream()
        pacsv.write_csv(
            _csv_columns(_durations_as_text(batch)), sink, pacsv.WriteOptions(include_header=header)
        )
        header = False
        yield sink.getvalue().to_pybytes()
    if header:
        yield (",".join(json.dumps(name) for name in schema.names) + "\n").encode()


def _csv_columns(batch: pa.RecordBatch) -> pa.RecordBatch:
    """`batch` with each column Arrow's CSV writer cannot write as text (bytes that are not
    UTF-8 made it fail, nested values and string views it refuses) as the strings
    the JSON encoding has for them: bytes in base64, the rest as JSON text."""
    if all(_csv_writable(field.type) for field in batch.schema):
        return batch
    arrays = [
        column if _csv_writable(column.type) else pa.array(map(_csv_text, column.to_pylist()))
        for column in batch.columns
    ]
    return pa.record_batch(arrays, names=batch.schema.names)


def _csv_writable(data_type: pa.DataType) -> bool:
    if pa.types.is_dictionary(data_type):
        return _csv_writable(data_type.value_type)
    return not (
        pa.types.is_binary(data_type)
        or pa.types.is_large_binary(data_type)
        or pa.types.is_fixed_size_binary(data_type)
        or pa.types.is_binary_view(data_type)
        or pa.types.is_string_view(data_type)
        or pa.types.is_nested(data_type)
    )


def _durations_as_text(batch: pa.RecordBatch) -> pa.RecordBatch:
    """`batch` with its intervals and durations as ISO 8601 durations (`iso_duration`)."""
    if not any(_is_duration(field.type) for field in batch.schema):
        return batch
    arrays = [
        pa.array(map(iso_duration, _parts(column)), pa.string())
        if _is_duration(column.type)
        else column
        for column in batch.columns
    ]
    return pa.record_batch(arrays, names=batch.schema.names)


def _is_duration(data_type: pa.DataType) -> bool:
    return pa.types.is_interval(data_type) or pa.types.is_duration(data_type)


def _parts(array: pa.Array) -> Iterator[tuple[int, int, int] | None]:
    """Each value as (months, days, nanoseconds); a duration (what subtracting timestamps
    gives) in whole days and the rest, as PostgreSQL's `timestamp - timestamp` has it."""
    if pa.types.is_interval(array.type):
        for value in array.cast(pa.month_day_nano_interval()).to_pylist():
            yield None if value is None else (value.months, value.days, value.nanoseconds)
        return
    per_unit = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}[array.type.unit]
    for value in array.cast(pa.int64()).to_pylist():
        if value is None:
            yield None
            continue
        days, rest = _truncated(value * per_unit, DAY_NANOSECONDS)
        yield 0, days, rest


def iso_duration(parts: tuple[int, int, int] | None) -> str | None:
    """(months, days, nanoseconds) as an ISO 8601 duration, `P1Y2M3DT4H5M6.5S`, written as
    PostgreSQL writes intervals under `IntervalStyle iso_8601` (each part with its own sign:
    `P-1DT2H`; zero is `PT0S`): the text JSON clients parse durations from (Java's
    `Duration`/`Period`, Python's isodate, JavaScript's Temporal), as timestamps are ISO 8601."""
    if parts is None:
        return None
    months, days, nanoseconds = parts
    years, months = _truncated(months, 12)
    hours, rest = _truncated(nanoseconds, 3600 * SECOND_NANOSECONDS)
    minutes, rest = _truncated(rest, 60 * SECOND_NANOSECONDS)
    date = "".join(f"{n}{unit}" for n, unit in ((years, "Y"), (months, "M"), (days, "D")) if n)
    clock = "".join(f"{n}{unit}" for n, unit in ((hours, "H"), (minutes, "M")) if n)
    if rest:
        seconds, fraction = divmod(abs(rest), SECOND_NANOSECONDS)
        decimals = f".{fraction:09d}".rstrip("0") if fraction else ""
        clock += f"{'-' if rest < 0 else ''}{seconds}{decimals}S"
    if not date and not clock:
        return "PT0S"
    return f"P{date}{'T' + clock if clock else ''}"


def _truncated(value: int, unit: int) -> tuple[int, int]:
    """How many whole `unit`s `value` holds and what is left, both with `value`'s sign (C's
    division, as PostgreSQL splits an interval into its parts)."""
    whole = abs(value) // unit * (-1 if value < 0 else 1)
    return whole, value - whole * unit


def _csv_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return json.dumps(_finite(value), default=_json_default, separators=(",", ":"))


def _dumps(row: dict[str, Any]) -> str:
    if any(isinstance(v, float) and not math.isfinite(v) for v in row.values()):
        row = {key: _finite(value) for key, value in row.items()}
    return json.dumps(row, default=_json_default, separators=(",", ":"))


def _finite(value: Any) -> Any:
    """JSON has no NaN or Infinity; they travel as strings, as PostgreSQL's JSON output does."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value).replace("inf", "Infinity").replace("nan", "NaN")
    return value


def _json_default(value: Any) -> Any:
    """JSON for what json.dumps does not know. A decimal travels as a string of its exact
    digits at the column's scale ("12345678901234567890.1234567890"), as Trino's, BigQuery's
    and Snowflake's JSON answers have it: as a JSON number, every common parser (JSON.parse,
    Python's json, Go's encoding/json) reads it into a double and silently drops digits past
    the 15th or 16th."""
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f") if value.is_finite() else str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, tuple):
        return list(value)
    return str(value)
