"""Plans kept across executions: one statement shape is parsed, checked and planned once.

Agents loop: the same statement comes back with other values (a pg extended-protocol or Flight
prepared statement executed again, an HTTP query with parameters), from one client or from
sixty-four. Planning it (the guard's parse, sqlglot's qualification and pushdown analysis,
DataFusion's planning for the result's types) costs far more than answering a point lookup, so
a plan is made once per shape and kept as a `Template`: the plan with each parameter's literal
marked (`params.SLOT`), the SQL it sends rendered once with a marker in each slot, and its
result schema. Executing it again writes the new values' literals where the markers are (in the
SQL sent to the source, in DataFusion's, in each scan's pushed filters): the plan planning them
afresh would make, without making it.

A shape is the statement's text, the caller's grant (identity and policy: a plan holds the
policy's restrictions and only what the grant sees) and each parameter's kind (DataFusion types
a result by its literals' kinds, an int or a string, never by their values). A template serves
only while every dataset it reads is as it was planned against (the same refresh generation and
connector), and only where no value steers a planning decision: a parameter in LIMIT, OFFSET,
ORDER BY or GROUP BY, a grouped answer from the source, a search function or a system table
keeps a statement planned each time, and so does a value its source no longer takes as a filter
(asked again on each execution). The guard's verdict depends only on the text, so checked
statements are kept by text (`Statements`).
"""

from __future__ import annotations

import datetime as dt
import math
import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, Generic, TypeVar

import pyarrow as pa
from sqlglot import exp

from policies.access import Grant
from sidecar.engine.catalog import Catalog
from sidecar.engine.dialect import UncheckedText, datafusion_sql, exact_type
from sidecar.engine.interrupt import checkpoint
from sidecar.engine.lookups import Lookup
from sidecar.engine.params import SLOT, parameter
from sidecar.engine.planner import Plan, complete_minutes, pushed_sql

KEPT_PLANS = 1024
KEPT_STATEMENTS = 1024
MARKER = f"__slot_{secrets.token_hex(8)}_"  # unguessable: no agent's SQL can contain it
MARKED = re.compile(re.escape(MARKER) + r"(\d+)__")
STEERING = (exp.Limit, exp.Offset, exp.Fetch, exp.Order, exp.Group)
COMPARED = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.In, exp.Between, exp.Like)
# Where a parameter's value is used as it is. Anywhere else (`$1 + 1`, `$1 || $2`, `lower($1)`,
# CASE, coalesce, a comparison with no column) the planner may compute a constant from it, and
# the constant is no slot: the kept plan answered every later value with the first one's
# (`id = $1 * 2` gave the rows of 3 * 2 for 8 too), so such a statement is planned each time.
PREDICATES = (*COMPARED, exp.ILike)
AS_IS = (*PREDICATES, exp.Alias, exp.Select, exp.Any, exp.Tuple)
K = TypeVar("K", bound=Hashable)
Shape = tuple[str, str, tuple[str, ...]]  # the text, the grant's key, the parameters' kinds
V = TypeVar("V")


