"""Clients that stop reading a large result, on every interface of a real `sidecar run`.

A result streams as Arrow batches from the engine to the socket, so a client that reads slowly
(or not at all) must hold the sidecar to what is on its way: a batch or two, never the rest of
a 20 GB answer, nor a batch's encoding many times over. Then it hangs up mid-stream, and its
query stops: the process is idle and its memory back.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import psycopg
import pyarrow.flight as flight
import pytest
import yaml

from sidecar.servers.flight import FlightSql_pb2 as pb
from sidecar.servers.flight.commands import pack
from tests import pg_client
from tests.process import SidecarProcess, free_port

TICKS = os.sysconf("SC_CLK_TCK")
# 20 GB in batches of 64K rows of ~1 KB: 66 MB each, within a quarter of the memory limit
ENDLESS = "SELECT x, repeat('y', 1000) AS pad FROM generate_series(1, 20000000) g(x)"
READERS = 3
PER_READER = 200 << 20  # two 66 MB batches and a slice; a batch's JSON took ~300 MB more
BATCH = 65536 * 1012  # the engine's batch of ENDLESS, which a reader mid-batch holds


class Sidecar:
    def __init__(self, process: SidecarProcess, url: str) -> None:
        self.process = process
        self.url = url
        assert process.process is not None
        self.pid = process.process.pid
        assert httpx.post(f"{url}/v1/sql", content="SELECT 1 AS n").status_code == 200
        self.baseline = self.rss()

    def rss(self) -> int:
        status = Path(f"/proc/{self.pid}/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines() if "VmRSS" in line)) << 10

    def plateau(self, within: float = 15.0) -> int:
        """The memory once the stalled streams have filled every buffer on their way: it
        stops changing, or the wait ends (and the caller's bound judges it)."""
        last = self.rss()
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            time.sleep(1.0)
            now = self.rss()
            if abs(now - last) < 8 << 20:
                return now
            last = now
        return last

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS


@pytest.fixture
def sidecar(tmp_path: Path) -> Iterator[Sidecar]:
    """One per case: memory one interface's threads freed is not always reused by another's."""
    root = tmp_path
    port = free_port()
    config = {
        "name": "slow",
        "runtime": {
            "http": {"port": port},
            "query_timeout": "60s",
            "memory_limit": "256MiB",
            "results_cache": {"enabled": False},
        },
    }
    (root / "sidecar.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    process = SidecarProcess(root / "sidecar.yaml")
    try:
        yield Sidecar(process, process.start(port))
    finally:
        process.stop()


def over_http(media: str) -> Callable[[Sidecar, ExitStack], None]:
    def start(sidecar: Sidecar, open_: ExitStack) -> None:
        # a small receive buffer: the kernel's own would take megabytes before the server waits
        small = httpx.HTTPTransport(socket_options=[(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)])
        client = open_.enter_context(httpx.Client(transport=small, timeout=30))
        response = open_.enter_context(
            client.stream(
                "POST", f"{sidecar.url}/v1/sql", content=ENDLESS, headers={"Accept": media}
            )
        )
        assert response.status_code == 200
        chunks = response.iter_raw()  # held: a generator dropped closes its response
        open_.callback(chunks.close)
        next(chunks)

    return start


def over_pg(sidecar: Sidecar, open_: ExitStack) -> None:
    client = pg_client.RawClient(sidecar.process.pg_port)
    open_.callback(client.close)
    client.send(pg_client.message(b"Q", pg_client.cstring(ENDLESS)))


def over_flight(sidecar: Sidecar, open_: ExitStack) -> None:
    client = flight.connect(sidecar.process.flight_url)
    open_.callback(client.close)
    command = pack(pb.CommandStatementQuery(query=ENDLESS))
    info = client.get_flight_info(flight.FlightDescriptor.for_command(command))
    reader = client.do_get(info.endpoints[0].ticket)
    open_.callback(reader.cancel)
    reader.read_chunk()


READS = {
    "pg": over_pg,
    "flight": over_flight,
    "http json": over_http("application/json"),
    "http arrow": over_http("application/vnd.apache.arrow.stream"),
}


@pytest.mark.parametrize("interface", list(READS))
def test_a_stalled_reader_holds_a_batch_or_two_and_its_hang_up_stops_the_query(
    sidecar: Sidecar, interface: str
) -> None:
    """HTTP encoded and wrote each 64K-row batch whole: the transport took the whole encoding
    and the next one was made meanwhile, ~480 MB of rows, text and buffer per stalled reader.
    """
    with ExitStack() as open_:
        for _ in range(READERS):
            READS[interface](sidecar, open_)
        grown = sidecar.plateau() - sidecar.baseline
    assert grown < READERS * PER_READER, f"{grown >> 20} MiB for {READERS} stalled readers"
    time.sleep(1.5)  # the hang-ups reach the queries within a second
    idle = sidecar.cpu_seconds()
    time.sleep(1.5)
    assert sidecar.cpu_seconds() - idle < 0.3, "the queries ran on for readers gone"
    assert httpx.post(f"{sidecar.url}/v1/sql", content="SELECT 1 AS n").json() == [{"n": 1}]


def dsn(sidecar: Sidecar) -> str:
    return f"host=127.0.0.1 port={sidecar.process.pg_port} user=tester dbname=shop"


def over_psycopg_stream(sidecar: Sidecar, open_: ExitStack) -> None:
    """psycopg's cursor.stream() (single-row mode), its consumer gone quiet: libpq stops
    reading the socket once its buffer is full."""
    connection = open_.enter_context(psycopg.connect(dsn(sidecar)))
    rows = connection.cursor().stream(ENDLESS)
    open_.callback(rows.close)  # held: a generator dropped reads on to the end
    open_.callback(connection.cancel_safe)
    next(rows)


def over_psycopg_cursor(sidecar: Sidecar, open_: ExitStack) -> None:
    """A server-side cursor (DECLARE, FETCH) read once and left open."""
    connection = open_.enter_context(psycopg.connect(dsn(sidecar)))
    cursor = connection.cursor(name="endless")
    cursor.itersize = 100
    cursor.execute(ENDLESS)
    assert len(cursor.fetchmany(100)) == 100


def test_a_stalled_pg_reader_holds_its_batch_and_about_a_slice_of_its_encoding(
    sidecar: Sidecar,
) -> None:
    """Each Execute step encoded 16K rows: with 1 KB rows a stalled reader held 16 MB of
    DataRows in the transport and 16 MB more encoded ahead, on top of the batch it was read
    from (~100 MB each). Now a step is about 2 MiB (slices.py): past the engine's batch a
    reader holds two slices' encoding and the allocator's slack, whichever client stalls."""
    readers = [over_pg, over_pg, over_psycopg_stream, over_psycopg_cursor]
    with psycopg.connect(dsn(sidecar)) as first:  # the session's modules, imported once
        assert first.execute("SELECT 1").fetchall() == [(1,)]
    sidecar.baseline = sidecar.rss()
    with ExitStack() as open_:
        for start in readers:
            start(sidecar, open_)
        grown = sidecar.plateau() - sidecar.baseline
    beyond = grown - len(readers) * BATCH
    assert beyond < len(readers) * (12 << 20), f"{beyond >> 20} MiB past the batches"


@pytest.mark.parametrize("interface", ["http json", "flight"])
def test_sigterm_ends_stalled_readers_after_the_grace(tmp_path: Path, interface: str) -> None:
    """A response whose client stopped reading waits on it forever, past its statement's
    cancel at the end of runtime.shutdown_grace: the stop waited for it until the exit timer
    (the grace and 10 s more) ended the process, the other servers never closed. A Flight
    DoGet waits in a gRPC write that pyarrow's shutdown cannot end: its connection is cut."""
    port = free_port()
    config = {
        "runtime": {"http": {"port": port}, "shutdown_grace": "1s", "memory_limit": "256MiB"},
        "audit": {"path": "audit.jsonl"},
    }
    (tmp_path / "sidecar.yaml").write_text(yaml.safe_dump(config))
    process = SidecarProcess(tmp_path / "sidecar.yaml")
    try:
        sidecar = Sidecar(process, process.start(port))
        with ExitStack() as open_:
            for _ in range(READERS):
                READS[interface](sidecar, open_)
            time.sleep(1.0)
            assert process.process is not None
            signalled = time.monotonic()
            process.process.send_signal(signal.SIGTERM)
            assert process.process.wait(timeout=30) == 0
            stopped = time.monotonic() - signalled
    finally:
        process.stop()
    assert stopped < 5, f"stopped after {stopped:.1f} s"
    assert "Traceback" not in process.output, process.output
    lines = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    ended = [line["code"] for line in lines if line["sql"] == ENDLESS]
    assert ended == ["shutting_down"] * READERS, lines
