"""Arrow schemas for MongoDB collections, learned from a sample of documents.

Documents in one collection need not agree, so every field's BSON types are collected across
the whole sample and unified: ints and doubles make a double, ints and Decimal128 a decimal,
documents make structs whose fields are the union of their keys, arrays make lists of their
items' unified type. A field whose types have nothing in common (a string here, a number
there) becomes text, so it can always be read.

The sample also says which columns a filter or a sort may be pushed on: only a column whose
sampled values all have one BSON type compares in MongoDB the way SQL compares the column
(a text column made of numbers and strings would not), and the `Kind` says which.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

import pyarrow as pa
from bson import Binary, Decimal128, ObjectId

TIMESTAMP = pa.timestamp("ms", tz="UTC")
MAX_SCALE = 18


class Kind(StrEnum):
    """A column's one BSON type, when the sample shows exactly one."""

    STRING = "string"
    OBJECT_ID = "objectId"
    INT = "int"
    DOUBLE = "double"
    DECIMAL = "decimal"
    DATE = "date"
    BOOL = "bool"


# Kinds MongoDB orders as SQL does: doubles are not (MongoDB sorts NaN lowest, SQL highest).
ORDERED_KINDS = frozenset(Kind) - {Kind.DOUBLE}


@dataclass
class Shape:
    """Everything seen at one path of the sampled documents."""

    kinds: set[str] = field(default_factory=set)
    fields: dict[str, Shape] = field(default_factory=dict)
    items: Shape | None = None
    scale: int = 0

    def observe(self, value: Any) -> None:
        kind = classify(value)
        self.kinds.add(kind)
        if kind == "doc":
            for key, item in value.items():
                self.fields.setdefault(str(key), Shape()).observe(item)
        elif kind == "array":
            self.items = self.items or Shape()
            for item in value:
                self.items.observe(item)
        elif kind == "decimal":
            exponent = value.to_decimal().as_tuple().exponent
            if isinstance(exponent, int):
                self.scale = max(self.scale, min(MAX_SCALE, -exponent))


def classify(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "double"
    if isinstance(value, Decimal128):
        return "decimal"
    if isinstance(value, str):
        return "string"
    if isinstance(value, ObjectId):
        return "objectId"
    if isinstance(value, dt.datetime):
        return "date"
    if isinstance(value, bytes | Binary):
        return "binary"
    if isinstance(value, Mapping):
        return "doc"
    if isinstance(value, list | tuple):
        return "array"
    return "other"


@dataclass(frozen=True)
class Inferred:
    schema: pa.Schema
    kinds: dict[str, Kind]


def infer(documents: Iterable[Mapping[str, Any]], *, flatten: bool) -> Inferred:
    """The unified schema of the documents; `_id` first, then fields in order of appearance."""
    root = Shape()
    for document in documents:
        root.observe(document)
    shapes = dict(_columns(root, "", flatten))
    names = sorted(shapes, key=lambda name: name != "_id")
    fields = [pa.field(name, arrow_type(shapes[name])) for name in names]
    kinds = {name: kind for name in names if (kind := kind_of(shapes[name])) is not None}
    return Inferred(pa.schema(fields), kinds)


def _columns(shape: Shape, prefix: str, flatten: bool) -> Iterable[tuple[str, Shape]]:
    for name, child in shape.fields.items():
        path = f"{prefix}{name}"
        if flatten and child.kinds - {"null"} == {"doc"} and child.fields:
            yield from _columns(child, path + ".", flatten)
        else:
            yield path, child


def arrow_type(shape: Shape) -> pa.DataType:
    kinds = shape.kinds - {"null"}
    if kinds == {"doc"} and shape.fields:
        return pa.struct([pa.field(n, arrow_type(s)) for n, s in shape.fields.items()])
    if kinds == {"array"}:
        items = shape.items
        if items is None or not items.kinds - {"null"}:
            return pa.list_(pa.string())
        return pa.list_(arrow_type(items))
    if kinds == {"bool"}:
        return pa.bool_()
    if kinds == {"int"}:
        return pa.int64()
    if kinds and kinds <= {"int", "double"}:
        return pa.float64()
    if kinds and kinds <= {"int", "decimal"}:
        return pa.decimal128(38, shape.scale)
    if kinds == {"date"}:
        return TIMESTAMP
    if kinds == {"binary"}:
        return pa.binary()
    return pa.string()


def kind_of(shape: Shape) -> Kind | None:
    """The column's single BSON type, if the sample shows just one (nulls aside).

    Integers mixed with doubles or decimals count as the wider type: MongoDB compares numbers
    across BSON types by value, as SQL compares the column once widened.
    """
    kinds = shape.kinds - {"null"}
    if kinds in ({"int", "double"}, {"int", "decimal"}):
        kinds -= {"int"}
    if len(kinds) != 1:
        return None
    try:
        return Kind(next(iter(kinds)))
    except ValueError:
        return None


def kind_for_declared(arrow: pa.DataType, seen: Kind | None) -> Kind | None:
    """A declared column's kind: the sampled one, when it matches the declared type.

    A column declared as text over ObjectIds still takes `_id = '65f…'`, because the sample
    shows the literal must be sent as an ObjectId; declared types that disagree with what is
    stored keep their filters in the engine.
    """
    if seen is None:
        return None
    if pa.types.is_string(arrow):
        return seen if seen in (Kind.STRING, Kind.OBJECT_ID) else None
    if pa.types.is_boolean(arrow):
        return seen if seen is Kind.BOOL else None
    if pa.types.is_integer(arrow) or pa.types.is_decimal(arrow):
        return seen if seen in (Kind.INT, Kind.DECIMAL) else None
    if pa.types.is_floating(arrow):
        return seen if seen in (Kind.INT, Kind.DOUBLE) else None
    if pa.types.is_timestamp(arrow) or pa.types.is_date(arrow):
        return seen if seen is Kind.DATE else None
    return None


def normalize(value: Any) -> Any:
    """BSON values as the plain Python values `documents.fit` knows."""
    if isinstance(value, ObjectId):
        return str(value)
    if isinstance(value, Decimal128):
        return value.to_decimal()
    if isinstance(value, Binary):
        return bytes(value)
    if value is None or isinstance(
        value, str | int | float | Decimal | dt.datetime | bytes | Mapping | list | tuple
    ):
        return value
    return str(value)
