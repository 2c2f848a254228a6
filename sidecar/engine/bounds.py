"""How large, deep and wide a statement may be before any engine sees it.

DataFusion and DuckDB walk a statement's tree recursively in native code: a tree deep enough
overflows the thread's stack and kills the whole process, and planning time grows faster than
the tree. So every statement is measured on its parsed tree before anything native runs: its
size in bytes; its depth, where each nested call, operator, parenthesis and subquery is one
level and so is each operator of a chain like `a + b + c` (as deep as it is long); and its
width, the most items in one list (a select list, an IN list, arguments, CASE branches, the
operands of one AND/OR chain or the branches of one UNION). AND/OR and UNION chains are planned
balanced (`chains.py`), so they count log2 of their length in depth. Queries nested in queries
are bounded apart: DataFusion's optimizer takes time that doubles with each nested subquery.

The measuring never recurses in Python, and a statement nested too deeply for sqlglot's
recursive parser is reported as too deep rather than as a crash.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlglot import exp

from policies.guard import check, parse
from sidecar.engine import chains
from sidecar.engine.generated import generated_bytes
from sidecar.errors import ErrorCode, SidecarError

MAX_PARAMETER = 65535  # PostgreSQL's: the wire protocol counts parameters in 16 bits
DEPTH_HINT = (
    "every nested call, operator, parenthesis and subquery is a level, and so is each operator "
    "of a chain like a + b + c: shorten the chain (an IN list, or sum() over VALUES), or split "
    "the query with WITH"
)


@dataclass(frozen=True)
class Bounds:
    """runtime.max_statement_size, max_expression_depth, max_subquery_depth and
    max_expression_width, and the largest value a function may generate (`generated.py`)."""

    max_size: int
    max_depth: int
    max_queries: int
    max_width: int
    max_value: int

    def read(self, sql: str) -> exp.Expression:
        """The one statement of `sql`, parsed, passed by the read-only guard and measured."""
        self.check_size(sql)
        try:
            statement = check(sql, parse(sql))
        except RecursionError:
            raise self.too_deep() from None
        self.check_tree(statement)
        return statement

    def check_size(self, sql: str) -> None:
        try:
            size = len(sql.encode())
        except UnicodeEncodeError as error:
            raise SidecarError(
                ErrorCode.INVALID_REQUEST,
                f"the statement holds a lone UTF-16 surrogate ({sql[error.start]!r}) at character "
                f"{error.start + 1}, which is not text",
                hint="send valid Unicode: in JSON a \\ud800-\\udbff escape must be followed by "
                "a \\udc00-\\udfff one",
                position=error.start + 1,
            ) from None
        if size > self.max_size:
            raise SidecarError(
                ErrorCode.TOO_COMPLEX,
                f"the statement is {size} bytes, more than runtime.max_statement_size "
                f"({self.max_size} bytes)",
                hint="send a shorter statement: bind long value lists as parameters, or keep "
                "them in a dataset and join it",
            )

    def check_parameters(self, values: Sequence[Any], size: int | None = None) -> None:
        """Bound values become literals of the statement before it is planned, so
        runtime.max_statement_size bounds them too (a megabyte of them took 0.27 s to parse).
        `size` is their size where a protocol measured it as they arrived (Flight's DoPut)."""
        size = sum(map(value_size, values)) if size is None else size
        if size > self.max_size:
            raise SidecarError(
                ErrorCode.TOO_COMPLEX,
                f"the parameters are {size} bytes, more than runtime.max_statement_size "
                f"({self.max_size} bytes), which bounds a statement's bound values too",
                hint="bind fewer or shorter values (keep long lists in a dataset and join it), "
                "or raise runtime.max_statement_size",
            )

    def too_deep(self) -> SidecarError:
        """For a statement nested too deeply for sqlglot's parser to read it at all."""
        return SidecarError(
            ErrorCode.TOO_COMPLEX,
            f"the statement nests more than {self.max_depth} levels deep, the limit set by "
            "runtime.max_expression_depth",
            hint=DEPTH_HINT,
        )

    def check_tree(self, statement: exp.Expression) -> None:
        """Refuse a statement deeper or wider than the bounds, pointing at where it is."""
        stack: list[tuple[exp.Expression, int, int]] = [(statement, 1, 0)]
        while stack:
            node, depth, queries = stack.pop()
            if depth > self.max_depth:
                error = self.too_deep()
                error.position = _position(node)
                raise error
            if isinstance(node, exp.Select):
                queries += 1
            if isinstance(node, exp.With):
                queries += _chained(node)
            if queries > self.max_queries:
                raise SidecarError(
                    ErrorCode.TOO_COMPLEX,
                    f"queries nest more than {self.max_queries} levels deep, the limit set by "
                    "runtime.max_subquery_depth",
                    hint="planning time doubles with each nested subquery, and a WITH query "
                    "that reads another nests in it: join the tables instead",
                    position=_position(node),
                )
            if isinstance(node, exp.Parameter):
                _check_parameter(node)
            generated = generated_bytes(node)
            if generated is not None and generated > self.max_value:
                raise SidecarError(
                    ErrorCode.TOO_COMPLEX,
                    f"{node.sql(dialect='postgres')[:80]} would build a value of "
                    f"{_size(generated)}, more than the {_size(self.max_value)} one value may "
                    "take (a sixteenth of runtime.memory_limit)",
                    hint="generate rows instead (FROM generate_series(...)), or ask for less",
                    position=_position(node),
                )
            children, levels = _children(node)
            stack.extend((child, depth + levels, queries) for child in children)
            lists = [len(value) for value in node.args.values() if isinstance(value, list)]
            width = max([*lists, len(children) if levels > 1 else 0])
            if width > self.max_width:
                raise SidecarError(
                    ErrorCode.TOO_COMPLEX,
                    f"the statement has a list of {width} items (a select list, IN list, "
                    "arguments, CASE branches, AND/OR operands or UNION branches), more than "
                    f"runtime.max_expression_width ({self.max_width})",
                    hint="split the list over several queries, or keep the values in a dataset "
                    "and join it",
                    position=_position(node),
                )


def _check_parameter(node: exp.Parameter) -> None:
    """`$n` is numbered 1 to MAX_PARAMETER: every protocol sizes its parameter list by the
    highest number, so `$99999999999` would have it build a list of that many."""
    number = node.this
    if not isinstance(number, exp.Literal) or not number.this.isdigit():
        return  # `$name`: binding tells it is unsupported
    if not 1 <= int(number.this) <= MAX_PARAMETER:
        raise SidecarError(
            ErrorCode.INVALID_PARAMETER,
            f"there is no parameter ${number.this}: parameters are numbered $1 to ${MAX_PARAMETER}",
            hint="number the placeholders $1, $2, ... in the order of the values bound",
            position=_position(node),
        )


def _children(node: exp.Expression) -> tuple[list[exp.Expression], int]:
    """A node's children, and how many levels below it they sit once chains are balanced."""
    if chains.is_root(node):
        operands = chains.operands(node)
        if len(operands) > 2:
            levels = math.ceil(math.log2(len(operands)))
            # A regrouped UNION operand is a subquery: two levels per pairing.
            return operands, levels * 2 if isinstance(node, exp.Union) else levels
    return list(node.iter_expressions()), 1


def _chained(with_: exp.With) -> int:
    """How many WITH queries the longest chain of them reading one another holds (each is
    planned inside the ones it reads)."""
    depths: dict[str, int] = {}
    for cte in with_.expressions:
        read = {table.name.lower() for table in cte.this.find_all(exp.Table)}
        depths[cte.alias_or_name.lower()] = 1 + max(
            (depths[name] for name in read if name in depths), default=0
        )
    return max(depths.values(), default=0)


def _size(count: float) -> str:
    return f"{count / (1 << 20):,.0f} MiB" if count >= 1 << 20 else f"{count:,.0f} bytes"


def _position(node: exp.Expression) -> int | None:
    for inner in node.walk():
        start = inner.meta.get("start")
        if isinstance(start, int):
            return start + 1
    return None


def value_size(value: Any) -> int:
    """About the bytes a bound value adds to its statement: a text's or a binary's length, a
    list's items, eight for a number, a date or a time."""
    if isinstance(value, str):
        return len(value.encode(errors="surrogatepass"))
    if isinstance(value, bytes | bytearray | memoryview):
        return len(value)
    if isinstance(value, list | tuple):
        return sum(map(value_size, value)) + len(value)
    if isinstance(value, dict):
        return sum(map(value_size, value.values())) + len(value)
    return 8
