"""Keyed lookups answered from a key index over a local copy, without running a statement.

Agents loop on `SELECT columns FROM t WHERE id = $1`. With a kept plan (plans.py) such a lookup
on an accelerated dataset is one statement sent whole to DuckDB, and DuckDB's own statement
costs 0.4-0.5 ms: more than the whole lookup may cost. So a dataset accelerated with a
`primary_key` of one column (or an `indexes:` column) gets a key index, built behind the first
such lookup: the copy's rows sorted by the key as one Arrow table, and the keys as a numpy
array. A lookup is then a binary search and a slice, both in C.

Only a kept plan whose statement goes whole to the copy as a plain `SELECT columns FROM copy
WHERE key = value` (or `key IN (values)`), with no access-policy restriction on the scan, is a
`Lookup`; anything else takes the general path, and so does every lookup while the copy's
index is older than the copy (a refresh bumps the dataset's generation; the index is rebuilt
behind, and swapped in whole). The answer is the one the copy would give, typed as the plan's
result; the statement around it (limits, audit line, metrics) is the gateway's as for any
other. The indexes together hold at most `budget` bytes (runtime.memory_limit / 8); a copy
larger than what is left gets none, and each copy's index size shows in its status.

A dataset read from its source without a copy takes the same lane when its connector holds the
rows decoded (`Connector.kept_rows`): a kept plan that sends one scan's rows straight to the
client (`DirectScan`), filtered only by `key = value` or `key IN (values)`, with no policy on
the scan, asks it first. A local Parquet file sorted by the key is the case: its row groups kept
decoded are sorted keys beside their rows (connectors/row_groups.py), so a lookup whose groups
are kept is a binary search there, and one whose groups are not is scanned (and kept) on the
general path.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from sidecar.engine.cache import BYPASS
from sidecar.engine.catalog import Catalog, DatasetEntry
from sidecar.engine.params import SLOT
from sidecar.engine.planner import Plan
from sidecar.engine.pyrows import PyRows
from sidecar.engine.sizes import Sizer
from sidecar.errors import SidecarError

log = logging.getLogger("sidecar.engine")
CLAUSES = {"expressions", "from_", "where"}
LOOKUP_SHARE = 8  # the key indexes may hold runtime.memory_limit / LOOKUP_SHARE
STRING_BYTES = 64  # a key index's estimate of one string value, before it is built
# The most rows a lookup answered on an event loop may gather (engine.lookup): more is a copy
# of that many rows (an IN list over a column with few distinct values: 120 ms for 1M rows)
# that would hold every other client of the loop; the general path answers it on a thread.
LOOP_ROWS = 4096
VIEWS = 16  # a key index's views kept by the plans reading it (KeyIndex.view)


@dataclass(frozen=True)
class Lookup:
    """A kept plan's statement as a keyed lookup: the dataset, its key column, the columns
    answered (in the copy's names, in result order) and the slots of the key's values."""

    dataset: str
    key: str
    columns: tuple[str, ...]
    slots: tuple[int, ...]
    kept: bool = False  # answered from what the source's connector keeps decoded, no index

    @classmethod
    def of(cls, plan: Plan) -> Lookup | None:
        """The lookup a fresh plan is, or None when it is anything more."""
        if plan.direct is not None:
            return cls._of_scan(plan)
        pushed = plan.pushed
        if pushed is None or plan.grouped is not None or len(plan.scans) != 1:
            return None
        scan = plan.scans[0]
        settings = getattr(getattr(pushed.connector, "copy", None), "settings", None)
        if settings is None or scan.restriction is not None or scan.view or scan.hidden:
            return None
        keys = set(settings.indexes)
        if settings.primary_key and len(settings.primary_key) == 1:
            keys.add(settings.primary_key[0])
        statement = pushed.statement
        if not isinstance(statement, exp.Select) or {k for k, v in statement.args.items() if v} != (
            CLAUSES
        ):
            return None
        table = statement.args["from_"].this
        if not isinstance(table, exp.Table) or table.name != pushed.connector.table().name:
            return None
        columns = _answered(statement.expressions, scan.schema.names)
        if columns is None:
            return None
        found = _keyed(statement.args["where"].this)
        if found is None or found[0] not in keys:
            return None
        return cls(scan.relation.lower(), found[0], tuple(columns), found[1])

    @classmethod
    def _of_scan(cls, plan: Plan) -> Lookup | None:
        """A plan that sends one scan's rows to the client (`DirectScan`) whose one filter is
        `key = slot` or `key IN (slots)`: its connector may hold the rows (`kept_rows`)."""
        direct = plan.direct
        if direct is None or direct.offset or direct.limit is not None or len(plan.scans) != 1:
            return None
        scan = plan.scans[0]
        if scan.restriction is not None or scan.view or scan.hidden:
            return None
        filters = scan.request.filters
        found = _keyed(filters[0]) if len(filters) == 1 else None
        if found is None or found[0] not in scan.schema.names:
            return None
        return cls(scan.relation.lower(), found[0], direct.columns, found[1], kept=True)


def _answered(projections: list[exp.Expression], names: Sequence[str]) -> list[str] | None:
    """The copy's columns a select list answers, in its order (`*` is every column, as agents
    write it most), or None when it computes anything."""
    if len(projections) == 1 and isinstance(projections[0], exp.Star):
        return list(names)
    columns = []
    for projection in projections:
        column = projection.this if isinstance(projection, exp.Alias) else projection
        if not isinstance(column, exp.Column) or column.name not in names:
            return None
        columns.append(column.name)
    return columns


def _keyed(condition: exp.Expression) -> tuple[str, tuple[int, ...]] | None:
    """`key = slot` (either way round) or `key IN (slots)`: the key and the slots."""
    if isinstance(condition, exp.EQ):
        column, value = condition.this, condition.expression
        if isinstance(value, exp.Column):
            column, value = value, column
        if isinstance(column, exp.Column) and _slot(value) is not None:
            return column.name, (_slot(value),)  # type: ignore[return-value]
    if isinstance(condition, exp.In) and isinstance(condition.this, exp.Column):
        if (
            condition.args.get("query")
            or condition.args.get("unnest")
            or condition.args.get("field")
        ):
            return None
        slots = [_slot(value) for value in condition.expressions]
        if slots and None not in slots:
            return condition.this.name, tuple(slots)  # type: ignore[arg-type]
    return None


def written_value(node: exp.Literal) -> Any:
    """A literal written in the text as the index compares it: a string, an integer, or a
    float, which no index key equals (so the general path answers it)."""
    if node.is_string:
        return node.this
    return int(node.this) if node.this.isdigit() else float(node.this)


def _slot(node: exp.Expression) -> int | None:
    return node.meta[SLOT] if node._meta and SLOT in node._meta else None


class View(NamedTuple):
    """A key index's rows as one plan's result, the sizes of its slices and its rows' values."""

    rows: pa.RecordBatch
    sizer: Sizer | None
    values: PyRows


