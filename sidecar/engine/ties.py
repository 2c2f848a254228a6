"""`FETCH FIRST n ROWS WITH TIES` as the QUALIFY of a window rank that DataFusion runs.

PostgreSQL's WITH TIES returns the first n rows in the ORDER BY and every further row equal to
the n-th in it; DataFusion does not implement it, and sqlglot writes it for DuckDB or MySQL as
a plain `LIMIT n`, silently dropping the ties. A row is among the first n rows or tied with
the n-th exactly when fewer than n rows sort strictly before it: when its `rank()` over the
ORDER BY is at most n. With `OFFSET m` the first m rows (by `row_number()` over the same order)
are skipped and the n counted after them. QUALIFY filters on the window without wrapping the
query, so the select list, its names and the ORDER BY stay as written.

Two shapes have no such reading and are refused with the form to write instead: DISTINCT
(ranks would count the duplicates DISTINCT removes after them) and a set operation's FETCH.
"""

from __future__ import annotations

from sqlglot import exp

from sidecar.errors import ErrorCode, SidecarError


def with_ties(node: exp.Expression) -> bool:
    """Whether `node` is a `FETCH ... WITH TIES`."""
    options = node.args.get("limit_options") if isinstance(node, exp.Fetch) else None
    return bool(options is not None and options.args.get("with_ties"))


def has_ties(statement: exp.Expression) -> bool:
    return any(with_ties(fetch) for fetch in statement.find_all(exp.Fetch))


def qualified(statement: exp.Expression) -> exp.Expression:
    """`statement` with each SELECT's `FETCH ... WITH TIES` written as a QUALIFY (a copy when
    there is one, else the statement itself)."""
    if not has_ties(statement):
        return statement
    statement = statement.copy()
    for fetch in [fetch for fetch in statement.find_all(exp.Fetch) if with_ties(fetch)]:
        _qualify(fetch)
    return statement


def _qualify(fetch: exp.Fetch) -> None:
    select = fetch.parent
    if not isinstance(select, exp.Select):
        raise _refused(
            "FETCH FIRST ... WITH TIES on a UNION, INTERSECT or EXCEPT is not supported",
            "select from it as a subquery: SELECT * FROM (... UNION ...) AS u "
            "ORDER BY ... FETCH FIRST n ROWS WITH TIES",
        )
    order = select.args.get("order")
    if order is None:
        raise SidecarError(
            ErrorCode.SYNTAX,
            "WITH TIES cannot be specified without ORDER BY clause",
            hint="add the ORDER BY whose equal rows are the ties, or write FETCH ... ROWS ONLY",
        )
    if select.args.get("distinct"):
        raise _refused(
            "FETCH FIRST ... WITH TIES with SELECT DISTINCT is not supported",
            "select the distinct rows in a subquery: SELECT * FROM (SELECT DISTINCT ...) AS d "
            "ORDER BY ... FETCH FIRST n ROWS WITH TIES",
        )
    keys = [_resolved(key, select) for key in order.expressions]
    if any(key.find(exp.Window) for key in keys):
        raise _refused(
            "FETCH FIRST ... WITH TIES ordered by a window function is not supported",
            "compute the window in a subquery and order the outer query by its column",
        )
    count = _count(fetch)
    offset = select.args.get("offset")
    skipped = offset.expression.copy() if offset is not None else None
    last = count if skipped is None else exp.Add(this=exp.paren(count), expression=skipped)
    condition: exp.Expression = exp.LTE(this=_window("rank", keys), expression=last)
    if skipped is not None:
        above = exp.GT(this=_window("row_number", keys), expression=skipped.copy())
        condition = exp.and_(condition, above)
    if select.args.get("qualify") is not None:
        condition = exp.and_(select.args["qualify"].this, condition)
    select.set("qualify", exp.Qualify(this=condition))
    select.set("limit", None)
    select.set("offset", None)


def _count(fetch: exp.Fetch) -> exp.Expression:
    """The row count, refused as PostgreSQL refuses it when it is NULL or negative."""
    count = fetch.args.get("count")
    if count is None:
        return exp.Literal.number(1)
    value = count.unnest()
    if isinstance(value, exp.Null):
        raise SidecarError(
            ErrorCode.QUERY,
            "row count cannot be null in FETCH FIRST ... WITH TIES clause",
            hint="give the number of rows (0 or more)",
        )
    if isinstance(value, exp.Neg) and isinstance(value.this, exp.Literal):
        raise SidecarError(
            ErrorCode.QUERY, "LIMIT must not be negative", hint="give 0 or more rows"
        )
    return count.copy()


def _resolved(key: exp.Ordered, select: exp.Select) -> exp.Ordered:
    """An ORDER BY key as the expression it sorts by: a position or an output name (which
    PostgreSQL reads before an input column's) becomes the select item it names."""
    key = key.copy()
    this = key.this
    items = select.expressions
    if isinstance(this, exp.Literal) and not this.is_string and this.this.isdigit():
        position = int(this.this)
        if 1 <= position <= len(items):
            key.set("this", items[position - 1].unalias().copy())
    elif isinstance(this, exp.Column) and not this.table:
        named = [item for item in items if isinstance(item, exp.Alias) and item.alias == this.name]
        if named:
            key.set("this", named[0].this.copy())
    return key


def _window(function: str, keys: list[exp.Ordered]) -> exp.Window:
    order = exp.Order(expressions=[key.copy() for key in keys])
    return exp.Window(this=exp.Anonymous(this=function), order=order)


def _refused(message: str, hint: str) -> SidecarError:
    return SidecarError(ErrorCode.QUERY, message, hint=hint)
