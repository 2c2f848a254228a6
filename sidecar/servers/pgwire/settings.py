"""Per-connection settings: what ParameterStatus reports, SET changes and SHOW answers.

Settings that change how results are written (TimeZone) are honoured; those the sidecar cannot
honour (a DateStyle other than ISO, a client encoding other than UTF8) are refused with the
reason rather than silently ignored, because a driver would then misread every value. SET takes
what PostgreSQL 15 takes (settings.tsv lists its parameters and who may set them) and custom
`prefix.name` placeholders, and refuses the rest with PostgreSQL's own errors: a parameter
PostgreSQL does not know (DuckDB's enable_external_access, say) is 42704.
"""

from __future__ import annotations

import functools
import re
from importlib.metadata import PackageNotFoundError, version
from importlib.resources import files

import pyarrow as pa
from sqlglot import exp

from sidecar.servers.pgwire.codec import timezone_valid
from sidecar.servers.pgwire.errors import FEATURE_NOT_SUPPORTED, INVALID_VALUE, PgError

SERVER_VERSION = "15.0"
READ_ONLY = "55P02"
UTF8_NAMES = frozenset({"utf8", "utf-8", "unicode"})


def _package_version() -> str:
    try:
        return version("agent-sidecar")
    except PackageNotFoundError:
        return "dev"


# Sent as ParameterStatus at start-up and whenever SET changes one of them, as PostgreSQL does.
REPORTED = (
    "server_version",
    "server_encoding",
    "client_encoding",
    "application_name",
    "DateStyle",
    "IntervalStyle",
    "integer_datetimes",
    "standard_conforming_strings",
    "TimeZone",
    "is_superuser",
    "session_authorization",
    "default_transaction_read_only",
    "in_hot_standby",
)

DEFAULTS: dict[str, str] = {
    "server_version": f"{SERVER_VERSION} (agent-sidecar {_package_version()})",
    "server_version_num": "150000",
    "server_encoding": "UTF8",
    "client_encoding": "UTF8",
    "application_name": "",
    "DateStyle": "ISO, MDY",
    "IntervalStyle": "postgres",
    "integer_datetimes": "on",
    "standard_conforming_strings": "on",
    "TimeZone": "UTC",
    "is_superuser": "off",
    "session_authorization": "",
    "default_transaction_read_only": "on",
    "transaction_read_only": "on",
    "in_hot_standby": "off",
    "transaction_isolation": "read committed",
    "default_transaction_isolation": "read committed",
    "search_path": '"$user", public',
    "extra_float_digits": "1",
    "statement_timeout": "0",
    "lock_timeout": "0",
    "idle_in_transaction_session_timeout": "0",
    "client_min_messages": "notice",
    "bytea_output": "hex",
    "max_identifier_length": "63",
    "max_connections": "100",
    "block_size": "8192",
    "lc_collate": "C",
    "lc_ctype": "C",
    "lc_messages": "C",
    "lc_monetary": "C",
    "lc_numeric": "C",
    "lc_time": "C",
    "default_table_access_method": "heap",
    "timezone_abbreviations": "Default",
    "row_security": "on",
    "jit": "off",
    "work_mem": "4MB",
}
FIXED = frozenset(
    name.lower()
    for name in (
        "server_version",
        "server_version_num",
        "server_encoding",
        "integer_datetimes",
        "max_identifier_length",
        "max_connections",
        "block_size",
        "lc_collate",
        "lc_ctype",
        "in_hot_standby",
        "is_superuser",
        "transaction_read_only",
        "default_transaction_read_only",
    )
)
UNRECOGNIZED = "42704"
INSUFFICIENT_PRIVILEGE = "42501"
# Whom PostgreSQL lets change each of its parameters (pg_settings.context), by lower-case name.
CONTEXTS: dict[str, str] = {
    name.lower(): context
    for name, context in (
        line.split("\t")
        for line in files(__package__).joinpath("settings.tsv").read_text().splitlines()
        if line and not line.startswith("#")
    )
}
DURATION = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(us|ms|s|min|h|d)?\s*$", re.I)
MILLISECONDS = {"us": 0.001, "ms": 1, "s": 1000, "min": 60_000, "h": 3_600_000, "d": 86_400_000}


