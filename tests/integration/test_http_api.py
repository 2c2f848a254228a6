"""`sidecar run` as a real subprocess, queried over HTTP like an agent would."""

from __future__ import annotations

import io
import json
import socket
import textwrap
import time
from collections.abc import Iterator

import httpx
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.ipc
import pyarrow.parquet as pq
import pytest

from tests import exact_values, placeholders
from tests.process import SidecarProcess, free_port, settle

KEY = "k-3f9a1c77e0b24d5e"
SECRET_TOKEN = "tok-SUPERSECRET-91d7"


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, SidecarProcess]]:
    root = tmp_path_factory.mktemp("sidecar")
    (root / "data").mkdir()
    orders = pa.table(
        {
            "id": pa.array(range(1000), pa.int64()),
            "amount": pa.array([i * 1.5 for i in range(1000)]),
            "status": pa.array(["failed" if i % 10 == 0 else "paid" for i in range(1000)]),
            "customer_id": pa.array([i % 50 for i in range(1000)], pa.int64()),
        }
    )
    pq.write_table(orders, root / "data" / "orders.parquet", row_group_size=100)
    customers = pa.table(
        {"customer_id": list(range(50)), "name": [f"customer {i}" for i in range(50)]}
    )
    pacsv.write_csv(customers, root / "data" / "customers.csv")
    port = free_port()
    (root / "sidecar.yaml").write_text(
        textwrap.dedent(
            f"""
            version: 1
            name: test-agent
            runtime:
              http: {{port: {port}}}
              auth:
                api_keys:
                  - {{key: "${{env:AGENT_KEY}}", identity: test-agent}}
            datasets:
              - from: file:data/orders.parquet
                name: orders
                description: Orders of the shop
              - from: file:data/customers.csv
                name: customers
              - from: http://127.0.0.1:9/unreachable?token=${{env:SECRET_TOKEN}}
                name: broken
                params: {{headers: {{Authorization: "Bearer ${{env:SECRET_TOKEN}}"}}, retries: 0}}
            views:
              - {{name: failed_orders, sql: "SELECT * FROM orders WHERE status = 'failed'"}}
            """
        )
    )
    process = SidecarProcess(
        root / "sidecar.yaml", env={"AGENT_KEY": KEY, "SECRET_TOKEN": SECRET_TOKEN}
    )
    url = process.start(port, probe="/health")
    settle(lambda: loaded(url), "the datasets' first load")
    yield url, process
    process.stop()
    assert SECRET_TOKEN not in process.output


def loaded(url: str) -> bool:
    """Every dataset has been tried once (/v1/ready stays 503 here: `broken` cannot load)."""
    status = httpx.get(f"{url}/v1/status", headers={"Authorization": f"Bearer {KEY}"}).json()
    return all(d["state"] not in ("pending", "loading") for d in status["datasets"])


@pytest.fixture
def client(sidecar: tuple[str, SidecarProcess]) -> Iterator[httpx.Client]:
    url, _ = sidecar
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEY}"}) as client:
        client.get("/v1/status")
        yield client


def sql(client: httpx.Client, query: str, **kwargs: object) -> httpx.Response:
    return client.post("/v1/sql", content=query, **kwargs)  # type: ignore[arg-type]


def test_probes_are_open_and_auth_is_required(sidecar: tuple[str, SidecarProcess]) -> None:
    url, _ = sidecar
    assert httpx.get(f"{url}/health").status_code == 200
    assert httpx.get(f"{url}/v1/ready").status_code == 503  # the broken source is not loadable
    missing = httpx.post(f"{url}/v1/sql", content="SELECT 1")
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "unauthenticated"
    wrong = httpx.post(f"{url}/v1/sql", content="SELECT 1", headers={"X-API-Key": "nope"})
    assert wrong.status_code == 401
    right = httpx.post(f"{url}/v1/sql", content="SELECT 1 AS one", headers={"X-API-Key": KEY})
    assert right.json() == [{"one": 1}]


