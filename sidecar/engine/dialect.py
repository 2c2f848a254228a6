"""The SQL text DataFusion parses: PostgreSQL's, with every grouping spelled out.

DataFusion parses with sqlparser-rs, set to its generic dialect. Its PostgreSQL dialect reads
each function argument twice (first as the name of a `name => value` argument, then again as a
value), so nested calls cost 2^depth: `abs(abs(...30 levels...))` took minutes to parse. The
generic dialect parses the same syntax once, but ranks some operators differently (`||` below
`=`, shifts and `&` below `+`). So the text handed over never relies on precedence: an operator
nested in another is parenthesised unless it is the left operand of its own kind (`a - b - c`
stays, as both dialects read it left to right), which keeps the balanced AND/OR chains of
`chains.py` balanced too. PostgreSQL's own spellings that the generic dialect reads otherwise
are written in the form it reads: `#` (xor) as `^`, `~x` (which it does not implement) as
`x ^ -1`, while `^` (power) is already `POWER()`, and `FETCH FIRST n ROWS ONLY` (what pgjdbc
and BI tools write, and DataFusion does not implement) as `LIMIT n`, `... WITH TIES` as a
QUALIFY (`ties`), which DataFusion reads; operations the planner marked as read by type
(`readings`: a zoned timestamp AT TIME ZONE, a fraction cast to an integer) as PostgreSQL
reads them, and interval text in the pairs DataFusion reads (`intervals`).

DataFusion reads every number with a point or an exponent as a double, where PostgreSQL reads
an exact NUMERIC: a double holds 15 significant digits, so a literal written with more
(`123456789012345678901234567890.123`, an integer past UINT64) is written as the DECIMAL it
means (`exact_type`), and compares and computes with all its digits. Shorter ones stay
doubles (`1.5`, `price * 1.1`, `1e3`), as clients of the sidecar have always received them.
"""

from __future__ import annotations

import re
from decimal import Decimal

from sqlglot import exp, transforms
from sqlglot.dialects.postgres import Postgres
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers

from connectors.dialects import loaded
from sidecar.engine import checked, intervals, pg_text, ties

PARSER_DIALECT = "Generic"
DUCKDB = loaded("duckdb")  # what copies, row filters and the pg catalog's shadow are written in
_OPERATORS = (exp.Binary, exp.Unary, exp.Between, exp.In, exp.AtTimeZone)
# Binary in sqlglot's tree but not operators of the expression grammar: their operands are
# syntax (a field name, an argument name, the LIKE of an ESCAPE) that parentheses would break.
_NOT_GROUPED = (exp.Paren, exp.Dot, exp.Kwarg, exp.PropertyEQ, exp.Escape, exp.Operator)
_NOT_WRAPPED = (exp.Paren, exp.Dot, exp.Kwarg, exp.PropertyEQ)
DOUBLE_DIGITS = 15  # the significant digits every double holds exactly (DBL_DIG)
WIDE_DIGITS = 39  # the fewest digits of a Decimal256, the widest DECIMAL
MOST_DIGITS = 76  # the most digits a Decimal256 holds
# meta keys the planner marks operations with, read as PostgreSQL reads them (`readings`)
LOCAL_TIME = "local_time"  # an AT TIME ZONE of a zoned timestamp: the zone's wall time
ROUNDED = "rounded"  # a cast to an integer of a "float" or a "decimal", round() of a "float"
CHECKED = "checked"  # integer arithmetic (its result's bits) or a BIGINT SUM, failing on overflow
CHECKED_OPERATIONS = (exp.Add, exp.Sub, exp.Mul, exp.Neg, exp.Sum)
AS_TEXT = "as_text"  # a cast of a double or timestamp to text: the function writing it (`pg_text`)
STAMPED = "stamped"  # `date ± interval`: the operand that is the date, read as a timestamp
NONZERO = "nonzero"  # a floating-point division or modulo (its bits): failing on a zero divisor
RANKS = (exp.RowNumber, exp.Rank, exp.DenseRank, exp.Ntile)  # BIGINT, unsigned in DataFusion
RENAMING = (CHECKED, NONZERO, STAMPED, AS_TEXT)  # marks that change an item's text
OPERATIONS = {exp.Add: "add", exp.Sub: "subtract", exp.Mul: "multiply", exp.Neg: "negate"}


