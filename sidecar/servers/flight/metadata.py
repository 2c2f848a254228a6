"""Catalog metadata results: catalogs, schemas, tables, table types, keys and type info.

Schemas follow the Flight SQL specification field for field, nullability included, because
clients compare them exactly: ADBC rejects a result whose schema differs from its reference.
The specification is the text of FlightSql.proto's comments (proto/ keeps them, and a test
reads every schema from there): where an implementation differs, as Go's and ADBC's reference
puts key_sequence before key_name, the text wins.
The catalog is the sidecar's name; datasets and views live in `public`, and the system
tables in `information_schema`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa

from policies.access import Grant
from sidecar.engine.catalog import SCHEMA, SYSTEM_SCHEMA, Catalog
from sidecar.engine.types import sql_type

if TYPE_CHECKING:
    from google.protobuf.message import Message

    from sidecar.servers.flight import FlightSql_pb2 as pb


def _schema(*fields: tuple[str, pa.DataType, bool]) -> pa.Schema:
    return pa.schema([pa.field(name, kind, nullable=nullable) for name, kind, nullable in fields])


CATALOGS = _schema(("catalog_name", pa.string(), False))
DB_SCHEMAS = _schema(("catalog_name", pa.string(), True), ("db_schema_name", pa.string(), False))
TABLES = _schema(
    ("catalog_name", pa.string(), True),
    ("db_schema_name", pa.string(), True),
    ("table_name", pa.string(), False),
    ("table_type", pa.string(), False),
)
TABLES_WITH_SCHEMA = TABLES.append(pa.field("table_schema", pa.binary(), nullable=False))
TABLE_TYPES = _schema(("table_type", pa.string(), False))
PRIMARY_KEYS = _schema(
    ("catalog_name", pa.string(), True),
    ("db_schema_name", pa.string(), True),
    ("table_name", pa.string(), False),
    ("column_name", pa.string(), False),
    ("key_name", pa.string(), True),
    ("key_sequence", pa.int32(), False),
)
XDBC_TYPE_INFO = _schema(
    ("type_name", pa.string(), False),
    ("data_type", pa.int32(), False),
    ("column_size", pa.int32(), True),
    ("literal_prefix", pa.string(), True),
    ("literal_suffix", pa.string(), True),
    ("create_params", pa.list_(pa.field("item", pa.string(), nullable=False)), True),
    ("nullable", pa.int32(), False),
    ("case_sensitive", pa.bool_(), False),
    ("searchable", pa.int32(), False),
    ("unsigned_attribute", pa.bool_(), True),
    ("fixed_prec_scale", pa.bool_(), False),
    ("auto_increment", pa.bool_(), True),
    ("local_type_name", pa.string(), True),
    ("minimum_scale", pa.int32(), True),
    ("maximum_scale", pa.int32(), True),
    ("sql_data_type", pa.int32(), False),
    ("datetime_subcode", pa.int32(), True),
    ("num_prec_radix", pa.int32(), True),
    ("interval_precision", pa.int32(), True),
)

TABLE, VIEW, SYSTEM_TABLE = "TABLE", "VIEW", "SYSTEM TABLE"
SYSTEM_TABLES = ("columns", "schemata", "tables")
NULLABLE, SEARCHABLE_BASIC, SEARCHABLE_FULL = 1, 2, 3
DATETIME, INTERVAL = 9, 10


@dataclass(frozen=True)
class Relation:
    db_schema: str
    name: str
    kind: str
    schema: pa.Schema


def relations(catalog: Catalog, grant: Grant) -> Iterator[Relation]:
    """Every table the caller may name; a dataset that has not loaded has no columns yet."""
    for relation in catalog.relations(grant):
        kind = TABLE if relation.entry is not None else VIEW
        yield Relation(SCHEMA, relation.name, kind, relation.schema or pa.schema([]))
    for name in SYSTEM_TABLES:
        system = catalog.system_table(name, grant)
        if system is not None:
            yield Relation(SYSTEM_SCHEMA, name, SYSTEM_TABLE, system.schema())


ANY_ONE = "\0_"  # a LIKE pattern's `_`: two characters, never equal to one of a name


def like(pattern: str | None) -> Callable[[str], bool]:
    """A matcher for a metadata filter pattern: % any run, _ any one, \\ escapes. Matched by
    two cursors, in time linear in the name times the pattern: a regular expression of `.*`
    runs backtracks exponentially (`%a%a%a%a%a%a%a%a%a%a%b` took 22 s against one 40-character
    name, on a gRPC thread, for any caller allowed GetTables)."""
    if pattern is None:
        return lambda _: True
    tokens: list[str | None] = []  # None: any run (%); ANY_ONE: one character (_)
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            tokens.append(pattern[index + 1])
            index += 2
            continue
        if char == "%":
            if not tokens or tokens[-1] is not None:  # %% is %
                tokens.append(None)
        else:
            tokens.append(ANY_ONE if char == "_" else char)
        index += 1
    fixed = sum(token is not None for token in tokens)
    return lambda name: len(name) >= fixed and _like(tokens, name)


def _like(tokens: list[str | None], name: str) -> bool:
    """Whether `name` matches: on a mismatch after a %, that % takes one character more."""
    at = seen = 0
    star, mark = -1, 0
    while seen < len(name):
        token = tokens[at] if at < len(tokens) else ""
        if token is None:
            star, mark = at, seen
            at += 1
        elif token == ANY_ONE or token == name[seen]:
            at += 1
            seen += 1
        elif star >= 0:
            at, mark = star + 1, mark + 1
            seen = mark
        else:
            return False
    return all(token is None for token in tokens[at:])


def _optional(command: Message, name: str) -> str | None:
    return getattr(command, name) if command.HasField(name) else None


def catalogs(catalog: Catalog) -> pa.Table:
    return pa.Table.from_pylist([{"catalog_name": catalog.database}], schema=CATALOGS)


def _in_catalog(catalog: Catalog, command: Message) -> bool:
    wanted = _optional(command, "catalog")
    return wanted is None or wanted == catalog.database


def db_schemas(catalog: Catalog, command: pb.CommandGetDbSchemas) -> pa.Table:
    matches = like(_optional(command, "db_schema_filter_pattern"))
    rows = [
        {"catalog_name": catalog.database, "db_schema_name": name}
        for name in sorted((SCHEMA, SYSTEM_SCHEMA))
        if _in_catalog(catalog, command) and matches(name)
    ]
    return pa.Table.from_pylist(rows, schema=DB_SCHEMAS)


def tables(catalog: Catalog, command: pb.CommandGetTables, grant: Grant) -> pa.Table:
    schema_matches = like(_optional(command, "db_schema_filter_pattern"))
    name_matches = like(_optional(command, "table_name_filter_pattern"))
    kinds = set(command.table_types)
    found = [
        relation
        for relation in relations(catalog, grant)
        if _in_catalog(catalog, command)
        and schema_matches(relation.db_schema)
        and name_matches(relation.name)
        and (not kinds or relation.kind in kinds)
    ]
    found.sort(key=lambda r: (r.db_schema, r.name, r.kind))
    rows = []
    for relation in found:
        row: dict[str, object] = {
            "catalog_name": catalog.database,
            "db_schema_name": relation.db_schema,
            "table_name": relation.name,
            "table_type": relation.kind,
        }
        if command.include_schema:
            row["table_schema"] = described(catalog.database, relation).serialize().to_pybytes()
        rows.append(row)
    schema = TABLES_WITH_SCHEMA if command.include_schema else TABLES
    return pa.Table.from_pylist(rows, schema=schema)


def described(database: str, relation: Relation) -> pa.Schema:
    """The relation's schema with the column metadata Flight SQL defines, which ADBC turns
    into get_objects' xdbc_* fields and JDBC into DatabaseMetaData.getColumns."""
    fields = []
    for field in relation.schema:
        metadata = {
            "ARROW:FLIGHT:SQL:CATALOG_NAME": database,
            "ARROW:FLIGHT:SQL:DB_SCHEMA_NAME": relation.db_schema,
            "ARROW:FLIGHT:SQL:TABLE_NAME": relation.name,
            "ARROW:FLIGHT:SQL:TYPE_NAME": sql_type(field.type),
            "ARROW:FLIGHT:SQL:IS_READ_ONLY": "1",
            "ARROW:FLIGHT:SQL:IS_SEARCHABLE": "1",
            "ARROW:FLIGHT:SQL:IS_AUTO_INCREMENT": "0",
        }
        fields.append(field.with_metadata(metadata))
    return pa.schema(fields)