class KeyIndex:
    """A copy's rows with a non-NULL key, sorted by it (stable: rows sharing a key keep the
    copy's order) into one record batch, and its keys for binary search."""

    def __init__(self, table: pa.Table, key: str, generation: int) -> None:
        table = table.filter(pc.is_valid(table[key]))
        table = table.take(pc.sort_indices(table, [(key, "ascending")])).combine_chunks()
        self.rows = pa.RecordBatch.from_arrays(
            [column.combine_chunks() for column in table.columns], schema=table.schema
        )
        self.positions = {name: position for position, name in enumerate(table.schema.names)}
        self.keys = self.rows.column(key).to_numpy(zero_copy_only=False)
        self.generation = generation
        integers = pa.types.is_integer(table.schema.field(key).type)
        bounds = np.iinfo(self.keys.dtype) if integers else None
        self.bounds = (int(bounds.min), int(bounds.max)) if bounds is not None else None
        strings = self.keys.dtype == object
        self._views: dict[tuple[tuple[str, ...], int], tuple[pa.Schema, View | None]]
        self._views = {}
        self.nbytes = self.rows.nbytes + self.keys.nbytes + (len(self.keys) * 50 if strings else 0)

    def find(
        self, values: Sequence[Any], most: int | None = None, rows: pa.RecordBatch | None = None
    ) -> pa.RecordBatch | None:
        """The rows (of `rows`, a view of the index's, else its own) whose key equals one of
        `values`, in key order, each row once; None when they are more than `most`."""
        rows = self.rows if rows is None else rows
        wanted = sorted({value for value in values if value is not None})
        if len(wanted) == 1:
            start, stop = self.span(wanted[0])
            if most is not None and stop - start > most:
                return None
            return rows.slice(start, stop - start)
        probe = np.array(wanted, dtype=self.keys.dtype)
        starts = self.keys.searchsorted(probe, "left")
        stops = self.keys.searchsorted(probe, "right")
        if most is not None and int((stops - starts).sum()) > most:
            return None
        taken = [np.arange(a, b) for a, b in zip(starts, stops, strict=True) if b > a]
        return rows.take(np.concatenate(taken)) if taken else rows.slice(0, 0)

    def span(self, value: Any) -> tuple[int, int]:
        """Where the rows of one key are: a key found once (a primary key's) needs one
        search."""
        keys = self.keys
        start = int(keys.searchsorted(value))
        if start == len(keys) or keys.item(start) != value:
            return start, start
        stop = start + 1
        if stop < len(keys) and keys.item(stop) == value:
            stop = int(keys.searchsorted(value, "right"))
        return start, stop

    def view(self, columns: tuple[str, ...], schema: pa.Schema) -> View | None:
        """The index's rows as a plan's result (`columns` under `schema`'s names), when its
        columns already have the plan's types: the same buffers, made once per plan schema,
        so that a lookup is a slice of it. None when a column needs a cast."""
        key = (columns, id(schema))
        kept = self._views.get(key)
        if kept is not None and kept[0] is schema:
            return kept[1]
        arrays = [self.rows.column(self.positions[name]) for name in columns]
        same = all(a.type == f.type for a, f in zip(arrays, schema, strict=True))
        view = None
        if same:
            rows = pa.RecordBatch.from_arrays(arrays, schema=schema)
            view = View(rows, Sizer.of(rows), PyRows.of(rows))
        if len(self._views) >= VIEWS:
            self._views.clear()
        self._views[key] = (schema, view)
        return view

    def comparable(self, value: Any) -> bool:
        """Whether `value` is of the key's kind (and range): a value of another kind is
        compared as DuckDB casts it, which only the general path knows."""
        if value is None:
            return True
        if self.bounds is None:
            return isinstance(value, str)
        if not isinstance(value, int) or isinstance(value, bool):
            return False
        return self.bounds[0] <= value <= self.bounds[1]


