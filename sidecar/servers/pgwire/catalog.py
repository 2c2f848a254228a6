"""pg_catalog and information_schema for drivers, psql and BI tools, answered by a shadow DuckDB.

Clients introspect before they query: psql's `\\d` reads pg_class and pg_attribute, SQLAlchemy's
inspector joins a dozen catalog tables, psycopg looks types up with to_regtype(). DataFusion has
no pg_catalog, and DuckDB's own has DuckDB's type OIDs, so the shadow is an in-memory DuckDB
holding PostgreSQL 15's catalog relations (pg_catalog.sql) filled with the datasets' and views'
schemas and no data at all. It is rebuilt when the catalog changes, cannot read files or the
network (external access off, configuration locked) and only ever sees statements the read-only
guard has accepted, rewritten (rewrite.py) so pg_catalog names reach the shadow's own tables and
functions.

`routes_to_shadow` decides per statement: anything naming a catalog relation or a catalog-only
function goes to the shadow; everything else goes to the engine. Session functions (version(),
current_user, current_setting(...)) become literals on both paths (session_functions.py).
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.resources import files
from typing import TYPE_CHECKING

import pyarrow as pa
from sqlglot import exp

from policies.access import Grant, unrestricted
from sidecar.engine import Engine
from sidecar.engine.catalog import DatasetEntry
from sidecar.engine.dialect import DUCKDB
from sidecar.errors import ErrorCode, SidecarError
from sidecar.servers.pgwire import types
from sidecar.servers.pgwire.rewrite import (
    REGISTRY_CASTS,
    SHADOW,
    SHADOW_INFORMATION,
    Rewriter,
    tables,
    type_name,
)
from sidecar.servers.pgwire.settings import DEFAULTS

if TYPE_CHECKING:
    import duckdb

PUBLIC_NAMESPACE = 2200
FIRST_OID = 16384
OWNER = "sidecar"
TEXT_OIDS = frozenset({types.TEXT.oid, types.VARCHAR.oid, types.BPCHAR.oid, types.NAME.oid})
UNKNOWN_RELATION = re.compile(r"Table with name (\S+) does not exist|Catalog .* does not exist")
UNKNOWN_COLUMN = re.compile(r'Referenced column "?([^"\s]+)"? not found|column .* not found', re.I)
DEFINED = re.compile(rf"^CREATE (TABLE|MACRO) ({SHADOW}|{SHADOW_INFORMATION})\.(\w+)", re.I | re.M)
CATALOG_SQL = files("sidecar.servers.pgwire").joinpath("pg_catalog.sql")


class ShadowCatalog:
    """One grant's catalog: the relations and columns it sees (policies/access.py)."""

    def __init__(self, engine: Engine, grant: Grant | None = None) -> None:
        self.engine = engine
        self.grant = grant or unrestricted()
        self._lock = threading.Lock()
        self._making = threading.Lock()
        self._fingerprint = ""
        self._made: _Shadow | None = None

    def _shadow(self) -> _Shadow:
        """The shadow DuckDB, made when a client first needs it (an idle sidecar, or one whose
        clients never ask pg_catalog, does not hold DuckDB in memory)."""
        if self._made is None:
            with self._making:
                if self._made is None:
                    self._made = _Shadow()
        return self._made

    def routes_to_shadow(self, statement: exp.Expression) -> bool:
        """Whether a statement reads the catalog rather than the datasets. Decided from the
        names pg_catalog.sql defines, never from the shadow itself: building it (DuckDB,
        PostgreSQL's catalog; 0.2-0.5 s) is left to `query`, on the connection's thread, where
        on the event loop every session waited for it."""
        declared = {name.lower() for name in self.engine.catalog.table_names()}
        for table in tables(statement):
            schema, name = table.db.lower(), table.name.lower()
            if schema in ("pg_catalog", "information_schema"):
                return True
            if not schema and name not in declared and name in NAMES.relations:
                return True
        if any(tables(statement)):
            return False
        if any(type_name(cast.to) in REGISTRY_CASTS for cast in statement.find_all(exp.Cast)):
            return True  # 'orders'::regclass and the like
        return any(self._catalog_function(node) for node in statement.find_all(exp.Anonymous))

    def _catalog_function(self, node: exp.Anonymous) -> bool:
        qualified = isinstance(node.parent, exp.Dot) and node.parent.expression is node
        return node.name.lower() in NAMES.functions or (
            qualified and node.parent.this.name.lower() == "pg_catalog"
        )

    def query(self, statement: exp.Expression) -> pa.Table:
        """Run an already guarded and bound statement against the shadow catalog."""
        import duckdb

        self.refresh()
        shadow = self._shadow()
        sql = shadow.rewriter.rewrite(statement).sql(dialect=DUCKDB)
        cursor = shadow.db.cursor()
        try:
            table = cursor.sql(sql).to_arrow_table()
        except duckdb.Error as error:
            raise _translate(error) from None
        finally:
            cursor.close()
        return table.cast(pa.schema([_pinned(field) for field in table.schema]))

    def refresh(self) -> None:
        """Mirror the current datasets and views; a no-op while nothing has changed."""
        relations = list(_relations(self.engine, self.grant))
        fingerprint = hashlib.sha256(
            repr(
                [(r.name, r.kind, str(r.schema), r.description, r.sql) for r in relations]
            ).encode()
            + self.engine.catalog.database.encode()
        ).hexdigest()
        if fingerprint == self._fingerprint:
            return
        with self._lock:
            if fingerprint == self._fingerprint:
                return
            cursor = self._shadow().db.cursor()
            cursor.execute("BEGIN")
            for table in ("pg_attribute", "pg_description", "pg_views", "pg_tables"):
                cursor.execute(f"DELETE FROM {SHADOW}.{table}")
            for table in ("pg_database", "pg_roles", "pg_user"):
                cursor.execute(f"DELETE FROM {SHADOW}.{table}")
            cursor.execute(
                f"DELETE FROM {SHADOW}.pg_class WHERE relnamespace = ?", [PUBLIC_NAMESPACE]
            )
            for table in ("tables", "columns", "views"):
                cursor.execute(f"DELETE FROM {SHADOW_INFORMATION}.{table}")
            self._fill(cursor, relations)
            cursor.execute("COMMIT")
            self._fingerprint = fingerprint

    def _fill(self, cursor: duckdb.DuckDBPyConnection, relations: list[Relation]) -> None:
        database = self.engine.catalog.database
        cursor.execute(
            f"INSERT INTO {SHADOW}.pg_database (oid, datname, datdba, encoding, datlocprovider, "
            "datallowconn, datconnlimit, dattablespace, datcollate, datctype) "
            "VALUES (16383, ?, 10, 6, 'c', true, -1, 1663, 'C', 'C')",
            [database],
        )
        cursor.execute(
            f"INSERT INTO {SHADOW}.pg_roles (oid, rolname, rolinherit, rolcanlogin, rolconnlimit) "
            "VALUES (10, ?, true, true, -1)",
            [OWNER],
        )
        cursor.execute(f"INSERT INTO {SHADOW}.pg_user (usename, usesysid) VALUES (?, 10)", [OWNER])
        cursor.execute(f"UPDATE {SHADOW_INFORMATION}.schemata SET catalog_name = ?", [database])
        classes, attributes, descriptions, views, tables, info_tables, info_columns = (
            [] for _ in range(7)
        )
        for oid, relation in enumerate(relations, start=FIRST_OID):
            kind = "v" if relation.kind == "VIEW" else "r"
            fields = list(relation.schema or [])
            classes.append((oid, relation.name, PUBLIC_NAMESPACE, kind, len(fields), relation.rows))
            info_tables.append((database, "public", relation.name, relation.kind))
            if relation.description:
                descriptions.append((oid, 1259, 0, relation.description))
            if kind == "v":
                views.append(("public", relation.name, OWNER, relation.sql))
            else:
                tables.append(("public", relation.name, OWNER))
            for position, field in enumerate(fields, start=1):
                column = types.column(field.type)
                attributes.append(
                    (
                        oid,
                        field.name,
                        column.oid,
                        column.size,
                        position,
                        column.typmod,
                        1 if column.array else 0,
                        not field.nullable,
                        100 if column.type.oid in TEXT_OIDS else 0,
                    )
                )
                info_columns.append(
                    (
                        database,
                        "public",
                        relation.name,
                        field.name,
                        position,
                        "YES" if field.nullable else "NO",
                        "ARRAY" if column.array else column.type.sql_name,
                        ("_" if column.array else "") + column.type.name,
                    )
                )
                note = relation.column_descriptions.get(field.name)
                if note:
                    descriptions.append((oid, 1259, position, note))
        inserts = (
            (
                f"{SHADOW}.pg_class (oid, relname, relnamespace, relkind, relnatts, reltuples)",
                classes,
            ),
            (
                f"{SHADOW}.pg_attribute (attrelid, attname, atttypid, attlen, attnum, atttypmod, "
                "attndims, attnotnull, attcollation)",
                attributes,
            ),
            (f"{SHADOW}.pg_description (objoid, classoid, objsubid, description)", descriptions),
            (f"{SHADOW}.pg_views (schemaname, viewname, viewowner, definition)", views),
            (f"{SHADOW}.pg_tables (schemaname, tablename, tableowner)", tables),
            (
                f"{SHADOW_INFORMATION}.tables "
                "(table_catalog, table_schema, table_name, table_type)",
                info_tables,
            ),
            (
                f"{SHADOW_INFORMATION}.columns (table_catalog, table_schema, table_name, "
                "column_name, ordinal_position, is_nullable, data_type, udt_name)",
                info_columns,
            ),
            (
                f"{SHADOW_INFORMATION}.views (table_catalog, table_schema, table_name, "
                "view_definition)",
                [(database, "public", name, sql) for _, name, _, sql in views],
            ),
        )
        for target, rows in inserts:
            if rows:
                marks = ", ".join("?" for _ in rows[0])
                cursor.executemany(f"INSERT INTO {target} VALUES ({marks})", rows)

    def close(self) -> None:
        if self._made is not None:
            self._made.db.close()


