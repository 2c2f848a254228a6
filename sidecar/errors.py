"""The one error type every interface speaks.

Servers translate `ErrorCode` into their own protocol's codes (SQLSTATE, HTTP status,
Flight status); everything below them raises `SidecarError` so that an agent always
gets what went wrong *and* how to fix it, whatever protocol it connected with.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import ValidationError


class ErrorCode(StrEnum):
    SYNTAX = "syntax_error"
    UNDEFINED_TABLE = "undefined_table"
    UNDEFINED_COLUMN = "undefined_column"
    AMBIGUOUS_COLUMN = "ambiguous_column"
    FORBIDDEN = "forbidden"
    UNAUTHENTICATED = "unauthenticated"
    INVALID_PARAMETER = "invalid_parameter"
    INVALID_REQUEST = "invalid_request"
    TIMEOUT = "timeout"
    LIMIT_EXCEEDED = "limit_exceeded"
    CANCELED = "canceled"
    SOURCE = "source_error"
    NOT_READY = "not_ready"
    SHUTTING_DOWN = "shutting_down"
    QUERY = "query_error"
    TOO_COMPLEX = "statement_too_complex"
    OUT_OF_MEMORY = "out_of_memory"
    INTERNAL = "internal_error"


class SidecarError(Exception):
    """An error meant for the agent: a message, a hint to fix it, and where in the SQL it is;
    `retry_after` says when the same request may succeed (a rate or concurrency limit)."""

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        hint: str | None = None,
        position: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint
        self.position = position
        self.retry_after = retry_after

    def to_dict(self) -> dict[str, object]:
        body: dict[str, object] = {"code": self.code.value, "message": self.message}
        if self.hint:
            body["hint"] = self.hint
        if self.position is not None:
            body["position"] = self.position
        if self.retry_after is not None:
            body["retry_after"] = round(self.retry_after, 3)
        return body


def shutting_down(message: str) -> SidecarError:
    """A statement the stopping sidecar refused or ended: the service is going away, so the
    client should retry elsewhere (HTTP 503 with Retry-After, Flight UNAVAILABLE, PostgreSQL's
    57P01 admin_shutdown), not take it for a cancel it asked for or a fault of its query."""
    return SidecarError(
        ErrorCode.SHUTTING_DOWN,
        message,
        hint="retry: another replica, or this one once restarted, answers",
        retry_after=1.0,
    )


def invalid_request(error: ValidationError, hint: str, whole: str = "body") -> SidecarError:
    """A request that failed its pydantic model, as an agent reads it: the first problem and
    where it is (`limit: Input should be less than or equal to 1000`)."""
    problem = error.errors()[0]
    where = ".".join(str(part) for part in problem["loc"]) or whole
    return SidecarError(ErrorCode.INVALID_REQUEST, f"{where}: {problem['msg']}", hint=hint)
