"""How many columns each `*` of a statement stands for, bounded before anything expands it.

`SELECT *` is one item of a select list, so the width bound (`bounds.py`) passes it, however
wide the tables it reads. Yet both planners expand it: sqlglot's qualify and DataFusion's SQL
planner, which takes time growing with the square of the expanded list (5,000 columns 8 s,
20,000 columns 79 s on 2 cores) in native code no cancel reaches. A `SELECT *` over a
70,000-column table planned on for a quarter of an hour after its timeout had been answered.
So a star is counted as the columns it expands to, once the scans' schemas are known, and
refused past runtime.max_expression_width like any other list that wide.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlglot import exp

from sidecar.errors import ErrorCode, SidecarError


def check(statement: exp.Expression, widths: Mapping[str, int], most: int) -> None:
    """Refuse a select list of `statement` whose stars expand past `most` columns; `widths`
    are the column counts of the tables it reads, by the name they are referenced with."""
    ctes = {cte.alias_or_name: cte.this for cte in statement.find_all(exp.CTE) if cte.alias_or_name}
    counted: dict[int, int] = {}

    def width(query: exp.Expression) -> int:
        """The columns `query` returns, its stars expanded (0 where they cannot be told)."""
        if isinstance(query, exp.SetOperation):
            return width(query.left)
        if isinstance(query, exp.Subquery):
            return width(query.this)
        if not isinstance(query, exp.Select):
            return 0
        if id(query) not in counted:
            counted[id(query)] = 0  # a recursive WITH query reads itself
            sources = _sources(query)
            total, first = 0, None
            for item in query.expressions:
                star = item.this if isinstance(item, exp.Column) else item
                if not isinstance(star, exp.Star):
                    total += 1
                    continue
                if first is None:
                    first = item
                if isinstance(item, exp.Column) and item.table:
                    total += source_width(sources.get(item.table))
                else:
                    total += sum(map(source_width, sources.values()))
            if first is not None and total > most:
                raise _too_wide(first, total, most)
            counted[id(query)] = total
        return counted[id(query)]

    def source_width(source: exp.Expression | None) -> int:
        if isinstance(source, exp.Table):
            if source.name in widths:
                return widths[source.name]
            cte = ctes.get(source.name)
            return width(cte) if cte is not None else 0
        return width(source) if source is not None else 0

    for select in statement.find_all(exp.Select):
        width(select)


def named(
    statement: exp.Expression, widths: Mapping[str, int], most: int | None
) -> dict[str, set[str]]:
    """For each table wider than `most` columns (`widths` as for `check`), the names (lower
    case) the statement writes: no star expands over it (`check` refused that), so sqlglot's
    qualify needs no other of its columns, and reading 70,000 of them into its schema took
    seconds per statement. Nothing when a NATURAL join would match columns never named."""
    if most is None or any(
        join.args.get("method") == "NATURAL" for join in statement.find_all(exp.Join)
    ):
        return {}
    wide = [name for name, width in widths.items() if width > most]
    if not wide:
        return {}
    written = {identifier.name.lower() for identifier in statement.find_all(exp.Identifier)}
    return dict.fromkeys(wide, written)


def _sources(select: exp.Select) -> dict[str, exp.Expression]:
    """The relations a select reads, by the name its columns use for them."""
    found: dict[str, exp.Expression] = {}
    from_ = select.args.get("from_")
    for source in [
        from_.this if from_ else None,
        *(j.this for j in select.args.get("joins") or []),
    ]:
        if isinstance(source, exp.Table | exp.Subquery):
            found[source.alias_or_name] = source
    return found


def _too_wide(star: exp.Expression, count: int, most: int) -> SidecarError:
    start = next((node.meta["start"] for node in star.walk() if "start" in node.meta), None)
    return SidecarError(
        ErrorCode.TOO_COMPLEX,
        f"the select list holds {count:,} columns once * is expanded, more than "
        "runtime.max_expression_width "
        f"({most:,}): the planners expand it, taking time growing with the square of its width",
        hint="name the columns you need (DESCRIBE the table lists them), or raise "
        "runtime.max_expression_width",
        position=start + 1 if isinstance(start, int) else None,
    )
