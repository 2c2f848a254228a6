"""SidecarError -> Flight status, with the message, the position and the hint kept together.

pyarrow.flight has exception classes for most gRPC codes; INVALID_ARGUMENT, NOT_FOUND and
UNIMPLEMENTED come from Arrow's own ArrowInvalid, ArrowKeyError and ArrowNotImplementedError.
pyarrow sends those three with a "Detail" that it formats with `traceback.format_exception`:
the Python traceback, server file paths included. `quiet_details` makes that detail the
status's name for the classes below, which exist only to be sent; the message, position and
hint come first in any case. The Flight exception classes also carry the error as JSON in
`extra_info`, for clients that want fields.
"""

from __future__ import annotations

import functools
import json
import traceback
from typing import Any

import pyarrow as pa
import pyarrow.flight as flight

from sidecar.errors import ErrorCode, SidecarError
from sidecar.secrets import REDACTOR
from sidecar.servers.flight.commands import Unsupported
from sidecar.servers.flight.tickets import UnknownHandle

FLIGHT_ERRORS: dict[ErrorCode, type[flight.FlightError]] = {
    ErrorCode.FORBIDDEN: flight.FlightUnauthorizedError,
    ErrorCode.UNAUTHENTICATED: flight.FlightUnauthenticatedError,
    ErrorCode.TIMEOUT: flight.FlightTimedOutError,
    ErrorCode.CANCELED: flight.FlightCancelledError,
    ErrorCode.SOURCE: flight.FlightUnavailableError,
    ErrorCode.NOT_READY: flight.FlightUnavailableError,
    ErrorCode.SHUTTING_DOWN: flight.FlightUnavailableError,
    ErrorCode.INTERNAL: flight.FlightInternalError,
}


class InvalidArgument(pa.ArrowInvalid):
    """INVALID_ARGUMENT: bad SQL, parameters or request."""


class NotFound(pa.ArrowKeyError):
    """NOT_FOUND: an unknown table, ticket or prepared statement."""


class NotImplementedHere(pa.ArrowNotImplementedError):
    """UNIMPLEMENTED: a Flight SQL feature a read-only sidecar does not offer."""


class Refused(pa.ArrowException):
    """UNKNOWN: a refusal GetSchema cannot send with its own status (`for_get_schema`)."""


STATUSES = (InvalidArgument, NotFound, NotImplementedHere, Refused)


def for_get_schema(error: Exception) -> Exception:
    """`error` as GetSchema can raise it. pyarrow's GetSchema handler, unlike its others, does
    not turn a FlightError into its status: it answered UNKNOWN with the server's traceback
    (file paths and all) as the detail. The status stays UNKNOWN (no other exception reaches
    PERMISSION_DENIED, UNAVAILABLE or DEADLINE_EXCEEDED there), with the message and hint."""
    if isinstance(error, flight.FlightError):
        return Refused(str(error))
    return error


@functools.cache
def quiet_details() -> None:
    """Have pyarrow describe a status above by its name instead of by a traceback.

    pyarrow looks `traceback.format_exception` up each time it formats a status detail, and
    offers no other hook; every other exception still formats as before (logs keep their
    tracebacks). Runs once per process.
    """
    original = traceback.format_exception

    @functools.wraps(original)
    def format_exception(*args: Any, **kwargs: Any) -> list[str]:
        value = kwargs.get("value", args[1] if len(args) > 1 else args[0] if args else None)
        if isinstance(value, STATUSES):
            return [type(value).__name__]
        return original(*args, **kwargs)

    traceback.format_exception = format_exception


def text(error: SidecarError) -> str:
    """The message a client shows: what went wrong, where in the SQL, and what to do."""
    lines = [REDACTOR.redact(error.message)]
    if error.position is not None:
        lines.append(f"POSITION: {error.position}")
    if error.hint:
        lines.append(f"HINT: {REDACTOR.redact(error.hint)}")
    return "\n".join(lines)


def to_flight(error: SidecarError) -> Exception:
    """The exception that makes pyarrow answer with the right gRPC status.

    A limit refusal would be RESOURCE_EXHAUSTED, but pyarrow's server has no way to send that
    status (its Arrow-to-gRPC mapping lacks it): a refusal that passes with time (rate,
    concurrency) is UNAVAILABLE, which clients retry, with `retry_after` in the JSON details;
    one the query must change for (rows, bytes) is INVALID_ARGUMENT."""
    message = text(error)
    if isinstance(error, Unsupported):
        return NotImplementedHere(message)
    if error.code is ErrorCode.UNDEFINED_TABLE or isinstance(error, UnknownHandle):
        return NotFound(message)
    kind = FLIGHT_ERRORS.get(error.code)
    if error.code is ErrorCode.LIMIT_EXCEEDED and error.retry_after is not None:
        kind = flight.FlightUnavailableError
    if kind is None:
        return InvalidArgument(message)
    body = error.to_dict()
    body["message"] = REDACTOR.redact(error.message)
    if error.hint:
        body["hint"] = REDACTOR.redact(error.hint)
    return kind(message, extra_info=json.dumps(body).encode())
