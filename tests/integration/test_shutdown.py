"""A pod's stop: SIGTERM ends `sidecar run` cleanly, after its servers and audit log closed."""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path

import adbc_driver_flightsql.dbapi as adbc
import httpx
import psycopg
import pyarrow as pa
import pyarrow.flight as flight
import pyarrow.parquet as pq
import pytest
import yaml

from sidecar.servers.flight import FlightSql_pb2 as pb
from sidecar.servers.flight.commands import pack
from tests.process import SidecarProcess, free_port


def test_sigterm_closes_everything_and_exits_zero(tmp_path: Path) -> None:
    pq.write_table(pa.table({"id": list(range(10))}), tmp_path / "t.parquet")
    port = free_port()
    config = {
        "runtime": {"http": {"port": port}},
        "datasets": [{"from": "file:t.parquet", "name": "t"}],
        "audit": {"path": "audit.jsonl"},
    }
    (tmp_path / "sidecar.yaml").write_text(yaml.safe_dump(config))
    sidecar = SidecarProcess(tmp_path / "sidecar.yaml")
    try:
        url = sidecar.start(port)
        answers = [httpx.post(f"{url}/v1/sql", content=f"SELECT {i} AS n") for i in range(20)]
        assert all(answer.status_code == 200 for answer in answers)
        assert sidecar.process is not None
        sidecar.process.send_signal(signal.SIGTERM)
        assert sidecar.process.wait(timeout=30) == 0, sidecar.output
    finally:
        sidecar.stop()
    assert "Traceback" not in sidecar.output
    lines = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert sorted(line["sql"] for line in lines) == sorted(f"SELECT {i} AS n" for i in range(20))


ENDLESS = "SELECT count(*) AS n FROM generate_series(1, 1000000000000) g(x) WHERE x % 7 = {}"
PREPARED_WHILE_STOPPING = ("SELECT 41 AS n", "SELECT $1::int + 42 AS n")


def test_sigterm_cancels_statements_past_the_shutdown_grace(tmp_path: Path) -> None:
    """Statements still running when runtime.shutdown_grace runs out are ended: the stop
    waited for them up to their query_timeout (60 s), past a pod's 30 s grace period, whose
    SIGKILL lost their audit lines. Each client is told the service is going away, in its own
    protocol, so it retries elsewhere: HTTP 503 with Retry-After, Flight UNAVAILABLE, and
    PostgreSQL's FATAL 57P01 (admin_shutdown), as its fast shutdown ends sessions; a new
    connection gets 57P03, as PostgreSQL answers while it stops."""
    port = free_port()
    config = {
        "runtime": {"http": {"port": port}, "shutdown_grace": "1s"},
        "audit": {"path": "audit.jsonl"},
    }
    (tmp_path / "sidecar.yaml").write_text(yaml.safe_dump(config))
    sidecar = SidecarProcess(tmp_path / "sidecar.yaml")
    failures: dict[str, BaseException | httpx.Response | None] = {}

    def over_http() -> None:
        failures["http"] = httpx.post(
            f"{sidecar.url}/v1/sql", content=ENDLESS.format(1), timeout=30
        )

    def over_flight() -> None:
        try:
            with (
                adbc.connect(sidecar.flight_url, autocommit=True) as connection,
                connection.cursor() as cursor,
            ):
                cursor.execute(ENDLESS.format(2))
                cursor.fetchall()
            failures["flight"] = None
        except Exception as error:
            failures["flight"] = error

    def over_pg() -> None:
        try:
            with psycopg.connect(pg_dsn(sidecar)) as connection:
                connection.execute(ENDLESS.format(3)).fetchall()
            failures["pg"] = None
        except Exception as error:
            failures["pg"] = error

    try:
        sidecar.start(port)
        idle, quiet = (psycopg.connect(pg_dsn(sidecar), autocommit=True) for _ in range(2))
        clients = [threading.Thread(target=run) for run in (over_http, over_flight, over_pg)]
        for client in clients:
            client.start()
        time.sleep(1.5)  # the statements are running
        assert sidecar.process is not None
        signalled = time.monotonic()
        sidecar.process.send_signal(signal.SIGTERM)
        time.sleep(0.3)  # within the grace: the running statements are waited for, new refused
        with (
            adbc.connect(sidecar.flight_url, autocommit=True) as connection,
            connection.cursor() as cursor,
            pytest.raises(
                adbc.OperationalError, match="stopping and takes no new statements"
            ) as refused,
        ):
            cursor.execute("SELECT 1")
        assert "Unavailable" in str(refused.value), refused.value
        with flight.connect(sidecar.flight_url) as client:
            for sql in PREPARED_WHILE_STOPPING:  # prepared, never executed: refused and audited
                body = pack(pb.ActionCreatePreparedStatementRequest(query=sql))
                with pytest.raises(flight.FlightUnavailableError, match="no new statements"):
                    list(client.do_action(flight.Action("CreatePreparedStatement", body)))
        with pytest.raises(psycopg.errors.AdminShutdown) as ended:
            idle.execute("SELECT count(*) FROM generate_series(1, 3) g(x)")
        assert ended.value.diag.severity_nonlocalized == "FATAL"
        assert (
            ended.value.diag.message_detail == "the sidecar is stopping and takes no new statements"
        )
        assert idle.closed or idle.broken
        with pytest.raises(psycopg.OperationalError, match="the database system is shutting down"):
            psycopg.connect(pg_dsn(sidecar))
        assert sidecar.process.wait(timeout=30) == 0, sidecar.output
        stopped = time.monotonic() - signalled
        for client in clients:
            client.join(timeout=10)
        with pytest.raises(psycopg.OperationalError, match="due to administrator command"):
            quiet.execute("SELECT 1")  # a session idle at the stop was told why it ended
    finally:
        sidecar.stop()
    assert stopped < 1 + 5, f"the stop took {stopped:.1f} s"
    answer = failures["http"]
    assert isinstance(answer, httpx.Response), failures
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "1", answer.text
    assert answer.json()["error"]["code"] == "shutting_down", answer.text
    assert "the sidecar stopped" in answer.json()["error"]["message"], answer.text
    assert isinstance(failures["flight"], adbc.OperationalError), failures
    assert "Unavailable" in str(failures["flight"]), failures["flight"]
    assert isinstance(failures["pg"], psycopg.errors.AdminShutdown), failures
    assert "the sidecar stopped" in str(failures["pg"].diag.message_detail), failures
    assert "Traceback" not in sidecar.output, sidecar.output
    lines = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    ended_lines = {
        line["interface"]: line for line in lines if line["sql"].startswith("SELECT count(*) AS n")
    }
    assert set(ended_lines) == {"http", "flight", "pg"}, lines
    for line in ended_lines.values():
        assert line["code"] == "shutting_down" and "the sidecar stopped" in line["reason"], line
    prepared = {line["sql"]: line for line in lines if line["sql"] in PREPARED_WHILE_STOPPING}
    assert set(prepared) == set(PREPARED_WHILE_STOPPING), lines
    assert {line["code"] for line in prepared.values()} == {"shutting_down"}, prepared


def pg_dsn(sidecar: SidecarProcess) -> str:
    return f"host=127.0.0.1 port={sidecar.pg_port} user=agent dbname=sidecar connect_timeout=10"