def test_json_rows_with_pushdown_and_join(client: httpx.Client) -> None:
    response = sql(
        client,
        "SELECT o.id, c.name FROM orders o JOIN customers c ON o.customer_id = c.customer_id "
        "WHERE o.status = 'failed' AND o.id < 30 ORDER BY o.id",
    )
    assert response.status_code == 200, response.text
    assert response.json() == [
        {"id": 0, "name": "customer 0"},
        {"id": 10, "name": "customer 10"},
        {"id": 20, "name": "customer 20"},
    ]


def test_parameters_in_json_body(client: httpx.Client) -> None:
    response = client.post(
        "/v1/sql",
        json={
            "sql": "SELECT count(*) AS n FROM orders WHERE amount > $1 AND status = $2",
            "parameters": [1400.0, "failed"],
        },
    )
    assert response.status_code == 200, response.text
    assert response.json() == [{"n": 6}]


def test_integers_past_bigint_stay_exact(client: httpx.Client) -> None:
    """A JSON integer past BIGINT binds as an exact NUMERIC (not a float that rounds it), twice
    (the second from the kept plan); one past NUMERIC's 38 digits is refused, naming it."""
    big = 2**100 + 1
    query = "SELECT $1 AS v, $1 - 1 AS w, (SELECT count(*) FROM orders WHERE id < $1) AS n"
    arrow = {"Accept": "application/vnd.apache.arrow.stream"}
    for value in (big, big + 2):
        body = {"sql": query, "parameters": [value]}
        response = client.post("/v1/sql", json=body, headers=arrow)
        assert response.status_code == 200, response.text
        [row] = pa.ipc.open_stream(response.content).read_all().to_pylist()
        assert (row["v"], row["w"], row["n"]) == (value, value - 1, 1000)
    for value in (10**38, -(10**38)):
        response = client.post("/v1/sql", json={"sql": query, "parameters": [value]})
        assert response.status_code == 400, response.text
        message = response.json()["error"]["message"]
        assert (
            message == "parameter $1: the integer has 39 digits, more than the 38 a NUMERIC holds"
        )


def test_json_decimals_are_exact_strings(client: httpx.Client) -> None:
    """A decimal is its exact digits at the column's scale, as a JSON string: as a number every
    common parser rounds it to a double. A BIGINT stays a JSON number with all its digits."""
    response = sql(client, exact_values.QUERY)
    assert response.status_code == 200, response.text
    assert response.json() == [exact_values.ROW]
    assert '"big":9007199254740993' in response.text
    lines = sql(client, exact_values.QUERY, headers={"Accept": "application/x-ndjson"})
    assert [json.loads(line) for line in lines.text.splitlines()] == [exact_values.ROW]
    body = {"sql": "SELECT $1 AS v", "parameters": [2**100 + 1]}
    assert client.post("/v1/sql", json=body).json() == [{"v": str(2**100 + 1)}]


def test_question_marks_bind_in_the_order_they_are_written(client: httpx.Client) -> None:
    response = client.post(
        "/v1/sql", json={"sql": placeholders.QUERY, "parameters": placeholders.VALUES}
    )
    assert response.status_code == 200, response.text
    assert response.json() == placeholders.EXPECTED


def test_arrow_ipc_stream(client: httpx.Client) -> None:
    response = sql(
        client, "SELECT * FROM orders", headers={"Accept": "application/vnd.apache.arrow.stream"}
    )
    assert response.headers["content-type"].startswith("application/vnd.apache.arrow.stream")
    table = pa.ipc.open_stream(response.content).read_all()
    assert table.num_rows == 1000
    assert table.schema.field("amount").type == pa.float64()


def test_csv(client: httpx.Client) -> None:
    response = sql(
        client, "SELECT id, status FROM orders ORDER BY id LIMIT 2", headers={"Accept": "text/csv"}
    )
    assert pacsv.read_csv(io.BytesIO(response.content)).to_pylist() == [
        {"id": 0, "status": "failed"},
        {"id": 1, "status": "paid"},
    ]


