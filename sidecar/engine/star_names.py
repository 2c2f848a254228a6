"""Select items named as a column of a `*` beside them, named apart for DataFusion.

PostgreSQL answers `SELECT *, id FROM t` with two columns named `id`; DataFusion refuses it
("Projections require unique expression names"), as it refuses `SELECT id, id` (which
`dialect` names apart). Which names a `*` stands for depends on the tables under it, so the
planner, knowing each scan's schema, aliases each item beside a star that is named as one of
the star's columns `<name>_<n>`, as `dialect` names repeated items. The columns of the `*` keep
their own names; the Postgres wire still names the item as PostgreSQL does (`names.py`), and
the HTTP API, whose JSON objects cannot hold one key twice, answers `id_2`.
"""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.scope import Scope, traverse_scope

from sidecar.engine.dialect import output_name


def name_apart(statement: exp.Expression, schemas: Mapping[str, pa.Schema]) -> None:
    """Alias the items of each select of `statement` that a `*` of it also names; `schemas`
    are the scans' schemas by scan name."""
    if not any(_beside_star(select) for select in statement.find_all(exp.Select)):
        return
    try:
        scopes = traverse_scope(statement)
    except SqlglotError:
        return
    for scope in scopes:
        select = scope.expression
        if not isinstance(select, exp.Select) or not _beside_star(select):
            continue
        starred = _starred(scope, schemas)
        if starred is None:
            continue
        taken = starred | {_folded(item) for item in select.expressions if not item.is_star}
        for item in list(select.expressions):
            name = _folded(item)
            if item.is_star or name not in starred:
                continue
            number = 2
            while f"{name}_{number}" in taken:
                number += 1
            taken.add(f"{name}_{number}")
            item.replace(exp.alias_(item.unalias().copy(), f"{name}_{number}", quoted=True))


def _beside_star(select: exp.Select) -> bool:
    items = select.expressions
    return len(items) > 1 and any(item.is_star for item in items)


def _folded(item: exp.Expression) -> str:
    """The item's name as DataFusion compares it: unquoted names folded to lower case."""
    name = output_name(item)
    node = item.args.get("alias") if isinstance(item, exp.Alias) else item
    if isinstance(node, exp.Column):
        node = node.this
    quoted = isinstance(node, exp.Identifier) and node.quoted
    return name if quoted else name.lower()


def _starred(scope: Scope, schemas: Mapping[str, pa.Schema]) -> set[str] | None:
    """The names of the columns the stars of the scope's select stand for; None if a source
    is not known."""
    names: set[str] = set()
    sources = scope.selected_sources
    for item in scope.expression.expressions:
        if not item.is_star:
            continue
        table = item.table if isinstance(item, exp.Column) else ""
        chosen = [sources[table]] if table in sources else list(sources.values())
        if table and table not in sources:
            return None
        for _, source in chosen:
            columns = _columns(source, schemas)
            if columns is None:
                return None
            names |= columns
    return names


def _columns(source: exp.Expression | Scope, schemas: Mapping[str, pa.Schema]) -> set[str] | None:
    if isinstance(source, exp.Table):
        schema = schemas.get(source.name)
        return None if schema is None else set(schema.names)
    if not isinstance(source, Scope):
        return None
    select = source.expression
    while isinstance(select, exp.SetOperation):
        select = select.this
    if not isinstance(select, exp.Select):
        return None
    names = {_folded(item) for item in select.expressions if not item.is_star}
    if any(item.is_star for item in select.expressions):
        inner = _starred(source, schemas) if select is source.expression else None
        if inner is None:
            return None
        names |= inner
    return names
