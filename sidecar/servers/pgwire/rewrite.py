"""pg_catalog SQL -> the shadow DuckDB's SQL: the same query, reaching the shadow's relations.

The shadow cannot have schemas named pg_catalog or information_schema (DuckDB reserves them), and
DuckDB has no reg* types, OPERATOR(pg_catalog.~) or pg_catalog-qualified built-ins, so the
guarded sqlglot tree is rewritten before it is generated in DuckDB's dialect: catalog relations
and functions move to the shadow schemas, reg* casts become lookups, PostgreSQL-only type names
become DuckDB's, and COLLATE clauses go (DuckDB has no pg_catalog collations).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp
from sqlglot.errors import ParseError

from sidecar.engine.dialect import DUCKDB
from sidecar.engine.planner import is_cte_reference
from sidecar.errors import ErrorCode, SidecarError

SHADOW = "shadow_pg_catalog"
SHADOW_INFORMATION = "shadow_information_schema"
REGISTRY_CASTS = {
    "regclass": ("to_regclass", "regclass_name"),
    "regtype": ("to_regtype", "regtype_name"),
    "regnamespace": ("to_regnamespace", "regnamespace_name"),
    "regrole": ("to_regrole", "regrole_name"),
}
PLAIN_TYPES = {
    "oid": "UINTEGER",
    "xid": "UINTEGER",
    "cid": "UINTEGER",
    "name": "VARCHAR",
    "char": "VARCHAR",
    "regproc": "VARCHAR",
    "regprocedure": "VARCHAR",
    "regoper": "VARCHAR",
    "regoperator": "VARCHAR",
    "aclitem": "VARCHAR",
    "pg_node_tree": "VARCHAR",
    "sql_identifier": "VARCHAR",
    "character_data": "VARCHAR",
    "yes_or_no": "VARCHAR",
    "cardinal_number": "INTEGER",
    "time_stamp": "TIMESTAMPTZ",
    "int2vector": "SMALLINT[]",
    "oidvector": "UINTEGER[]",
}
OPERATORS: dict[str, Callable[[exp.Expression, exp.Expression], exp.Expression]] = {
    "~": lambda a, b: exp.RegexpLike(this=a, expression=b),
    "!~": lambda a, b: exp.not_(exp.RegexpLike(this=a, expression=b)),
    "~*": lambda a, b: exp.RegexpILike(this=a, expression=b),
    "!~*": lambda a, b: exp.not_(exp.RegexpILike(this=a, expression=b)),
    "~~": lambda a, b: exp.Like(this=a, expression=b),
    "!~~": lambda a, b: exp.not_(exp.Like(this=a, expression=b)),
    "=": lambda a, b: exp.EQ(this=a, expression=b),
    "<>": lambda a, b: exp.NEQ(this=a, expression=b),
    "<": lambda a, b: exp.LT(this=a, expression=b),
    ">": lambda a, b: exp.GT(this=a, expression=b),
}


class Rewriter:
    """`relations` and `information` are the emulated pg_catalog and information_schema
    relations: the only ones a statement may reach. DuckDB resolves any other name in its own
    catalog (duckdb_tables, sqlite_master), so those are refused here, before it runs."""

    def __init__(
        self, relations: frozenset[str], information: frozenset[str], functions: frozenset[str]
    ) -> None:
        self.relations = relations
        self.information = information
        self.functions = functions

    def rewrite(self, statement: exp.Expression) -> exp.Expression:
        return statement.copy().transform(self._visit)

    def _visit(self, node: exp.Expression) -> exp.Expression:
        """Rewrite one node; a replacement's own subtree is rewritten too (transform skips it)."""
        replacement = self._rewrite_node(node)
        if replacement is node:
            return node
        return replacement.transform(self._visit, copy=False)

    def _rewrite_node(self, node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Table):
            return self._table(node)
        if isinstance(node, exp.Column) and node.args.get("db") is not None:
            schema = node.db.lower()
            if schema in ("pg_catalog", "information_schema"):
                node.set("db", exp.to_identifier(_shadow_schema(schema)))
                node.set("catalog", None)
            return node
        if isinstance(node, exp.Dot) and isinstance(node.expression, exp.Func):
            if node.this.name.lower() == "pg_catalog":
                return self._function(node.expression)
            return node
        if isinstance(node, exp.Anonymous) and not isinstance(node.parent, exp.Dot):
            return self._function(node)
        if isinstance(node, exp.Cast):
            return _cast(node)
        if isinstance(node, exp.DataType):
            return _data_type(node)
        if isinstance(node, exp.Operator):
            return _operator(node)
        if isinstance(node, exp.Collate):
            return node.this
        return node

    def _table(self, table: exp.Table) -> exp.Table:
        schema, name = table.db.lower(), table.name.lower()
        if not isinstance(table.this, exp.Identifier):
            if schema == "pg_catalog":  # pg_catalog.generate_series(...) and the like
                table.set("db", None)
            return table
        if is_cte_reference(table):
            return table
        known = self.information if schema == "information_schema" else self.relations
        if schema not in ("", "pg_catalog", "information_schema") or name not in known:
            written = ".".join(part for part in (table.db, table.name) if part)
            start = table.this.meta.get("start")
            raise SidecarError(
                ErrorCode.UNDEFINED_TABLE,
                f'relation "{written}" does not exist',
                hint="a query that reads pg_catalog or information_schema reads only their "
                "relations; query the datasets in a statement of their own",
                position=start + 1 if isinstance(start, int) else None,
            )
        table.set("db", exp.to_identifier(_shadow_schema(schema)))
        table.set("catalog", None)
        return table

    def _function(self, node: exp.Func) -> exp.Expression:
        if node.name.lower() in self.functions:
            return exp.Dot(this=exp.to_identifier(SHADOW), expression=node)
        return node