class _Shadow:
    """The shadow DuckDB: PostgreSQL's catalog relations and functions, and the names the
    rewriter sends to them."""

    def __init__(self) -> None:
        import duckdb  # kept out of memory until a client first needs the catalog

        self.db = duckdb.connect(
            ":memory:",
            config={
                "enable_external_access": False,
                "autoinstall_known_extensions": False,
                "autoload_known_extensions": False,
                "allow_community_extensions": False,
            },
        )
        self.db.execute(CATALOG_SQL.read_text())
        self.db.executemany(
            f"INSERT INTO {SHADOW}.sidecar_type_names VALUES (?, ?, ?)", list(_type_names())
        )
        self.db.execute(
            f"INSERT INTO {SHADOW}.pg_settings (name, setting, category, short_desc, context, "
            "vartype, source, boot_val, reset_val) "
            "SELECT name, setting, 'Sidecar', '', 'user', 'string', 'default', setting, setting "
            "FROM (VALUES " + ", ".join("(?, ?)" for _ in DEFAULTS) + ") AS s(name, setting)",
            [part for item in DEFAULTS.items() for part in item],
        )
        self.db.execute("SET lock_configuration = true")
        self.rewriter = Rewriter(NAMES.relations, NAMES.information, NAMES.functions)


@dataclass(frozen=True)
class Names:
    """What pg_catalog.sql defines, read from its text: the shadow's pg_catalog relations, its
    information_schema relations and its functions (macros)."""

    relations: frozenset[str]
    information: frozenset[str]
    functions: frozenset[str]

    @classmethod
    def of(cls, sql: str) -> Names:
        defined: dict[tuple[str, str], set[str]] = {}
        for kind, schema, name in DEFINED.findall(sql):
            defined.setdefault((kind.upper(), schema.lower()), set()).add(name.lower())
        return cls(
            frozenset(defined.get(("TABLE", SHADOW), set()) - {"sidecar_type_names"}),
            frozenset(defined.get(("TABLE", SHADOW_INFORMATION), set())),
            frozenset(defined.get(("MACRO", SHADOW), set())),
        )


