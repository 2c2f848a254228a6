"""Filtered reads of local Parquet files by row group: pruned by statistics, kept decoded.

A point lookup on a Parquet file (`WHERE id = 42`) needs the one row group whose statistics
can hold the key, and the decoded columns of an unchanged file do not change between lookups.
So for each file version (path, size, modification time: a file rewritten in place is a new
version) the footer's per-row-group minimum and maximum of each column are kept as Arrow
arrays, a filter's conjuncts rule row groups out with a few vectorised comparisons, and the
column chunks decoded for the groups left are kept in one LRU shared by every dataset, bounded
in bytes. A lookup that finds its groups there filters them in memory; one that does not
decodes only those groups, and only the columns it reads, with pyarrow (the GIL released), and
keeps them for the next. A lookup by a sorted integer key whose groups are all kept is
answered without a scan at all (`DecodedGroups.looked_up`, the engine's keyed-lookup lane).

Statistics only rule groups out; the filter itself is applied to the rows afterwards, exactly.
Pruning is used where it cannot err: integer, string and date columns compared with literals
(floats are left alone, because SQL orders NaN above every number and Parquet statistics leave
NaN out).
"""

from __future__ import annotations

import os
import threading
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from sqlglot import exp

from connectors import predicates

# What a sidecar keeps decoded for lookups, all datasets together, and the most one read may
# decode into it: a filter that selects more than a quarter of it streams instead.
CACHE_BYTES = 64 << 20
MAX_READ_BYTES = CACHE_BYTES // 4
# Row groups up to this size are decoded on their first lookup even where a page index could
# read a page of them: a 128k-row group of four columns (4 MiB) decodes in about the time
# DataFusion takes to read one page of it, and once kept it answers from memory.
EAGER_BYTES = CACHE_BYTES // 8
MAX_ASKED = 65_536
MAX_HELD = 256
DECODING_STRIPES = 64
Bound = tuple[int | float, bool]  # a value, and whether it is included
KeyRange = tuple[str, Bound | None, Bound | None]  # a column, its lower and upper bounds
PRUNED = {exp.EQ, exp.LT, exp.LTE, exp.GT, exp.GTE}


class Version(NamedTuple):
    """One version of a local file. Size and modification time alone do not tell a rewrite:
    a file replaced by one of the same size whose modification time was kept (`rsync -t`,
    `cp -p` then a rename, an unpacked archive) has both. Its inode (a renamed-in file) and
    its status-change time (set by the kernel on every write, rename and `utime`) do."""

    path: str
    size: int
    mtime_ns: int
    inode: int = 0
    ctime_ns: int = 0

    @classmethod
    def of_local(cls, path: str) -> Version | None:
        """The version of the local file at `path` now; None when it is gone."""
        try:
            stat = os.stat(path)
        except OSError:
            return None
        return cls(path, stat.st_size, stat.st_mtime_ns, stat.st_ino, stat.st_ctime_ns)


@dataclass
class Counters:
    """What reads decoded and what they found kept: tests prove pruning with these."""

    decoded_groups: int = 0
    decoded_rows: int = 0
    kept_groups: int = 0


