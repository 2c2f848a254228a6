"""Hive-style partitions: `.../date=2026-03-14/region=eu/part-0.parquet` has columns date, region.

Partition values live in the paths, so a filter on them decides which prefixes to visit before
any object is listed or read: `WHERE date >= '2026-03-14'` lists the dataset's top level, keeps
the `date=` prefixes that pass and never lists or opens the others. What is left over (filters
on file columns) is applied inside the files, where Parquet's row-group statistics skip more.

Types are inferred from every value listed: whole numbers without leading zeros are bigint,
`YYYY-MM-DD` is a date, anything else text; a declared column type wins.
`__HIVE_DEFAULT_PARTITION__` is NULL, and values are percent-decoded as Hive writes them.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import reduce
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from connectors import predicates
from connectors.base import SourceError
from connectors.listing import Entry, Listing

NULL_VALUE = "__HIVE_DEFAULT_PARTITION__"
INTEGER = re.compile(r"^-?(0|[1-9]\d{0,17})$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Found:
    """A listed file and its partition values (text, as in the path; None is NULL)."""

    entry: Entry
    values: Mapping[str, str | None]


def hive_segment(name: str) -> tuple[str, str | None] | None:
    """`date=2026-03-14` -> ('date', '2026-03-14'); a name without `=` is no partition."""
    key, eq, value = name.partition("=")
    if not eq or not key:
        return None
    decoded = unquote(value)
    return key, None if decoded == NULL_VALUE else decoded


def values_of(root: str, path: str) -> dict[str, str | None]:
    """The partition values in a file's path below the dataset's root."""
    rest = path[len(root.rstrip("/")) + 1 :] if path.startswith(root.rstrip("/") + "/") else ""
    values: dict[str, str | None] = {}
    for part in rest.split("/")[:-1]:
        segment = hive_segment(part)
        if segment is not None:
            values[segment[0]] = segment[1]
    return values


def hidden(name: str) -> bool:
    """`.hidden`, `_SUCCESS` and `_temporary/` are not data, as in Spark and pyarrow."""
    return name.startswith((".", "_"))


def infer_fields(
    samples: Iterable[Mapping[str, str | None]], file_columns: Sequence[str]
) -> list[pa.Field]:
    """The partition columns, in path order, typed by every value seen."""
    seen: dict[str, list[str]] = {}
    for values in samples:
        for key, value in values.items():
            bucket = seen.setdefault(key, [])
            if value is not None:
                bucket.append(value)
    return [pa.field(k, _infer(values)) for k, values in seen.items() if k not in file_columns]


def _infer(values: list[str]) -> pa.DataType:
    if values and all(INTEGER.match(v) for v in values):
        return pa.int64()
    if values and all(DATE.match(v) and _is_date(v) for v in values):
        return pa.date32()
    return pa.string()


def _is_date(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


class Partitions:
    """A dataset's partition columns and the filters that can be decided from paths alone."""

    def __init__(
        self, fields: Sequence[pa.Field], filters: Sequence[exp.Expression], where: str
    ) -> None:
        self.fields = {f.name: f for f in fields}
        self.schema = pa.schema(list(fields))
        self.where = where
        self.filters = [f for f in filters if _columns(f) and _columns(f) <= set(self.fields)]

    def pending(self, values: Mapping[str, str | None]) -> bool:
        """Whether a filter still waits for a partition value deeper down."""
        return any(not _columns(f) <= set(values) for f in self.filters)

    def keep(self, values: Mapping[str, str | None]) -> bool:
        """False when a filter decidable from these values is not TRUE for them."""
        known = {k: v for k, v in values.items() if k in self.fields}
        decidable = [f for f in self.filters if _columns(f) <= set(known)]
        if not decidable:
            return True
        row = self.row(known)
        condition = reduce(
            lambda a, b: a & b,
            [predicates.to_arrow(f, row.schema) for f in decidable],  # type: ignore[misc]
        )
        return row.filter(condition).num_rows == 1

    def row(self, values: Mapping[str, str | None]) -> pa.Table:
        return pa.table(
            {name: self.typed(name, value) for name, value in values.items()},
        )

    def typed(self, name: str, value: str | None) -> pa.Array:
        arrow_type = self.fields[name].type
        try:
            return pa.array([value], pa.string()).cast(arrow_type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise SourceError(
                f"partition value {name}={value} in {self.where} is not a {arrow_type}",
                hint=f"declare column {name} as text in columns:, or fix the prefix's name",
            ) from None

    def expression(self, values: Mapping[str, str | None]) -> pc.Expression | None:
        """What holds for every row of a file with these partition values."""
        parts = []
        for name, value in values.items():
            if name not in self.fields:
                continue
            field = pc.field(name)
            parts.append(field.is_null() if value is None else field == self.typed(name, value)[0])
        return reduce(lambda a, b: a & b, parts) if parts else None


def walk(listing: Listing, root: str, partitions: Partitions | None) -> list[Found]:
    """The files below `root`, visiting only the prefixes the partition filters keep.

    Where no filter can prune below a prefix, it is listed whole (fewest requests); where one
    can, it is listed one level at a time and each `key=value` sub-prefix is checked first.
    """
    found: list[Found] = []
    pending: list[tuple[str, dict[str, str | None]]] = [(root, {})]
    while pending:
        folder, values = pending.pop()
        if partitions is None or not partitions.pending(values):
            found.extend(
                Found(e, values_of(root, e.path))
                for e in listing.subtree(folder)
                if not _hidden_below(root, e.path)
                and (partitions is None or partitions.keep(values_of(root, e.path)))
            )
            continue
        files, folders = listing.children(folder)
        found.extend(Found(e, values) for e in files if not hidden(_name(e.path)))
        for child in folders:
            name = _name(child)
            if hidden(name):
                continue
            segment = hive_segment(name)
            deeper = values | {segment[0]: segment[1]} if segment else values
            if segment is None or partitions.keep(deeper):
                pending.append((child, deeper))
    return sorted(found, key=lambda f: f.entry.path)


def discover(
    listing: Listing, root: str, usable: Callable[[str], bool]
) -> tuple[list[Found], list[dict[str, str | None]]]:
    """The files of the first folder below `root` that has a `usable` one, found by listing
    one level at a time down the first sub-prefix, and the partition values seen on the way
    (every value of the first key, the first branch's of the others): enough to learn the
    schema without listing the whole dataset at start-up."""
    folder, values = root, {}
    samples: list[dict[str, str | None]] = []
    while True:
        files, folders = listing.children(folder)
        visible = [Found(e, values) for e in files if not hidden(_name(e.path))]
        if any(usable(f.entry.path) for f in visible):
            return visible, samples or [values]
        deeper = [f for f in folders if not hidden(_name(f))]
        if not deeper:
            return [], samples
        for child in deeper:
            segment = hive_segment(_name(child))
            if segment is not None:
                samples.append(values | {segment[0]: segment[1]})
        segment = hive_segment(_name(deeper[0]))
        folder = deeper[0]
        values = values | {segment[0]: segment[1]} if segment else values


def _hidden_below(root: str, path: str) -> bool:
    rest = path[len(root.rstrip("/")) + 1 :]
    return any(hidden(part) for part in rest.split("/"))


def _name(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


def _columns(predicate: exp.Expression) -> set[str]:
    return {column.name for column in predicate.find_all(exp.Column)}