@dataclass(frozen=True)
class Relation:
    name: str
    kind: str
    schema: pa.Schema | None
    description: str | None
    sql: str | None
    rows: float
    column_descriptions: dict[str, str]


def _relations(engine: Engine, grant: Grant) -> Iterable[Relation]:
    for relation in engine.catalog.relations(grant):
        entry = relation.entry
        yield Relation(
            relation.name,
            relation.kind,
            relation.schema,
            relation.description,
            relation.sql if entry is None else None,
            _row_estimate(entry, grant),
            _column_notes(entry) if entry is not None else {},
        )


def _row_estimate(entry: DatasetEntry | None, grant: Grant) -> float:
    """pg_class.reltuples: the rows queries read (a copy's, else the source's count), or -1
    (unknown) where a row filter would make it tell the caller how many rows are hidden from
    it."""
    if entry is None or entry.rows is None or not grant.counts_rows(entry.name):
        return -1.0
    return float(entry.rows)


def _column_notes(entry: DatasetEntry) -> dict[str, str]:
    return {c.name: c.description for c in entry.config.columns or () if c.description}


def _type_names() -> Iterable[tuple[int, str, bool]]:
    aliases = {
        "int": types.INT4,
        "int4": types.INT4,
        "int8": types.INT8,
        "int2": types.INT2,
        "float": types.FLOAT8,
        "decimal": types.NUMERIC,
        "bool": types.BOOL,
        "varchar": types.VARCHAR,
        "char": types.BPCHAR,
        "timestamp": types.TIMESTAMP,
        "timestamptz": types.TIMESTAMPTZ,
        "time": types.TIME,
    }
    for pg in types.SCALARS:
        yield pg.oid, pg.sql_name, True
        yield pg.array_oid, pg.sql_name + "[]", True
        yield pg.oid, pg.name, False
        yield pg.array_oid, "_" + pg.name, False
        yield pg.array_oid, pg.name + "[]", False
    for alias, pg in aliases.items():
        yield pg.oid, alias, False
        yield pg.array_oid, alias + "[]", False