class Kept(Generic[K, V]):
    """A small LRU map shared by every thread: an OrderedDict under a lock (its C methods
    keep a hit to a fraction of a microsecond, which a lookup's plan is asked for each time)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
            return item

    def put(self, key: K, item: V) -> None:
        with self._lock:
            self._items[key] = item
            self._items.move_to_end(key)
            if len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


class Statements:
    """Checked statements by text: each text is read (parsed, guarded, measured) once."""

    def __init__(
        self, read: Callable[[str], exp.Expression], capacity: int = KEPT_STATEMENTS
    ) -> None:
        self.read = read
        self._kept: Kept[str, exp.Expression] = Kept(capacity)

    def checked(self, sql: str) -> exp.Expression:
        """The one statement of `sql` as `read` gives it (which raises its refusal); a copy
        the caller may change."""
        tree = self._kept.get(sql)
        if tree is None:
            tree = self.read(sql)
            self._kept.put(sql, tree)
        return tree.copy()


@dataclass(frozen=True)
class Rendered:
    """SQL text with parameter slots: `parts[0] slot[0] parts[1] ...`."""

    parts: tuple[str, ...]
    slots: tuple[int, ...]

    @classmethod
    def of(cls, tree: exp.Expression, write: Callable[[exp.Expression], str]) -> Rendered | None:
        """`tree` written with a marker in each parameter slot; None when a marker did not
        come through the writer intact."""
        text = write(marked(tree))
        pieces = MARKED.split(text)
        parts, slots = tuple(pieces[0::2]), tuple(int(n) for n in pieces[1::2])
        if any(MARKER in part for part in parts):
            return None
        return cls(parts, slots)

    def text(self, values: dict[int, str]) -> str:
        out = [self.parts[0]]
        for slot, part in zip(self.slots, self.parts[1:], strict=True):
            out += (values[slot], part)
        return "".join(out)


@dataclass(frozen=True)
class Template:
    """A plan kept for a shape, and what executing it with new values takes."""

    plan: Plan
    schema: pa.Schema
    stamp: tuple[tuple[str, int, int], ...]
    sql: Rendered
    pushed: Rendered | None
    filters: dict[str, tuple[tuple[int, exp.Expression], ...]]
    written: dict[int, exp.Expression]  # the literals lifted from the text, as first planned
    lookup: Lookup | None = None  # the plan as a keyed lookup (lookups.py), if it is one
    names: Rendered | None = None  # the plan's names_sql

    @classmethod
    def of(
        cls, plan: Plan, schema: pa.Schema, catalog: Catalog, parameters: int
    ) -> Template | None:
        """The template of a fresh plan (of a statement taking `parameters`), or None when it
        cannot be executed again safely."""
        if plan.grouped is not None or not plan.scans or _steered(plan.statement):
            return None
        if _computed(plan.statement):
            return None
        stamp = _stamp(plan, catalog)
        if stamp is None:
            return None
        sql = Rendered.of(plan.statement, datafusion_sql)
        pushed = None
        if plan.pushed is not None:
            dialect = plan.pushed.connector.dialect
            pushed = Rendered.of(plan.pushed.statement, lambda tree: pushed_sql(tree, dialect))
        filters = {
            scan.name: tuple(
                (position, predicate)
                for position, predicate in enumerate(scan.request.filters)
                if _slots(predicate)
            )
            for scan in plan.scans
        }
        if sql is None or (plan.pushed is not None and pushed is None):
            return None
        values = _originals(plan)
        if values is None:
            return None
        written = {index: node for index, node in values.items() if index > parameters}
        kept = {name: predicates for name, predicates in filters.items() if predicates}
        names = None
        if plan.names_sql is not None:
            names = Rendered.of(plan.statement, lambda tree: datafusion_sql(tree, UncheckedText))
            if names is None:
                return None
        template = cls(plan, schema, stamp, sql, pushed, kept, written, Lookup.of(plan), names)
        return template if template._reproduces(plan, values) else None

    def current(self, catalog: Catalog) -> bool:
        """Whether every dataset it reads is as it was planned against (`_stamp`'s check, in
        the order that costs least: asked for every lookup)."""
        datasets = catalog.datasets
        for relation, generation, connector in self.stamp:
            entry = datasets.get(relation.lower())
            if entry is None or entry.name != relation or entry.generation != generation:
                return False
            if id(entry.require()[0]) != connector:
                return False
        return True

    def execute(
        self,
        parameters: Sequence[Any],
        catalog: Catalog,
        written: Sequence[exp.Expression] | None = None,
    ) -> Plan | None:
        """The plan for `parameters` (and the literals `written` in a text of the same shape,
        else those it was planned with), or None when it must be planned afresh (a dataset
        changed since, or its source does not take a filter with these values)."""
        if not self.current(catalog):
            return None
        nodes = {index: _literal(value, index) for index, value in enumerate(parameters, start=1)}
        if written is None:
            nodes.update(self.written)
        else:
            for index, node in enumerate(written, start=len(parameters) + 1):
                nodes[index] = completed(node)
        return self._with(nodes)

    def _with(self, nodes: dict[int, exp.Expression]) -> Plan | None:
        scans = []
        for scan in self.plan.scans:
            kept = self.filters.get(scan.name)
            if not kept:
                scans.append(scan)
                continue
            filters = list(scan.request.filters)
            for position, predicate in kept:
                filters[position] = substituted(predicate, nodes)
                if not scan.connector.accepts_filter(filters[position]):
                    return None
            scans.append(replace(scan, request=replace(scan.request, filters=filters)))
        pushed = None
        if self.plan.pushed is not None and self.pushed is not None:
            connector = self.plan.pushed.connector
            texts = {i: pushed_sql(node, connector.dialect) for i, node in nodes.items()}
            pushed = replace(self.plan.pushed, sql=self.pushed.text(texts))
        texts = {i: datafusion_sql(node.copy()) for i, node in nodes.items()}
        names = self.names.text(texts) if self.names is not None else None
        sql = self.sql.text(texts)
        return replace(self.plan, sql=sql, scans=scans, pushed=pushed, names_sql=names)

    def _reproduces(self, plan: Plan, nodes: dict[int, exp.Expression]) -> bool:
        """Whether the first values, put back in, give exactly the plan they were planned in:
        the check that every slot is where its value was, in every text sent."""
        again = self._with(nodes)
        if again is None or again.sql != plan.sql or again.names_sql != plan.names_sql:
            return False
        if (again.pushed and again.pushed.sql) != (plan.pushed and plan.pushed.sql):
            return False
        return all(
            [f.sql() for f in mine.request.filters] == [f.sql() for f in theirs.request.filters]
            for mine, theirs in zip(again.scans, plan.scans, strict=True)
        )


class Plans:
    """Templates by shape, shared by every client and thread."""

    def __init__(self, catalog: Catalog, capacity: int = KEPT_PLANS) -> None:
        self.catalog = catalog
        self._kept: Kept[Shape, Template] = Kept(capacity)
        self.hits = 0
        self.misses = 0

    @staticmethod
    def shape(sql: str, grant: Grant, parameters: Sequence[Any]) -> Shape:
        return (sql, grant.key, tuple(map(kind, parameters)))

    @staticmethod
    def written_shape(
        statement: exp.Expression, grant: Grant, parameters: Sequence[Any]
    ) -> tuple[Shape, list[exp.Expression]] | None:
        """The shape of a statement whatever the literals written in its comparisons, and
        those literals (marked as slots after the parameters, in a fixed order); None when
        it has none."""
        written = lift(statement, len(parameters))
        if not written:
            return None
        kinds = tuple(kind(value) for value in parameters) + tuple(map(literal_kind, written))
        return (marked(statement).sql(dialect="postgres"), grant.key, kinds), written

    def template(self, shape: Shape) -> Template | None:
        return self._kept.get(shape)

    def plan(
        self,
        shape: Shape,
        parameters: Sequence[Any],
        written: Sequence[exp.Expression] | None = None,
    ) -> tuple[Plan, pa.Schema] | None:
        """The kept plan of `shape` for `parameters` (and `written` literals) and its result
        schema, if there is one."""
        template = self._kept.get(shape)
        plan = template.execute(parameters, self.catalog, written) if template is not None else None
        if plan is None or template is None:
            self.misses += 1
            return None
        self.hits += 1
        return plan, template.schema

    def keep(self, shapes: Sequence[Shape], plan: Plan, schema: pa.Schema, parameters: int) -> None:
        template = Template.of(plan, schema, self.catalog, parameters)
        if template is not None:
            for shape in shapes:
                self._kept.put(shape, template)

    def clear(self) -> None:
        """Forget every plan (the policies changed)."""
        self._kept.clear()

    def __len__(self) -> int:
        return len(self._kept)


def kind(value: Any) -> str:
    """What of a parameter's value its plan depends on: the kind of literal it binds to, and
    the shape of that literal's tree (a negative number is a negation, a float that is not
    finite a cast), so that every value of a kind is written the same way."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return ("-" if value < 0 else "") + ("int" if -(1 << 63) <= value < (1 << 63) else "big")
    if isinstance(value, float):
        if not math.isfinite(value):
            return "float"
        return "-real" if math.copysign(1, value) < 0 else "real"
    if isinstance(value, dt.datetime):
        return "timestamptz" if value.tzinfo is not None else "timestamp"
    if isinstance(value, list | tuple):
        return "[" + ",".join(sorted({kind(item) for item in value})) + "]"
    if isinstance(value, Decimal | str | bytes | dt.date):
        return type(value).__name__
    return f"?{type(value).__name__}"