def _fetch(generator: Postgres.Generator, fetch: exp.Fetch) -> str:
    """`FETCH FIRST|NEXT [n] ROW[S] ONLY` as the `LIMIT n` it means; PERCENT has no LIMIT
    form and is left to DataFusion's refusal (WITH TIES is a QUALIFY by now)."""
    options = fetch.args.get("limit_options")
    if options is not None and (options.args.get("with_ties") or options.args.get("percent")):
        return Postgres.Generator.fetch_sql(generator, fetch)
    count = generator.sql(fetch, "count") or "1"
    return f"{generator.seg('LIMIT')} {count}"


def exact_type(literal: exp.Literal) -> exp.DataType | None:
    """The DECIMAL a number literal needs so that none of its digits is lost, or None when
    DataFusion reads it exactly as it is (an integer below 2^64, a double of at most
    DOUBLE_DIGITS significant digits) or no DECIMAL holds it (a double is then the best).

    It is a Decimal256 (at least WIDE_DIGITS): DataFusion types a comparison or arithmetic
    with a DECIMAL as wide as its widest operand, and in 38 digits `amount < 7.12499999999999999`
    overflows on an amount of 22 integer digits where PostgreSQL's NUMERIC answers."""
    if literal.is_string:
        return None
    number = Decimal(literal.this)
    _, digits, exponent = number.as_tuple()
    if not isinstance(exponent, int):
        return None
    if literal.this.isdigit():
        exact = number < 1 << 64
    else:
        exact = len("".join(map(str, digits)).lstrip("0")) <= DOUBLE_DIGITS
    scale = max(0, -exponent)
    precision = max(len(digits) + max(0, exponent), scale, WIDE_DIGITS)
    if exact or precision > MOST_DIGITS:
        return None
    return exp.DataType.build(f"DECIMAL({precision}, {scale})")


def _literal(generator: Postgres.Generator, literal: exp.Literal) -> str:
    decimal = exact_type(literal)
    if decimal is None:
        return Postgres.Generator.literal_sql(generator, literal)
    text = format(Decimal(literal.this), "f")
    return generator.sql(exp.cast(exp.Literal.string(text), decimal))


def _at_time_zone(generator: Postgres.Generator, node: exp.AtTimeZone) -> str:
    text = generator.attimezone_sql(node)
    return f"to_local_time({text})" if node._meta and node.meta.get(LOCAL_TIME) else text


def _cast(generator: Postgres.Generator, node: exp.Cast) -> str:
    """A cast to an integer rounds a fraction as PostgreSQL does (`_rounded`), a double or a
    timestamp cast to text is written as PostgreSQL writes it (`pg_text`)."""
    kind = node.meta.get(ROUNDED) if node._meta else None
    if node._meta and node.meta.get(AS_TEXT) and generator.CHECKS:
        return pg_text.call(node.meta[AS_TEXT], generator.sql(node, "this"))
    if node.to.is_type(exp.DataType.Type.INTERVAL) and node.this.is_string:
        text = exp.Literal.string(intervals.datafusion_text(node.this.name))
        return Postgres.Generator.cast_sql(generator, exp.Cast(this=text, to=node.to.copy()))
    if kind is None:
        return Postgres.Generator.cast_sql(generator, node)
    return f"CAST({_rounded(generator.sql(node, 'this'), kind)} AS {generator.sql(node, 'to')})"


def _round(generator: Postgres.Generator, node: exp.Round) -> str:
    """`round(x)` of a double is half to even in PostgreSQL (its rint)."""
    if node._meta and node.meta.get(ROUNDED) == "float":
        return _rounded(generator.sql(node, "this"), "float")
    return Postgres.Generator.TRANSFORMS[exp.Round](generator, node)