def table_types() -> pa.Table:
    return pa.Table.from_pylist(
        [{"table_type": kind} for kind in sorted((SYSTEM_TABLE, TABLE, VIEW))], schema=TABLE_TYPES
    )


def primary_keys(catalog: Catalog, command: pb.CommandGetPrimaryKeys, grant: Grant) -> pa.Table:
    """The `primary_key:` of a dataset's acceleration (the key its local copy upserts by and
    indexes), when the caller sees every column of it; sources declare no keys of their own."""
    rows = []
    wanted = _optional(command, "db_schema")
    if _in_catalog(catalog, command) and wanted in (None, SCHEMA):
        for relation in catalog.relations(grant):
            acceleration = relation.entry.config.acceleration if relation.entry else None
            if relation.name != command.table or acceleration is None:
                continue
            keys = acceleration.primary_key if acceleration.enabled else None
            seen = relation.schema.names if relation.schema is not None else []
            if not keys or not set(keys) <= set(seen):
                continue
            rows += [
                {
                    "catalog_name": catalog.database,
                    "db_schema_name": SCHEMA,
                    "table_name": relation.name,
                    "column_name": key,
                    "key_name": None,
                    "key_sequence": sequence,
                }
                for sequence, key in enumerate(keys, start=1)
            ]
    return pa.Table.from_pylist(rows, schema=PRIMARY_KEYS)


