"""Grouped queries a source answers itself, so one row per group travels instead of every row.

When a statement is one SELECT over one dataset with GROUP BY or aggregates, its core (FROM,
WHERE, GROUP BY and the select list) may be something the source computes exactly: a MongoDB
aggregate pipeline, say. `split` cuts the statement in two: the core the connector is asked for
(`Connector.aggregate`), and the statement DataFusion runs over the groups it returns,
`SELECT o0, o1, … FROM <groups>` with the query's ORDER BY, LIMIT, OFFSET and DISTINCT, and its
HAVING as a WHERE. Anything that cannot be carried over onto those outputs exactly (a sort key
or a HAVING aggregate that is not a select item, an ambiguous name) makes `split` return None
and the query keeps its ordinary plan, so no answer depends on whether a source grouped it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from sqlglot import exp
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers

from connectors.base import AggregateScan

DIALECT = "postgres"
# The clauses a grouped SELECT may have; any other (WITH, joins, windows, QUALIFY, …) keeps the
# ordinary plan.
CLAUSES = frozenset(
    {"expressions", "from_", "where", "group", "having", "order", "limit", "offset", "distinct"}
)
NESTED = (exp.Query, exp.Subquery, exp.Window, exp.Lateral, exp.Unnest)
SETS = (exp.Rollup, exp.Cube, exp.GroupingSets)


@dataclass(frozen=True)
class Split:
    """The core a source may answer, and DataFusion's statement over that core's outputs."""

    core: exp.Select
    outer: exp.Select


@dataclass(frozen=True)
class GroupedQuery:
    """A grouped query whose source computes the groups.

    DataFusion reads the source's answer as the table `name`, whose column `o<i>` is select
    item i, and runs `outer` over it.
    """

    name: str
    answer: AggregateScan
    outer: exp.Select

    @property
    def columns(self) -> list[str]:
        return [f"o{position}" for position in range(len(self.outer.expressions))]

    def named(self, names: Sequence[str]) -> exp.Select:
        """The outer statement with its outputs named as the unpushed query names them
        (`count(*)` when unaliased), which only DataFusion's plan of that query knows."""
        outer = self.outer.copy()
        columns = outer.expressions
        outer.set(
            "expressions",
            [exp.alias_(c, name, quoted=True) for c, name in zip(columns, names, strict=True)],
        )
        return outer


class _Unmovable(Exception):
    """A clause that cannot be carried over onto the outputs of the groups exactly."""


@dataclass(frozen=True)
class _SelectList:
    """A grouped query's select items (identifiers normalised, columns unqualified), their
    aliases, and the output columns of the groups table that carry them."""

    items: list[exp.Expression]
    aliases: list[str]
    outputs: list[exp.Column]
    dataset: Collection[str]

    def group_key(self, key: exp.Expression) -> exp.Expression:
        """A GROUP BY key as an expression over the rows: an ordinal or an output name stands
        for its select item."""
        position = self._position(key)
        return _unqualified(key) if position is None else self.items[position].copy()

    def sort_key(self, key: exp.Expression) -> exp.Expression:
        """An ORDER BY key over the outputs: an ordinal, an output name, or an expression of
        select items."""
        position = self._position(key)
        return self.over_outputs(key) if position is None else self.outputs[position].copy()

    def over_outputs(self, node: exp.Expression) -> exp.Expression:
        """`node` with every select item in it replaced by its output; it must not need the
        rows any more (a column or an aggregate that is not a select item)."""

        def swap(part: exp.Expression) -> exp.Expression:
            for item, output in zip(self.items, self.outputs, strict=True):
                if part == item:
                    return output.copy()
            return part

        rewritten = _unqualified(node).transform(swap)
        if rewritten.find(exp.AggFunc) or any(
            column not in self.outputs for column in rewritten.find_all(exp.Column)
        ):
            raise _Unmovable(node.sql(DIALECT))
        return rewritten

    def _position(self, key: exp.Expression) -> int | None:
        """The select item an ordinal or an output name refers to; None if the key is neither.

        A name is ambiguous when several outputs have it, or when a column of the dataset has
        it and means something else: PostgreSQL groups by the column but sorts by the output,
        and other engines differ, so such a query keeps the ordinary plan.
        """
        ordinal = _ordinal(key)
        if ordinal is not None:
            if not 1 <= ordinal <= len(self.items):
                raise _Unmovable(f"position {ordinal}")
            return ordinal - 1
        if not _bare(key) or key.name not in self.aliases:
            return None
        name = key.name
        position = self.aliases.index(name)
        if self.aliases.count(name) > 1 or (
            name in self.dataset and self.items[position] != exp.column(name, quoted=True)
        ):
            raise _Unmovable(f"ambiguous {name}")
        return position


