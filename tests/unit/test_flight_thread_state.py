"""A Flight call keeps one Python thread state from its first entry into Python to its end.

Its observable trace: what one step of the call keeps in a `threading.local` (which lives in
the thread state) is still there when the call completes. Without the held state each entry
into Python on gRPC's thread made a fresh one, and the value was gone.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.flight as flight
import pytest

from sidecar.servers.flight import thread_state
from sidecar.servers.flight.auth import AcceptHandshake
from sidecar.servers.flight.call_limit import CallLimit
from sidecar.servers.flight.thread_state import ThreadState

LOCAL = threading.local()


class Seen(flight.ServerMiddleware):
    def __init__(self, found: list[object], key: str) -> None:
        self.found, self.key = found, key

    def call_completed(self, exception: Exception | None) -> None:
        self.found.append(getattr(LOCAL, self.key, None))
        setattr(LOCAL, self.key, None)


class Probe(flight.ServerMiddlewareFactory):
    """Notes what the call's thread-local holds under `key` at its end."""

    def __init__(self, key: str = "mark") -> None:
        self.found: list[object] = []
        self.key = key

    def start_call(self, info: flight.CallInfo, headers: dict[str, list[str]]) -> Seen:
        return Seen(self.found, self.key)


class CheckedHere(AcceptHandshake):
    """The sidecar's handler, marking the token check (the call's first entry)."""

    def is_valid(self, token: bytes) -> str:
        LOCAL.checked = "token"
        return super().is_valid(token)


class CheckedOnly(flight.ServerAuthHandler):
    """A handler that marks the token check and holds nothing."""

    def authenticate(self, outgoing: flight.ServerAuthSender, incoming: object) -> None:
        return None

    def is_valid(self, token: bytes) -> str:
        LOCAL.checked = "token"
        return ""


class Marking(flight.FlightServerBase):
    def __init__(
        self,
        probe: Probe,
        held: bool,
        auth: flight.ServerAuthHandler | None = None,
        limit: CallLimit | None = None,
    ) -> None:
        middleware: dict[str, flight.ServerMiddlewareFactory] = {"probe": probe}
        if limit is not None:
            middleware["limit"] = limit
        if held:
            middleware["thread_state"] = ThreadState()
        super().__init__("grpc://127.0.0.1:0", auth_handler=auth, middleware=middleware)
        self.release = threading.Event()

    def list_actions(self, context: flight.ServerCallContext) -> list[tuple[str, str]]:
        LOCAL.mark = "unary"
        return []

    def do_get(
        self, context: flight.ServerCallContext, ticket: flight.Ticket
    ) -> flight.FlightDataStream:
        schema = pa.schema([("x", pa.int64())])

        def batches() -> Iterator[pa.RecordBatch]:
            yield pa.record_batch([pa.array([1])], schema=schema)
            self.release.wait(10)
            LOCAL.mark = "stream"  # on a later entry than the handler's

        return flight.GeneratorStream(schema, batches())


@pytest.mark.parametrize("held", [True, False])
def test_a_call_keeps_its_thread_state(held: bool) -> None:
    probe = Probe()
    server = Marking(probe, held)
    server.release.set()
    client = flight.connect(f"grpc://127.0.0.1:{server.port}")
    try:
        for _ in range(5):
            client.list_actions()
            assert client.do_get(flight.Ticket(b"t")).read_all().num_rows == 1
    finally:
        client.close()
        server.shutdown()
    expected = ["unary", "stream"] * 5 if held else [None] * 10
    assert probe.found == expected


@pytest.mark.parametrize("holding", [True, False])
def test_the_state_is_held_from_the_token_check(holding: bool) -> None:
    """pyarrow checks the token before any middleware starts, in an entry of its own: the
    sidecar's handler holds the state from there."""
    probe = Probe(key="checked")
    handler = CheckedHere() if holding else CheckedOnly()
    server = Marking(probe, held=True, auth=handler)
    server.release.set()
    client = flight.connect(f"grpc://127.0.0.1:{server.port}")
    try:
        for _ in range(3):
            client.list_actions()
    finally:
        client.close()
        server.shutdown()
    assert probe.found == (["token"] * 3 if holding else [None] * 3)
    assert thread_state._held == {}


def test_a_refused_call_lets_its_state_go() -> None:
    """A call the limit refuses is never completed: the refusal gives the state back itself."""
    server = Marking(Probe(), held=True, auth=AcceptHandshake(), limit=CallLimit(1))
    client = flight.connect(f"grpc://127.0.0.1:{server.port}")
    try:
        stream = client.do_get(flight.Ticket(b"t"))
        stream.read_chunk()  # the stream holds the one place (and its thread's state)
        for _ in range(3):
            with pytest.raises(flight.FlightUnavailableError, match="max_connections"):
                client.list_actions()
        assert len(thread_state._held) == 1
        server.release.set()
        stream.read_all()
    finally:
        server.release.set()
        client.close()
        server.shutdown()
    assert thread_state._held == {}
