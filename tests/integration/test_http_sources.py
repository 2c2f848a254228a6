"""A running sidecar federating JSON APIs with a Parquet file: pagination, timeouts, and the
credentials an API must never see or echo back, over HTTP, the Postgres wire and Flight SQL."""

from __future__ import annotations

import base64
import json
import re
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote_plus

import adbc_driver_flightsql.dbapi as flight_sql
import httpx
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.http_api_server import ApiServer, Reply, Request
from tests.process import SidecarProcess, free_port

PAGE = 25
TOKEN = "api-token-7c1e55aa90"
APPID = "q/S3cr3t+v@l&x=1"
API_KEY = "k3y-for-the-home-api"
# Short, so the slow source's test is quick, yet well above a loaded machine's answer time:
# the queries here (a refused redirect included) answer in 2-10 ms on a quiet machine, the first
# of a process in about 100 ms; on a 2-core machine at load average 10 one took over 1 s.
QUERY_TIMEOUT = 3


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
    """Fast while the sidecar learns the schema, then as slow as the source's own request
    timeout (8s), so only the query timeout can end the query early."""
    first = sum(1 for r in api_requests if r.path == "/slow") <= 1
    return Reply([{"x": 1}], delay=0 if first else 8)


def events(request: Request) -> Reply:
    """10 rows a page and a next link, with no pagination param configured for it."""
    page = int(request.query.get("page", "1"))
    rows = [{"id": i} for i in range((page - 1) * 10, min(page * 10, 25))]
    link = {"Link": f'</events?page={page + 1}>; rel="next"'} if page * 10 < 25 else {}
    return Reply(rows, headers=link)


def echo(request: Request) -> Reply:
    """A failing API that echoes the credential in every encoding APIs are seen to use."""
    assert request.query["appid"] == APPID
    basic = base64.b64encode(f"agent:{APPID}".encode()).decode()
    escaped = json.dumps(APPID).replace("/", "\\/").replace("&", "\\u0026")
    lower_hex = re.sub(r"%[0-9A-F]{2}", lambda match: match.group(0).lower(), quote_plus(APPID))
    wrapped = f"{APPID[:6]}\n  {APPID[6:]}"  # JSON-escaped in the body: `\n`
    body = f"bad appid {escaped} ({lower_hex}); sent Authorization: Basic {basic}; {wrapped}"
    return Reply({"error": body}, status=400)


def echo_text(request: Request) -> Reply:
    """A failing API answering in plain text, the credential wrapped across two lines (which
    an error's excerpt of the body joins with a space)."""
    return Reply(f"bad appid {APPID[:6]}\n    {APPID[6:]}\n", status=400)


api_requests: list[Request] = []


@dataclass
class Sidecar:
    url: str
    process: SidecarProcess
    api: ApiServer
    other: ApiServer


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sidecar]:
    root = tmp_path_factory.mktemp("federation")
    pq.write_table(
        pa.table({"customer_id": list(range(7)), "name": [f"c{i}" for i in range(7)]}),
        root / "customers.parquet",
    )
    with ApiServer() as api, ApiServer() as other:
        api.requests = api_requests
        api.route("/tickets", tickets)
        api.route("/slow", slow)
        api.route("/events", events)
        api.route("/keyed", Reply([{"id": 1}]))
        api.route("/echo", echo)
        api.route("/echo_text", echo_text)
        api.route("/moved", Reply(status=302, headers={"Location": other.url("/rows")}))
        other.route("/rows", Reply([{"id": 666}]))
        port = free_port()
        (root / "sidecar.yaml").write_text(
            textwrap.dedent(
                f"""
                version: 1
                runtime: {{http: {{port: {port}}}, query_timeout: {QUERY_TIMEOUT}s}}
                datasets:
                  - from: {api.url("/tickets")}
                    name: tickets
                    params:
                      json_path: $.data
                      pagination: link
                      headers: {{Authorization: "Bearer ${{env:TICKETS_TOKEN}}"}}
                  - from: {api.url("/slow")}
                    name: slow
                    params: {{retries: 0, timeout: 8s}}
                  - from: file:customers.parquet
                    name: customers
                  - from: {api.url("/events")}
                    name: events
                    columns: [{{name: id, type: bigint}}]
                  - from: {api.url("/keyed")}
                    name: keyed
                    params: {{query: {{appid: "${{env:APPID}}"}}}}
                  - from: {api.url("/echo")}
                    name: echo
                    params: {{query: {{appid: "${{env:APPID}}"}}, retries: 0}}
                    columns: [{{name: id, type: bigint}}]
                  - from: {api.url("/echo_text")}
                    name: echo_text
                    params: {{query: {{appid: "${{env:APPID}}"}}, retries: 0}}
                    columns: [{{name: id, type: bigint}}]
                  - from: {api.url("/moved")}
                    name: moved
                    params: {{headers: {{X-Api-Key: "${{env:API_KEY}}"}}}}
                    columns: [{{name: id, type: bigint}}]
                """
            )
        )
        env = {"TICKETS_TOKEN": TOKEN, "APPID": APPID, "API_KEY": API_KEY}
        process = SidecarProcess(root / "sidecar.yaml", env=env)
        url = process.start(port)
        try:
            yield Sidecar(url, process, api, other)
        finally:
            process.stop()
        assert TOKEN not in process.output and leaks(process.output) == []


