"""Comparisons with ANY or ALL of a subquery, which DataFusion answers wrongly.

DataFusion 55 plans `x op ANY (SELECT ...)` and `x op ALL (SELECT ...)` into wrong answers:
`score = ANY (SELECT score FROM t WHERE score > 15)` returned the rows of scores 10 and 20,
`score > ALL (...)` and `score > ANY (...)` no rows at all. The two forms with an exact
equivalent it answers right are written so: `x = ANY (q)` is `x IN (q)`, `x <> ALL (q)` is
`x NOT IN (q)` (NULLs included: both are defined by the same comparisons). Any other operator
with a subquery is refused with the form to write instead, rather than answered wrongly.
`= ANY (array)` (asyncpg's IN list) is another operation, which DataFusion answers right.
"""

from __future__ import annotations

from sqlglot import exp

from sidecar.errors import ErrorCode, SidecarError

COMPARISONS = {exp.EQ: "=", exp.NEQ: "<>", exp.GT: ">", exp.GTE: ">=", exp.LT: "<", exp.LTE: "<="}
HINTS = {
    ">": "x > (SELECT min(...) ...) for ANY, x > (SELECT max(...) ...) for ALL",
    ">=": "x >= (SELECT min(...) ...) for ANY, x >= (SELECT max(...) ...) for ALL",
    "<": "x < (SELECT max(...) ...) for ANY, x < (SELECT min(...) ...) for ALL",
    "<=": "x <= (SELECT max(...) ...) for ANY, x <= (SELECT min(...) ...) for ALL",
    "=": "x IN (SELECT ...) for ANY",
    "<>": "x NOT IN (SELECT ...) for ALL",
}


def rewrite(statement: exp.Expression) -> None:
    """Write each `= ANY (subquery)` and `<> ALL (subquery)` of `statement` as IN and NOT IN;
    refuse any other comparison with ANY or ALL of a subquery."""
    for node in list(statement.find_all(*COMPARISONS)):
        quantifier = node.expression
        if not isinstance(quantifier, exp.Any | exp.All):
            continue
        query = quantifier.this.unnest()
        if not isinstance(query, exp.Query):
            continue
        operator = COMPARISONS[type(node)]
        any_ = isinstance(quantifier, exp.Any)
        if (operator, any_) == ("=", True):
            node.replace(exp.In(this=node.this, query=exp.Subquery(this=query)))
        elif (operator, any_) == ("<>", False):
            node.replace(exp.Not(this=exp.In(this=node.this, query=exp.Subquery(this=query))))
        else:
            word = "ANY" if any_ else "ALL"
            raise SidecarError(
                ErrorCode.QUERY,
                f"{operator} {word} (subquery) is not supported: the engine answers it wrongly",
                hint=f"write {HINTS[operator]}, with a CASE for the NULLs the "
                f"quantified form treats otherwise",
            )