def _rounded(value: str, kind: str) -> str:
    """`value` rounded to an integer as PostgreSQL rounds its `kind`: a NUMERIC half away from
    zero (DataFusion's round), a double half to even (rint, which DataFusion lacks)."""
    rounded = f"round({value})"
    if kind != "float":
        return rounded
    halfway = f"abs(({value}) - trunc({value})) = 0.5 AND ({rounded} % 2) <> 0"
    return f"({rounded} - CASE WHEN {halfway} THEN signum({value}) ELSE 0 END)"


def _checked(generator: Postgres.Generator, node: exp.Expression) -> str:
    """Integer arithmetic the planner marked as checked (`checked`), as the function that
    fails on overflow; a marked SUM as its checked form."""
    meta = node.meta if node._meta and generator.CHECKS else {}
    if STAMPED in meta:  # a date plus an interval: a timestamp, as in PostgreSQL
        operands = {key: generator.sql(node, key) for key in ("this", "expression")}
        operands[meta[STAMPED]] = f"CAST({operands[meta[STAMPED]]} AS TIMESTAMP)"
        operator = "+" if isinstance(node, exp.Add) else "-"
        return f"{operands['this']} {operator} {operands['expression']}"
    bits = meta.get(CHECKED)
    if bits is None:
        return _unmarked(generator, node)
    if isinstance(node, exp.Sum):
        return checked.summed(generator.sql(node, "this"))
    operands = [node.this] if isinstance(node, exp.Neg) else [node.this, node.expression]
    return generator.func(checked.name(OPERATIONS[type(node)], bits), *operands)


def _unmarked(generator: Postgres.Generator, node: exp.Expression) -> str:
    """`node` as PostgreSQL's generator writes it."""
    default = Postgres.Generator.TRANSFORMS.get(type(node))
    if default is not None:
        return default(generator, node)
    method = getattr(Postgres.Generator, f"{node.key}_sql", None)
    return method(generator, node) if method else generator.function_fallback_sql(node)


def _divided(generator: Postgres.Generator, node: exp.Div | exp.Mod) -> str:
    """A floating-point division or modulo the planner marked (`NONZERO`) with its divisor
    checked, failing on a zero as PostgreSQL's does (`checked.divisor`)."""
    bits = node.meta.get(NONZERO) if node._meta and generator.CHECKS else None
    if bits is None:
        return _unmarked(generator, node)
    operator = "/" if isinstance(node, exp.Div) else "%"
    divisor = generator.func(checked.divisor(bits), node.expression)
    return f"{generator.sql(node, 'this')} {operator} {divisor}"


def _window(generator: Postgres.Generator, node: exp.Window) -> str:
    """row_number(), rank(), dense_rank() and ntile() as the BIGINT they are in PostgreSQL:
    DataFusion's are unsigned, which the Postgres wire can only send as NUMERIC (psycopg read
    Decimal('1'))."""
    text = Postgres.Generator.window_sql(generator, node)
    if generator.CHECKS and isinstance(node.this, RANKS):
        return f"CAST({text} AS BIGINT)"
    return text


def _renamed(node: exp.Expression) -> bool:
    """Whether `node` is written otherwise than DataFusion names it (`names_sql`)."""
    if isinstance(node, exp.Window):
        return isinstance(node.this, RANKS)
    return bool(node._meta) and any(key in node.meta for key in RENAMING)


# PostgreSQL's named fields as sqlglot's reading left them (it knows only the numeric ones:
# `Day` became `%u` and `ay`, `FMMonth` `F`, `%m` and `onth`), with chrono's codes for them.
# `Month` and `Day` are not padded to 9 characters as in PostgreSQL (chrono cannot pad them).
NAMED_FIELD_CODES = {
    "F%month": "%B", "Month": "%B", "Mon": "%b", "FM%uay": "%A", "%uay": "%A", "%uy": "%a",
    "AM": "%p", "PM": "%p", "am": "%P", "pm": "%P",
}  # fmt: skip
NAMED_FIELDS = re.compile("|".join(re.escape(field) for field in NAMED_FIELD_CODES))