class Settings:
    """One connection's settings, looked up case-insensitively as PostgreSQL does."""

    def __init__(self, user: str, startup: dict[str, str]) -> None:
        self._names = {name.lower(): name for name in DEFAULTS}
        self._defaults = dict(DEFAULTS, session_authorization=user)
        self._values = dict(self._defaults)
        for name, value in [*startup.items(), *_options(startup.get("options", ""))]:
            tracked = name.lower() in self._names and name.lower() not in FIXED
            if tracked or _user_settable(name):
                self.set(name, value)

    def get(self, name: str) -> str:
        key = self._names.get(name.lower())
        if key is None:
            raise PgError(UNRECOGNIZED, f'unrecognized configuration parameter "{name}"')
        return self._values[key]

    def canonical(self, name: str) -> str:
        """The setting's own spelling (SHOW timezone answers in a column named TimeZone)."""
        self.get(name)
        return self._names[name.lower()]

    def items(self) -> list[tuple[str, str]]:
        return sorted(self._values.items(), key=lambda item: item[0].lower())

    def reported(self) -> list[tuple[str, str]]:
        return [(name, self._values[name]) for name in REPORTED]

    def set(self, name: str, value: str | None) -> str | None:
        """Apply SET (None is DEFAULT); returns the name when the client must be told."""
        key = self._names.get(name.lower(), name)
        if key.lower() in FIXED:
            raise PgError(READ_ONLY, f'parameter "{name}" cannot be changed')
        if key.lower() not in self._names:
            _check_settable(name)
        if value is None:
            value = self._defaults.get(key, "")
        self._values[key] = _checked(key, value)
        self._names.setdefault(key.lower(), key)
        return key if key in REPORTED else None

    def reset(self, name: str | None) -> list[str]:
        names = [name] if name else [n for n in self._values if n.lower() not in FIXED]
        changed = []
        for each in names:
            if each.lower() in FIXED:
                continue
            reported = self.set(each, None)
            if reported:
                changed.append(reported)
        return changed

    def show(self, name: str | None) -> pa.Table:
        """SHOW name (a one-column table named as the setting is spelled), or SHOW ALL."""
        if name is None:
            items = self.items()
            return pa.table(
                {
                    "name": [key for key, _ in items],
                    "setting": [value for _, value in items],
                    "description": ["" for _ in items],
                }
            )
        return pa.table({self.canonical(name): pa.array([self.get(name)], pa.string())})

    def call(self, query: exp.Select) -> tuple[pa.Table, list[str]]:
        """SELECT set_config(name, value, is_local) / current_setting(name [, missing_ok]).

        `query` has its parameters bound; returns the one-row result and the reported settings
        that changed.
        """
        columns: dict[str, list[str | None]] = {}
        changed = []
        for projection in query.expressions:
            call = projection.this if isinstance(projection, exp.Alias) else projection
            arguments = [None if isinstance(a, exp.Null) else a.name for a in call.expressions]
            if not arguments or arguments[0] is None:
                raise PgError("22004", f"{call.name}() needs a setting name")
            if call.name.lower() == "set_config" and len(arguments) == 3:
                reported = self.set(arguments[0], arguments[1])
                changed += [reported] if reported else []
            try:
                value = self.get(arguments[0])
            except PgError:
                if call.name.lower() != "current_setting" or arguments[1:2] not in (
                    ["true"],
                    ["t"],
                ):
                    raise
                value = None
            columns[projection.alias or call.name.lower()] = [value]
        table = pa.table({name: pa.array(value, pa.string()) for name, value in columns.items()})
        return table, changed

    @property
    def timezone(self) -> str:
        return self._values["TimeZone"]

    @property
    def statement_timeout(self) -> float | None:
        """Seconds, or None when off (read per statement: parsed once per value set)."""
        return _seconds(self._values["statement_timeout"])


