"""HTTP API benchmark: small-query latency and Arrow IPC throughput, each against a bare peer.

The peer is the floor this machine allows: a bare uvicorn + Starlette app in the same run that
does the least work for the same answer: the small query run by DuckDB over the same Parquet
file (and over a DuckDB table of the same rows with an index on id, the peer of the sidecar's
accelerated copy) and returned as JSON, and the same file read batch by batch with pyarrow and
written as an IPC stream for the full scan. The arms take turns request by request, so the load
of a shared machine falls on all of them alike.
The ratio sidecar/peer is what to compare across machines, not absolute times.

    python benchmarks/http_api.py [--rows 1000000] [--requests 300]
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import orders_table, percentile
from tests.process import SidecarProcess, free_port

ARROW = "application/vnd.apache.arrow.stream"
SMALL_QUERY = "SELECT id, amount, status FROM {table} WHERE id = 4242"
WARMUP = 20
# (label, server, table): the sidecar's Parquet dataset and its DuckDB copy, and their peers
ARMS = (
    ("sidecar", "sidecar", "orders"),
    ("uvicorn+DuckDB", "peer", "orders"),
    ("sidecar copy", "sidecar", "orders_copy"),
    ("uvicorn+DuckDB table", "peer", "orders_copy"),
)


def peer_app(table_path: str, port: int) -> None:
    """The bare peer: the smallest uvicorn app that can answer the same two requests."""
    import anyio
    import duckdb
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response, StreamingResponse
    from starlette.routing import Route

    schema = pq.read_schema(table_path)
    duck = duckdb.connect()
    duck.execute(f"CREATE VIEW orders AS SELECT * FROM read_parquet('{table_path}')")
    duck.execute("CREATE TABLE orders_copy AS SELECT * FROM orders")
    duck.execute("CREATE UNIQUE INDEX orders_copy_id ON orders_copy (id)")

    def run(sql: str) -> bytes:
        cursor = duck.cursor()
        rows = cursor.execute(sql).fetchall()
        columns = [d[0] for d in cursor.description]
        return json.dumps([dict(zip(columns, r, strict=True)) for r in rows]).encode()

    async def sql(request: Request) -> Response:
        body = (await request.body()).decode()
        if request.headers.get("accept") != ARROW:
            return Response(
                await anyio.to_thread.run_sync(run, body), media_type="application/json"
            )

        def stream():
            sink = ListSink()
            writer = pa.ipc.new_stream(pa.PythonFile(sink, mode="w"), schema)
            for batch in pq.ParquetFile(table_path).iter_batches(batch_size=65536):
                writer.write_batch(batch)
                yield sink.take()
            writer.close()
            yield sink.take()

        return StreamingResponse(stream(), media_type=ARROW)

    app = Starlette(routes=[Route("/v1/sql", sql, methods=["POST"])])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def latencies(urls: dict[str, str], requests: int) -> dict[str, list[float]]:
    """Seconds per request of each arm, one keep-alive connection per arm, the arms in turn."""
    clients = {label: httpx.Client(base_url=urls[server]) for label, server, _ in ARMS}
    samples: dict[str, list[float]] = {label: [] for label, _, _ in ARMS}
    try:
        for index in range(WARMUP + requests):
            for label, _, table in ARMS:
                started = time.perf_counter()
                answer = clients[label].post("/v1/sql", content=SMALL_QUERY.format(table=table))
                spent = time.perf_counter() - started
                answer.raise_for_status()
                assert answer.json() and answer.json()[0]["id"] == 4242, answer.text
                if index >= WARMUP:
                    samples[label].append(spent)
    finally:
        for client in clients.values():
            client.close()
    return samples


def throughput(urls: dict[str, str], repeats: int) -> dict[str, tuple[float, float]]:
    """Best-of rows/s and MB/s for the whole table as an Arrow IPC stream, the servers in turn."""
    best = dict.fromkeys(urls, float("inf"))
    counted: dict[str, tuple[int, int]] = {}
    with httpx.Client(timeout=120) as client:
        for _ in range(repeats):
            for name, url in urls.items():
                started = time.perf_counter()
                with client.stream(
                    "POST",
                    f"{url}/v1/sql",
                    content="SELECT * FROM orders",
                    headers={"Accept": ARROW},
                ) as response:
                    response.raise_for_status()
                    body = pa.PythonFile(_Body(response.iter_bytes()), mode="r")
                    rows = sum(batch.num_rows for batch in pa.ipc.open_stream(body))
                    counted[name] = rows, response.num_bytes_downloaded
                best[name] = min(best[name], time.perf_counter() - started)
    return {
        name: (rows / best[name], size / best[name] / 1e6) for name, (rows, size) in counted.items()
    }


class ListSink(io.RawIOBase):
    """Collects what the IPC writer writes, drained after each batch."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data = b"".join(self.parts)
        self.parts.clear()
        return data


