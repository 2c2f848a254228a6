"""Session functions (version(), current_user, current_setting(...)) as this connection's values.

PostgreSQL answers these per connection; neither DataFusion nor the shadow catalog know the
connection, so the session replaces each call with a literal before the statement runs, on
either path. A replaced projection keeps the name PostgreSQL gives it (`version()` -> "version").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlglot import exp

# Unquoted words PostgreSQL reads as session functions, not columns.
SESSION_WORDS = frozenset(
    {"user", "current_user", "session_user", "current_role", "current_catalog", "current_schema"}
)


@dataclass(frozen=True)
class SessionValues:
    """What session functions return for one connection."""

    user: str
    database: str
    pid: int
    server_address: tuple[str, int]
    client_address: tuple[str, int]
    setting: Callable[[str], str]
    version: str


def substitute_session(statement: exp.Expression, values: SessionValues) -> bool:
    """Replace session functions with this connection's values; True when anything changed.

    A replaced projection keeps the name PostgreSQL gives it (`SELECT version()` -> "version").
    """
    changed = False

    def replace(node: exp.Expression) -> exp.Expression:
        nonlocal changed
        target = node
        if (
            isinstance(node, exp.Dot)
            and isinstance(node.expression, exp.Func)
            and node.this.name.lower() == "pg_catalog"
        ):
            target = node.expression
        value = _session_value(target, values)
        if value is _KEEP:
            return node
        changed = True
        literal = _literal(value)
        parent = node.parent
        if isinstance(parent, exp.Select) and any(e is node for e in parent.expressions):
            return exp.alias_(literal, _output_name(target), quoted=True)
        return literal

    statement.transform(replace, copy=False)
    return changed


_KEEP = object()


def _session_value(node: exp.Expression, values: SessionValues) -> Any:
    if isinstance(node, exp.CurrentVersion):
        return values.version
    if isinstance(node, exp.CurrentSchema):
        return "public"
    if isinstance(node, exp.CurrentDatabase | exp.CurrentCatalog):
        return values.database
    if isinstance(node, exp.CurrentUser | exp.SessionUser):
        return values.user
    if isinstance(node, exp.Column) and not node.table:
        identifier = node.this
        if isinstance(identifier, exp.Identifier) and not identifier.quoted:
            word = identifier.name.lower()
            if word in SESSION_WORDS:
                return (
                    values.database
                    if word == "current_catalog"
                    else ("public" if word == "current_schema" else values.user)
                )
        return _KEEP
    if not isinstance(node, exp.Anonymous):
        return _KEEP
    name = node.name.lower()
    arguments = node.expressions
    simple: dict[str, Any] = {
        "version": values.version,
        "pg_backend_pid": values.pid,
        "inet_server_addr": values.server_address[0],
        "inet_server_port": values.server_address[1],
        "inet_client_addr": values.client_address[0],
        "inet_client_port": values.client_address[1],
        "current_schema": "public",
        "current_database": values.database,
    }
    if name in simple and not arguments:
        return simple[name]
    setting = arguments[0] if arguments else None
    while isinstance(setting, exp.Cast):
        setting = setting.this
    if name == "current_setting" and isinstance(setting, exp.Literal):
        try:
            return values.setting(setting.name)
        except Exception:
            if len(arguments) > 1:
                return None
            raise
    return _KEEP


def _literal(value: Any) -> exp.Expression:
    if value is None:
        return exp.Null()
    if isinstance(value, int):
        return exp.Literal.number(value)
    return exp.Literal.string(str(value))


def _output_name(node: exp.Expression) -> str:
    """The column name PostgreSQL gives a session function: the function's own name."""
    if isinstance(node, exp.Anonymous):
        return node.name.lower()
    if isinstance(node, exp.Column):
        return node.name.lower()
    names = {
        exp.CurrentVersion: "version",
        exp.CurrentSchema: "current_schema",
        exp.CurrentDatabase: "current_database",
        exp.CurrentCatalog: "current_catalog",
        exp.CurrentUser: "current_user",
        exp.SessionUser: "session_user",
    }
    return next((name for kind, name in names.items() if isinstance(node, kind)), "")
