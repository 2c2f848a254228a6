"""PostgreSQL protocol 3.0 framing: reading frontend messages, building backend ones.

Every length a client sends is checked before anything is allocated for it, so a malformed or
oversized message costs the server one closed connection and nothing else.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

from sidecar.servers.pgwire.types import Column

PROTOCOL_3 = 196608
SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
CANCEL_REQUEST = 80877102
MAX_STARTUP = 10_000
MAX_MESSAGE = 16 << 20
SHORT = "message is shorter than its contents claim"

_INT16 = struct.Struct(">h")
_UINT16 = struct.Struct(">H")  # counts: PostgreSQL reads and writes them unsigned
_INT32 = struct.Struct(">i")


HELD_BYTES = 64 << 10  # replies held back up to this size before they are written on


class Output:
    """A session's outgoing messages, held until it drains them (at Sync, Flush, the end of a
    simple query, each slice of a long result) and then written with one send: PostgreSQL
    too answers an extended-protocol exchange when the client syncs or flushes, and a point
    lookup's six replies cost six system calls when written one by one."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self._held: list[bytes | memoryview] = []
        self._size = 0

    def write(self, data: bytes | memoryview) -> None:
        size = data.nbytes if isinstance(data, memoryview) else len(data)
        if size >= HELD_BYTES:
            self.flush()
            self._send(data)
            return
        self._held.append(data)
        self._size += size
        if self._size >= HELD_BYTES:
            self.flush()

    def flush(self) -> None:
        """Hand what is held to the transport."""
        if self._held:
            held, self._held, self._size = self._held, [], 0
            self._send(held[0] if len(held) == 1 else b"".join(held))

    def _send(self, data: bytes | memoryview) -> None:
        """Write `data`, unless the connection has ended: nobody reads it then, and uvloop
        refuses a write to a reset connection with RuntimeError (a client's RST mid-query had
        its error reply end the session with a traceback in the log); the next drain tells
        the session the client is gone."""
        if not self.writer.transport.is_closing():
            self.writer.write(data)

    def backlogged(self) -> bool:
        """Whether the client has not yet taken what was written (or the connection ends)."""
        transport = self.writer.transport
        return bool(self._held) or bool(transport.get_write_buffer_size()) or transport.is_closing()

    async def drain(self) -> None:
        """Flush, and wait while the client has not taken what was sent before: only then,
        since most replies leave in the write itself and the wait would be for nothing."""
        self.flush()
        transport = self.writer.transport
        if transport.get_write_buffer_size() or transport.is_closing():
            await self.writer.drain()


class Sends:
    """The replies answered in one turn of the event loop, sent together at its end.

    A send to a client on this machine wakes the client's thread, and the kernel runs it on
    the sender's CPU first (a socket's wake-up hints that the sender is about to wait): sent
    as each lookup was answered, the loop was preempted after almost every one of them. Sent
    once every socket that was ready has been read, the clients run while the loop waits for
    their next statements: 64 clients' lookups cost 10-15% less CPU each and ran 20-35% more
    of them a second (benchmarks/README.md, Concurrency)."""

    def __init__(self) -> None:
        self._outputs: list[Output] = []

    def add(self, output: Output) -> None:
        """Send what `output` holds at the end of this turn of the loop."""
        if not self._outputs:
            asyncio.get_running_loop().call_soon(self._send)
        self._outputs.append(output)

    def _send(self) -> None:
        outputs, self._outputs = self._outputs, []
        for output in outputs:
            if not output.writer.transport.is_closing():  # else nobody reads it any more
                output.flush()


class ProtocolError(Exception):
    """The client broke the protocol; the connection ends after an 08P01 error."""


