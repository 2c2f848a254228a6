"""Flight SQL commands: protobuf messages wrapped in google.protobuf.Any.

Every Flight SQL request (a FlightDescriptor's command, an action body, a ticket) is an Any
whose type URL names the message. Decoding by that name, instead of trying each message type,
means an unknown or unsupported command is reported by name rather than misread as another.

protobuf and the Flight SQL messages are imported by the first Flight SQL call, not when the
server starts: about 1.4 MiB that a sidecar whose agent speaks HTTP or Postgres never needs.
"""

from __future__ import annotations

import functools
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

from sidecar.errors import ErrorCode, SidecarError

if TYPE_CHECKING:
    from google.protobuf.message import Message

    from sidecar.servers.flight import FlightSql_pb2 as pb

TYPE_PREFIX = "type.googleapis.com/arrow.flight.protocol.sql."
M = TypeVar("M", bound="Message")
SUBSTRAIT = {"CommandStatementSubstraitPlan", "ActionCreatePreparedSubstraitPlanRequest"}


class _Messages(ModuleType):
    """`FlightSql_pb2`, imported when a message is first asked for (under the import lock,
    so concurrent first calls on gRPC's threads see one whole module); each name is then kept
    here, found as fast as a module attribute."""

    def __getattr__(self, name: str) -> Any:
        from sidecar.servers.flight import FlightSql_pb2

        value = getattr(FlightSql_pb2, name)
        setattr(self, name, value)
        return value


if not TYPE_CHECKING:
    pb = _Messages("FlightSql_pb2")


@functools.cache
def messages() -> dict[str, type[Message]]:
    """Every Flight SQL message type by name."""
    return {name: getattr(pb, name) for name in pb.DESCRIPTOR.message_types_by_name}


class Unsupported(SidecarError):
    """A well-formed request this read-only SQL server does not implement (UNIMPLEMENTED)."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(ErrorCode.INVALID_REQUEST, message, hint=hint)


def pack(message: Message) -> bytes:
    """`message` as the serialized Any that Flight SQL puts on the wire."""
    from google.protobuf import any_pb2

    wrapper = any_pb2.Any()
    wrapper.Pack(message, type_url_prefix="type.googleapis.com/")
    return wrapper.SerializeToString()


def unpack(data: bytes | None) -> Message:
    """The Flight SQL message inside a serialized Any; a clear error for anything else.

    `data` is None for a FlightDescriptor that names a path instead of carrying a command."""
    if data is None:
        raise SidecarError(
            ErrorCode.INVALID_REQUEST,
            "FlightDescriptor paths are not served here: the descriptor carries no command",
            hint="send a command descriptor holding a Flight SQL message such as "
            "CommandStatementQuery, as Flight SQL clients such as ADBC do",
        )
    from google.protobuf import any_pb2
    from google.protobuf.message import DecodeError

    wrapper = any_pb2.Any()
    try:
        wrapper.ParseFromString(data)
    except DecodeError:
        wrapper.type_url = ""
    if not wrapper.type_url.startswith(TYPE_PREFIX):
        raise SidecarError(
            ErrorCode.INVALID_REQUEST,
            "the request is not a Flight SQL command",
            hint="send a Flight SQL message (e.g. CommandStatementQuery) packed in "
            "google.protobuf.Any, as Flight SQL clients such as ADBC do",
        )
    name = wrapper.type_url.removeprefix(TYPE_PREFIX)
    kind = messages().get(name)
    if kind is None:
        hint = (
            "this sidecar runs SQL text only; send the query as CommandStatementQuery"
            if name in SUBSTRAIT
            else "supported: SQL queries, prepared statements and catalog metadata requests"
        )
        raise Unsupported(f"Flight SQL command {name} is not supported", hint)
    return decode(kind, wrapper.value)


def decode(kind: type[M], data: bytes) -> M:
    """A protobuf message of `kind` from `data`; INVALID_REQUEST when the bytes are not one."""
    from google.protobuf.message import DecodeError

    message = kind()
    try:
        message.ParseFromString(data)
    except DecodeError:
        raise SidecarError(
            ErrorCode.INVALID_REQUEST,
            f"malformed Flight SQL {kind.__name__} message",
            hint="send the message the Flight SQL specification names for this call",
        ) from None
    return message
