"""`AT TIME ZONE` on a timestamp with a time zone, as PostgreSQL reads it.

In PostgreSQL `timestamptz AT TIME ZONE 'America/New_York'` is the wall-clock time there, a
timestamp without a zone (`2024-01-01 07:00:00` for noon UTC); DataFusion only relabels the
instant with the zone, so every client received noon UTC again. A timestamp without a zone
is read alike by both (the wall time in that zone, as an instant). Which of the two an operand
is depends on its type, which the text does not say: the planner, knowing the scans' schemas,
marks each `AT TIME ZONE` whose operand has a zone (`mark`), and the SQL DataFusion runs
takes the marked ones down to their local time (`to_local_time`, in `dialect`). An operand
whose type the marking cannot tell (a column of a subquery) keeps DataFusion's reading.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pyarrow as pa
from sqlglot import exp

LOCAL = "local_time"  # meta key of an AT TIME ZONE whose answer is the zone's wall time
ZONED_FUNCTIONS = ("now", "current_timestamp", "transaction_timestamp", "statement_timestamp")


def mark(statement: exp.Expression, tables: Iterable[tuple[str, pa.Schema]]) -> None:
    """Mark each `x AT TIME ZONE z` of `statement` whose `x` is known to have a zone;
    `tables` are the (alias, schema) of the tables it reads."""
    schemas: dict[str, list[pa.Schema]] = {}
    for alias, schema in tables:
        schemas.setdefault(alias, []).append(schema)
    for node in statement.find_all(exp.AtTimeZone):
        if _zoned(node.this, schemas):
            node.meta[LOCAL] = True


def local(node: exp.AtTimeZone) -> bool:
    return bool(node._meta and node.meta.get(LOCAL))


def _zoned(node: exp.Expression, schemas: Mapping[str, list[pa.Schema]]) -> bool | None:
    """Whether the timestamp `node` has a zone; None when that is not known."""
    node = node.unnest()
    if isinstance(node, exp.AtTimeZone):
        inner = _zoned(node.this, schemas)
        return None if inner is None else not inner
    if isinstance(node, exp.Cast):
        if node.to.is_type(exp.DataType.Type.TIMESTAMPTZ):
            return True
        return False if node.to.is_type(exp.DataType.Type.TIMESTAMP) else None
    if isinstance(node, exp.CurrentTimestamp):
        return True
    if isinstance(node, exp.Anonymous | exp.Func) and node.name.lower() in ZONED_FUNCTIONS:
        return True
    if isinstance(node, exp.Column):
        if node.table:
            candidates = schemas.get(node.table, [])
        else:
            candidates = [schema for named in schemas.values() for schema in named]
        types = {
            schema.field(node.name).type
            for schema in candidates
            if schema.get_field_index(node.name) >= 0
        }
        if len(types) == 1 and pa.types.is_timestamp(kind := types.pop()):
            return kind.tz is not None
    return None