class Body:
    """A cursor over one message's payload that refuses to read past its end."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def _take(self, size: int) -> bytes:
        if size < 0 or self.at + size > len(self.data):
            raise ProtocolError(SHORT)
        chunk = self.data[self.at : self.at + size]
        self.at += size
        return chunk

    def int16(self) -> int:
        return int(_INT16.unpack(self._take(2))[0])

    def int32(self) -> int:
        return int(_INT32.unpack(self._take(4))[0])

    def byte(self) -> str:
        return self._take(1).decode("latin-1")

    def cstring(self) -> str:
        text, self.at = _string_at(self.data, self.at, len(self.data))
        return text

    def bytes(self, size: int) -> bytes:
        return self._take(size)

    def rest(self) -> bytes:
        return self._take(len(self.data) - self.at)

    def done(self) -> None:
        if self.at != len(self.data):
            raise ProtocolError("message is longer than its contents")


async def read_startup(reader: asyncio.StreamReader) -> tuple[int, Body]:
    """The untyped first packet: a startup message, SSLRequest, GSSENCRequest or CancelRequest."""
    length = _INT32.unpack(await reader.readexactly(4))[0]
    if not 8 <= length <= MAX_STARTUP:
        raise ProtocolError(f"invalid startup packet length {length}")
    body = Body(await reader.readexactly(length - 4))
    return body.int32(), body


def startup_parameters(body: Body) -> dict[str, str]:
    parameters: dict[str, str] = {}
    while True:
        key = body.cstring()
        if not key:
            break
        parameters[key] = body.cstring()
    body.done()
    return parameters


async def read_message(reader: asyncio.StreamReader) -> tuple[str, Body]:
    header = await reader.readexactly(5)
    kind = chr(header[0])
    length = _length(kind, _INT32.unpack(header[1:])[0])
    return kind, Body(await reader.readexactly(length - 4))


def _length(kind: str, length: int) -> int:
    if not 4 <= length <= MAX_MESSAGE:
        raise ProtocolError(f"invalid message length {length} for message type {kind!r}")
    return length


READ_SIZE = 64 << 10


class Incoming:
    """A session's frontend messages, read from the socket a buffer at a time and split here.

    A driver sends a lookup's Parse, Bind, Describe, Execute and Sync in one packet: reading
    them as one buffer and cutting it up costs one read instead of two awaited reads per
    message. A message longer than what is buffered is completed with one exact read of the
    rest, so a long one is copied once, not once per buffer.
    """

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self.reader = reader
        self._data = b""
        self._at = 0
        # Waiting for the socket with nothing held: bytes arriving now start a message, and
        # whole groups among them may be answered before they reach the reader (Inline).
        self.waiting = False

    def next(self) -> tuple[str, Body] | None:
        """The next message if it is whole in the buffer."""
        data, at = self._data, self._at
        if len(data) - at < 5:
            return None
        kind = chr(data[at])
        end = at + 1 + _length(kind, _INT32.unpack_from(data, at + 1)[0])
        if len(data) < end:
            return None
        self._at = end
        return kind, Body(data[at + 5 : end])

    def ahead(self) -> tuple[bytes, int]:
        """The buffer and where the messages not yet handed out start in it: a session that
        recognises a whole group of messages there takes them at once (`skip`)."""
        return self._data, self._at

    def skip(self, end: int) -> None:
        """The messages up to `end` of the buffer were taken whole."""
        self._at = end

    async def fill(self) -> None:
        """More of the socket's bytes: the rest of a message whose header is here, else what
        has arrived."""
        held = self._data[self._at :]
        if len(held) >= 5:  # the header is here: wait for exactly the rest
            length = _length(chr(held[0]), _INT32.unpack_from(held, 1)[0])
            held += await self.reader.readexactly(length + 1 - len(held))
        else:
            self.waiting = not held
            try:
                chunk = await self.reader.read(READ_SIZE)
            finally:
                self.waiting = False
            if not chunk:
                raise asyncio.IncompleteReadError(held, None)
            held += chunk
        self._data, self._at = held, 0


class Inline(asyncio.StreamReaderProtocol):
    """A connection's protocol that offers the bytes it receives to a `consumer` before its
    reader: a session waiting for input answers a repeated lookup's group right in the
    socket's callback, without waking its task for it (two event-loop steps per lookup). The
    consumer returns the bytes it left, which the reader gets as usual. And it tells `on_lost`
    at once when the connection ends: a session computing an answer reads nothing meanwhile,
    and would learn only when it writes that nobody waits for it any more."""

    consumer: Callable[[bytes], bytes] | None = None
    on_lost: Callable[[], None] | None = None  # the client went away (or the server closed)

    def data_received(self, data: bytes) -> None:
        if self.consumer is not None:
            data = self.consumer(data)
            if not data:
                return
        super().data_received(data)

    def eof_received(self) -> bool | None:
        """The client closed its side: no Postgres client does that and still reads (libpq,
        pgjdbc, psycopg and asyncpg close after Terminate, or hang up), so it is gone."""
        if self.on_lost is not None:
            self.on_lost()
        return super().eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.on_lost is not None:
            self.on_lost()
        super().connection_lost(exc)


class Parse(NamedTuple):
    name: str
    query: str
    parameter_types: list[int]


class Bind(NamedTuple):
    portal: str
    statement: str
    parameter_formats: list[int]
    values: list[bytes | None]
    result_formats: list[int]


class Target(NamedTuple):
    """Describe and Close: a prepared statement ('S') or a portal ('P') by name."""

    kind: str
    name: str


class Execute(NamedTuple):
    portal: str
    max_rows: int


def parse_parse(body: Body) -> Parse:
    name, query = body.cstring(), body.cstring()
    types = [body.int32() for _ in range(_count(body))]
    body.done()
    return Parse(name, query, types)


def parse_bind(body: Body) -> Bind:
    return bind_at(body.data, body.at, len(body.data))


def bind_at(data: bytes, at: int, end: int) -> Bind:
    """The Bind message whose payload is data[at:end], read with struct at offsets rather than
    through Body's calls and without copying the payload out first: every lookup sends one,
    and the calls were most of its cost."""
    portal, at = _string_at(data, at, end)
    statement, at = _string_at(data, at, end)
    formats, at = _int16s(data, at, end)
    count, at = _uint16(data, at, end)
    values: list[bytes | None] = []
    for _ in range(count):
        if at + 4 > end:
            raise ProtocolError(SHORT)
        size = _INT32.unpack_from(data, at)[0]
        at += 4
        if size == -1:
            values.append(None)
            continue
        if size < 0 or at + size > end:
            raise ProtocolError(SHORT)
        values.append(data[at : at + size])
        at += size
    results, at = _int16s(data, at, end)
    if at != end:
        raise ProtocolError("message is longer than its contents")
    return Bind(portal, statement, formats, values, results)


def parse_target(body: Body) -> Target:
    kind, name = body.byte(), body.cstring()
    body.done()
    if kind not in ("S", "P"):
        raise ProtocolError(f"invalid Describe/Close target {kind!r}")
    return Target(kind, name)


def parse_execute(body: Body) -> Execute:
    portal, max_rows = body.cstring(), body.int32()
    body.done()
    return Execute(portal, max(max_rows, 0))


def parse_query(body: Body) -> str:
    query = body.cstring()
    body.done()
    return query


def _string_at(data: bytes, at: int, end: int) -> tuple[str, int]:
    stop = data.find(b"\0", at, end)
    if stop < 0:
        raise ProtocolError("string is not terminated")
    if stop == at:
        return "", at + 1
    try:
        return data[at:stop].decode(), stop + 1
    except UnicodeDecodeError:
        raise ProtocolError("string is not valid UTF-8") from None


def _uint16(data: bytes, at: int, end: int) -> tuple[int, int]:
    if at + 2 > end:
        raise ProtocolError(SHORT)
    return _UINT16.unpack_from(data, at)[0], at + 2


def _int16s(data: bytes, at: int, end: int) -> tuple[list[int], int]:
    """A count, then that many int16 (format codes)."""
    count, at = _uint16(data, at, end)
    if not count:
        return [], at
    stop = at + 2 * count
    if stop > end:
        raise ProtocolError(SHORT)
    return list(struct.unpack_from(f">{count}h", data, at)), stop


def _count(body: Body) -> int:
    return int(_UINT16.unpack(body.bytes(2))[0])


def message(kind: bytes, payload: bytes = b"") -> bytes:
    return kind + _INT32.pack(len(payload) + 4) + payload


def _cstring(text: str) -> bytes:
    return text.encode() + b"\0"


def authentication(code: int, payload: bytes = b"") -> bytes:
    return message(b"R", _INT32.pack(code) + payload)


AUTH_OK = 0
AUTH_CLEARTEXT = 3
AUTH_SASL = 10
AUTH_SASL_CONTINUE = 11
AUTH_SASL_FINAL = 12


def parameter_status(name: str, value: str) -> bytes:
    return message(b"S", _cstring(name) + _cstring(value))


def backend_key_data(pid: int, secret: int) -> bytes:
    return message(b"K", _INT32.pack(pid) + _INT32.pack(secret))


def ready_for_query(status: str) -> bytes:
    return READY[status]


def row_description(fields: Iterable[tuple[str, Column, int]]) -> bytes:
    parts = []
    for name, column, fmt in fields:
        parts.append(
            _cstring(name)
            + struct.pack(">ihihih", 0, 0, column.oid, column.size, column.typmod, fmt)
        )
    return message(b"T", _UINT16.pack(len(parts)) + b"".join(parts))


def parameter_description(oids: Sequence[int]) -> bytes:
    return message(b"t", _UINT16.pack(len(oids)) + b"".join(_INT32.pack(oid) for oid in oids))


def command_complete(tag: str) -> bytes:
    return message(b"C", _cstring(tag))


def error_response(fields: dict[str, str], notice: bool = False) -> bytes:
    body = b"".join(code.encode() + _cstring(value) for code, value in fields.items())
    return message(b"N" if notice else b"E", body + b"\0")


READY = {status: message(b"Z", status.encode()) for status in "ITE"}
PARSE_COMPLETE = message(b"1")
BIND_COMPLETE = message(b"2")
CLOSE_COMPLETE = message(b"3")
NO_DATA = message(b"n")
EMPTY_QUERY = message(b"I")
PORTAL_SUSPENDED = message(b"s")