def test_views_and_information_schema(client: httpx.Client) -> None:
    assert sql(client, "SELECT count(*) AS n FROM failed_orders").json() == [{"n": 100}]
    tables = sql(
        client, "SELECT table_name, table_type FROM information_schema.tables ORDER BY table_name"
    ).json()
    assert {"table_name": "failed_orders", "table_type": "VIEW"} in tables
    assert {"table_name": "orders", "table_type": "BASE TABLE"} in tables
    columns = sql(
        client,
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = 'orders' ORDER BY ordinal_position",
    ).json()
    assert columns[0] == {"column_name": "id", "data_type": "bigint"}
    view = sql(
        client,
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_name = 'failed_orders' ORDER BY ordinal_position",
    ).json()
    assert [c["column_name"] for c in view] == [c["column_name"] for c in columns]


def test_explain_shows_pushdown(client: httpx.Client) -> None:
    rows = sql(client, "EXPLAIN SELECT id FROM public.ORDERS WHERE amount > 10 LIMIT 5").json()
    federation = next(r["plan"] for r in rows if r["plan_type"] == "federation")
    assert "orders" in federation and "amount" in federation and "limit=5" in federation


@pytest.mark.parametrize(
    ("query", "status", "code", "needle"),
    [
        ("SELEC * FROM orders", 400, "syntax_error", "SELEC"),
        ("SELECT * FROM ordrs", 404, "undefined_table", "orders"),
        (
            "WITH sqlite_master AS (SELECT * FROM sqlite_master) SELECT * FROM sqlite_master",
            404,
            "undefined_table",
            "sqlite_master",
        ),
        ("SELECT amout FROM orders", 400, "undefined_column", "amount"),
        ("DROP TABLE orders", 403, "forbidden", "DROP"),
        ("SELECT * FROM read_parquet('/etc/passwd')", 403, "forbidden", "read_parquet"),
        ("SELECT 1; SELECT 2", 403, "forbidden", "one statement"),
        ("SELECT * FROM broken", 502, "source_error", "broken"),
    ],
)
def test_errors_explain_the_fix(
    client: httpx.Client, query: str, status: int, code: str, needle: str
) -> None:
    response = sql(client, query)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert needle.lower() in (error["message"] + " " + error.get("hint", "")).lower()
    assert SECRET_TOKEN not in response.text


def test_ambiguous_columns_and_cut_short_statements_say_where_and_what(
    client: httpx.Client,
) -> None:
    join = "SELECT customer_id FROM orders o JOIN customers c ON o.customer_id = c.customer_id"
    ambiguous = sql(client, join)
    assert ambiguous.status_code == 400, ambiguous.text
    error = ambiguous.json()["error"]
    assert error["code"] == "ambiguous_column" and error["position"] == 8
    assert "c.customer_id or o.customer_id" in error["message"]
    using = "SELECT name FROM orders JOIN customers USING (name)"
    unknown = sql(client, using).json()["error"]
    assert unknown["code"] == "undefined_column" and unknown["position"] == using.rindex("name") + 1
    assert "USING clause does not exist in left table" in unknown["message"]
    assert "orders.amount, orders.customer_id, orders.id, orders.status" in unknown["hint"]
    cut_short = "SELECT status, count(*) FROM orders GROUP BY"
    response = sql(client, cut_short)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "syntax_error" and error["position"] == len(cut_short) + 1
    assert "end of input" in error["message"]
    assert "expected an expression after 'GROUP BY'" in error["message"]


def test_bad_requests_never_take_the_process_down(client: httpx.Client) -> None:
    assert (
        client.post(
            "/v1/sql", content=b"\xff\xfe", headers={"Content-Type": "text/plain"}
        ).status_code
        == 400
    )
    assert (
        client.post(
            "/v1/sql", content="{not json", headers={"Content-Type": "application/json"}
        ).status_code
        == 400
    )
    assert client.post("/v1/sql", content="x" * (2 << 20)).status_code == 400
    assert sql(client, "SELECT 1", headers={"Accept": "image/png"}).status_code == 400
    # q weights count (the first type written was taken, and q=0, "not this", was served)
    preferred = {"Accept": "application/json;q=0.1, text/csv;q=0.9"}
    assert (
        sql(client, "SELECT 1 AS a", headers=preferred)
        .headers["content-type"]
        .startswith("text/csv")
    )
    refused = {"Accept": "application/vnd.apache.arrow.stream;q=0"}
    assert sql(client, "SELECT 1", headers=refused).status_code == 400
    overflow = client.post(  # a JSON number past a double's range was bound as Infinity
        "/v1/sql", json={"sql": "SELECT $1 AS v", "parameters": [1.0]}
    )
    assert overflow.json() == [{"v": 1.0}]
    overflow = client.post(
        "/v1/sql",
        content=b'{"sql": "SELECT $1 AS v", "parameters": [1e400]}',
        headers={"Content-Type": "application/json"},
    )
    assert overflow.status_code == 400 and "out of range" in overflow.json()["error"]["message"]
    assert sql(client, "").status_code in (400, 403)
    assert client.get("/health").status_code == 200
    assert sql(client, "SELECT count(*) AS n FROM orders").json() == [{"n": 1000}]


