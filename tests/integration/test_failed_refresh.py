"""A failed refresh never drops or misreports a loaded copy: through every interface that tells
a dataset's state, against a real PostgreSQL made to fail (a permission revoked, a refresh
held past its timeout by a lock, the server stopped and the sidecar restarted).

Every interface must say the same: the copy is `stale`, answers with its last good rows, and
counts as ready (/v1/status, /v1/ready, the refresh endpoint, MCP's describe_dataset and
list_datasets, /metrics, `sidecar status`, the catalogs of the Postgres wire and Flight SQL).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import adbc_driver_flightsql.dbapi as adbc
import httpx
import httpx2
import psutil
import psycopg
import pytest
import yaml
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.peers.postgres import Postgres, running
from tests.process import SidecarProcess, free_port

ROWS = 50
COPIES = {  # name: acceleration
    "mem": {},
    "filed": {"mode": "file"},
    "lite": {"engine": "sqlite", "mode": "file"},
}
FILED = ("filed", "lite")


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Postgres, Path]]:
    """A PostgreSQL of this module's own: the tests stop it."""
    root = tmp_path_factory.mktemp("failed_refresh")
    with running(Path(tempfile.mkdtemp(prefix="sidecar-pg-")), log_statements=False) as postgres:
        postgres.execute(
            "CREATE TABLE t (id int PRIMARY KEY, v text)",
            f"INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, {ROWS}) g",
            f"GRANT SELECT ON t TO {postgres.user}",
        )
        yield postgres, root


def sidecar(postgres: Postgres, root: Path, probe: str = "/v1/ready") -> SidecarProcess:
    port = free_port()
    acceleration = {"refresh_retry_max_attempts": 0, "refresh_retry_backoff": "30s"}
    config = {
        "name": "shop",
        "runtime": {
            "http": {"port": port},
            "data_dir": str(root / "data"),
            "source_timeout": "2s",
            "results_cache": {"enabled": False},
        },
        "datasets": [
            {
                "from": "postgres:public.t",
                "name": name,
                "params": postgres.params(),
                "acceleration": {**acceleration, **copy},
            }
            for name, copy in COPIES.items()
        ],
    }
    (root / "sidecar.yaml").write_text(yaml.safe_dump(config))
    process = SidecarProcess(root / "sidecar.yaml")
    process.start(port, probe)
    return process


def views(process: SidecarProcess) -> dict[str, dict[str, Any]]:
    """Each dataset as every interface shows it."""
    url = process.url
    status = {d["name"]: d for d in httpx.get(f"{url}/v1/status").json()["datasets"]}
    ready = httpx.get(f"{url}/v1/ready")
    stale = {d["name"] for d in ready.json().get("stale", [])}
    waiting = {d["name"]: d["state"] for d in ready.json()["datasets"]}
    metrics = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in httpx.get(f"{url}/metrics").text.splitlines()
        if line.startswith("sidecar_dataset_")
    }
    listed, described = mcp(url)
    cli = subprocess.run(
        [sys.executable, "-m", "sidecar", "status", "--url", url],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "400"},
        check=True,
    ).stdout
    with psycopg.connect(
        f"host=127.0.0.1 port={process.pg_port} user=agent dbname=shop", autocommit=True
    ) as connection:
        pg_columns = dict(
            connection.execute(
                "SELECT table_name, count(*) FROM information_schema.columns GROUP BY 1"
            ).fetchall()
        )
        reltuples = dict(connection.execute("SELECT relname, reltuples FROM pg_class").fetchall())
    with adbc.connect(process.flight_url, autocommit=True) as connection:
        objects = connection.adbc_get_objects(depth="all").read_all().to_pylist()
    flight_columns = {
        table["table_name"]: len(table["table_columns"] or [])
        for catalog in objects
        for schema in catalog["catalog_db_schemas"]
        for table in schema["db_schema_tables"]
    }
    found = {}
    for name in COPIES:
        line = next(line for line in cli.splitlines() if line.strip().startswith(name + " "))
        found[name] = {
            "state": status[name]["state"],
            "available": status[name]["available"],
            "rows": status[name]["rows"],
            "ready": ready.status_code == 200 or name not in waiting,
            "ready_lists": "stale" if name in stale else waiting.get(name, "ready"),
            "metric_ready": metrics.get(f'sidecar_dataset_ready{{dataset="{name}"}}'),
            "metric_stale": metrics.get(f'sidecar_dataset_stale{{dataset="{name}"}}'),
            "metric_rows": metrics.get(f'sidecar_dataset_rows{{dataset="{name}"}}'),
            "mcp_state": described[name],
            "mcp_rows": listed.get(name),
            "cli_state": line.split()[2],
            "pg_columns": pg_columns.get(name, 0),
            "pg_reltuples": reltuples.get(name),
            "flight_columns": flight_columns.get(name, 0),
        }
    return found


def mcp(url: str) -> tuple[dict[str, Any], dict[str, str]]:
    """list_datasets' row counts; describe_dataset's state (or its error's code)."""

    async def calls() -> tuple[dict[str, Any], dict[str, str]]:
        async with (
            httpx2.AsyncClient(timeout=30) as http,
            Client(streamable_http_client(f"{url}/v1/mcp", http_client=http)) as client,
        ):
            listed = (await client.call_tool("list_datasets", {})).structured_content or {}
            described = {}
            for name in COPIES:
                answer = await client.call_tool("describe_dataset", {"dataset": name})
                content = answer.structured_content or {}
                described[name] = (
                    content["freshness"]["state"]
                    if not answer.is_error
                    else content.get("error", {}).get("code", "?")
                )
        return {d["name"]: d["rows"] for d in listed["datasets"]}, described

    return asyncio.run(calls())


