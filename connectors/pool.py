"""A small pool of open connections to one database server.

Agents loop: the same dataset is scanned again and again, and a TCP plus TLS plus login
handshake per scan would cost more than a small query itself. Idle connections are kept for
reuse; a connection that failed, or whose stream was abandoned half-read, is closed instead of
returned, because it may still be busy sending rows nobody will read.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Pool(Generic[T]):
    def __init__(
        self,
        connect: Callable[[], T],
        close: Callable[[T], None],
        *,
        max_idle: int = 4,
    ) -> None:
        self._connect = connect
        self._close = close
        self._max_idle = max_idle
        self._idle: list[T] = []
        self._lock = threading.Lock()

    def acquire(self) -> T:
        """An idle connection, or a new one: there is no cap on connections in use, since each
        query needs its own and the engine bounds how many queries run at once."""
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return self._connect()

    def release(self, connection: T) -> None:
        with self._lock:
            if len(self._idle) < self._max_idle:
                self._idle.append(connection)
                return
        self.discard(connection)

    def give_back(self, connection: T, *, finished: bool) -> None:
        """After a stream: kept when it was read to its end, else closed (it may still be
        sending rows nobody will read)."""
        if finished:
            self.release(connection)
        else:
            self.discard(connection)

    def discard(self, connection: T) -> None:
        try:
            self._close(connection)
        except Exception:  # closing a broken connection may fail; it is gone either way
            return

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            self.discard(connection)
