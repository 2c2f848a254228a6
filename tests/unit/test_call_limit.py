"""Flight calls beyond runtime.flight.max_connections are refused, and places come back."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.flight as flight
import pytest

from sidecar.servers.flight.call_limit import CallLimit


class Refusing(flight.ServerMiddlewareFactory):
    """A middleware before the limit that refuses some calls, as the API key check does."""

    def start_call(self, info: flight.CallInfo, headers: dict[str, list[str]]) -> None:
        if "bad-key" in headers:
            raise flight.FlightUnauthenticatedError("bad key")


class Streaming(flight.FlightServerBase):
    def __init__(self, limit: CallLimit) -> None:
        super().__init__("grpc://127.0.0.1:0", middleware={"auth": Refusing(), "limit": limit})
        self.release = threading.Event()

    def do_get(
        self, context: flight.ServerCallContext, ticket: flight.Ticket
    ) -> flight.FlightDataStream:
        schema = pa.schema([("x", pa.int64())])

        def batches() -> Iterator[pa.RecordBatch]:
            yield pa.record_batch([pa.array([1])], schema=schema)
            self.release.wait(10)

        return flight.GeneratorStream(schema, batches())

    def list_actions(self, context: flight.ServerCallContext) -> list[tuple[str, str]]:
        return [("ping", "answers")]


def test_calls_past_the_limit_are_refused_until_a_place_frees() -> None:
    limit = CallLimit(1)
    server = Streaming(limit)
    client = flight.connect(f"grpc://127.0.0.1:{server.port}")
    try:
        for _ in range(3):  # refused by the key check: no place taken
            with pytest.raises(flight.FlightUnauthenticatedError):
                client.list_actions(flight.FlightCallOptions(headers=[(b"bad-key", b"1")]))
        stream = client.do_get(flight.Ticket(b"t"))
        stream.read_chunk()  # the stream holds the one place
        with pytest.raises(flight.FlightUnavailableError, match="max_connections"):
            client.list_actions()
        server.release.set()
        stream.read_all()
        assert [a.type for a in client.list_actions()] == ["ping"]
    finally:
        server.release.set()
        client.close()
        server.shutdown()
