"""A bare PostgreSQL frontend over a socket, for protocol tests drivers cannot express.

Drivers hide the message flow (PortalSuspended, skipping to Sync, BackendKeyData); this speaks
the messages directly. It logs in with trust only: the sidecar under test runs without keys.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass, field


@dataclass
class Reply:
    """Everything the server sent until ReadyForQuery (or until it closed the connection)."""

    messages: list[tuple[str, bytes]] = field(default_factory=list)

    @property
    def kinds(self) -> str:
        return "".join(kind for kind, _ in self.messages)

    @property
    def status(self) -> str:
        kind, body = self.messages[-1]
        assert kind == "Z", self.kinds
        return body.decode()

    def errors(self) -> list[dict[str, str]]:
        return [fields(body) for kind, body in self.messages if kind == "E"]

    def rows(self) -> list[list[bytes | None]]:
        return [data_row(body) for kind, body in self.messages if kind == "D"]


def fields(body: bytes) -> dict[str, str]:
    found, at = {}, 0
    while body[at] != 0:
        end = body.index(b"\0", at + 1)
        found[chr(body[at])] = body[at + 1 : end].decode()
        at = end + 1
    return found


def data_row(body: bytes) -> list[bytes | None]:
    count = struct.unpack(">h", body[:2])[0]
    cells, at = [], 2
    for _ in range(count):
        size = struct.unpack(">i", body[at : at + 4])[0]
        at += 4
        cells.append(None if size < 0 else body[at : at + size])
        at += max(size, 0)
    return cells


def message(kind: bytes, payload: bytes = b"") -> bytes:
    return kind + struct.pack(">i", len(payload) + 4) + payload


def cstring(text: str) -> bytes:
    return text.encode() + b"\0"


def startup_packet(user: str = "tester", database: str = "shop") -> bytes:
    body = struct.pack(">i", 196608) + cstring("user") + cstring(user)
    body += cstring("database") + cstring(database) + b"\0"
    return struct.pack(">i", len(body) + 4) + body


class RawClient:
    def __init__(self, port: int, *, login: bool = True, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.pid = self.secret = 0
        if login:
            self.send_raw(startup_packet())
            reply = self.read_until_ready()
            for kind, body in reply.messages:
                if kind == "K":
                    self.pid, self.secret = struct.unpack(">ii", body)
            assert reply.status == "I", reply.kinds

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send(self, *messages: bytes) -> None:
        self.sock.sendall(b"".join(messages))

    def read_exactly(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self.sock.recv(size - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data

    def read_message(self) -> tuple[str, bytes]:
        header = self.read_exactly(5)
        length = struct.unpack(">i", header[1:])[0]
        return chr(header[0]), self.read_exactly(length - 4)

    def read_until_ready(self) -> Reply:
        reply = Reply()
        while True:
            try:
                kind, body = self.read_message()
            except (ConnectionError, OSError):
                return reply
            reply.messages.append((kind, body))
            if kind == "Z":
                return reply

    def query(self, sql: str) -> Reply:
        self.send(message(b"Q", cstring(sql)))
        return self.read_until_ready()

    def closed(self) -> bool:
        """True once the server has closed this connection (after what it sent is read)."""
        try:
            while True:
                if not self.sock.recv(65536):
                    return True
        except TimeoutError:
            return False
        except OSError:
            return True

    def close(self) -> None:
        self.sock.close()


def parse(sql: str, name: str = "", types: tuple[int, ...] = ()) -> bytes:
    payload = cstring(name) + cstring(sql) + struct.pack(">H", len(types))
    return message(b"P", payload + b"".join(struct.pack(">i", t) for t in types))


def bind(
    portal: str = "",
    statement: str = "",
    values: tuple[bytes | None, ...] = (),
    result_format: int = 0,
) -> bytes:
    payload = cstring(portal) + cstring(statement) + struct.pack(">hh", 1, 0)
    payload += struct.pack(">H", len(values))
    for value in values:
        payload += struct.pack(">i", -1) if value is None else struct.pack(">i", len(value)) + value
    return message(b"B", payload + struct.pack(">hh", 1, result_format))


def describe(kind: str, name: str = "") -> bytes:
    return message(b"D", kind.encode() + cstring(name))


def execute(portal: str = "", max_rows: int = 0) -> bytes:
    return message(b"E", cstring(portal) + struct.pack(">i", max_rows))


SYNC = message(b"S")
