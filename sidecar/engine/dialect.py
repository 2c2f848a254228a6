"""The SQL text DataFusion parses: PostgreSQL's, with every grouping spelled out.

DataFusion parses with sqlparser-rs, set to its generic dialect. Its PostgreSQL dialect reads
each function argument twice (first as the name of a `name => value` argument, then again as a
value), so nested calls cost 2^depth: `abs(abs(...30 levels...))` took minutes to parse. The
generic dialect parses the same syntax once, but ranks some operators differently (`||` below
`=`, shifts and `&` below `+`). So the text handed over never relies on precedence: an operator
nested in another is parenthesised unless it is the left operand of its own kind (`a - b - c`
stays, as both dialects read it left to right), which keeps the balanced AND/OR chains of
`chains.py` balanced too. PostgreSQL's own spellings that the generic dialect reads otherwise
are written in the form it reads: `#` (xor) as `^`, while `^` (power) is already `POWER()`,
and `FETCH FIRST n ROWS ONLY` (what pgjdbc and BI tools write, and DataFusion does not
implement) as `LIMIT n`.
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.dialects.postgres import Postgres
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers

PARSER_DIALECT = "Generic"
_OPERATORS = (exp.Binary, exp.Unary, exp.Between, exp.In, exp.AtTimeZone)
# Binary in sqlglot's tree but not operators of the expression grammar: their operands are
# syntax (a field name, an argument name, the LIKE of an ESCAPE) that parentheses would break.
_NOT_GROUPED = (exp.Paren, exp.Dot, exp.Kwarg, exp.PropertyEQ, exp.Escape, exp.Operator)
_NOT_WRAPPED = (exp.Paren, exp.Dot, exp.Kwarg, exp.PropertyEQ)


def _fetch(generator: Postgres.Generator, fetch: exp.Fetch) -> str:
    """`FETCH FIRST|NEXT [n] ROW[S] ONLY` as the `LIMIT n` it means; WITH TIES and PERCENT
    have no LIMIT form and are left to DataFusion's refusal."""
    options = fetch.args.get("limit_options")
    if options is not None and (options.args.get("with_ties") or options.args.get("percent")):
        return Postgres.Generator.fetch_sql(generator, fetch)
    count = generator.sql(fetch, "count") or "1"
    return f"{generator.seg('LIMIT')} {count}"


class DataFusionText(Postgres):
    class Generator(Postgres.Generator):
        TRANSFORMS = {
            **Postgres.Generator.TRANSFORMS,
            exp.BitwiseXor: lambda self, e: self.binary(e, "^"),
            exp.LowerHex: lambda self, e: self.func("to_hex", e.this),
            exp.Sign: lambda self, e: self.func("signum", e.this),
            exp.Fetch: _fetch,
        }


def datafusion_sql(statement: exp.Expression) -> str:
    """The SQL DataFusion runs, with unquoted names folded to lower case as PostgreSQL does (so
    equal questions plan to equal text, the results cache's key) and function names lower-cased
    because DataFusion looks table functions up case-sensitively."""
    statement = normalize_identifiers(statement, dialect="postgres")
    if any(_ungrouped(node) for node in statement.walk()):
        statement = statement.copy()
    for node in [node for node in statement.walk() if _ungrouped(node)]:
        paren = exp.Paren()
        node.replace(paren)
        paren.set("this", node)
    return statement.sql(dialect=DataFusionText, normalize_functions="lower")


def _ungrouped(node: exp.Expression) -> bool:
    """An operator inside another whose reading would depend on precedence."""
    parent = node.parent
    if not isinstance(node, _OPERATORS) or isinstance(node, _NOT_WRAPPED):
        return False
    if not isinstance(parent, _OPERATORS) or isinstance(parent, _NOT_GROUPED):
        return False
    return not (type(node) is type(parent) and parent.this is node and isinstance(node, exp.Binary))
