"""Result column names as PostgreSQL gives them: `count(*)` is "count", `1::int` is "int4".

DataFusion and DuckDB name an unaliased expression after its text ("count(*)", "count_star()");
drivers, pandas and BI tools key on names, so the wire server renames columns the way
PostgreSQL's FigureColname does. A function is named as it was written (`power(2, 3)` is
"power", `ceiling(x)` "ceiling", `now()` "now", whatever sqlglot reads them as), read from the
statement's text at the name's position, and `trim(...)` as the function PostgreSQL makes of it
(btrim, ltrim, rtrim). The columns a `*` stands for keep the engine's names: those are the
columns' own names already; the items beside one `*` (`SELECT *, id`) are named as PostgreSQL
names them.
"""

from __future__ import annotations

import re

from sqlglot import exp

from sidecar.engine.dialect import result_select
from sidecar.servers.pgwire import types

UNKNOWN = "?column?"
STAR = ""  # in a list of names: the columns of a `*`, under the engine's names
WRITTEN_NAME = re.compile(r'[A-Za-z_][A-Za-z0-9_$]*|"(?:[^"]|"")+"')
TRIMS = {"LEADING": "ltrim", "TRAILING": "rtrim"}
FUNCTION_CALL = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\(")
KEYWORD_NAMES: dict[type[exp.Expression], str] = {
    exp.Case: "case",
    exp.Coalesce: "coalesce",
    exp.Nullif: "nullif",
    exp.Greatest: "greatest",
    exp.Least: "least",
    exp.Exists: "exists",
    exp.Array: "array",
    exp.CurrentDate: "current_date",
    exp.CurrentTimestamp: "current_timestamp",
    exp.CurrentTime: "current_time",
    exp.Interval: "interval",
    exp.AtTimeZone: "timezone",  # PostgreSQL calls timezone(zone, ts)
}


def output_names(statement: exp.Expression, text: str = "") -> list[str] | None:
    """One name per output column (`STAR` for the columns of one `*`), or None when the
    engine's names should stand; `text` is the statement's text, where its functions' names
    are read as written."""
    select = result_select(statement)
    if select is None:
        return None
    names = []
    for projection in select.expressions:
        names.append(STAR if projection.is_star else _name(projection, text)[0])
    if names.count(STAR) > 1 or names == [STAR]:
        return None
    return names


def resolved(names: list[str] | None, engine: list[str]) -> list[str] | None:
    """`names` for a result the engine named `engine`: the columns of a `*` under the
    engine's names; None when they do not fit it."""
    if names is None or STAR not in names:
        return names if names is not None and len(names) == len(engine) else None
    star = names.index(STAR)
    after = len(names) - star - 1
    if len(engine) < len(names) - 1:
        return None
    return names[:star] + engine[star : len(engine) - after] + names[star + 1 :]


def _name(node: exp.Expression, text: str) -> tuple[str, int]:
    """The name and how strongly it was chosen (2: a real name, 1: a fallback, 0: none)."""
    if isinstance(node, exp.Alias):
        return _identifier(node.args["alias"]), 2
    if isinstance(node, exp.Column):
        return _identifier(node.this), 2
    if isinstance(node, exp.Paren | exp.Window | exp.WithinGroup | exp.Filter):
        return _name(node.this, text)
    if isinstance(node, exp.Cast):
        name, strength = _name(node.this, text)
        if strength >= 2:
            return name, strength
        return _type_name(node.to), 1
    written = _written(node, text)
    if written is not None:
        return written, 2
    if isinstance(node, exp.Trim):
        return TRIMS.get(node.text("position").upper(), "btrim"), 2
    for kind, name in KEYWORD_NAMES.items():
        if isinstance(node, kind):
            return name, 1 if kind is exp.Case else 2
    if isinstance(node, exp.Dot) and isinstance(node.expression, exp.Func):
        return _name(node.expression, text)
    if isinstance(node, exp.Anonymous):
        return node.name.lower(), 2
    if isinstance(node, exp.Func) and not isinstance(node, exp.Binary | exp.Unary):
        called = FUNCTION_CALL.match(node.sql(dialect="postgres"))
        return (called.group(1) if called else node.sql_name()).lower(), 2
    if isinstance(node, exp.Subquery):
        inner = output_names(node.this, text)
        return (inner[0], 2) if inner and inner[0] != STAR else (UNKNOWN, 0)
    return UNKNOWN, 0


def _written(node: exp.Expression, text: str) -> str | None:
    """A function call's name as the text spells it (sqlglot reads `power()` and `mod()` as
    operators, `char_length()` as LENGTH, `now()` as CURRENT_TIMESTAMP): the parser records
    where the name stood."""
    if not isinstance(node, exp.Func | exp.Binary) or not node._meta:
        return None
    start, end = node.meta.get("start"), node.meta.get("end")
    if not isinstance(start, int) or not isinstance(end, int):
        return None
    word = text[start : end + 1]
    if not WRITTEN_NAME.fullmatch(word):
        return None
    return word[1:-1].replace('""', '"') if word.startswith('"') else word.lower()


def _identifier(identifier: exp.Expression) -> str:
    if isinstance(identifier, exp.Identifier) and identifier.quoted:
        return identifier.name
    return identifier.name.lower()


def _type_name(data_type: exp.DataType) -> str:
    found = types.SQL_TYPES.get(data_type.this) if isinstance(data_type, exp.DataType) else None
    return found.name if found else data_type.sql(dialect="postgres").lower()