def _time_to_str(generator: Postgres.Generator, node: exp.TimeToStr) -> str:
    """`to_char(ts, 'YYYY-MM-DD')`: sqlglot has read PostgreSQL's pattern into strftime's
    (`%Y-%m-%d`), which DataFusion's to_char reads (chrono's); it was handed PostgreSQL's, and
    answered the pattern itself. `to_date(text, 'YYYY-MM-DD')` alike (it failed)."""
    name = "to_date" if isinstance(node, exp.StrToDate) else "to_char"
    return generator.func(name, node.this, node.args.get("format"))


def named_fields(statement: exp.Expression) -> None:
    """The named fields of each literal `to_char`/`to_date` pattern of `statement` in
    strftime's codes (in place), so that DataFusion and a source a query is pushed to write
    `Mon` as `Jan`: they wrote the literal `Mon`, and `Day` as the day's number and `ay`."""
    for node in statement.find_all(exp.TimeToStr, exp.StrToDate):
        pattern = node.args.get("format")
        if isinstance(pattern, exp.Literal) and pattern.is_string:
            text = NAMED_FIELDS.sub(lambda found: NAMED_FIELD_CODES[found.group()], pattern.name)
            pattern.set("this", text)


def _similar_to(generator: Postgres.Generator, node: exp.SimilarTo) -> str:
    """`x SIMILAR TO 'a%'` as the regular expression PostgreSQL makes of its pattern (`%` any
    run, `_` any one character, the whole value matched); DataFusion matched the pattern as a
    regular expression of its own, so `'abc' SIMILAR TO 'a%'` was false."""
    pattern = node.expression
    if not (isinstance(pattern, exp.Literal) and pattern.is_string):
        return generator.binary(node, "SIMILAR TO")
    regex = exp.Literal.string(similar_regex(pattern.name))
    return f"({generator.sql(node, 'this')} ~ {generator.sql(regex)})"