def lift(statement: exp.Expression, parameters: int) -> list[exp.Expression]:
    """Mark the literals compared with something in `statement` (`x = 5`, `x IN ('a', 'b')`,
    `x BETWEEN 1 AND 9`, `x LIKE 'a%'`) as slots after the statement's `parameters`, so that
    texts differing only in them share a plan; the literals, in slot order."""
    written = [
        node
        for node in statement.walk()
        if isinstance(node, exp.Literal)
        and isinstance(node.parent, COMPARED)
        and not (node._meta and SLOT in node._meta)
    ]
    for index, node in enumerate(written, start=parameters + 1):
        node.meta[SLOT] = index
    return written


def literal_kind(node: exp.Literal) -> str:
    """A written literal's kind: text, or the number DataFusion reads it as."""
    if node.is_string:
        return "text"
    if exact_type(node) is not None:
        return "decimal"
    if node.this.isdigit():
        return "int" if int(node.this) < (1 << 63) else "big"
    return "exp" if "e" in node.this.lower() else "real"


def completed(node: exp.Expression) -> exp.Expression:
    """A copy of a written literal as the planner reads it (minutes completed)."""
    copy = node.copy()
    complete_minutes(copy)
    return copy


def marked(tree: exp.Expression) -> exp.Expression:
    """A copy of `tree` with each parameter's literal replaced by its marker."""
    return _replaced(tree, lambda index: exp.Var(this=f"{MARKER}{index}__"))