class LookupResult:
    """A lookup's rows as the gateway takes any result: already whole, nothing to cancel."""

    cache_status = BYPASS
    source_queries = 1  # the copy was read, as the pushed statement would have read it

    def __init__(
        self,
        batch: pa.RecordBatch,
        schema: pa.Schema,
        relations: list[str],
        lane: str = "key_index",
        nbytes: int | None = None,
        values: Callable[[], list[tuple[Any, ...]]] | None = None,
        span: tuple[int, int] | None = None,
    ) -> None:
        # `batch[span]` is the answer (the whole batch without a span), sliced when asked for:
        # a server writing Python values never needs the slice
        self._whole, self._span, self._batch = batch, span, None if span else batch
        self.num_rows = batch.num_rows if span is None else span[1] - span[0]
        # the answer's `nbytes` when known without asking pyarrow (sizes.py), else None
        self.nbytes = nbytes
        # its rows as Python values (`to_pylist`'s), when they are read cheaper than that
        self.values = values
        self.lane = lane  # audited and counted as such (sidecar_lane_answers)
        self.schema = schema  # the kept plan's own object: servers key what they derive on it
        self.relations = relations
        self.rows = 0

    def arrow(self) -> pa.RecordBatch:
        """The answer's rows as one record batch."""
        if self._batch is None:
            start, stop = self._span or (0, self._whole.num_rows)
            self._batch = self._whole.slice(start, stop - start)
        return self._batch

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        self.rows = self.num_rows
        yield self.arrow()

    def cancel(self) -> None:
        return None