@dataclass(frozen=True)
class XdbcType:
    name: str
    data_type: int
    column_size: int | None = None
    radix: int | None = None
    sql_data_type: int | None = None
    subcode: int | None = None
    prefix: str | None = None
    suffix: str | None = None
    create_params: tuple[str, ...] | None = None
    text: bool = False
    numeric: bool = False

    def row(self) -> dict[str, object]:
        return {
            "type_name": self.name,
            "data_type": self.data_type,
            "column_size": self.column_size,
            "literal_prefix": self.prefix,
            "literal_suffix": self.suffix,
            "create_params": list(self.create_params) if self.create_params else None,
            "nullable": NULLABLE,
            "case_sensitive": self.text,
            "searchable": SEARCHABLE_FULL if self.text else SEARCHABLE_BASIC,
            "unsigned_attribute": False if self.numeric else None,
            "fixed_prec_scale": False,
            "auto_increment": False if self.numeric else None,
            "local_type_name": self.name,
            "minimum_scale": 0 if self.name == "numeric" else None,
            "maximum_scale": 38 if self.name == "numeric" else None,
            "sql_data_type": self.data_type if self.sql_data_type is None else self.sql_data_type,
            "datetime_subcode": self.subcode,
            "num_prec_radix": self.radix,
            "interval_precision": None,
        }


# The SQL types results can have (engine.types.sql_type's names) with their JDBC/ODBC codes.
XDBC_TYPES = (
    XdbcType("boolean", -7, 1),
    XdbcType("smallint", 5, 5, 10, numeric=True),
    XdbcType("integer", 4, 10, 10, numeric=True),
    XdbcType("bigint", -5, 19, 10, numeric=True),
    XdbcType("real", 7, 24, 2, numeric=True),
    XdbcType("double precision", 8, 53, 2, numeric=True),
    XdbcType("numeric", 2, 38, 10, create_params=("precision", "scale"), numeric=True),
    XdbcType("text", 12, prefix="'", suffix="'", text=True),
    XdbcType("json", 12, prefix="'", suffix="'", text=True),
    XdbcType("bytea", -3, prefix="'\\x", suffix="'"),
    XdbcType("date", 91, 10, sql_data_type=DATETIME, subcode=1, prefix="DATE '", suffix="'"),
    XdbcType("time", 92, 15, sql_data_type=DATETIME, subcode=2, prefix="TIME '", suffix="'"),
    XdbcType(
        "timestamp", 93, 26, sql_data_type=DATETIME, subcode=3, prefix="TIMESTAMP '", suffix="'"
    ),
    XdbcType(
        "timestamp with time zone",
        93,
        32,
        sql_data_type=DATETIME,
        subcode=5,
        prefix="TIMESTAMPTZ '",
        suffix="'",
    ),
    XdbcType("interval", INTERVAL, prefix="INTERVAL '", suffix="'"),
)


def xdbc_type_info(command: pb.CommandGetXdbcTypeInfo) -> pa.Table:
    wanted = command.data_type if command.HasField("data_type") else None
    types = sorted(
        (t for t in XDBC_TYPES if wanted is None or t.data_type == wanted),
        key=lambda t: (t.data_type, t.name),
    )
    return pa.Table.from_pylist([t.row() for t in types], schema=XDBC_TYPE_INFO)