@functools.lru_cache(maxsize=16)
def _seconds(duration: str) -> float | None:
    match = DURATION.match(duration)
    if not match:
        return None
    millis = float(match.group(1)) * MILLISECONDS[(match.group(2) or "ms").lower()]
    return millis / 1000 if millis > 0 else None


def _user_settable(name: str) -> bool:
    """A parameter any PostgreSQL user may set, or a custom placeholder (myapp.tenant)."""
    return "." in name.strip(".") or CONTEXTS.get(name.lower()) == "user"


def _check_settable(name: str) -> None:
    """Refuse a SET of a parameter the sidecar does not track as PostgreSQL would refuse it."""
    if _user_settable(name):
        return
    context = CONTEXTS.get(name.lower())
    if context is None:
        raise PgError(
            UNRECOGNIZED,
            f'unrecognized configuration parameter "{name}"',
            hint="PostgreSQL's parameters and custom ones named prefix.name can be set",
        )
    if context.startswith("superuser"):
        raise PgError(INSUFFICIENT_PRIVILEGE, f'permission denied to set parameter "{name}"')
    if context == "postmaster":
        raise PgError(
            READ_ONLY, f'parameter "{name}" cannot be changed without restarting the server'
        )
    raise PgError(READ_ONLY, f'parameter "{name}" cannot be changed now')


def _options(options: str) -> list[tuple[str, str]]:
    """The startup packet's `options` ("-c name=value --other=value"), as libpq passes PGOPTIONS."""
    pairs = []
    words = options.split()
    for index, word in enumerate(words):
        if word == "-c" and index + 1 < len(words):
            word = words[index + 1]
        elif word.startswith(("-c", "--")):
            word = word[2:]
        else:
            continue
        name, sep, value = word.partition("=")
        if sep:
            pairs.append((name.replace("-", "_"), value))
    return pairs


def _checked(name: str, value: str) -> str:
    lowered = name.lower()
    if lowered == "client_encoding":
        value = value.strip("'\" ")  # asyncpg sends 'utf-8', quotes included
        if value.lower() in UTF8_NAMES:
            return "UTF8"
        if value.lower() == "sql_ascii":
            return "SQL_ASCII"
        raise PgError(
            FEATURE_NOT_SUPPORTED,
            f'client encoding "{value}" is not supported',
            hint="the sidecar sends UTF8; set client_encoding to UTF8",
        )
    if lowered == "datestyle":
        styles = [part.strip().upper() for part in value.split(",") if part.strip()]
        if any(style not in ("ISO", "MDY", "DMY", "YMD", "EURO", "US") for style in styles):
            raise PgError(
                FEATURE_NOT_SUPPORTED,
                f'DateStyle "{value}" is not supported',
                hint="dates and timestamps are written in ISO format; use DateStyle ISO",
            )
        order = next((s for s in styles if s not in ("ISO",)), "MDY")
        return f"ISO, {order}"
    if lowered == "timezone":
        if value.upper() in ("LOCAL", "DEFAULT"):
            return "UTC"
        if not timezone_valid(value):
            raise PgError(INVALID_VALUE, f'invalid value for parameter "TimeZone": "{value}"')
        return value
    if lowered == "intervalstyle" and value.lower() != "postgres":
        raise PgError(FEATURE_NOT_SUPPORTED, f'IntervalStyle "{value}" is not supported')
    if lowered == "standard_conforming_strings" and value.lower() not in ("on", "true", "1"):
        raise PgError(FEATURE_NOT_SUPPORTED, "standard_conforming_strings cannot be turned off")
    if lowered == "statement_timeout" and not DURATION.match(value):
        raise PgError(INVALID_VALUE, f'invalid value for parameter "statement_timeout": "{value}"')
    return value
