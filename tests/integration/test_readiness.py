"""Readiness that tells the truth, through a running sidecar over a MariaDB source that is
slow to copy, then down: Kubernetes probes and status pages depend on it.

The server is this module's own, so the last test can take it down.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.peers.mariadb import MariaDB, running
from tests.process import SidecarProcess, free_port

ROWS = 8
SLEEP = 0.25  # seconds MariaDB spends on each row of the slow view: a 2 s first copy


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDB]:
    with running(tmp_path_factory.mktemp("mariadb-readiness")) as found:
        found.execute(
            "CREATE TABLE shop.events (id INT PRIMARY KEY, status VARCHAR(8))",
            f"INSERT INTO shop.events SELECT seq, 'open' FROM seq_1_to_{ROWS}",
            "CREATE VIEW shop.slow_events AS SELECT id, status FROM shop.events "
            f"WHERE SLEEP({SLEEP}) = 0",
        )
        yield found


def start(root: Path, server: MariaDB, table: str, acceleration: str) -> SidecarProcess:
    port = free_port()
    params = ", ".join(f"{key}: {value}" for key, value in server.params().items())
    (root / "sidecar.yaml").write_text(
        textwrap.dedent(
            f"""
            runtime: {{http: {{port: {port}}}}}
            datasets:
              - from: mysql:shop.{table}
                name: events
                params: {{{params}, connect_timeout: 1s}}
                acceleration: {acceleration}
            """
        )
    )
    process = SidecarProcess(root / "sidecar.yaml")
    process.start(port, probe="/health")
    return process


def get(process: SidecarProcess, path: str) -> httpx.Response:
    return httpx.get(f"{process.url}{path}", timeout=10)


def count(process: SidecarProcess) -> httpx.Response:
    return httpx.post(f"{process.url}/v1/sql", content="SELECT count(*) AS n FROM events")


def wait_until_ready(process: SidecarProcess, seconds: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        response = get(process, "/v1/ready")
        if response.status_code == 200:
            return response.json()
        time.sleep(0.05)
    raise AssertionError(f"never ready: {get(process, '/v1/status').json()}")


def test_ready_waits_for_the_first_copy_of_an_on_load_dataset(
    server: MariaDB, tmp_path: Path
) -> None:
    process = start(tmp_path, server, "slow_events", "{ready_state: on_load}")
    try:
        waiting = get(process, "/v1/ready")
        assert waiting.status_code == 503
        assert waiting.json()["datasets"][0]["state"] in ("pending", "loading")
        assert count(process).json()["error"]["code"] == "not_ready"
        wait_until_ready(process)
        answered = count(process)  # the moment ready says so, queries answer
        assert answered.status_code == 200 and answered.json() == [{"n": ROWS}]
        status = get(process, "/v1/status").json()
        assert status["ready"] and status["datasets"][0]["state"] == "ready"
    finally:
        process.stop()


def test_a_file_copy_is_ready_and_stale_after_a_restart_with_the_source_down(
    server: MariaDB, tmp_path: Path
) -> None:
    acceleration = "{mode: file, refresh_retry_max_attempts: 0}"
    process = start(tmp_path, server, "events", acceleration)
    try:
        wait_until_ready(process)
    finally:
        process.stop()
    server.stop_server()
    restarted = start(tmp_path, server, "events", acceleration)
    try:
        assert wait_until_ready(restarted, 15) == {"ready": True, "datasets": []}
        assert count(restarted).json() == [{"n": ROWS}]
        dataset = get(restarted, "/v1/status").json()["datasets"][0]
        assert dataset["state"] == "stale" and dataset["available"]
        assert "connect" in dataset["last_error"].lower()
        shown = subprocess.run(
            [sys.executable, "-m", "sidecar", "status", "--url", restarted.url],
            capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "250"},
        )  # fmt: skip
        line = next(line for line in shown.stdout.splitlines() if "events" in line)
        assert "stale" in line and "connect" in line.lower(), shown.stdout
    finally:
        restarted.stop()