def query(url: str, sql: str) -> httpx.Response:
    return httpx.post(f"{url}/v1/sql", content=sql, timeout=30)


def test_join_across_an_api_and_a_file(sidecar: Sidecar) -> None:
    url = sidecar.url
    response = query(
        url,
        "SELECT c.name, count(*) AS p0 FROM tickets t JOIN customers c "
        "ON t.customer_id = c.customer_id WHERE t.priority = 'p0' GROUP BY c.name ORDER BY c.name",
    )
    assert response.status_code == 200, response.text
    assert sum(row["p0"] for row in response.json()) == 20
    assert len(response.json()) == 7


def test_limit_stops_paging_early(sidecar: Sidecar) -> None:
    url, api = sidecar.url, sidecar.api
    before = len(api.hits("/tickets"))
    response = query(url, "SELECT id, title FROM tickets LIMIT 30")
    assert [row["id"] for row in response.json()] == list(range(30))
    assert len(api.hits("/tickets")) - before == 2  # 2 pages of 25, not all 4


def test_slow_source_times_out_with_504_and_others_keep_answering(sidecar: Sidecar) -> None:
    url = sidecar.url
    started = time.monotonic()
    response = query(url, "SELECT * FROM slow")
    assert response.status_code == 504, (response.text, [r.path for r in api_requests])
    assert time.monotonic() - started < QUERY_TIMEOUT + 3  # not the source's 8s
    error = response.json()["error"]
    assert error["code"] == "timeout" and "query_timeout" in error["hint"]
    assert query(url, "SELECT count(*) AS n FROM customers").json() == [{"n": 7}]


def test_next_links_are_followed_without_a_pagination_param(sidecar: Sidecar) -> None:
    response = query(sidecar.url, "SELECT count(*) AS n, max(id) AS last FROM events")
    assert response.json() == [{"n": 25, "last": 24}]


def test_a_redirect_to_another_port_gets_no_key_and_no_rows(sidecar: Sidecar) -> None:
    before = len(sidecar.api.hits("/moved"))
    response = query(sidecar.url, "SELECT * FROM moved")
    assert response.status_code == 502, response.text
    error = response.json()["error"]
    assert "refused" in error["message"] and "allowed_origins" in error["hint"]
    assert sidecar.other.requests == []
    assert len(sidecar.api.hits("/moved")) == before + 1  # refused at once, never retried


def leaks(text: str) -> list[str]:
    """Every encoding of the secret the echoing API used, found in `text`."""
    forms = [APPID, quote_plus(APPID), "%2fS3cr3t", "\\/S3cr3t", "S3cr3t", "UzNjcjN0K3ZA", "v@l&x"]
    return [form for form in forms if form in text]


def test_a_query_parameter_secret_never_shows_encoded_over_http(sidecar: Sidecar) -> None:
    for sql in ("EXPLAIN SELECT * FROM keyed", "EXPLAIN ANALYZE SELECT * FROM keyed"):
        response = query(sidecar.url, sql)
        assert response.status_code == 200, response.text
        text = json.dumps(response.json())
        assert "appid=***" in text and leaks(text) == []
    for table in ("echo", "echo_text"):
        response = query(sidecar.url, f"SELECT * FROM {table}")
        assert response.status_code == 502
        assert "bad appid" in response.text and leaks(response.text) == [], response.text


def test_a_query_parameter_secret_never_shows_encoded_over_pg(sidecar: Sidecar) -> None:
    dsn = f"host=127.0.0.1 port={sidecar.process.pg_port} dbname=sidecar user=agent"
    with psycopg.connect(dsn, autocommit=True) as connection:
        for sql in ("EXPLAIN SELECT * FROM keyed", "EXPLAIN ANALYZE SELECT * FROM keyed"):
            plans = connection.execute(sql).fetchall()
            text = str(plans)
            assert "appid=***" in text and leaks(text) == []
        for table in ("echo", "echo_text"):
            with pytest.raises(psycopg.Error) as caught:
                connection.execute(f"SELECT * FROM {table}")
            assert caught.value.sqlstate == "58030"
            assert "bad appid" in str(caught.value) and leaks(str(caught.value)) == []


def test_a_query_parameter_secret_never_shows_encoded_over_flight(sidecar: Sidecar) -> None:
    with flight_sql.connect(sidecar.process.flight_url, autocommit=True) as connection:
        cursor = connection.cursor()
        for sql in ("EXPLAIN SELECT * FROM keyed", "EXPLAIN ANALYZE SELECT * FROM keyed"):
            cursor.execute(sql)
            text = str(cursor.fetchall())
            assert "appid=***" in text and leaks(text) == []
        with pytest.raises(flight_sql.Error) as caught:
            cursor.execute("SELECT * FROM echo")
            cursor.fetchall()
        cursor.close()
    assert "bad appid" in str(caught.value) and leaks(str(caught.value)) == []