def similar_regex(pattern: str) -> str:
    """PostgreSQL's similar_escape: SIMILAR TO's pattern as a POSIX regular expression."""
    out, escaped, bracket = [], False, False
    for char in pattern:
        if escaped:
            out.append("\\" + char if not char.isalnum() else char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif bracket:
            out.append(char)
            bracket = char != "]"
        elif char == "[":
            out.append(char)
            bracket = True
        elif char == "%":
            out.append(".*")
        elif char == "_":
            out.append(".")
        elif char in ".^$":
            out.append("\\" + char)
        else:
            out.append(char)
    return "^(?:" + "".join(out) + ")$"


def _escape(generator: Postgres.Generator, node: exp.Escape) -> str:
    """`LIKE 'a#%' ESCAPE '#'`, which DataFusion refuses for any escape but the backslash, as
    the same pattern escaped with backslashes."""
    like, escape = node.this, node.expression
    pattern = like.expression if isinstance(like, exp.Like | exp.ILike) else None
    literals = [escape, pattern]
    if (
        not all(isinstance(x, exp.Literal) and x.is_string for x in literals)
        or len(escape.name) != 1
    ):
        return Postgres.Generator.escape_sql(generator, node)
    assert isinstance(pattern, exp.Literal)
    text, mark, escaped = [], escape.name, False
    for char in pattern.name:
        if escaped:
            text.append("\\" + char)
            escaped = False
        elif char == mark:
            escaped = True
        else:
            text.append("\\\\" if char == "\\" else char)
    rewritten = like.copy()
    rewritten.set("expression", exp.Literal.string("".join(text)))
    return generator.sql(rewritten)


def _interval(generator: Postgres.Generator, node: exp.Interval) -> str:
    """PostgreSQL's interval text as DataFusion reads it (`intervals`)."""
    if node.unit is None and node.this is not None and node.this.is_string:
        node = exp.Interval(this=exp.Literal.string(intervals.datafusion_text(node.this.name)))
    return Postgres.Generator.interval_sql(generator, node)


def _series_rows(generator: Postgres.Generator, node: exp.ExplodingGenerateSeries) -> str:
    """`generate_series(...)` in a select list is rows, one per value, as in PostgreSQL (two
    such series side by side are zipped, the shorter one padded with NULLs, as since
    PostgreSQL 10); DataFusion's function gives one row holding the list."""
    series = generator.func("generate_series", *node.args.values())
    return f"unnest({series})" if _select_item(node) else series


def _select_item(node: exp.Expression) -> bool:
    """Whether `node` is an item of a select list, aliased or not (not in FROM, not inside
    another expression)."""
    parent = node.parent
    if isinstance(parent, exp.Alias):
        node, parent = parent, parent.parent
    return isinstance(parent, exp.Select) and node.arg_key == "expressions"


class DataFusionText(Postgres):
    class Generator(Postgres.Generator):
        CHECKS = True  # integer arithmetic marked CHECKED is written checked
        TRANSFORMS = {
            **Postgres.Generator.TRANSFORMS,
            **dict.fromkeys(CHECKED_OPERATIONS, _checked),
            exp.BitwiseXor: lambda self, e: self.binary(e, "^"),
            exp.BitwiseNot: lambda self, e: f"({self.sql(e, 'this')} ^ -1)",
            exp.LowerHex: lambda self, e: self.func("to_hex", e.this),
            exp.Sign: lambda self, e: self.func("signum", e.this),
            exp.Fetch: _fetch,
            exp.Literal: _literal,
            exp.AtTimeZone: _at_time_zone,
            exp.Cast: _cast,
            exp.Round: _round,
            exp.Interval: _interval,
            exp.TimeToStr: _time_to_str,
            exp.StrToDate: _time_to_str,
            exp.Window: _window,
            exp.Div: _divided,
            exp.Mod: _divided,
            exp.SimilarTo: _similar_to,
            exp.Escape: _escape,
            exp.ExplodingGenerateSeries: _series_rows,
            # DataFusion reads QUALIFY: it is kept, not rewritten into a subquery
            exp.Select: transforms.preprocess([transforms.eliminate_semi_and_anti_joins]),
        }


class UncheckedText(DataFusionText):
    """The same text with its arithmetic unchecked: DataFusion's names for the result."""

    class Generator(DataFusionText.Generator):
        CHECKS = False


def datafusion_sql(statement: exp.Expression, dialect: type[Postgres] = DataFusionText) -> str:
    """The SQL DataFusion runs, with unquoted names folded to lower case as PostgreSQL does (so
    equal questions plan to equal text, the results cache's key) and function names lower-cased
    because DataFusion looks table functions up case-sensitively."""
    statement = normalize_identifiers(ties.qualified(statement), dialect="postgres")
    if any(_unnamed(s) or _repeated(s) for s in statement.find_all(exp.Select)):
        statement = statement.copy()
        for select in statement.find_all(exp.Select):
            for item in _unnamed(select):
                item.replace(exp.alias_(item.copy(), output_name(item)))
            _name_apart(select)
    if any(_ordinals(select) for select in statement.find_all(exp.Select)):
        statement = statement.copy()
        for select in statement.find_all(exp.Select):
            for ordered, item in _ordinals(select):
                ordered.set("this", item.copy())
    if any(_ungrouped(node) for node in statement.walk()):
        statement = statement.copy()
    for node in [node for node in statement.walk() if _ungrouped(node)]:
        paren = exp.Paren()
        node.replace(paren)
        paren.set("this", node)
    return statement.sql(dialect=dialect, normalize_functions="lower")


def result_select(statement: exp.Expression) -> exp.Select | None:
    """The select whose items name the statement's result (a set operation's first branch)."""
    select = statement
    while isinstance(select, exp.SetOperation | exp.Subquery):
        select = select.this
    return select if isinstance(select, exp.Select) else None


def names_sql(statement: exp.Expression) -> str | None:
    """The unchecked text of a statement with checked arithmetic (or a ranking window's cast)
    in an unaliased item of its result, which DataFusion names by its text: planned, it gives
    the names the result keeps (`t.id + Int64(1)`, not the checked function's); None when no
    name depends on it."""
    select = result_select(statement)
    for item in select.expressions if select is not None else []:
        if isinstance(item, exp.Alias):
            continue
        if any(_renamed(node) for node in item.walk()):
            return datafusion_sql(statement, UncheckedText)
    return None


def _unnamed(select: exp.Select) -> list[exp.Expression]:
    """The casts of a column without an alias: DataFusion names one after the column, and then
    refuses `SELECT CAST(id AS INT) FROM t ORDER BY id` (the sort key's hidden column has the
    same name); named so, the ORDER BY sorts by it, as PostgreSQL's (which names it so too).
    And a select list's `generate_series`, written as an unnest that DataFusion names after
    itself (`_series_rows`) and refuses under ORDER BY unnamed."""
    return [
        item
        for item in select.expressions
        if (isinstance(item, exp.Cast) and isinstance(item.this, exp.Column))
        or isinstance(item, exp.ExplodingGenerateSeries)
    ]


def _ordinals(select: exp.Select) -> list[tuple[exp.Ordered, exp.Expression]]:
    """The ORDER BY keys of `select` that are the position of an unnamed computed item, with
    that item: DataFusion refuses `SELECT lower(name) FROM t GROUP BY name ORDER BY 1` ("must
    appear in the GROUP BY clause"), and reads the item itself in its place (but not under
    DISTINCT, where it refuses the item and reads the position)."""
    order = select.args.get("order")
    if select.args.get("distinct"):
        return []
    found = []
    for ordered in order.expressions if order is not None else []:
        key = ordered.this
        if not (isinstance(key, exp.Literal) and key.is_int):
            continue
        position = int(key.this)
        if 1 <= position <= len(select.expressions):
            item = select.expressions[position - 1]
            if not isinstance(item, exp.Alias | exp.Column | exp.Star):
                found.append((ordered, item))
    return found


def _repeated(select: exp.Select) -> list[int]:
    """The positions of the select items named as an earlier one is: PostgreSQL answers
    `SELECT id, NULL, NULL` (what BI tools write above a UNION) or `count(*), count(*)` with
    two columns of one name, DataFusion refuses them ("Projections require unique expression
    names"), and a JSON object would keep one of them."""
    seen: set[str] = set()
    repeated = []
    for position, item in enumerate(select.expressions):
        if item.is_star:
            continue  # a `*` cannot be aliased; what it names is `stars.py`'s to name apart
        name = output_name(item)
        if name in seen:
            repeated.append(position)
        seen.add(name)
    return repeated


def _name_apart(select: exp.Select) -> None:
    """Alias each repeated item `<name>_<n>`, n counting the items of that name."""
    for position in _repeated(select):
        item = select.expressions[position]
        name = output_name(item)
        taken = {output_name(other) for other in select.expressions}
        number = 2
        while f"{name}_{number}" in taken:
            number += 1
        item.replace(exp.alias_(item.unalias().copy(), f"{name}_{number}", quoted=True))


def output_name(item: exp.Expression) -> str:
    """The name an item has in DataFusion's answer, up to case and qualifiers: its alias, a
    column's name, else its text; a cast is named as its operand."""
    if isinstance(item, exp.Alias):
        return item.alias
    bare = item.unnest()
    while isinstance(bare, exp.Cast):
        bare = bare.this.unnest()
    bare = bare.copy()
    for cast in list(bare.find_all(exp.Cast)):
        cast.replace(cast.this)
    if isinstance(bare, exp.Column) and not isinstance(bare.this, exp.Star):
        return bare.name
    return bare.sql(dialect="postgres", normalize_functions="lower")


def _ungrouped(node: exp.Expression) -> bool:
    """An operator inside another whose reading would depend on precedence."""
    parent = node.parent
    if not isinstance(node, _OPERATORS) or isinstance(node, _NOT_WRAPPED):
        return False
    if not isinstance(parent, _OPERATORS) or isinstance(parent, _NOT_GROUPED):
        return False
    return not (type(node) is type(parent) and parent.this is node and isinstance(node, exp.Binary))
