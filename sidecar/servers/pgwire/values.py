"""One value in PostgreSQL's text and binary formats, for results of a few rows.

A point lookup answers a row or a handful: there the vectorised encoder's fixed cost per column
(several pyarrow.compute calls) is most of the work, and formatting each value in Python gives
the same bytes in a fraction of the time. A column's `PerValue` takes its Arrow array to Python
values (the integers behind temporal types, so no unit or time zone is lost on the way) and
encodes one at a time. What a value cannot be written as here (a date outside Python's years
1-9999, a lossy time unit, an instant that overflows) raises `UNFIT`, and the whole batch is
left to the vectorised encoder, which gives the answer or the error it always gives; the two
encoders are compared byte for byte in the tests.

The rare shapes the vectorised encoder also formats a value at a time (intervals as text,
numeric in binary, structs as JSON) are written by the same functions here.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import struct
import zoneinfo
from collections.abc import Callable
from decimal import Decimal
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sidecar.servers.pgwire import types
from sidecar.servers.pgwire.types import Column

TEXT, BINARY = 0, 1
PG_EPOCH_DAYS = 10957
PG_EPOCH_MICROS = PG_EPOCH_DAYS * 86_400_000_000
UTC_NAMES = frozenset({"utc", "etc/utc", "gmt", "etc/gmt", "z", "zulu", "universal", "+00:00"})
UNIX_DATE = dt.date(1970, 1, 1)
UNIX_EPOCH = dt.datetime(1970, 1, 1)
UNIX_INSTANT = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
DAY_MILLIS = 86_400_000
DAY_MICROS = 86_400_000_000
# What a value too large, too old or too precise for the per-value encoders raises.
UNFIT = (OverflowError, ValueError, struct.error)
MICROS_PER = {"s": 1_000_000, "ms": 1_000, "us": 1}
PACKED = {types.INT2: ">h", types.INT4: ">i", types.INT8: ">q", types.FLOAT4: ">f",
          types.FLOAT8: ">d"}  # fmt: skip
INT8_PACK = struct.Struct(">q").pack
INT4_PACK = struct.Struct(">i").pack
INTERVAL_PACK = struct.Struct(">qii").pack


class PerValue(NamedTuple):
    """A column's values as Python objects, and how one of them (never NULL) is encoded."""

    values: Callable[[pa.Array], list[Any]]
    encode: Callable[[Any], bytes]


def per_value(kind: pa.DataType, column: Column, fmt: int, timezone: str) -> PerValue | None:
    """How a column of this Arrow type is encoded a value at a time in `fmt`, or None for the
    columns only the vectorised encoder writes: arrays, lists as JSON, a type pinned to
    another OID (the shadow catalog's), and the types PostgreSQL has no name for."""
    if column.array or column != types.column(kind):
        return None
    if isinstance(kind, pa.BaseExtensionType):
        if column.type is types.UUID:
            if kind.storage_type != pa.binary(16):
                return None
            return PerValue(pa.Array.to_pylist, bytes if fmt == BINARY else _uuid_text)
        kind = kind.storage_type
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    found = (_binary_encoder if fmt == BINARY else _text_encoder)(kind, column, timezone)
    return found if found is None or isinstance(found, PerValue) else PerValue(pylist, found)


def pylist(array: pa.Array) -> list[Any]:
    """The values of a column as `to_pylist` gives them: a result that has its rows' values
    already (a key-index lookup's) is encoded from those."""
    return array.to_pylist()