def split(
    statement: exp.Expression, scan: str, groups: str, relation: str, dataset: Collection[str]
) -> Split | None:
    """Cut a grouped SELECT over the one table `scan` into its core (FROM `relation`, columns
    unqualified) and the statement over the outputs of the table `groups`; None if it is not
    such a SELECT or a clause cannot move onto the outputs. `dataset` are the column names."""
    if not isinstance(statement, exp.Select) or not _is_grouped_scan(statement, scan):
        return None
    select = normalize_identifiers(statement.copy(), dialect=DIALECT)
    items = [_unqualified(item.unalias()) for item in select.expressions]
    outputs = [exp.column(f"o{i}", table=groups, quoted=True) for i in range(len(items))]
    select_list = _SelectList(items, [item.alias for item in select.expressions], outputs, dataset)
    group = select.args.get("group")
    try:
        keys = [select_list.group_key(key) for key in (group.expressions if group else [])]
        outer = _outer(select, select_list, groups)
    except _Unmovable:
        return None
    where = select.args.get("where")
    core = exp.Select(
        expressions=[item.copy() for item in items],
        from_=exp.From(this=exp.Table(this=exp.to_identifier(relation, quoted=True))),
        where=exp.Where(this=_unqualified(where.this)) if where is not None else None,
        group=exp.Group(expressions=keys) if keys else None,
    )
    return Split(core, outer)


def _is_grouped_scan(select: exp.Select, scan: str) -> bool:
    """One plain SELECT that groups or aggregates and reads only the table `scan`."""
    if any(value for key, value in select.args.items() if key not in CLAUSES):
        return False
    source = select.args.get("from_")
    if source is None or not isinstance(source.this, exp.Table) or source.this.name != scan:
        return False
    if any(item.is_star for item in select.expressions):
        return False
    if any(node is not select for node in select.find_all(*NESTED)):
        return False
    if any(column.args.get("db") for column in select.find_all(exp.Column)):
        return False
    distinct = select.args.get("distinct")
    if distinct is not None and distinct.args.get("on") is not None:
        return False
    group = select.args.get("group")
    if group is not None and not _plain_keys(group):
        return False
    return group is not None or any(item.find(exp.AggFunc) for item in select.expressions)


def _plain_keys(group: exp.Group) -> bool:
    """GROUP BY a list of keys: no ROLLUP, CUBE, GROUPING SETS or ALL, whose groups overlap."""
    if any(value for key, value in group.args.items() if key != "expressions"):
        return False
    return not any(isinstance(key, SETS) for key in group.expressions)


def _outer(select: exp.Select, select_list: _SelectList, groups: str) -> exp.Select:
    """DataFusion's statement over the groups: HAVING becomes a WHERE on the outputs, and the
    ORDER BY, LIMIT, OFFSET and DISTINCT apply to them as they did to the groups."""
    outer = exp.Select(
        expressions=[output.copy() for output in select_list.outputs],
        from_=exp.From(this=exp.Table(this=exp.to_identifier(groups, quoted=True))),
    )
    having = select.args.get("having")
    if having is not None:
        outer.set("where", exp.Where(this=select_list.over_outputs(having.this)))
    order = select.args.get("order")
    if order is not None:
        keys = []
        for key in order.expressions:
            ordered = key.copy()
            ordered.set("this", select_list.sort_key(key.this))
            keys.append(ordered)
        outer.set("order", exp.Order(expressions=keys))
    for clause in ("limit", "offset", "distinct"):
        value = select.args.get(clause)
        if value is not None:
            outer.set(clause, value.copy())
    return outer


def _ordinal(node: exp.Expression) -> int | None:
    if isinstance(node, exp.Literal) and not node.is_string and node.this.isdigit():
        return int(node.this)
    return None


def _bare(node: exp.Expression) -> bool:
    return isinstance(node, exp.Column) and not node.table


def _unqualified(node: exp.Expression) -> exp.Expression:
    """A copy whose columns are named as in the dataset, without the table they came from."""
    return node.transform(
        lambda part: exp.column(part.name, quoted=True) if isinstance(part, exp.Column) else part
    )