def last_refreshes(process: SidecarProcess) -> dict[str, float | None]:
    status = httpx.get(f"{process.url}/v1/status").json()["datasets"]
    return {dataset["name"]: dataset["acceleration"]["last_refresh_at"] for dataset in status}


def answered(process: SidecarProcess, name: str) -> int:
    """The copy's row count over HTTP, the Postgres wire and Flight SQL (all equal)."""
    sql = f"SELECT count(*) AS n FROM {name}"
    counts = {httpx.post(f"{process.url}/v1/sql", content=sql).json()[0]["n"]}
    dsn = f"host=127.0.0.1 port={process.pg_port} user=agent dbname=shop"
    with psycopg.connect(dsn, autocommit=True) as connection:
        counts.add(connection.execute(sql).fetchone()[0])
    with adbc.connect(process.flight_url, autocommit=True) as connection:
        cursor = connection.cursor()
        cursor.execute(sql)
        counts.add(cursor.fetchone()[0])
        cursor.close()
    assert len(counts) == 1, counts
    return counts.pop()


def stale(rows: int = ROWS) -> dict[str, Any]:
    """What every interface must show of a copy whose refresh failed."""
    return {
        "state": "stale",
        "available": True,
        "rows": rows,
        "ready": True,
        "ready_lists": "stale",
        "metric_ready": 1.0,
        "metric_stale": 1.0,
        "metric_rows": float(rows),
        "mcp_state": "stale",
        "mcp_rows": rows,
        "cli_state": "stale",
        "pg_columns": 2,
        "pg_reltuples": float(rows),
        "flight_columns": 2,
    }


def test_a_failed_refresh_keeps_the_copy_and_every_interface_says_stale(
    source: tuple[Postgres, Path],
) -> None:
    postgres, root = source
    process = sidecar(postgres, root)
    try:
        fresh = {**stale(), "state": "ready", "ready_lists": "ready", "metric_stale": 0.0}
        fresh |= {"mcp_state": "ready", "cli_state": "ready"}
        assert views(process) == {name: fresh for name in COPIES}

        # a refresh held by a lock past source_timeout: the copy answers meanwhile, then is stale
        holder = psycopg.connect(postgres.admin_uri())
        holder.execute("LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
        refreshed: dict[str, httpx.Response] = {}

        def refresh(name: str) -> None:
            url = f"{process.url}/v1/datasets/{name}/acceleration/refresh"
            refreshed[name] = httpx.post(url, timeout=30)

        waiting = threading.Thread(target=refresh, args=("mem",))
        waiting.start()
        time.sleep(0.5)
        status = httpx.get(f"{process.url}/v1/status").json()["datasets"][0]
        assert status["acceleration"]["refreshing"] and status["state"] == "ready", status
        assert answered(process, "mem") == ROWS
        waiting.join()
        holder.close()
        assert refreshed["mem"].status_code == 502, refreshed["mem"].text
        assert "exceeded 2s" in refreshed["mem"].json()["error"]["message"]
        assert views(process)["mem"] == stale()

        # the server frozen (no error ever comes): asking again and again neither hangs nor
        # holds a thread per ask; once it answers again, a refresh works
        refresh("mem")  # its connection open, as the frozen server will keep it
        assert refreshed["mem"].status_code == 200, refreshed["mem"].text
        threads = psutil.Process(process.process.pid).num_threads()  # type: ignore[union-attr]
        postgres.freeze()
        try:
            asking = [threading.Thread(target=refresh, args=("mem",)) for _ in range(4)]
            for thread in asking:
                thread.start()
            for thread in asking:
                thread.join()
            assert refreshed["mem"].status_code == 504, refreshed["mem"].text
            assert "has not answered for" in refreshed["mem"].json()["error"]["message"]
            assert views(process)["mem"] == stale()
            assert answered(process, "mem") == ROWS
            grown = psutil.Process(process.process.pid).num_threads() - threads  # type: ignore[union-attr]
            assert grown <= 4, f"{grown} more threads"
        finally:
            postgres.freeze(signal.SIGCONT)
        refresh("mem")
        assert refreshed["mem"].status_code == 200, refreshed["mem"].text

        # a permission revoked: every copy refreshed on demand fails, and answers as before
        postgres.execute(f"INSERT INTO t VALUES ({ROWS + 1}, 'new')")
        postgres.execute(f"REVOKE SELECT ON t FROM {postgres.user}")
        for name in COPIES:
            refresh(name)
            assert refreshed[name].status_code == 502, refreshed[name].text
            assert "permission denied" in refreshed[name].json()["error"]["message"]
            assert answered(process, name) == ROWS
        assert views(process) == {name: stale() for name in COPIES}
        refreshed = last_refreshes(process)
    finally:
        process.stop()

    # the source down at a restart: file copies serve their rows, stale; the memory copy is gone
    postgres.stop()
    process = sidecar(postgres, root, probe="/health")
    try:
        deadline = time.monotonic() + 30
        while httpx.get(f"{process.url}/v1/status").json()["datasets"][0]["state"] != "error":
            assert time.monotonic() < deadline, "the memory copy never failed to load"
            time.sleep(0.1)
        seen = views(process)
        for name in FILED:
            assert seen[name] == stale(), name
            assert answered(process, name) == ROWS
            assert last_refreshes(process)[name] == refreshed[name], "how old its rows are"
        assert seen["mem"] == {
            "state": "error",
            "available": False,
            "rows": None,
            "ready": False,
            "ready_lists": "error",
            "metric_ready": 0.0,
            "metric_stale": 0.0,
            "metric_rows": None,
            "mcp_state": "not_ready",
            "mcp_rows": None,
            "cli_state": "error",
            "pg_columns": 0,
            "pg_reltuples": -1.0,
            "flight_columns": 0,
        }
    finally:
        process.stop()
