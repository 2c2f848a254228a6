"""A pod's stop: SIGTERM ends `sidecar run` cleanly, after its servers and audit log closed."""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path

import adbc_driver_flightsql.dbapi as adbc
import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

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


def test_sigterm_cancels_statements_past_the_shutdown_grace(tmp_path: Path) -> None:
    """Statements still running when runtime.shutdown_grace runs out are cancelled: the stop
    waited for them up to their query_timeout (60 s), past a pod's 30 s grace period, whose
    SIGKILL lost their audit lines."""
    port = free_port()
    config = {
        "runtime": {"http": {"port": port}, "shutdown_grace": "1s"},
        "audit": {"path": "audit.jsonl"},
    }
    (tmp_path / "sidecar.yaml").write_text(yaml.safe_dump(config))
    sidecar = SidecarProcess(tmp_path / "sidecar.yaml")
    failures: dict[str, BaseException | None] = {}

    def over_http() -> None:
        answer = httpx.post(f"{sidecar.url}/v1/sql", content=ENDLESS.format(1), timeout=30)
        failures["http"] = None if answer.status_code == 200 else RuntimeError(answer.text)

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

    try:
        sidecar.start(port)
        clients = [threading.Thread(target=run) for run in (over_http, over_flight)]
        for client in clients:
            client.start()
        time.sleep(1.5)  # both statements are running
        assert sidecar.process is not None
        signalled = time.monotonic()
        sidecar.process.send_signal(signal.SIGTERM)
        time.sleep(0.3)  # within the grace: the running statements are waited for, new refused
        with (
            adbc.connect(sidecar.flight_url, autocommit=True) as connection,
            connection.cursor() as cursor,
            pytest.raises(adbc.OperationalError, match="stopping and takes no new statements"),
        ):
            cursor.execute("SELECT 1")
        assert sidecar.process.wait(timeout=30) == 0, sidecar.output
        stopped = time.monotonic() - signalled
        for client in clients:
            client.join(timeout=10)
    finally:
        sidecar.stop()
    assert stopped < 1 + 5, f"the stop took {stopped:.1f} s"
    assert isinstance(failures["http"], RuntimeError), failures
    assert "the sidecar stopped" in str(failures["http"]), failures
    assert isinstance(failures["flight"], Exception), failures
    assert "Traceback" not in sidecar.output, sidecar.output
    lines = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    ended = {line["interface"]: line for line in lines if line["sql"].startswith("SELECT count")}
    assert set(ended) == {"http", "flight"}, lines
    for line in ended.values():
        assert line["code"] == "canceled" and "the sidecar stopped" in line["reason"], line