class Lookups:
    """The key indexes of the copies, and the lookups they answer."""

    def __init__(self, catalog: Catalog, budget: int) -> None:
        self.catalog = catalog
        self.budget = budget
        # by dataset and key column: a copy with a primary key and indexes has one per column
        self._indexes: dict[tuple[str, str], KeyIndex] = {}
        self._building: set[tuple[str, str]] = set()
        self._refused: dict[tuple[str, str], int] = {}  # too large (or failed) at a generation
        self._lock = threading.Lock()
        self._builders: set[threading.Thread] = set()

    def answer(
        self, lookup: Lookup, schema: pa.Schema, values: Sequence[Any], most: int | None = None
    ) -> LookupResult | None:
        """The rows for the key `values`, or None when the index is not there (yet), a value
        is not one the index can compare or the rows are more than `most`: the general path
        answers then."""
        entry = self.catalog.datasets.get(lookup.dataset)
        if entry is None:
            return None
        if lookup.kept:
            return self._kept(entry, lookup, schema, values, most)
        index = self._indexes.get((lookup.dataset, lookup.key))
        if index is None or index.generation != entry.generation:
            self._build_behind(entry, lookup.key)
            return None
        for value in values:
            if not index.comparable(value):
                return None
        view = index.view(lookup.columns, schema)
        if view is not None and len(values) == 1 and values[0] is not None:
            start, stop = index.span(values[0])
            if most is not None and stop - start > most:
                return None
            size = view.sizer.size(start, stop) if view.sizer is not None else None
            values = functools.partial(view.values.rows, start, stop)
            return LookupResult(
                view.rows, schema, [entry.name], nbytes=size, values=values, span=(start, stop)
            )
        if view is not None:
            found = index.find(values, most, view.rows)
            return None if found is None else LookupResult(found, schema, [entry.name])
        rows = index.find(values, most)
        if rows is None:
            return None
        columns = [rows.column(index.positions[name]) for name in lookup.columns]
        try:
            arrays = [
                column if column.type == field.type else column.cast(field.type)
                for column, field in zip(columns, schema, strict=True)
            ]
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return None  # the general path reports what does not fit
        batch = pa.RecordBatch.from_arrays(arrays, schema=schema)
        return LookupResult(batch, schema, [entry.name])

    def _kept(
        self,
        entry: DatasetEntry,
        lookup: Lookup,
        schema: pa.Schema,
        values: Sequence[Any],
        most: int | None,
    ) -> LookupResult | None:
        """The rows the dataset's connector holds decoded (a sorted Parquet file's kept row
        groups: sorted keys beside their rows, a key index already), typed as the plan's (a
        column of another type takes the general path, which casts it)."""
        try:
            connector, _ = entry.require()
        except SidecarError:
            return None
        batch = connector.kept_rows(lookup.key, values, lookup.columns, schema, most)
        if batch is None:
            return None
        return LookupResult(batch, schema, [entry.name], lane="row_groups")

    def size(self, dataset: str) -> int | None:
        """The bytes of a dataset's key indexes, None when it has none."""
        sizes = [i.nbytes for (name, _), i in self._indexes.items() if name == dataset.lower()]
        return sum(sizes) if sizes else None

    def _build_behind(self, entry: DatasetEntry, key: str) -> None:
        name = (entry.name.lower(), key)
        with self._lock:
            if name in self._building or self._refused.get(name) == entry.generation:
                return
            self._building.add(name)
            builder = threading.Thread(
                target=self._build, args=(entry, key), name=f"key-index-{name[0]}", daemon=True
            )
            self._builders.add(builder)
        builder.start()

    def close(self, timeout: float = 10.0) -> None:
        """Wait for the indexes being built: each reads a copy, which must not be closed
        under it (the engine closes its copies next; at exit a daemon thread still inside
        DuckDB aborts the interpreter)."""
        with self._lock:
            builders = list(self._builders)
        for builder in builders:
            builder.join(timeout)

    def _build(self, entry: DatasetEntry, key: str) -> None:
        name = (entry.name.lower(), key)
        generation = entry.generation  # read before the rows: they are at least this new
        try:
            index = self._read(entry, key, generation)
        except Exception as error:  # a failed build only leaves lookups on the general path
            log.warning("key index of %s not built: %s", entry.name, error)
            index = None
        with self._lock:
            self._building.discard(name)
            self._builders.discard(threading.current_thread())
            if index is None:
                self._refused[name] = generation
                self._indexes.pop(name, None)
            else:
                self._indexes[name] = index
        copy = entry.copy
        if copy is not None:
            copy.status.key_index_bytes = self.size(entry.name)
        if index is not None:
            log.info("key index of %s on %s: %d rows, %d bytes", entry.name, key,
                     index.rows.num_rows, index.nbytes)  # fmt: skip

    def _read(self, entry: DatasetEntry, key: str, generation: int) -> KeyIndex | None:
        """The copy's index, or None when it would not fit in what the budget leaves."""
        connector, schema = entry.require()
        if not (
            pa.types.is_integer(schema.field(key).type)
            or pa.types.is_string(schema.field(key).type)
        ):
            return None
        mine = (entry.name.lower(), key)
        others = sum(i.nbytes for n, i in self._indexes.items() if n != mine)
        left = self.budget - others
        rows = connector.row_count() or 0
        width = sum(
            field.type.bit_width // 8 if pa.types.is_primitive(field.type) else STRING_BYTES
            for field in schema
        )
        if rows * width > left:
            return None
        table = connector.query(f"SELECT * FROM {connector.table().sql(connector.dialect)}")
        index = KeyIndex(table.read_all(), key, generation)
        return index if index.nbytes <= left else None