@dataclass
class Footer:
    """A file version's metadata, and its row groups' statistics as arrays (None where a
    column has none, or is of a type whose statistics are not used)."""

    metadata: pq.FileMetaData
    physical: pa.Schema | None = None
    minimums: dict[str, pa.Array | None] = field(default_factory=dict)
    maximums: dict[str, pa.Array | None] = field(default_factory=dict)
    # integer statistics without gaps, as numpy arrays: a lookup's pruning in microseconds
    numbers: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    # integer statistics that ascend from group to group (a file sorted by the column), as
    # lists: the groups that can hold a value are found by bisection
    ascending: dict[str, tuple[list[int], list[int]]] = field(default_factory=dict)
    sizes: list[dict[str, int]] = field(default_factory=list)
    held: dict[tuple[str, ...], bool] = field(default_factory=dict)  # `holds`, by columns

    @classmethod
    def read(cls, filesystem: pafs.FileSystem, path: str, schema: pa.Schema) -> Footer:
        with filesystem.open_input_file(path) as source:
            metadata = pq.read_metadata(source)
        footer = cls(metadata)
        try:
            footer.physical = metadata.schema.to_arrow_schema()
        except (pa.ArrowException, ValueError):
            footer.physical = None
        for group in range(metadata.num_row_groups):
            sizes: dict[str, int] = {}
            row_group = metadata.row_group(group)
            for index in range(row_group.num_columns):
                chunk = row_group.column(index)
                top = chunk.path_in_schema.split(".", 1)[0]
                sizes[top] = sizes.get(top, 0) + chunk.total_uncompressed_size
            footer.sizes.append(sizes)
        columns = {metadata.schema.column(i).path: i for i in range(metadata.num_columns)}
        for name in schema.names:
            kind = schema.field(name).type
            index = columns.get(name)
            if index is None or not _prunable(kind):
                continue
            lows, highs = [], []
            for group in range(metadata.num_row_groups):
                stats = metadata.row_group(group).column(index).statistics
                known = stats is not None and stats.has_min_max
                lows.append(stats.min if known else None)
                highs.append(stats.max if known else None)
            try:
                footer.minimums[name] = pa.array(lows, kind)
                footer.maximums[name] = pa.array(highs, kind)
            except (pa.ArrowException, TypeError, ValueError):
                continue
            if pa.types.is_integer(kind) and None not in lows and None not in highs:
                footer.numbers[name] = (np.array(lows), np.array(highs))
                if lows == sorted(lows) and highs == sorted(highs):
                    footer.ascending[name] = (lows, highs)
        return footer

    def holding(self, key: str, value: int) -> Sequence[int] | None:
        """The row groups whose statistics of the integer column `key` can hold `value`; None
        when the column has none."""
        ascending = self.ascending.get(key)
        if ascending is not None:  # those whose maximum is not below it, nor minimum above
            lows, highs = ascending
            return range(bisect_left(highs, value), bisect_right(lows, value))
        numbers = self.numbers.get(key)
        mask = None if numbers is None else _numpy_compared(exp.EQ, *numbers, value)
        return None if mask is None else np.flatnonzero(mask).tolist()

    def holds(self, schema: pa.Schema, columns: Sequence[str]) -> bool:
        """Whether the file has these columns as the dataset types them (a folder's files can
        differ: the scanner fills and casts those). Kept per column list: a file's footer
        serves one dataset, whose schema is fixed."""
        key = tuple(columns)
        held = self.held.get(key)
        if held is None:
            physical = self.physical
            held = physical is not None and all(
                physical.get_field_index(name) >= 0
                and physical.field(name).type == schema.field(name).type
                for name in columns
            )
            if len(self.held) >= MAX_HELD:
                self.held.clear()
            self.held[key] = held
        return held

    @property
    def groups(self) -> int:
        return self.metadata.num_row_groups

    def candidates(self, filters: Sequence[exp.Expression], schema: pa.Schema) -> list[int]:
        """The row groups whose statistics do not rule out every conjunct."""
        keep = np.ones(self.groups, dtype=bool)
        for predicate in filters:
            mask = self._possible(predicate.unnest(), schema)
            if mask is not None:
                keep &= mask
        return [int(group) for group in np.flatnonzero(keep)]

    def decoded_size(self, groups: Sequence[int], columns: Sequence[str]) -> int:
        return sum(self.sizes[group].get(name, 0) for group in groups for name in columns)

    def _possible(self, node: exp.Expression, schema: pa.Schema) -> np.ndarray | None:
        """Per row group, whether `node` can hold there; None when the statistics cannot say."""
        if type(node) in PRUNED:
            column, other = predicates.column_name(node.this), node.expression
            op = type(node)
            if column is None:
                column, other = predicates.column_name(node.expression), node.this
                op = predicates.MIRRORED[op]
            return self._compared(column, op, other, schema)
        if isinstance(node, exp.In) and not node.args.get("negate") and not node.args.get("query"):
            masks = [
                self._compared(predicates.column_name(node.this), exp.EQ, value, schema)
                for value in node.expressions
            ]
            if not masks or any(mask is None for mask in masks):
                return None
            return np.logical_or.reduce(masks)
        if isinstance(node, exp.Between):
            column = predicates.column_name(node.this)
            low = self._compared(column, exp.GTE, node.args["low"], schema)
            high = self._compared(column, exp.LTE, node.args["high"], schema)
            return None if low is None or high is None else low & high
        return None

    def _compared(
        self,
        column: str | None,
        op: type[exp.Expression],
        literal: exp.Expression,
        schema: pa.Schema,
    ) -> np.ndarray | None:
        lows, highs = self.minimums.get(column or ""), self.maximums.get(column or "")
        if column is None or lows is None or highs is None:
            return None
        try:
            value = predicates.literal_value(literal)
            if value is None:
                return np.zeros(self.groups, dtype=bool)  # a comparison with NULL is never true
            numbers = self.numbers.get(column)
            if numbers is not None and type(value) in (int, float) and value == value:
                return _numpy_compared(op, *numbers, value)
            scalar = predicates.coerce(value, schema.field(column).type)
        except (predicates.Untranslatable, ValueError, ArithmeticError, pa.ArrowException):
            return None
        tests: dict[type[exp.Expression], list[tuple[Callable[..., Any], pa.Array]]] = {
            exp.EQ: [(pc.less_equal, lows), (pc.greater_equal, highs)],
            exp.LT: [(pc.less, lows)],
            exp.LTE: [(pc.less_equal, lows)],
            exp.GT: [(pc.greater, highs)],
            exp.GTE: [(pc.greater_equal, highs)],
        }
        mask = np.ones(self.groups, dtype=bool)
        try:
            for compare, bound in tests[op]:
                # a group without statistics (null bound) may hold anything
                mask &= compare(bound, scalar).fill_null(True).to_numpy(zero_copy_only=False)
        except pa.ArrowException:
            return None
        return mask