def _pinned(field: pa.Field) -> pa.Field:
    """Catalog oid columns are UINTEGER in the shadow; clients must see them as oid / oid[]."""
    if field.type == pa.uint32():
        return field.with_metadata({types.OID_METADATA: str(types.OID.oid).encode()})
    if pa.types.is_list(field.type) and field.type.value_type == pa.uint32():
        return field.with_metadata({types.OID_METADATA: str(types.OID.array_oid).encode()})
    return field


def _translate(error: duckdb.Error) -> SidecarError:
    import duckdb

    message = (
        str(error)
        .replace(f"{SHADOW}.", "pg_catalog.")
        .replace(f"{SHADOW_INFORMATION}.", "information_schema.")
    )
    message = message.replace(SHADOW, "pg_catalog").replace(
        SHADOW_INFORMATION, "information_schema"
    )
    first = message.splitlines()[0] if message else "catalog query failed"
    if isinstance(error, duckdb.ParserException):
        return SidecarError(ErrorCode.SYNTAX, first)
    if UNKNOWN_RELATION.search(first):
        return SidecarError(
            ErrorCode.UNDEFINED_TABLE,
            first,
            hint="this catalog relation or schema is not provided by the sidecar",
        )
    if UNKNOWN_COLUMN.search(first):
        return SidecarError(ErrorCode.UNDEFINED_COLUMN, first)
    return SidecarError(
        ErrorCode.QUERY,
        first,
        hint="catalog queries run against a PostgreSQL-compatible shadow of the sidecar's catalog",
    )


NAMES = Names.of(CATALOG_SQL.read_text())
