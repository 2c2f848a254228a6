"""Statement parameters: their types inferred for ParameterDescription, their values decoded.

Drivers like asyncpg encode arguments by the OIDs the server describes, so `WHERE id = $1` must
come back as int8, not text. Types are read from the statement's context (a cast, the column a
parameter is compared with, LIMIT) using the dataset schemas; what nothing constrains is text,
as PostgreSQL infers for a bare `SELECT $1`. Values arrive in text or binary format and become
the Python values `engine.query` binds as typed literals.
"""

from __future__ import annotations

import datetime as dt
import re
import struct
import uuid
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

import pyarrow as pa
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify import qualify

from sidecar.engine.types import sql_type
from sidecar.servers.pgwire import types
from sidecar.servers.pgwire.codec import UTC_NAMES
from sidecar.servers.pgwire.errors import (
    DATETIME_OUT_OF_RANGE,
    FEATURE_NOT_SUPPORTED,
    INVALID_BINARY,
    INVALID_ENCODING,
    INVALID_TEXT,
    INVALID_VALUE,
    OUT_OF_RANGE,
    PROTOCOL_VIOLATION,
    PgError,
)
from sidecar.servers.pgwire.messages import Bind

PG_EPOCH = dt.datetime(2000, 1, 1)
DAY_MICROS = 86_400_000_000
TRUE_WORDS = frozenset({"t", "true", "y", "yes", "on", "1"})
FALSE_WORDS = frozenset({"f", "false", "n", "no", "off", "0"})
INTEGERS = frozenset({types.INT2.oid, types.INT4.oid, types.INT8.oid, types.OID.oid})
INTEGER_RANGES = {
    types.INT2.oid: (-(1 << 15), (1 << 15) - 1),
    types.INT4.oid: (-(1 << 31), (1 << 31) - 1),
    types.INT8.oid: (-(1 << 63), (1 << 63) - 1),
    types.OID.oid: (0, (1 << 32) - 1),
}
# Digits an unsigned integer of each type may have and be within its range whatever they are:
# a key bound in text (every lookup from libpq, psycopg, pgbench) is read with int() alone.
SAFE_DIGITS = {types.INT2.oid: 4, types.INT4.oid: 9, types.INT8.oid: 18, types.OID.oid: 9}
BLANKS = " \t\n\r\v\f"  # array_in's white space (scanner_isspace)
INTEGER_TEXT = re.compile(r"\s*[+-]?[0-9]+\s*", re.ASCII)
TEXT_LIKE = (exp.Like, exp.ILike, exp.DPipe, exp.RegexpLike, exp.RegexpILike)
COMPARED = (exp.Binary, exp.Between, exp.In)
INFERENCE_ROUNDS = 4
# Function arguments PostgreSQL declares as integers (substr's start and length, left's and
# repeat's count, lpad's length, round's digits, split_part's field): a parameter there is
# int4, not text (asyncpg binds by the type described, and a text one failed planning).
INTEGER_ARGUMENTS: dict[type[exp.Expression], tuple[str, ...]] = {
    exp.Substring: ("start", "length"),
    exp.Left: ("expression",),
    exp.Right: ("expression",),
    exp.Repeat: ("times",),
    exp.Pad: ("expression",),
    exp.Round: ("decimals",),
    exp.SplitPart: ("part_index",),
}


def placeholders(statement: exp.Expression) -> list[exp.Parameter]:
    return [
        node
        for node in statement.find_all(exp.Parameter)
        if not isinstance(node.parent, exp.Parameter)
    ]


def count(statement: exp.Expression) -> int:
    return max((_index(node) for node in placeholders(statement)), default=0)


def infer(
    statement: exp.Expression, schemas: Mapping[str, pa.Schema], declared: Sequence[int]
) -> list[int]:
    """One OID per parameter $1..$n: the client's where it gave one, else from the context.

    A parameter's context may hold another parameter (`($1 + id) * 2 > $2`), so each round
    types the parameters the previous rounds found, as PostgreSQL resolves them from the inside
    out, until no more are learned."""
    total = max(count(statement), len(declared))
    found = {index: oid for index, oid in enumerate(declared, start=1) if oid}
    if len(found) == total:  # none to infer (a simple query's text has no parameters at all)
        return list(declared[:total])
    for _ in range(INFERENCE_ROUNDS):
        learned = False
        for node in placeholders(_annotated(_typed(statement, found), schemas)):
            oid = _context_oid(node)
            if oid is not None and _index(node) not in found:
                found[_index(node)] = oid
                learned = True
        if not learned:
            break
    return [
        declared[i] if i < len(declared) and declared[i] else found.get(i + 1, types.TEXT.oid)
        for i in range(total)
    ]