def substituted(tree: exp.Expression, nodes: dict[int, exp.Expression]) -> exp.Expression:
    """A copy of `tree` with each parameter's literal replaced by the one in `nodes`."""
    return _replaced(tree, lambda index: nodes[index].copy())


def _replaced(tree: exp.Expression, new: Callable[[int], exp.Expression]) -> exp.Expression:
    """A copy of `tree` with each parameter's literal replaced by `new(its slot)`. A literal in
    a list (an IN list's terms) is replaced by setting the whole list once: sqlglot's
    `replace` renumbers every sibling of the node it replaces, quadratic in the list's length
    (a 2,000-term IN list took seconds)."""
    copy = tree.copy()
    lists: dict[tuple[int, str], tuple[exp.Expression, str, list[Any]]] = {}
    for node in _slotted(copy):
        checkpoint()
        parent, key = node.parent, node.arg_key
        if parent is None:
            continue
        if node.index is None:
            parent.set(key, new(node.meta[SLOT]))
            continue
        _, _, siblings = lists.setdefault((id(parent), key), (parent, key, list(parent.args[key])))
        siblings[node.index] = new(node.meta[SLOT])
    for parent, key, siblings in lists.values():
        parent.set(key, siblings)
    return copy


def _literal(value: Any, index: int) -> exp.Expression:
    node = parameter(value, index)
    complete_minutes(node)
    return node


def _slotted(tree: exp.Expression) -> list[exp.Expression]:
    return [node for node in tree.walk() if node._meta and SLOT in node._meta]


def _slots(tree: exp.Expression) -> bool:
    return any(node._meta and SLOT in node._meta for node in tree.walk())


def _steered(statement: exp.Expression) -> bool:
    """Whether a parameter sits where its value steers planning (a limit, an order, groups)."""
    return any(node.find_ancestor(*STEERING) is not None for node in _slotted(statement))


def _computed(statement: exp.Expression) -> bool:
    """Whether a parameter is an operand of something the planner may fold into a constant."""
    for node in _slotted(statement):
        parent = node.parent
        while isinstance(parent, exp.Paren | exp.Cast):
            parent = parent.parent
        if parent is not None and not isinstance(parent, AS_IS):
            return True
        if isinstance(parent, PREDICATES) and parent.find(exp.Column, exp.Subquery) is None:
            return True  # a comparison of values alone (`$1 = 'x'`, `$1 > $2`) folds too
    return False


def _originals(plan: Plan) -> dict[int, exp.Expression] | None:
    """Each slot's literal as first planned; None if one parameter holds two different ones."""
    found: dict[int, exp.Expression] = {}
    trees = [plan.statement] + [f for scan in plan.scans for f in scan.request.filters]
    if plan.pushed is not None:
        trees.append(plan.pushed.statement)
    for tree in trees:
        for node in _slotted(tree):
            index = node.meta[SLOT]
            if index in found and found[index].sql() != node.sql():
                return None
            found.setdefault(index, node)
    return found


def _stamp(plan: Plan, catalog: Catalog) -> tuple[tuple[str, int, int], ...] | None:
    """Each scanned dataset's refresh generation and connector; None for a plan reading
    anything else (a system table, a search), which is planned each time."""
    stamp = []
    for scan in plan.scans:
        entry = catalog.datasets.get(scan.relation.lower())
        if entry is None or entry.name != scan.relation:
            return None
        connector, _ = entry.require()
        if connector is not scan.connector:
            return None
        stamp.append((scan.relation, entry.generation, id(connector)))
    return tuple(stamp)