def _numpy_compared(
    op: type[exp.Expression], lows: np.ndarray, highs: np.ndarray, value: int | float
) -> np.ndarray | None:
    try:
        if op is exp.EQ:
            return (lows <= value) & (highs >= value)
        bound, compare = {
            exp.LT: (lows, np.less),
            exp.LTE: (lows, np.less_equal),
            exp.GT: (highs, np.greater),
            exp.GTE: (highs, np.greater_equal),
        }[op]
        return compare(bound, value)
    except (OverflowError, TypeError):
        return None


class DecodedGroups:
    """Column chunks of row groups, decoded, by file version, least recently used out first."""

    def __init__(self, capacity: int = CACHE_BYTES) -> None:
        self.capacity = capacity
        self.counters = Counters()
        self._chunks: OrderedDict[tuple[Version, int, str], pa.ChunkedArray] = OrderedDict()
        self._latest: dict[str, Version] = {}
        self._asked: OrderedDict[tuple[Version, int], None] = OrderedDict()
        self._keys: dict[tuple[Version, int, str], np.ndarray | None] = {}
        self._held = 0
        self._lock = threading.Lock()
        # decodes under way, striped by file version and group (see `table`)
        self._decoding = [threading.Lock() for _ in range(DECODING_STRIPES)]

    def kept(self, version: Version, groups: Sequence[int], columns: Sequence[str]) -> bool:
        """Whether these groups' columns are all decoded already."""
        with self._lock:
            return all((version, g, c) in self._chunks for g in groups for c in columns)

    def room(self, size: int) -> bool:
        """Whether `size` more bytes can be kept without letting any go."""
        return self._held + size <= self.capacity

    def asked_before(self, version: Version, groups: Sequence[int]) -> bool:
        """Whether every one of these groups was asked for before (noting that they are now).
        A file with a page index answers a lookup by decoding a page instead of a group, so its
        groups are kept decoded only once asked for twice."""
        with self._lock:
            before = all((version, group) in self._asked for group in groups)
            for group in groups:
                self._asked[(version, group)] = None
                self._asked.move_to_end((version, group))
            while len(self._asked) > MAX_ASKED:
                self._asked.popitem(last=False)
        return before

    def table(
        self,
        filesystem: pafs.FileSystem,
        version: Version,
        metadata: pq.FileMetaData,
        group: int,
        columns: Sequence[str],
    ) -> pa.Table:
        """Row group `group` of the file holding `columns`, decoding what is not kept. One
        thread decodes a group at a time: sixty-four clients asking for the same group not
        kept yet wait for one decode and take its columns, instead of decoding it sixty-four
        times over (which held a cold start at 64 clients for tens of seconds)."""
        found = self._found(version, group, columns)
        missing = [name for name in columns if name not in found]
        if not missing:
            with self._lock:
                self.counters.kept_groups += 1
            return pa.table({name: found[name] for name in columns})
        with self._decoding[hash((version, group)) % len(self._decoding)]:
            found = self._found(version, group, columns)  # decoded meanwhile, by another
            missing = [name for name in columns if name not in found]
            if missing:
                with filesystem.open_input_file(version.path) as source:
                    reader = pq.ParquetFile(source, metadata=metadata)
                    decoded = reader.read_row_group(group, columns=missing, use_threads=False)
                with self._lock:
                    self.counters.decoded_groups += 1
                    self.counters.decoded_rows += decoded.num_rows
                    for name in missing:
                        found[name] = decoded.column(name)
                        self._keep((version, group, name), found[name])
        return pa.table({name: found[name] for name in columns})

    def _found(
        self, version: Version, group: int, columns: Sequence[str]
    ) -> dict[str, pa.ChunkedArray]:
        """The columns of a group kept decoded, by name (used: last out of the LRU)."""
        found: dict[str, pa.ChunkedArray] = {}
        with self._lock:
            self._forget_older(version)
            for name in columns:
                chunk = self._chunks.get((version, group, name))
                if chunk is not None:
                    self._chunks.move_to_end((version, group, name))
                    found[name] = chunk
        return found

    def looked_up(
        self,
        files: Sequence[tuple[Version, Footer]],
        key: str,
        values: Sequence[int],
        columns: Sequence[str],
        schema: pa.Schema,
        most: int | None = None,
    ) -> pa.RecordBatch | None:
        """The rows of `files` whose integer `key` is one of `values`, holding `columns` as
        `schema` names them, in file order, when every row group their statistics leave is
        kept decoded and ascends by the key: binary searches over what is in memory, nothing
        read. None when a group is not kept (or not sorted, or without statistics for the
        key), a column does not cast to the schema's type, or the rows are more than `most`."""
        needed = list(dict.fromkeys([*columns, key]))
        positions = [needed.index(name) for name in columns]
        probe = sorted(set(values))
        spans: list[tuple[list[pa.Array], int, int]] = []
        count = 0
        for version, footer in files:
            holding: set[int] = set()
            for value in probe:
                groups = footer.holding(key, value)
                if groups is None:
                    return None
                holding.update(groups)
            for group in sorted(holding):
                chunks = self._kept_chunks(version, group, needed)
                if chunks is None:
                    return None
                keys = self._sorted((version, group, key), chunks[needed.index(key)])
                if keys is None:
                    return None
                for value in probe:
                    start, stop = _search(keys, value, "left"), _search(keys, value, "right")
                    count += stop - start
                    if most is not None and count > most:
                        return None
                    if stop > start:
                        spans.append((chunks, start, stop))
        if len(spans) == 1:
            chunks, start, stop = spans[0]
            arrays = [chunks[i].slice(start, stop - start) for i in positions]
        elif spans:
            arrays = [
                pa.concat_arrays([c[i].slice(a, b - a) for c, a, b in spans]) for i in positions
            ]
        else:
            arrays = [pa.array([], field.type) for field in schema]
        try:
            return pa.RecordBatch.from_arrays(arrays, schema=schema)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            return None  # a value the schema's type cannot hold: the general path reports it

    def _kept_chunks(
        self, version: Version, group: int, columns: Sequence[str]
    ) -> list[pa.Array] | None:
        """Row group `group`'s `columns`, each one array, when all are kept decoded."""
        with self._lock:
            chunks = [self._chunks.get((version, group, name)) for name in columns]
            if any(chunk is None or chunk.num_chunks != 1 for chunk in chunks):
                return None
            for name in columns:
                self._chunks.move_to_end((version, group, name))
            self.counters.kept_groups += 1
        return [chunk.chunk(0) for chunk in chunks]  # type: ignore[union-attr]

    def bounded(
        self, version: Version, group: int, table: pa.Table, bounds: KeyRange
    ) -> pa.Table | None:
        """The rows within `bounds` found by binary search, when its column is an integer
        column whose values ascend in this group (a sorted key: the common lookup); None
        otherwise, and the filter is evaluated."""
        name, low, high = bounds
        if name not in table.column_names:
            return None
        column = table.column(name)
        if column.num_chunks != 1:
            return None
        values = self._sorted((version, group, name), column.chunk(0))
        if values is None:
            return None
        try:
            start = 0 if low is None else _search(values, low[0], "left" if low[1] else "right")
            stop = (
                len(values)
                if high is None
                else _search(values, high[0], "right" if high[1] else "left")
            )
        except (OverflowError, TypeError):
            return None
        return table.slice(start, max(0, stop - start))

    def _sorted(self, key: tuple[Version, int, str], column: pa.Array) -> np.ndarray | None:
        """An integer column's values when they ascend and none is NULL (a sorted key), else
        None; found once while the column is kept."""
        if key in self._keys:
            return self._keys[key]
        values = None
        if pa.types.is_integer(column.type) and not column.null_count:
            values = column.to_numpy()
            if not np.all(values[1:] >= values[:-1]):
                values = None
        with self._lock:
            if key in self._chunks:
                self._keys[key] = values
        return values

    def _forget_older(self, version: Version) -> None:
        """A file seen rewritten: its older versions' chunks go at once."""
        latest = self._latest.get(version.path)
        if latest == version:
            return
        self._latest[version.path] = version
        if latest is None:
            return
        for key in [key for key in self._chunks if key[0] == latest]:
            self._held -= self._chunks.pop(key).nbytes
            self._keys.pop(key, None)

    def _keep(self, key: tuple[Version, int, str], chunk: pa.ChunkedArray) -> None:
        if key in self._chunks or chunk.nbytes > self.capacity:
            return
        self._chunks[key] = chunk
        self._held += chunk.nbytes
        while self._held > self.capacity:
            old, dropped = self._chunks.popitem(last=False)
            self._held -= dropped.nbytes
            self._keys.pop(old, None)