def _typed(statement: exp.Expression, found: Mapping[int, int]) -> exp.Expression:
    """A copy with each parameter of a known scalar type cast to it, for the next round."""
    if not found:
        return statement
    typed = statement.copy()
    for node in placeholders(typed):
        known = types.BY_OID.get(found.get(_index(node), 0))
        if known is not None and known is not types.UNKNOWN:
            kind = exp.DataType.build(known.name, dialect="postgres", udt=True)
            node.replace(exp.cast(node.copy(), kind))
    return typed


def _index(node: exp.Parameter) -> int:
    try:
        return int(node.this.name)
    except (TypeError, ValueError):
        return 0


def _annotated(statement: exp.Expression, schemas: Mapping[str, pa.Schema]) -> exp.Expression:
    mapping = {
        name: {field.name: _schema_type(field.type) for field in schema}
        for name, schema in schemas.items()
    }
    try:
        return annotate_types(
            qualify(
                statement.copy(), schema=mapping, dialect="postgres", validate_qualify_columns=False
            ),
            schema=mapping,
            dialect="postgres",
        )
    except (SqlglotError, RecursionError, ValueError, KeyError):
        try:
            return annotate_types(statement.copy(), dialect="postgres")
        except (SqlglotError, RecursionError, ValueError, KeyError):
            return statement


def _schema_type(arrow: pa.DataType) -> str:
    text = sql_type(arrow)
    return "json" if text.endswith("[]") or text.startswith(("struct", "map")) else text


def _context_oid(node: exp.Expression) -> int | None:
    parent = node.parent
    while isinstance(parent, exp.Paren):
        node, parent = parent, parent.parent
    if isinstance(parent, exp.Cast) and parent.this is node:
        return types.oid_of(parent.to)
    if isinstance(parent, exp.Limit | exp.Offset | exp.Fetch):
        return types.INT8.oid
    if node.arg_key in INTEGER_ARGUMENTS.get(type(parent), ()):
        return types.INT4.oid
    if isinstance(parent, TEXT_LIKE):
        return types.TEXT.oid
    if isinstance(parent, exp.In) and node is not parent.this:
        return _type_oid(parent.this)
    if isinstance(parent, exp.Between) and node is not parent.this:
        return _type_oid(parent.this)
    if isinstance(parent, exp.Between):  # `$1 BETWEEN 1 AND 9`: the bounds' type
        return _type_oid(parent.args.get("low")) or _type_oid(parent.args.get("high"))
    if isinstance(parent, exp.In) and parent.expressions:  # `$1 IN (1, 2)`
        return _type_oid(parent.expressions[0])
    quantified = isinstance(parent, exp.Any) or (
        isinstance(parent, exp.Anonymous) and parent.name.lower() == "all"
    )
    if quantified and isinstance(parent.parent, exp.Binary):
        return _array_oid(parent)  # `id = ANY($1)`: an array of id's type (asyncpg's IN)
    if isinstance(parent, exp.Binary):
        other = parent.expression if parent.this is node else parent.this
        return _type_oid(other)
    return None


def _array_oid(quantified: exp.Expression) -> int | None:
    compared = quantified.parent
    other = compared.this if compared.expression is quantified else compared.expression
    element = types.BY_OID.get(_type_oid(other) or 0)
    return element.array_oid if element is not None and element.array_oid else None


def _type_oid(expression: exp.Expression | None) -> int | None:
    if expression is None or isinstance(expression, exp.Parameter):
        return None
    data_type = expression.type
    if data_type is None or data_type.this in (exp.DataType.Type.UNKNOWN, exp.DataType.Type.NULL):
        return None
    return types.oid_of(data_type)


