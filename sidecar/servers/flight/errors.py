"""SidecarError -> Flight status, with the message, the position and the hint kept together.

pyarrow.flight has exception classes for most gRPC codes; INVALID_ARGUMENT, NOT_FOUND and
UNIMPLEMENTED come from Arrow's own ArrowInvalid, ArrowKeyError and ArrowNotImplementedError.
Those three travel with a Python traceback appended by pyarrow ("Detail: Python exception"),
which is why the useful part, message, position and hint, always comes first. The Flight
exception classes also carry the error as JSON in `extra_info`, for clients that want fields.
"""

from __future__ import annotations

import json

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
    ErrorCode.INTERNAL: flight.FlightInternalError,
}


class InvalidArgument(pa.ArrowInvalid):
    """INVALID_ARGUMENT: bad SQL, parameters or request."""


class NotFound(pa.ArrowKeyError):
    """NOT_FOUND: an unknown table, ticket or prepared statement."""


class NotImplementedHere(pa.ArrowNotImplementedError):
    """UNIMPLEMENTED: a Flight SQL feature a read-only sidecar does not offer."""


def text(error: SidecarError) -> str:
    """The message a client shows: what went wrong, where in the SQL, and what to do."""
    lines = [REDACTOR.redact(error.message)]
    if error.position is not None:
        lines.append(f"POSITION: {error.position}")
    if error.hint:
        lines.append(f"HINT: {REDACTOR.redact(error.hint)}")
    return "\n".join(lines)


def to_flight(error: SidecarError) -> Exception:
    """The exception that makes pyarrow answer with the right gRPC status."""
    message = text(error)
    if isinstance(error, Unsupported):
        return NotImplementedHere(message)
    if error.code is ErrorCode.UNDEFINED_TABLE or isinstance(error, UnknownHandle):
        return NotFound(message)
    kind = FLIGHT_ERRORS.get(error.code)
    if kind is None:
        return InvalidArgument(message)
    body = error.to_dict()
    body["message"] = REDACTOR.redact(error.message)
    if error.hint:
        body["hint"] = REDACTOR.redact(error.hint)
    return kind(message, extra_info=json.dumps(body).encode())