def test_a_client_hanging_up_mid_body_is_one_log_line(
    sidecar: tuple[str, SidecarProcess],
) -> None:
    url, process = sidecar
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as connection:
        connection.sendall(
            b"POST /v1/sql HTTP/1.1\r\nHost: sidecar\r\nAuthorization: Bearer "
            + KEY.encode()
            + b"\r\nContent-Length: 1000\r\n\r\nSELECT 1"
        )
    deadline = time.monotonic() + 10
    while "disconnected before sending" not in process.output and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = [line for line in process.output.splitlines() if "disconnect" in line.lower()]
    assert len(lines) == 1 and "POST /v1/sql" in lines[0], lines
    assert "ClientDisconnect" not in process.output
    assert httpx.get(f"{url}/health").status_code == 200


def test_status_datasets_and_metrics(client: httpx.Client) -> None:
    status = client.get("/v1/status").json()
    states = {d["name"]: d for d in status["datasets"]}
    assert states["orders"]["state"] == "ready" and states["orders"]["rows"] == 1000
    assert states["broken"]["state"] == "error"
    assert SECRET_TOKEN not in str(status)
    datasets = {d["name"]: d for d in client.get("/v1/datasets").json()}
    assert datasets["orders"]["description"] == "Orders of the shop"
    assert datasets["failed_orders"]["kind"] == "view"
    assert datasets["failed_orders"]["columns"] == datasets["orders"]["columns"]
    assert SECRET_TOKEN not in str(datasets)
    metrics = client.get("/metrics").text
    assert 'sidecar_queries_total{identity="test-agent",interface="http",outcome="ok"}' in metrics
    assert 'sidecar_dataset_ready{dataset="orders"} 1.0' in metrics


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("SELECT " + "(" * 5000 + "1" + ")" * 5000, 400, "statement_too_complex"),
        ("SELECT " + "+".join(["1"] * 10_000), 400, "statement_too_complex"),
        ("SELECT 1 AS x WHERE " + " OR ".join(["1 = 1"] * 50_000), 400, "statement_too_complex"),
        ("SELECT 1 AS x WHERE " + " OR ".join(["1 = 1"] * 5_000), 400, "statement_too_complex"),
        ("SELECT 1 AS x WHERE " + " OR ".join(["1 = 1"] * 2_000), 200, None),
        ("SELECT " + "abs(" * 40 + "1" + ")" * 40 + " AS x", 200, None),
        ("SELECT 1\x00; DROP TABLE orders", 403, "forbidden"),
        ("SELECT pg_sleep(10)", 403, "forbidden"),
        ("COPY orders TO '/tmp/x.csv'", 403, "forbidden"),
        ("SELECT 1/0", 400, "query_error"),
        ("SELECT CAST('abc' AS INT)", 400, "query_error"),
        ("-- only a comment", 400, "invalid_request"),
    ],
)
def test_hostile_input_gets_a_clear_error_and_the_process_lives(
    client: httpx.Client, query: str, status: int, code: str | None
) -> None:
    response = sql(client, query)
    assert response.status_code == status, response.text
    assert (
        response.json() == [{"x": 1}] if code is None else response.json()["error"]["code"] == code
    )
    assert client.get("/health").status_code == 200


def test_table_functions_that_only_generate_rows_work(client: httpx.Client) -> None:
    assert sql(client, "SELECT count(*) AS n FROM generate_series(1, 1000)").json() == [{"n": 1000}]