def decode_bind(message: Bind, oids: Sequence[int], statement: str, timezone: str) -> list[Any]:
    """A Bind message's values, each decoded by its statement parameter's type and format."""
    expected = len(oids)
    if len(message.values) != expected:
        raise PgError(
            PROTOCOL_VIOLATION,
            f"bind message supplies {len(message.values)} parameters, but prepared "
            f'statement "{statement}" requires {expected}',
        )
    formats = message.parameter_formats
    if len(formats) not in (0, 1, expected):
        raise PgError(PROTOCOL_VIOLATION, "bind message has a wrong number of parameter formats")
    for code in (*formats, *message.result_formats):
        if code not in (0, 1):  # PostgreSQL's answer: an error, the connection kept
            raise PgError(
                INVALID_VALUE,
                f"unsupported format code: {code}",
                hint="format codes are 0 (text) or 1 (binary)",
            )
    if not formats:  # all in text, as libpq sends them
        return [
            decode(value, oid, False, timezone, number)
            for number, (value, oid) in enumerate(zip(message.values, oids, strict=True), 1)
        ]
    binary = [code == 1 for code in (formats * expected if len(formats) == 1 else formats)]
    return [
        decode(value, oid, is_binary, timezone, number)
        for number, (value, oid, is_binary) in enumerate(
            zip(message.values, oids, binary, strict=True), 1
        )
    ]


def decode(
    value: bytes | None, oid: int, binary: bool, timezone: str = "UTC", number: int = 1
) -> Any:
    """One Bind value (parameter `number`) as a Python value; a malformed one is PostgreSQL's
    error for it: 22P03 for binary data, 22021 for text that is not UTF-8, else 22P02 quoting
    the text as PostgreSQL does; 22008 for a date or time out of range."""
    if value is None:
        return None
    if not binary and value.isdigit() and len(value) <= SAFE_DIGITS.get(oid, 0):
        return int(value)
    pg = types.BY_OID.get(oid) or types.ELEMENTS.get(oid) or types.TEXT
    try:
        if oid in types.ELEMENTS:
            element = types.ELEMENTS[oid]
            if binary:
                return _binary_array(value, timezone)
            return _text_array(_utf8(value), element, timezone)
        if binary:
            return _binary_value(value, oid, timezone)
        return _text_value(_utf8(value), oid, timezone)
    except UnicodeDecodeError as error:
        bad = " ".join(f"0x{byte:02x}" for byte in error.object[error.start : error.end])
        raise PgError(
            INVALID_ENCODING,
            f'invalid byte sequence for encoding "UTF8": {bad} in bind parameter {number}',
            hint="send text parameters as UTF-8",
        ) from None
    except OverflowError:  # a binary date/time past Python's years 1 to 9999 (or ±infinity)
        raise PgError(
            DATETIME_OUT_OF_RANGE,
            f"{pg.sql_name} out of range in bind parameter {number}",
            hint="dates and times of the years 1 to 9999 are read; infinity is not",
        ) from None
    except (ValueError, struct.error, InvalidOperation, IndexError) as error:
        if binary:
            raise PgError(
                INVALID_BINARY,
                f"incorrect binary data format in bind parameter {number}",
                detail=f"{len(value)} bytes are not a binary {pg.sql_name}: {error}",
                hint=f"send {pg.sql_name} in PostgreSQL's binary layout, or in text format",
            ) from None
        text = value[:64].decode(errors="replace")
        raise PgError(
            INVALID_TEXT,
            f'invalid input syntax for type {pg.sql_name}: "{text}"',
            detail=str(error)[:200],
        ) from None


def _utf8(data: bytes) -> str:
    """Text as PostgreSQL takes it: UTF-8 without NUL characters (which no text value holds,
    and which C-string drivers of the sources would cut the value at)."""
    text = data.decode()
    if "\0" in text:
        at = data.index(b"\0")
        raise UnicodeDecodeError("utf-8", data, at, at + 1, "a text value holds no NUL")
    return text


def _text_value(text: str, oid: int, timezone: str) -> Any:
    if oid == types.BOOL.oid:
        word = text.strip().lower()
        if word in TRUE_WORDS or word in FALSE_WORDS:
            return word in TRUE_WORDS
        raise ValueError(text)
    if oid in INTEGERS:
        return _integer(text, oid)
    if oid in (types.FLOAT4.oid, types.FLOAT8.oid):
        return float(text)
    if oid == types.NUMERIC.oid:
        return Decimal(text.strip())
    if oid == types.BYTEA.oid:
        return bytes.fromhex(text[2:]) if text.startswith("\\x") else text.encode()
    if oid == types.DATE.oid:
        return dt.date.fromisoformat(text.strip())
    if oid in (types.TIMESTAMP.oid, types.TIMESTAMPTZ.oid):
        return _timestamp(text.strip(), oid == types.TIMESTAMPTZ.oid, timezone)
    if oid == types.TIME.oid:
        return dt.time.fromisoformat(text.strip()).isoformat()
    if oid == types.UUID.oid:
        return str(uuid.UUID(text.strip()))
    return text


