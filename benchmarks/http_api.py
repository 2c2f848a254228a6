"""HTTP API benchmark: small-query latency and Arrow IPC throughput, each against a bare peer.

The peer is the floor this machine allows: a bare uvicorn + Starlette app in the same run that
does the least work for the same answer: the small query run by DuckDB over the same Parquet
file and returned as JSON, and the same file read batch by batch with pyarrow and written as an
IPC stream for the full scan.
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
SMALL_QUERY = "SELECT id, amount, status FROM orders WHERE id = 4242"


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


def latencies(url: str, requests: int) -> list[float]:
    samples = []
    with httpx.Client(base_url=url) as client:
        for _ in range(20):
            client.post("/v1/sql", content=SMALL_QUERY).raise_for_status()
        for _ in range(requests):
            started = time.perf_counter()
            client.post("/v1/sql", content=SMALL_QUERY).raise_for_status()
            samples.append(time.perf_counter() - started)
    return samples


def throughput(url: str, repeats: int) -> tuple[float, float]:
    """Best-of rows/s and MB/s for the whole table as an Arrow IPC stream."""
    best = float("inf")
    rows = size = 0
    with httpx.Client(base_url=url, timeout=120) as client:
        for _ in range(repeats):
            started = time.perf_counter()
            with client.stream(
                "POST", "/v1/sql", content="SELECT * FROM orders", headers={"Accept": ARROW}
            ) as response:
                response.raise_for_status()
                reader = pa.ipc.open_stream(pa.PythonFile(_Body(response.iter_bytes()), mode="r"))
                rows = sum(batch.num_rows for batch in reader)
                size = response.num_bytes_downloaded
            best = min(best, time.perf_counter() - started)
    return rows / best, size / best / 1e6


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
            datasets: [{{from: "file:orders.parquet", name: orders}}]
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
    ours, bare = latencies(url, args.requests), latencies(peer_url, args.requests)
    print(f"small query: {SMALL_QUERY!r}, {args.requests} sequential requests")
    for name, samples in (("sidecar", ours), ("uvicorn+DuckDB", bare)):
        print(
            f"  {name:15s} p50 {percentile(samples, 50) * 1e3:7.2f} ms"
            f"   p99 {percentile(samples, 99) * 1e3:7.2f} ms"
        )
    print(f"  ratio p50 sidecar/peer: {percentile(ours, 50) / percentile(bare, 50):.2f}x")
    rows_ours, mb_ours = throughput(url, args.repeats)
    rows_bare, mb_bare = throughput(peer_url, args.repeats)
    print(f"Arrow IPC stream of {args.rows:,} rows (best of {args.repeats})")
    print(f"  sidecar         {rows_ours / 1e6:6.2f} M rows/s  {mb_ours:7.1f} MB/s")
    print(f"  uvicorn+pyarrow {rows_bare / 1e6:6.2f} M rows/s  {mb_bare:7.1f} MB/s")
    print(f"  ratio sidecar/peer: {rows_ours / rows_bare:.2f}x")


if __name__ == "__main__":
    main()
