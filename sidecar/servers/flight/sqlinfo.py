"""CommandGetSqlInfo: what the server is and which SQL it speaks, as JDBC/ODBC ask it.

ADBC asks for the server keys (name, versions, read-only, transactions, cancel) on connect
and for `adbc_get_info`; the JDBC driver asks for everything (an empty `info` list) to answer
DatabaseMetaData. Keys the server has nothing to say about are left out, which the
specification allows and both clients handle. The result's schema is the specification's text
(FlightSql.proto): the union's members are nullable, as it writes them.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum

import pyarrow as pa

from sidecar import __version__

SERVER_NAME = "agent-sidecar"


class Kind(IntEnum):
    """The dense union's type codes, in the specification's order."""

    STRING = 0
    BOOL = 1
    BIGINT = 2
    INT32 = 3
    STRING_LIST = 4
    INT32_MAP = 5


VALUE_FIELDS = [
    pa.field("string_value", pa.string()),
    pa.field("bool_value", pa.bool_()),
    pa.field("bigint_value", pa.int64()),
    pa.field("int32_bitmask", pa.int32()),
    pa.field("string_list", pa.list_(pa.string())),
    pa.field("int32_to_int32_list_map", pa.map_(pa.int32(), pa.list_(pa.int32()))),
]
VALUE_TYPE = pa.dense_union(VALUE_FIELDS)
SCHEMA = pa.schema(
    [pa.field("info_name", pa.uint32(), nullable=False), pa.field("value", VALUE_TYPE)]
)


def _words(text: str) -> list[str]:
    return text.split()


KEYWORDS = _words(
    "ANALYZE DESCRIBE EXPLAIN FILTER ILIKE LIMIT OFFSET QUALIFY RECURSIVE SHOW TABLES WINDOW"
)
NUMERIC_FUNCTIONS = _words(
    "abs acos asin atan atan2 cbrt ceil cos degrees exp floor ln log log10 log2 mod pi power "
    "radians random round sign sin sqrt tan trunc"
)
STRING_FUNCTIONS = _words(
    "ascii btrim char_length concat concat_ws initcap left length lower lpad ltrim md5 "
    "regexp_match regexp_replace repeat replace reverse right rpad rtrim split_part "
    "starts_with strpos substr substring to_hex translate trim upper"
)
DATETIME_FUNCTIONS = _words(
    "current_date current_time date_bin date_part date_trunc extract from_unixtime now "
    "to_char to_date to_timestamp"
)
SYSTEM_FUNCTIONS = _words("coalesce nullif arrow_typeof")

# (key, kind, value), keys as numbered in the specification's SqlInfo enum.
INFO: list[tuple[int, Kind, object]] = [
    (0, Kind.STRING, SERVER_NAME),  # FLIGHT_SQL_SERVER_NAME
    (1, Kind.STRING, __version__),  # FLIGHT_SQL_SERVER_VERSION
    (2, Kind.STRING, pa.__version__),  # FLIGHT_SQL_SERVER_ARROW_VERSION
    (3, Kind.BOOL, True),  # FLIGHT_SQL_SERVER_READ_ONLY
    (4, Kind.BOOL, True),  # FLIGHT_SQL_SERVER_SQL
    (5, Kind.BOOL, False),  # FLIGHT_SQL_SERVER_SUBSTRAIT
    (8, Kind.INT32, 0),  # FLIGHT_SQL_SERVER_TRANSACTION: none
    (9, Kind.BOOL, True),  # FLIGHT_SQL_SERVER_CANCEL
    (500, Kind.BOOL, False),  # SQL_DDL_CATALOG
    (501, Kind.BOOL, False),  # SQL_DDL_SCHEMA
    (502, Kind.BOOL, False),  # SQL_DDL_TABLE
    (503, Kind.INT32, 1),  # SQL_IDENTIFIER_CASE: case-insensitive
    (504, Kind.STRING, '"'),  # SQL_IDENTIFIER_QUOTE_CHAR
    (505, Kind.INT32, 1),  # SQL_QUOTED_IDENTIFIER_CASE: case-insensitive
    (506, Kind.BOOL, True),  # SQL_ALL_TABLES_ARE_SELECTABLE
    (507, Kind.INT32, 0),  # SQL_NULL_ORDERING: nulls sort high, as in PostgreSQL
    (508, Kind.STRING_LIST, KEYWORDS),  # SQL_KEYWORDS
    (509, Kind.STRING_LIST, NUMERIC_FUNCTIONS),  # SQL_NUMERIC_FUNCTIONS
    (510, Kind.STRING_LIST, STRING_FUNCTIONS),  # SQL_STRING_FUNCTIONS
    (511, Kind.STRING_LIST, SYSTEM_FUNCTIONS),  # SQL_SYSTEM_FUNCTIONS
    (512, Kind.STRING_LIST, DATETIME_FUNCTIONS),  # SQL_DATETIME_FUNCTIONS
    (513, Kind.STRING, "\\"),  # SQL_SEARCH_STRING_ESCAPE: for metadata name patterns
    (514, Kind.STRING, ""),  # SQL_EXTRA_NAME_CHARACTERS
    (515, Kind.BOOL, True),  # SQL_SUPPORTS_COLUMN_ALIASING
    (516, Kind.BOOL, True),  # SQL_NULL_PLUS_NULL_IS_NULL
    (518, Kind.BOOL, True),  # SQL_SUPPORTS_TABLE_CORRELATION_NAMES
    (519, Kind.BOOL, False),  # SQL_SUPPORTS_DIFFERENT_TABLE_CORRELATION_NAMES
    (520, Kind.BOOL, True),  # SQL_SUPPORTS_EXPRESSIONS_IN_ORDER_BY
    (521, Kind.BOOL, True),  # SQL_SUPPORTS_ORDER_BY_UNRELATED
    (522, Kind.INT32, 0b11),  # SQL_SUPPORTED_GROUP_BY: unrelated, beyond select
    (524, Kind.BOOL, False),  # SQL_SUPPORTS_NON_NULLABLE_COLUMNS: no DDL
    (528, Kind.INT32, 2),  # SQL_OUTER_JOINS_SUPPORT_LEVEL: full
    (529, Kind.STRING, "schema"),  # SQL_SCHEMA_TERM
    (531, Kind.STRING, "database"),  # SQL_CATALOG_TERM
    (532, Kind.BOOL, True),  # SQL_CATALOG_AT_START
    (536, Kind.BOOL, False),  # SQL_SELECT_FOR_UPDATE_SUPPORTED
    (537, Kind.BOOL, False),  # SQL_STORED_PROCEDURES_SUPPORTED
    (538, Kind.INT32, 0b111),  # SQL_SUPPORTED_SUBQUERIES: comparisons, EXISTS, IN
    (539, Kind.BOOL, True),  # SQL_CORRELATED_SUBQUERIES_SUPPORTED
    (540, Kind.INT32, 0b11),  # SQL_SUPPORTED_UNIONS: UNION, UNION ALL
    (562, Kind.INT32, 0),  # SQL_DEFAULT_TRANSACTION_ISOLATION: none
    (563, Kind.BOOL, False),  # SQL_TRANSACTIONS_SUPPORTED
    (572, Kind.BOOL, False),  # SQL_BATCH_UPDATES_SUPPORTED
    (573, Kind.BOOL, False),  # SQL_SAVEPOINTS_SUPPORTED
    (574, Kind.BOOL, False),  # SQL_NAMED_PARAMETERS_SUPPORTED
    (576, Kind.BOOL, False),  # SQL_STORED_FUNCTIONS_USING_CALL_SYNTAX_SUPPORTED
]


def sql_info(requested: Iterable[int]) -> pa.Table:
    """The requested keys (all when none are named), in the order asked."""
    wanted = list(requested)
    known = {key: (kind, value) for key, kind, value in INFO}
    keys = [key for key in wanted if key in known] if wanted else [key for key, _, _ in INFO]
    children: dict[Kind, list[object]] = {kind: [] for kind in Kind}
    type_codes, offsets = [], []
    for key in keys:
        kind, value = known[key]
        type_codes.append(kind.value)
        offsets.append(len(children[kind]))
        children[kind].append(value)
    value = pa.Array.from_buffers(
        VALUE_TYPE,
        len(keys),
        [
            None,
            pa.array(type_codes, pa.int8()).buffers()[1],
            pa.array(offsets, pa.int32()).buffers()[1],
        ],
        children=[
            pa.array(children[kind], field.type)
            for kind, field in zip(Kind, VALUE_FIELDS, strict=True)
        ],
    )
    return pa.Table.from_arrays([pa.array(keys, pa.uint32()), value], schema=SCHEMA)