class _Body:
    """A file-like view of a streamed response, so the client decodes batches as they arrive."""

    def __init__(self, chunks) -> None:
        self.chunks = chunks
        self.buffer = b""
        self.closed = False

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self.buffer) < size:
            try:
                self.buffer += next(self.chunks)
            except StopIteration:
                break
        if size < 0:
            size = len(self.buffer)
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data


def wait(url: str) -> None:
    for _ in range(200):
        try:
            httpx.post(f"{url}/v1/sql", content="SELECT 1")
            return
        except httpx.HTTPError:
            time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--results-cache",
        action="store_true",
        help="keep the results cache on (the default config): repeats are answered from memory",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        table_path = root / "orders.parquet"
        pq.write_table(orders_table(args.rows), table_path, row_group_size=128 * 1024)
        port, peer_port = free_port(), free_port()
        cache = "true" if args.results_cache else "false"
        (root / "sidecar.yaml").write_text(
            textwrap.dedent(f"""
            version: 1
            runtime: {{http: {{port: {port}}}, results_cache: {{enabled: {cache}}}}}
            datasets:
              - {{from: "file:orders.parquet", name: orders}}
              - from: "file:orders.parquet"
                name: orders_copy
                acceleration: {{primary_key: [id]}}
        """)
        )
        sidecar = SidecarProcess(root / "sidecar.yaml")
        url = sidecar.start(port)
        peer = multiprocessing.Process(target=peer_app, args=(str(table_path), peer_port))
        peer.start()
        peer_url = f"http://127.0.0.1:{peer_port}"
        wait(peer_url)
        try:
            report(args, url, peer_url)
        finally:
            sidecar.stop()
            peer.terminate()


def report(args: argparse.Namespace, url: str, peer_url: str) -> None:
    samples = latencies({"sidecar": url, "peer": peer_url}, args.requests)
    print(f"small query: {SMALL_QUERY!r}, {args.requests} requests per arm, the arms in turn")
    for label, _, table in ARMS:
        print(
            f"  {label:21s} {table:12s} p50 {percentile(samples[label], 50) * 1e3:7.2f} ms"
            f"   p99 {percentile(samples[label], 99) * 1e3:7.2f} ms"
        )
    for ours, peer in (ARMS[0][0], ARMS[1][0]), (ARMS[2][0], ARMS[3][0]), (ARMS[2][0], ARMS[1][0]):
        ratio = percentile(samples[ours], 50) / percentile(samples[peer], 50)
        print(f"  ratio p50 {ours} / {peer}: {ratio:.2f}x")
    rates = throughput({"sidecar": url, "uvicorn+pyarrow": peer_url}, args.repeats)
    print(f"Arrow IPC stream of {args.rows:,} rows (best of {args.repeats}, the servers in turn)")
    for name, (rows, mb) in rates.items():
        print(f"  {name:15s} {rows / 1e6:6.2f} M rows/s  {mb:7.1f} MB/s")
    print(f"  ratio sidecar/peer: {rates['sidecar'][0] / rates['uvicorn+pyarrow'][0]:.2f}x")


if __name__ == "__main__":
    main()