def _text_encoder(
    kind: pa.DataType, column: Column, timezone: str
) -> PerValue | Callable[[Any], bytes] | None:
    pg = column.type
    if pg is types.BOOL:
        return _bool_text
    if pa.types.is_integer(kind):
        return _int_text
    if pa.types.is_floating(kind):
        return _float4_text if pg is types.FLOAT4 else _float8_text
    if pa.types.is_decimal(kind):
        return _decimal_text
    if types.is_string(kind):
        return str.encode
    if types.is_binary(kind):
        return _bytea_text
    if pa.types.is_date(kind):
        return PerValue(_days, _date_text)
    if pa.types.is_time(kind):
        return PerValue(_time_micros, _time_text)
    if pa.types.is_timestamp(kind):
        if kind.tz is None:
            return PerValue(_instant_micros, _timestamp_text)
        if timezone.lower() in UTC_NAMES:
            return PerValue(_instant_micros, _utc_text)
        try:
            zone = zoneinfo.ZoneInfo(timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return None
        return PerValue(_instant_micros, zoned_text(zone))
    if pa.types.is_duration(kind):
        return PerValue(_instant_micros, _duration_text)
    if pg is types.INTERVAL:
        return lambda value: interval_text(value).encode()
    if pg is types.JSON:
        return lambda value: json_text(value).encode()
    if pa.types.is_null(kind):
        return _no_value
    return None


def _binary_encoder(
    kind: pa.DataType, column: Column, timezone: str
) -> PerValue | Callable[[Any], bytes] | None:
    pg = column.type
    if pg is types.BOOL:
        return _bool_binary
    if pg in PACKED:
        return struct.Struct(PACKED[pg]).pack
    if pg is types.NUMERIC:
        return numeric_binary
    if types.is_string(kind):
        return str.encode
    if types.is_binary(kind):
        return bytes
    if pg is types.DATE:
        return PerValue(_days, _date_binary)
    if pg is types.TIME:
        return PerValue(_time_micros, INT8_PACK)
    if pg in (types.TIMESTAMP, types.TIMESTAMPTZ):
        return PerValue(_instant_micros, _timestamp_binary)
    if pg is types.INTERVAL:
        if pa.types.is_duration(kind):
            return PerValue(_instant_micros, _duration_binary)
        return PerValue(intervals, _interval_binary)
    if pg is types.JSON:
        return lambda value: json_text(value).encode()
    if pa.types.is_null(kind):
        return _no_value
    return None


# ---- values out of their arrays ----------------------------------------------------------------


def _days(array: pa.Array) -> list[int | None]:
    """Days since 1970-01-01; a date64 that is not a whole day does not cast to a date."""
    if pa.types.is_date32(array.type):
        return array.view(pa.int32()).to_pylist()
    millis = array.view(pa.int64()).to_pylist()
    if any(value % DAY_MILLIS for value in millis if value is not None):
        raise ValueError("a date64 value that is not a whole day")
    return [None if value is None else value // DAY_MILLIS for value in millis]


def _time_micros(array: pa.Array) -> list[int | None]:
    """Microseconds since midnight; nanoseconds that are not whole microseconds do not cast."""
    raw = array.view(pa.int64() if array.type.bit_width == 64 else pa.int32()).to_pylist()
    if array.type.unit == "ns":
        if any(value % 1000 for value in raw if value is not None):
            raise ValueError("a time in nanoseconds that is not a whole microsecond")
        return [None if value is None else value // 1000 for value in raw]
    scale = MICROS_PER[array.type.unit]
    return [None if value is None else value * scale for value in raw]


def _instant_micros(array: pa.Array) -> list[int | None]:
    """A timestamp's or a duration's microseconds, nanoseconds cut towards zero (as the
    vectorised encoder's unsafe cast cuts them)."""
    raw = array.view(pa.int64()).to_pylist()
    unit = array.type.unit
    if unit == "us":
        return raw
    if unit == "ns":
        return [None if v is None else (v // 1000 if v >= 0 else -(-v // 1000)) for v in raw]
    scale = MICROS_PER[unit]
    return [None if value is None else value * scale for value in raw]


def intervals(array: pa.Array) -> list[Any]:
    """An interval array's values as MonthDayNano (whatever its interval type)."""
    if pa.types.is_interval(array.type) and array.type != pa.month_day_nano_interval():
        array = pc.cast(array, pa.month_day_nano_interval())
    return array.to_pylist()


# ---- text format -------------------------------------------------------------------------------


def _bool_text(value: bool) -> bytes:
    return b"t" if value else b"f"


def _int_text(value: int) -> bytes:
    return str(value).encode()


def _float8_text(value: float) -> bytes:
    """Python's repr has the same shortest digits, and its exponent below 1e-4 and from 1e16:
    only 1e15 up to 1e16 needs the slower PostgreSQL notation."""
    if math.isnan(value) or math.isinf(value) or 1e15 <= abs(value) < 1e16:
        return _float_value(np.float64(value), single=False).encode()
    digits = repr(value)
    mantissa, exponent, power = digits.partition("e")
    if exponent:
        return f"{mantissa}e{power[0]}{abs(int(power)):02d}".encode()
    return digits.removesuffix(".0").encode()


def _float4_text(value: float) -> bytes:
    return _float_value(np.float32(value), single=True).encode()


def _float_value(value: np.floating, single: bool) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return pg_float(value, single)


def pg_float(value: np.floating, single: bool) -> str:
    """Shortest round-trip digits in PostgreSQL's notation: an exponent (e-05, e+15) below
    1e-4 and from 1e6 (real) or 1e15 (double precision) up."""
    scientific = np.format_float_scientific(value, unique=True, trim="-")
    mantissa, _, exponent = scientific.partition("e")
    power = int(exponent)
    if power < -4 or power >= (6 if single else 15):
        return f"{mantissa}e{'-' if power < 0 else '+'}{abs(power):02d}"
    return np.format_float_positional(value, unique=True, trim="-")


def decimal_text(value: Decimal) -> str:
    """Positional digits with the column's scale, as PostgreSQL writes numeric (never 1E-7)."""
    return format(value, "f")


def _decimal_text(value: Decimal) -> bytes:
    return decimal_text(value).encode()


def _bytea_text(value: bytes) -> bytes:
    return b"\\x" + value.hex().encode()


def _uuid_text(value: bytes) -> bytes:
    digits = value.hex()
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}".encode()


def _date_text(days: int) -> bytes:
    return (UNIX_DATE + dt.timedelta(days=days)).isoformat().encode()


def _time_text(micros: int) -> bytes:
    if not 0 <= micros < DAY_MICROS:
        raise ValueError("a time outside the day")
    seconds, fraction = divmod(micros, 1_000_000)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    clock = f"{hour:02d}:{minute:02d}:{second:02d}"
    return (clock + f".{fraction:06d}".rstrip("0") if fraction else clock).encode()


def wall_clock(stamp: dt.datetime) -> str:
    """'2026-03-14 14:02:05.5' (of a naive datetime): the trailing zeros of the fraction cut,
    as PostgreSQL does."""
    text = str(stamp)
    return text.rstrip("0") if stamp.microsecond else text


def _timestamp_text(micros: int) -> bytes:
    return wall_clock(UNIX_EPOCH + dt.timedelta(microseconds=micros)).encode()


def _utc_text(micros: int) -> bytes:
    return (wall_clock(UNIX_EPOCH + dt.timedelta(microseconds=micros)) + "+00").encode()


def zoned_text(zone: zoneinfo.ZoneInfo) -> Callable[[int], bytes]:
    """An instant's wall clock in `zone` and its offset from UTC, as timestamptz is written
    in a session whose TimeZone is that zone."""

    def encode(micros: int) -> bytes:
        local = (UNIX_INSTANT + dt.timedelta(microseconds=micros)).astimezone(zone)
        offset = local.utcoffset() or dt.timedelta()
        wall = wall_clock(local.replace(tzinfo=None))
        return (wall + utc_offset(offset // dt.timedelta(seconds=1))).encode()

    return encode


def utc_offset(seconds: int) -> str:
    """'+01', '+05:30', '-00:25:21': hours, then minutes and seconds only when there are any."""
    sign = "-" if seconds < 0 else "+"
    minutes, second = divmod(abs(seconds), 60)
    hours, minute = divmod(minutes, 60)
    text = f"{sign}{hours:02d}"
    if minute or second:
        text += f":{minute:02d}"
    if second:
        text += f":{second:02d}"
    return text


def interval_text(value: Any) -> str:
    """PostgreSQL's default IntervalStyle: '1 year 2 mons 3 days 04:05:06.5'."""
    if isinstance(value, dt.timedelta):  # whole days and the rest, both with its sign
        micros = value // dt.timedelta(microseconds=1)
        days = abs(micros) // DAY_MICROS * (-1 if micros < 0 else 1)
        months, micros = 0, micros - days * DAY_MICROS
    else:
        months, days, micros = value.months, value.days, value.nanoseconds // 1000
    parts = []
    years, months = int(months / 12), months - int(months / 12) * 12
    for amount, unit in ((years, "year"), (months, "mon"), (days, "day")):
        if amount:
            parts.append(f"{amount} {unit}{'' if amount == 1 else 's'}")
    if micros or not parts:
        sign = "-" if micros < 0 else ("+" if parts and days < 0 else "")
        seconds, fraction = divmod(abs(micros), 1_000_000)
        minutes, second = divmod(seconds, 60)
        hour, minute = divmod(minutes, 60)
        clock = f"{sign}{hour:02d}:{minute:02d}:{second:02d}"
        parts.append(clock + (f".{fraction:06d}".rstrip("0") if fraction else ""))
    return " ".join(parts)


def _duration_text(micros: int) -> bytes:
    return interval_text(dt.timedelta(microseconds=micros)).encode()


def json_text(value: Any) -> str:
    return json.dumps(_jsonable(value), separators=(", ", ": "), default=str)


def _jsonable(value: Any) -> Any:
    if isinstance(value, list) and value and all(isinstance(v, tuple) for v in value):
        return {str(k): _jsonable(v) for k, v in value}  # Arrow maps arrive as key/value pairs
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dt.date | dt.time | dt.datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return "\\x" + value.hex()
    if isinstance(value, Decimal):
        return float(value)
    return value


def _no_value(value: Any) -> bytes:
    """A column of Arrow's null type holds no value to encode."""
    raise ValueError(f"a value {value!r} in a column of nulls")


# ---- binary format -----------------------------------------------------------------------------


def _bool_binary(value: bool) -> bytes:
    return b"\x01" if value else b"\x00"


def _date_binary(days: int) -> bytes:
    return INT4_PACK(days - PG_EPOCH_DAYS)


def _timestamp_binary(micros: int) -> bytes:
    return INT8_PACK(micros - PG_EPOCH_MICROS)


def _duration_binary(micros: int) -> bytes:
    return INTERVAL_PACK(micros, 0, 0)


def _interval_binary(value: Any) -> bytes:
    return INTERVAL_PACK(value.nanoseconds // 1000, value.days, value.months)


def numeric_binary(value: Decimal | int) -> bytes:
    """ndigits, weight, sign, dscale, then base-10000 digits."""
    value = Decimal(value)
    if value.is_nan():
        return (0).to_bytes(4, "big") + b"\xc0\x00\x00\x00"
    if value.is_infinite():
        return (0).to_bytes(4, "big") + (b"\xd0\x00" if value > 0 else b"\xf0\x00") + b"\0\0"
    sign, _, exponent = value.as_tuple()
    scale = max(-int(exponent), 0)
    whole, _, fraction = f"{value.copy_abs():f}".partition(".")  # abs() rounds to 28 digits
    whole = whole.lstrip("0")
    whole = whole.zfill((len(whole) + 3) // 4 * 4)
    fraction = fraction.ljust((len(fraction) + 3) // 4 * 4, "0")
    groups = [int(whole[i : i + 4]) for i in range(0, len(whole), 4)]
    weight = len(groups) - 1
    groups += [int(fraction[i : i + 4]) for i in range(0, len(fraction), 4)]
    while groups and groups[0] == 0:
        groups.pop(0)
        weight -= 1
    while groups and groups[-1] == 0:
        groups.pop()
    if not groups:
        weight = 0
    header = struct.pack(">hhHH", len(groups), weight, 0x4000 if sign else 0, scale)
    return header + np.array(groups, dtype=">i2").tobytes()
