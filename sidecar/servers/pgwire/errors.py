"""SidecarError -> ErrorResponse: real SQLSTATEs, the fix in 'H', the caret in 'P'.

Drivers branch on SQLSTATE (psycopg raises UndefinedTable for 42P01, asyncpg its own class), so
the codes are PostgreSQL's own, never a generic XX000 when a closer one exists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sidecar.errors import ErrorCode, SidecarError
from sidecar.secrets import REDACTOR

SQLSTATES: dict[ErrorCode, str] = {
    ErrorCode.SYNTAX: "42601",
    ErrorCode.UNDEFINED_TABLE: "42P01",
    ErrorCode.UNDEFINED_COLUMN: "42703",
    ErrorCode.AMBIGUOUS_COLUMN: "42702",
    ErrorCode.FORBIDDEN: "42501",
    ErrorCode.UNAUTHENTICATED: "28P01",
    ErrorCode.INVALID_PARAMETER: "22023",
    ErrorCode.INVALID_REQUEST: "08P01",
    ErrorCode.TIMEOUT: "57014",
    ErrorCode.LIMIT_EXCEEDED: "53400",  # configuration_limit_exceeded
    ErrorCode.CANCELED: "57014",
    ErrorCode.SOURCE: "58030",
    ErrorCode.NOT_READY: "55000",
    ErrorCode.SHUTTING_DOWN: "57P01",  # admin_shutdown
    ErrorCode.QUERY: "42000",
    ErrorCode.TOO_COMPLEX: "54001",
    ErrorCode.OUT_OF_MEMORY: "53200",
    ErrorCode.INTERNAL: "XX000",
}

# Engine errors without a code of their own, told apart by DataFusion's wording.
QUERY_SQLSTATES = (
    (re.compile(r"divide by zero|division by zero", re.I), "22012"),
    (re.compile(r"^LIMIT must not be negative"), "2201W"),
    (re.compile(r"^OFFSET must not be negative"), "2201X"),
    (re.compile(r"overflow|^(tinyint|smallint|integer|bigint) out of range$", re.I), "22003"),
    (re.compile(r"^value .* is out of range for type"), "22003"),
    (re.compile(r"^date/time field value out of range"), "22008"),
    (re.compile(r"^invalid input syntax for type (date|time|timestamp)"), "22007"),
    # before 22P02: DataFusion's "no function matches" says "add explicit type casts"
    (re.compile(r"invalid function|no function matches|function .* not found", re.I), "42883"),
    (re.compile(r"cast|could not convert|cannot parse|invalid .*(format|syntax)", re.I), "22P02"),
    (re.compile(r"not (yet )?(supported|implemented)|unsupported", re.I), "0A000"),
)

PROTOCOL_VIOLATION = "08P01"
QUERY_CANCELED = "57014"
INVALID_PASSWORD = "28P01"
IN_FAILED_TRANSACTION = "25P02"
SYNTAX_ERROR = "42601"
UNDEFINED_OBJECT = "42704"
INVALID_CURSOR = "34000"
INVALID_STATEMENT = "26000"
DUPLICATE_OBJECT = "42710"
FEATURE_NOT_SUPPORTED = "0A000"
INVALID_VALUE = "22023"
INVALID_TEXT = "22P02"
INVALID_BINARY = "22P03"
INVALID_ENCODING = "22021"
OUT_OF_RANGE = "22003"
DATETIME_OUT_OF_RANGE = "22008"
DATATYPE_MISMATCH = "42804"


@dataclass
class PgError(Exception):
    """An error as the client will see it; FATAL ones end the connection."""

    sqlstate: str
    message: str
    hint: str | None = None
    position: int | None = None
    detail: str | None = None
    severity: str = "ERROR"

    def __post_init__(self) -> None:
        super().__init__(self.message)

    @classmethod
    def of(cls, error: SidecarError, offset: int = 0) -> PgError:
        """The ErrorResponse for an engine error; `offset` places positions in a longer query."""
        message = REDACTOR.redact(error.message)
        if error.code is ErrorCode.SHUTTING_DOWN:
            return admin_shutdown(message)
        if error.code is ErrorCode.CANCELED:
            message = "canceling statement due to user request"
        elif error.code is ErrorCode.TIMEOUT:
            message = f"canceling statement due to statement timeout: {message}"
        position = error.position + offset if error.position is not None else None
        sqlstate = SQLSTATES[error.code]
        if error.code is ErrorCode.QUERY:
            sqlstate = next((s for p, s in QUERY_SQLSTATES if p.search(message)), sqlstate)
        return cls(
            sqlstate,
            message,
            hint=REDACTOR.redact(error.hint) if error.hint else None,
            position=position,
        )

    def fields(self) -> dict[str, str]:
        fields = {"S": self.severity, "V": self.severity, "C": self.sqlstate, "M": self.message}
        if self.detail:
            fields["D"] = self.detail
        if self.hint:
            fields["H"] = self.hint
        if self.position is not None:
            fields["P"] = str(self.position)
        return fields


def admin_shutdown(reason: str) -> PgError:
    """What PostgreSQL's fast shutdown tells each session it ends (57P01, FATAL): drivers and
    pools (psycopg's AdminShutdown, pgjdbc, pgbouncer) know the connection is gone and open a
    new one, to another replica, instead of failing the work as a fault of its query."""
    return PgError(
        "57P01",
        "terminating connection due to administrator command",
        detail=reason,
        hint="reconnect: another replica, or this one once restarted, answers",
        severity="FATAL",
    )


def cannot_connect_now() -> PgError:
    """What PostgreSQL answers a connection that arrives while it stops (57P03)."""
    return PgError(
        "57P03",
        "the database system is shutting down",
        hint="connect to another replica, or to this one once restarted",
        severity="FATAL",
    )
