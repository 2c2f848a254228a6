"""Flight calls whose client may give up before their first batch is computed.

A DoGet computes its first batch before anything is written (an aggregate does its whole work
there), and gRPC tells a server that its client went away (a cancelled call, the client's own
deadline, a closed channel) only through the call's context: until a batch is written nothing
notices, and the statement ran on to runtime.query_timeout on every core for nobody. One
thread polls the contexts of the calls waiting for their first batch and cancels the statement
of a call its client abandoned, as CancelFlightInfo does.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pyarrow.flight as flight

from sidecar.gateway import Statement

POLL = 0.2  # seconds between looks: the work a client gone leaves running


class Hangups:
    """The calls waiting for their first batch, watched by one thread made on first need."""

    def __init__(self, poll: float = POLL) -> None:
        self._poll = poll
        self._watched: dict[int, tuple[flight.ServerCallContext, Statement]] = {}
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    @contextmanager
    def watching(self, context: flight.ServerCallContext, statement: Statement) -> Iterator[None]:
        """Cancel `statement` if its call's client gives up while this block runs. The context
        is only read under the lock this block takes to leave: gRPC frees it when the call ends,
        which it cannot before the block is left."""
        key = id(statement)
        with self._changed:
            self._watched[key] = (context, statement)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="flight-hangups", daemon=True
                )
                self._thread.start()
            self._changed.notify()
        try:
            yield
        finally:
            with self._changed:  # gone already if the client gave up
                self._watched.pop(key, None)

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._watched:
                    self._changed.wait()
                self._changed.wait(self._poll)
                gone = [
                    self._watched.pop(key)[1]
                    for key, (context, _) in list(self._watched.items())
                    if context.is_cancelled()
                ]
            for statement in gone:  # outside the lock: calls come and go meanwhile
                statement.cancel()