DECODED = DecodedGroups()


def key_range(filters: Sequence[exp.Expression]) -> KeyRange | None:
    """(column, low, high) when every filter compares one column with a number: `id = 5`,
    `id BETWEEN 1 AND 9`, `id >= 3 AND id < 7`; None for anything else."""
    name: str | None = None
    low: Bound | None = None
    high: Bound | None = None
    for node in (f.unnest() for f in filters):
        if isinstance(node, exp.Between):
            column = predicates.column_name(node.this)
            parts = [(exp.GTE, node.args["low"]), (exp.LTE, node.args["high"])]
        elif type(node) in PRUNED:
            column, other, op = predicates.column_name(node.this), node.expression, type(node)
            if column is None:
                column, other = predicates.column_name(node.expression), node.this
                op = predicates.MIRRORED[op]
            parts = [(op, other)]
        else:
            return None
        if column is None or name not in (None, column):
            return None
        name = column
        for op, literal in parts:
            try:
                value = predicates.literal_value(literal)
            except (ValueError, ArithmeticError):
                return None
            if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
                return None
            if op in (exp.EQ, exp.GT, exp.GTE):
                low = _tighter(low, (value, op is not exp.GT), 1)
            if op in (exp.EQ, exp.LT, exp.LTE):
                high = _tighter(high, (value, op is not exp.LT), -1)
    if name is None:
        return None
    return name, low, high


def _search(values: np.ndarray, value: int | float, side: Literal["left", "right"]) -> int:
    """Where `value` goes in the sorted integers `values`. An integer is searched as one of
    their own type: numpy would compare a Python int with uint64 values as floats, which
    cannot tell 2**63 from 2**63 + 1000."""
    if isinstance(value, int) and values.dtype.kind in "iu":
        low, high = _limits(values.dtype)
        if value < low or value > high:
            return 0 if value < low else len(values)
        value = values.dtype.type(value)
    return int(values.searchsorted(value, side))


@lru_cache(maxsize=16)
def _limits(dtype: np.dtype) -> tuple[int, int]:
    """The smallest and largest values of an integer type."""
    limits = np.iinfo(dtype)
    return int(limits.min), int(limits.max)


def _tighter(current: Bound | None, bound: Bound, direction: int) -> Bound:
    """The narrower of two lower (direction 1) or upper (-1) bounds."""
    if current is None or (bound[0] - current[0]) * direction > 0:
        return bound
    if bound[0] == current[0] and not bound[1]:
        return bound
    return current


def _prunable(kind: pa.DataType) -> bool:
    return (
        pa.types.is_integer(kind)
        or pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_date(kind)
    )
