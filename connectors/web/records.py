"""A JSON API's records as Arrow: where they are in a response, and the table they make.

The API's shape may change from page to page, so a schema is inferred from a whole page (not
its first record) and every later page is fitted to it, field by field, with safe casts only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from connectors.base import SourceError
from connectors.web.jsonpath import JsonPath
from connectors.web.redact import excerpt

CONVERSION_ERRORS = (pa.ArrowException, TypeError, ValueError, OverflowError)


def infer_schema(records: Sequence[Mapping[str, Any]]) -> pa.Schema:
    """The schema of one page, unified across its records rather than taken from the first.

    Every field of every record is kept (absent ones become nulls), and Arrow unifies the
    values of a column the way JSON readers do: int and float make double, objects make structs
    whose fields are the union of their keys.
    """
    names = dict.fromkeys(name for record in records for name in record)
    return pa.schema(
        [pa.field(name, _infer_type([record.get(name) for record in records])) for name in names]
    )


def _infer_type(values: list[Any]) -> pa.DataType:
    """A column's type; values Arrow cannot unify (say, 1 and "a") make a text column."""
    try:
        inferred = pa.array(values).type
    except CONVERSION_ERRORS:
        return pa.string()
    return _settled(inferred)


def _settled(data_type: pa.DataType) -> pa.DataType:
    """Replace types that later pages could not fit into with text.

    A column (or struct field, or list item) that is null on the first page, or an empty
    object, says nothing about what comes next; text accepts any JSON value.
    """
    if pa.types.is_null(data_type):
        return pa.string()
    if pa.types.is_struct(data_type):
        if data_type.num_fields == 0:
            return pa.string()
        return pa.struct([field.with_type(_settled(field.type)) for field in data_type])
    if pa.types.is_list(data_type):
        return pa.list_(data_type.value_field.with_type(_settled(data_type.value_type)))
    return data_type


def to_batch(records: Sequence[Mapping[str, Any]], schema: pa.Schema, page: int) -> pa.RecordBatch:
    """Fit a page into the dataset's schema: absent fields are null, extra fields dropped."""
    columns = [
        _column([record.get(field.name) for record in records], field, page) for field in schema
    ]
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def _column(values: list[Any], field: pa.Field, page: int) -> pa.Array:
    """Convert by inferring then casting safely, so 2.0 fits a bigint but 2.5 is an error.

    Converting straight to the target type would silently truncate floats into integers.
    A safe cast also turns ISO-8601 strings into timestamps and numeric strings into numbers,
    which is what a declared schema over JSON usually needs. A column Arrow cannot infer as a
    whole mixes JSON types, so its values are fitted one by one to name the one that fails.
    """
    try:
        return _cast(pa.array(values), field.type)
    except CONVERSION_ERRORS:
        return pa.concat_arrays([_value(value, field, page) for value in values])


def _value(value: Any, field: pa.Field, page: int) -> pa.Array:
    try:
        return _cast(pa.array([value]), field.type)
    except CONVERSION_ERRORS:
        if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            return pa.array([_text(value)], type=field.type)
    raise SourceError(
        f"field '{field.name}' on page {page}: value {excerpt(json.dumps(value))} does not "
        f"fit type {field.type}",
        hint="declare the column with a type that fits in the dataset's columns:",
    )


def _cast(array: pa.Array, data_type: pa.DataType) -> pa.Array:
    return array if array.type == data_type else array.cast(data_type, safe=True)


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def records_of(body: Any, path: JsonPath) -> list[dict[str, Any]] | None:
    """The page's records, or None when the path matched nothing at all.

    A matched list contributes its items and a matched object is one record; a null match is
    an empty page, which is how many APIs answer past the end. Scalars become `value` rows.
    """
    matches = path.find(body)
    if not matches:
        return None
    records: list[Any] = []
    for match in matches:
        if isinstance(match, list):
            records.extend(match)
        elif match is not None:
            records.append(match)
    return [record if isinstance(record, dict) else {"value": record} for record in records]


def shape_hint(body: Any) -> str:
    if isinstance(body, dict):
        keys = list(body)
        shown = ", ".join(keys[:20]) + (", …" if len(keys) > 20 else "")
        return f"the response's top-level keys are: {shown or '(none)'}"
    if isinstance(body, list):
        return f"the response is a JSON array of {len(body)} items; try json_path: $"
    return f"the response is a JSON {type(body).__name__}"
