"""A running sidecar federating a paginated JSON API with a Parquet file, over its HTTP API."""

from __future__ import annotations

import textwrap
import time
from collections.abc import Iterator

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.http_api_server import ApiServer, Reply, Request
from tests.process import SidecarProcess, free_port

PAGE = 25
TOKEN = "api-token-7c1e55aa90"


def tickets(request: Request) -> Reply:
    assert request.headers.get("authorization") == f"Bearer {TOKEN}"
    page = int(request.query.get("page", "1"))
    start = (page - 1) * PAGE
    rows = [
        {"id": i, "title": f"ticket {i}", "customer_id": i % 7, "priority": "p1" if i % 5 else "p0"}
        for i in range(start, min(start + PAGE, 100))
    ]
    link = {"Link": f'</tickets?page={page + 1}>; rel="next"'} if start + PAGE < 100 else {}
    return Reply({"data": rows}, headers=link)


def slow(request: Request) -> Reply:
    """Fast while the sidecar learns the schema, then too slow for the query timeout."""
    first = sum(1 for r in api_requests if r.path == "/slow") <= 1
    return Reply([{"x": 1}], delay=0 if first else 5)


api_requests: list[Request] = []


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, ApiServer]]:
    root = tmp_path_factory.mktemp("federation")
    pq.write_table(
        pa.table({"customer_id": list(range(7)), "name": [f"c{i}" for i in range(7)]}),
        root / "customers.parquet",
    )
    with ApiServer() as api:
        api.requests = api_requests
        api.route("/tickets", tickets)
        api.route("/slow", slow)
        port = free_port()
        (root / "sidecar.yaml").write_text(
            textwrap.dedent(
                f"""
                version: 1
                runtime: {{http: {{port: {port}}}, query_timeout: 1s}}
                datasets:
                  - from: {api.url("/tickets")}
                    name: tickets
                    params:
                      json_path: $.data
                      pagination: link
                      headers: {{Authorization: "Bearer ${{env:TICKETS_TOKEN}}"}}
                  - from: {api.url("/slow")}
                    name: slow
                    params: {{retries: 0, timeout: 10s}}
                  - from: file:customers.parquet
                    name: customers
                """
            )
        )
        process = SidecarProcess(root / "sidecar.yaml", env={"TICKETS_TOKEN": TOKEN})
        url = process.start(port)
        try:
            yield url, api
        finally:
            process.stop()
        assert TOKEN not in process.output


def query(url: str, sql: str) -> httpx.Response:
    return httpx.post(f"{url}/v1/sql", content=sql, timeout=30)


def test_join_across_an_api_and_a_file(sidecar: tuple[str, ApiServer]) -> None:
    url, _ = sidecar
    response = query(
        url,
        "SELECT c.name, count(*) AS p0 FROM tickets t JOIN customers c "
        "ON t.customer_id = c.customer_id WHERE t.priority = 'p0' GROUP BY c.name ORDER BY c.name",
    )
    assert response.status_code == 200, response.text
    assert sum(row["p0"] for row in response.json()) == 20
    assert len(response.json()) == 7


def test_limit_stops_paging_early(sidecar: tuple[str, ApiServer]) -> None:
    url, api = sidecar
    before = len(api.hits("/tickets"))
    response = query(url, "SELECT id, title FROM tickets LIMIT 30")
    assert [row["id"] for row in response.json()] == list(range(30))
    assert len(api.hits("/tickets")) - before == 2  # 2 pages of 25, not all 4


def test_slow_source_times_out_with_504_and_others_keep_answering(
    sidecar: tuple[str, ApiServer],
) -> None:
    url, _ = sidecar
    started = time.monotonic()
    response = query(url, "SELECT * FROM slow")
    assert response.status_code == 504, (response.text, [r.path for r in api_requests])
    assert time.monotonic() - started < 4
    error = response.json()["error"]
    assert error["code"] == "timeout" and "query_timeout" in error["hint"]
    assert query(url, "SELECT count(*) AS n FROM customers").json() == [{"n": 7}]