def _integer(text: str, oid: int) -> int:
    """An integer as PostgreSQL reads one: ASCII digits with a sign (Python's int() takes
    underscores and other scripts' digits too), within its type's range, else 22003."""
    if not INTEGER_TEXT.fullmatch(text):
        raise ValueError(f"{text!r} is not an integer")
    value = int(text)
    low, high = INTEGER_RANGES[oid]
    if not low <= value <= high:
        name = types.BY_OID[oid].sql_name
        raise PgError(OUT_OF_RANGE, f'value "{text.strip()}" is out of range for type {name}')
    return value


def _timestamp(text: str, zoned: bool, timezone: str) -> dt.datetime:
    if text.endswith(("+00", "-00")) or (
        len(text) > 3 and text[-3] in "+-" and text[-2:].isdigit()
    ):
        text += ":00"
    value = dt.datetime.fromisoformat(text)
    if zoned and value.tzinfo is None:
        zone = dt.UTC if timezone.lower() in UTC_NAMES else zoneinfo.ZoneInfo(timezone)
        value = value.replace(tzinfo=zone)
    if not zoned and value.tzinfo is not None:
        value = value.replace(tzinfo=None)
    return value


def _binary_value(data: bytes, oid: int, timezone: str) -> Any:
    readers: dict[int, Callable[[bytes], Any]] = {
        types.BOOL.oid: lambda d: d != b"\0",
        types.INT2.oid: lambda d: struct.unpack(">h", d)[0],
        types.INT4.oid: lambda d: struct.unpack(">i", d)[0],
        types.INT8.oid: lambda d: struct.unpack(">q", d)[0],
        types.OID.oid: lambda d: struct.unpack(">I", d)[0],
        types.FLOAT4.oid: lambda d: struct.unpack(">f", d)[0],
        types.FLOAT8.oid: lambda d: struct.unpack(">d", d)[0],
        types.NUMERIC.oid: _binary_numeric,
        types.BYTEA.oid: bytes,
        types.DATE.oid: lambda d: dt.date.fromordinal(
            dt.date(2000, 1, 1).toordinal() + struct.unpack(">i", d)[0]
        ),
        types.TIME.oid: _binary_time,
        types.TIMESTAMP.oid: lambda d: (
            PG_EPOCH + dt.timedelta(microseconds=struct.unpack(">q", d)[0])
        ),
        types.TIMESTAMPTZ.oid: lambda d: (
            PG_EPOCH + dt.timedelta(microseconds=struct.unpack(">q", d)[0])
        ).replace(tzinfo=dt.UTC),
        types.INTERVAL.oid: _binary_interval,
        types.UUID.oid: lambda d: str(uuid.UUID(bytes=d)),
        types.JSONB.oid: lambda d: _utf8(d[1:]),
    }
    reader = readers.get(oid)
    if reader is not None:
        return reader(data)
    if oid in (
        types.TEXT.oid,
        types.VARCHAR.oid,
        types.BPCHAR.oid,
        types.NAME.oid,
        types.JSON.oid,
        types.UNKNOWN.oid,
        types.CHAR.oid,
        0,
    ):
        return _utf8(data)
    raise PgError(
        FEATURE_NOT_SUPPORTED,
        f"binary format for parameters of type OID {oid} is not supported",
        hint="send this parameter in text format",
    )


def _binary_numeric(data: bytes) -> Decimal:
    count, weight, sign, scale = struct.unpack(">hhHH", data[:8])
    if sign == 0xC000:
        return Decimal("NaN")
    if sign in (0xD000, 0xF000):
        return Decimal("Infinity") if sign == 0xD000 else Decimal("-Infinity")
    digits = struct.unpack(f">{count}h", data[8 : 8 + 2 * count])
    value = sum(Decimal(d) * Decimal(10000) ** (weight - i) for i, d in enumerate(digits))
    value = Decimal(value).quantize(Decimal(1).scaleb(-scale)) if count else Decimal(0)
    return -value if sign == 0x4000 else value


def _binary_time(data: bytes) -> str:
    """Microseconds since midnight, at most a day (24:00:00), as PostgreSQL's time_recv
    takes them: 25 hours read as 01:00:00 before."""
    micros = struct.unpack(">q", data)[0]
    if not 0 <= micros <= DAY_MICROS:
        raise ValueError(f"time out of range: {micros} microseconds")
    if micros == DAY_MICROS:
        return "24:00:00"
    return (dt.datetime.min + dt.timedelta(microseconds=micros)).time().isoformat()


