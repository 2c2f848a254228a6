"""A Flight call keeps one Python thread state from its last middleware's start to its end.

Its observable trace: what the handler keeps in a `threading.local` (which lives in the
thread state) is still there when the call completes. Without the held state each entry into
Python on gRPC's thread made a fresh one, and the value was gone.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.flight as flight
import pytest

from sidecar.servers.flight.thread_state import ThreadState

LOCAL = threading.local()


class Seen(flight.ServerMiddleware):
    def __init__(self, found: list[object]) -> None:
        self.found = found

    def call_completed(self, exception: Exception | None) -> None:
        self.found.append(getattr(LOCAL, "mark", None))
        LOCAL.mark = None


class Probe(flight.ServerMiddlewareFactory):
    def __init__(self) -> None:
        self.found: list[object] = []

    def start_call(self, info: flight.CallInfo, headers: dict[str, list[str]]) -> Seen:
        return Seen(self.found)


class Marking(flight.FlightServerBase):
    def __init__(self, probe: Probe, held: bool) -> None:
        middleware: dict[str, flight.ServerMiddlewareFactory] = {"probe": probe}
        if held:
            middleware["thread_state"] = ThreadState()
        super().__init__("grpc://127.0.0.1:0", middleware=middleware)

    def list_actions(self, context: flight.ServerCallContext) -> list[tuple[str, str]]:
        LOCAL.mark = "unary"
        return []

    def do_get(
        self, context: flight.ServerCallContext, ticket: flight.Ticket
    ) -> flight.FlightDataStream:
        schema = pa.schema([("x", pa.int64())])

        def batches() -> Iterator[pa.RecordBatch]:
            yield pa.record_batch([pa.array([1])], schema=schema)
            LOCAL.mark = "stream"  # on a later entry than the handler's

        return flight.GeneratorStream(schema, batches())


@pytest.mark.parametrize("held", [True, False])
def test_a_call_keeps_its_thread_state(held: bool) -> None:
    probe = Probe()
    server = Marking(probe, held)
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