def _shadow_schema(schema: str) -> str:
    return SHADOW_INFORMATION if schema == "information_schema" else SHADOW


def tables(statement: exp.Expression) -> list[exp.Table]:
    """The statement's table references, CTE names excluded."""
    return [
        table
        for table in statement.find_all(exp.Table)
        if isinstance(table.this, exp.Identifier) and not is_cte_reference(table)
    ]


def type_name(data_type: exp.DataType | exp.ObjectIdentifier) -> str:
    if isinstance(data_type, exp.ObjectIdentifier):
        return data_type.name.lower()
    kind = data_type.args.get("kind")
    if data_type.this == exp.DataType.Type.USERDEFINED and kind is not None:
        last = kind.expression if isinstance(kind, exp.Dot) else kind
        return last.name.lower()
    return ""


def _cast(cast: exp.Cast) -> exp.Expression:
    """reg* casts become lookups: a quoted name gives its OID, an OID gives its name."""
    name = type_name(cast.to)
    if name in REGISTRY_CASTS:
        to_oid, to_name = REGISTRY_CASTS[name]
        value = cast.this
        while isinstance(value, exp.Cast) and value.to.this in exp.DataType.TEXT_TYPES:
            value = value.this
        function = to_oid if isinstance(value, exp.Literal) and value.is_string else to_name
        return exp.Dot(
            this=exp.to_identifier(SHADOW),
            expression=exp.Anonymous(this=function, expressions=[value]),
        )
    if isinstance(cast.to, exp.ObjectIdentifier):
        cast.set("to", exp.DataType.build(PLAIN_TYPES.get(name, "VARCHAR"), dialect=DUCKDB))
    return cast


def _data_type(data_type: exp.DataType) -> exp.DataType:
    name = type_name(data_type)
    if not name:
        return data_type
    if name.startswith("_"):  # PostgreSQL's name for an array type: _oid is oid[]
        element = _data_type(exp.DataType.build(name[1:], dialect="postgres", udt=True))
        if element.this == exp.DataType.Type.USERDEFINED:
            return data_type
        return exp.DataType(this=exp.DataType.Type.ARRAY, expressions=[element], nested=True)
    if name in PLAIN_TYPES:
        return exp.DataType.build(PLAIN_TYPES[name], dialect=DUCKDB)
    try:
        built = exp.DataType.build(name, dialect="postgres")
    except (ValueError, ParseError):
        return data_type
    return data_type if built.this == exp.DataType.Type.USERDEFINED else built


def _operator(node: exp.Operator) -> exp.Expression:
    symbol = str(node.args.get("operator", "")).rsplit(".", 1)[-1].strip()
    build = OPERATORS.get(symbol)
    return build(node.this, node.expression) if build else node