def _binary_interval(data: bytes) -> pa.MonthDayNano:
    micros, days, months = struct.unpack(">qii", data)
    return pa.MonthDayNano([months, days, micros * 1000])


def _binary_array(data: bytes, timezone: str) -> list[Any]:
    dims, _, element_oid = struct.unpack(">iii", data[:12])
    if dims == 0:
        return []
    if dims != 1:
        raise PgError(FEATURE_NOT_SUPPORTED, "only one-dimensional array parameters are supported")
    length = struct.unpack(">i", data[12:16])[0]
    at, items = 20, []
    for _ in range(length):
        size = struct.unpack(">i", data[at : at + 4])[0]
        at += 4
        if size < 0:
            items.append(None)
            continue
        items.append(_binary_value(data[at : at + size], element_oid, timezone))
        at += size
    return items


def _text_array(text: str, element: types.PgType, timezone: str) -> list[Any]:
    """A one-dimensional array literal's values; an element its type does not read is
    PostgreSQL's 22P02 quoting that element, not the whole array."""
    values = []
    for item in _array_items(text):
        try:
            values.append(None if item is None else _text_value(item, element.oid, timezone))
        except (ValueError, InvalidOperation):
            raise PgError(
                INVALID_TEXT, f'invalid input syntax for type {element.sql_name}: "{item[:64]}"'
            ) from None
    return values


def _array_items(text: str) -> list[str | None]:
    """The elements of a one-dimensional array literal such as {1,"a b",NULL}, read as
    PostgreSQL's array_in reads them; what it refuses is its `malformed array literal` (22P02)
    with its DETAIL, so a driver's or a user's bad list reads as it does from PostgreSQL."""

    def malformed(detail: str) -> PgError:
        return PgError(INVALID_TEXT, f'malformed array literal: "{text[:64]}"', detail=detail)

    at, end, items = _blank(text, 0), len(text), []
    nested = text.startswith("{", at) and text.startswith("{", _blank(text, at + 1))
    if text.startswith("[", at) or nested:
        raise PgError(
            FEATURE_NOT_SUPPORTED,
            "only one-dimensional array parameters without dimensions are supported",
            hint="send the array as {1,2,3}",
        )
    if not text.startswith("{", at):
        raise malformed('Array value must start with "{" or dimension information.')
    at, after_comma = at + 1, False
    while True:
        at = _blank(text, at)
        if at == end:
            raise malformed("Unexpected end of input.")
        if text[at] in ",}" and (after_comma or (text[at] == "," and not items)):
            raise malformed(f'Unexpected "{text[at]}" character.')
        if text[at] == "}":
            break
        if text[at] == ",":
            at, after_comma = at + 1, True
            continue
        if items and not after_comma:
            raise malformed("Unexpected array element.")
        if text[at] == "{":
            raise malformed('Unexpected "{" character.')
        item, at = _array_element(text, at, malformed)
        items.append(item)
        after_comma = False
    if _blank(text, at + 1) != end:
        raise malformed("Junk after closing right brace.")
    return items


def _array_element(
    text: str, at: int, malformed: Callable[[str], PgError]
) -> tuple[str | None, int]:
    """The element starting at `at` (quoted, or bare up to a `,` or `}` and unquoted NULL),
    with backslash escapes read, and where it ends."""
    quoted, escaped, chars, kept = text[at] == '"', False, [], 0
    at += quoted
    while at < len(text) and (quoted or text[at] not in ",}"):
        char = text[at]
        if char == '"' and quoted:
            return "".join(chars), at + 1
        if not quoted and char in '"{':
            raise malformed(
                'Unexpected "{" character.' if char == "{" else "Unexpected array element."
            )
        if char == "\\":
            at += 1
            if at == len(text):
                break
            escaped = True
        chars.append(text[at])
        if quoted or char == "\\" or text[at] not in BLANKS:
            kept = len(chars)  # trailing white space is dropped, unless quoted or escaped
        at += 1
    if quoted or at == len(text):
        raise malformed("Unexpected end of input.")
    word = "".join(chars[:kept])
    return (None if word.upper() == "NULL" and not escaped else word), at


def _blank(text: str, at: int) -> int:
    """The first position from `at` that is not white space as PostgreSQL's arrays skip it."""
    while at < len(text) and text[at] in BLANKS:
        at += 1
    return at
