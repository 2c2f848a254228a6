"""The first request on each interface of a freshly started sidecar: what an idle sidecar does
not import until a request needs it (protobuf for Flight SQL, the Postgres session and
pg_catalog modules, the OpenAI request models) must load correctly on that request, also when
several arrive at once."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import adbc_driver_flightsql.dbapi as adbc
import httpx
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.process import SidecarProcess, free_port

FIRST_CALLS = 4


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[SidecarProcess]:
    """A sidecar that has answered nothing but /v1/ready; it lists every module it imports
    in its log (PYTHONPROFILEIMPORTTIME), so a test can tell when each one loaded."""
    pq.write_table(pa.table({"id": range(10), "name": [f"n{i}" for i in range(10)]}),
                   tmp_path / "t.parquet")  # fmt: skip
    port = free_port()
    config = tmp_path / "sidecar.yaml"
    config.write_text(
        f"version: 1\nruntime: {{http: {{port: {port}}}}}\n"
        'datasets:\n  - {from: "file:t.parquet", name: t}\n'
    )
    sidecar = SidecarProcess(config, {"PYTHONPROFILEIMPORTTIME": "1"})
    sidecar.start(port)
    yield sidecar
    sidecar.stop()


def imported(sidecar: SidecarProcess) -> set[str]:
    lines = sidecar.log.read_text(errors="replace").splitlines()
    return {line.split("|")[-1].strip() for line in lines if line.startswith("import time:")}


def flight_count(url: str) -> int:
    with adbc.connect(url, autocommit=True) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT count(*) AS n FROM t WHERE id < 7")
        return cursor.fetch_arrow_table().column("n")[0].as_py()


def pg_name(dsn: str, key: int) -> list[tuple[str]]:
    """A parameter and a pg_catalog lookup: the extended protocol and the shadow catalog."""
    with psycopg.connect(dsn, autocommit=True) as connection:
        assert connection.execute("SELECT count(*) FROM pg_catalog.pg_class").fetchone()
        return connection.execute("SELECT name FROM t WHERE id = %s", (key,)).fetchall()


def test_first_requests_on_every_interface(fresh: SidecarProcess) -> None:
    before = imported(fresh)
    assert "sidecar.runtime" in before
    assert "google.protobuf" not in before and "sidecar.servers.flight.FlightSql_pb2" not in before
    assert "sidecar.servers.pgwire.session" not in before
    assert "sidecar.llm.openai" not in before
    # several first Flight SQL calls at once, on gRPC's threads: each sees the whole module
    with ThreadPoolExecutor(FIRST_CALLS) as pool:
        counts = list(pool.map(flight_count, [fresh.flight_url] * FIRST_CALLS))
    assert counts == [7] * FIRST_CALLS
    assert "sidecar.servers.flight.FlightSql_pb2" in imported(fresh)
    dsn = f"host=127.0.0.1 port={fresh.pg_port} dbname=sidecar user=agent"
    with ThreadPoolExecutor(FIRST_CALLS) as pool:
        names = list(pool.map(pg_name, [dsn] * FIRST_CALLS, range(FIRST_CALLS)))
    assert names == [[("n0",)], [("n1",)], [("n2",)], [("n3",)]]
    assert "sidecar.servers.pgwire.session" in imported(fresh)
    answer = httpx.post(f"{fresh.url}/v1/sql", content="SELECT max(id) AS m FROM t")
    assert answer.status_code == 200, answer.text
    assert answer.json() == [{"m": 9}]
    # no model configured: the OpenAI route still parses the request, and says so
    chat = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    answer = httpx.post(f"{fresh.url}/v1/chat/completions", json=chat)
    assert answer.status_code == 404 and answer.json()["error"]["param"] == "model", answer.text
    bad = httpx.post(f"{fresh.url}/v1/chat/completions", json={"messages": "hi"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "messages", bad.text
