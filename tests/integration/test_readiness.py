"""Readiness that tells the truth, through a running sidecar over a MariaDB source that is
slow to copy, then down: Kubernetes probes and status pages depend on it."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from sidecar.cli import main
from tests.acceleration import FILE_ENGINES, AccelerationEngine
from tests.peers.mariadb import MariaDB, mariadb  # noqa: F401
from tests.process import SidecarProcess, free_port

ROWS = 8
SLEEP = 0.25  # seconds MariaDB spends on each row of the slow view: a 2 s first copy


@pytest.fixture(scope="module")
def server(mariadb: MariaDB) -> MariaDB:  # noqa: F811
    mariadb.execute(
        "CREATE OR REPLACE TABLE shop.ready_events (id INT PRIMARY KEY, status VARCHAR(8))",
        f"INSERT INTO shop.ready_events SELECT seq, 'open' FROM seq_1_to_{ROWS}",
        "CREATE OR REPLACE VIEW shop.ready_slow AS SELECT id, status FROM shop.ready_events "
        f"WHERE SLEEP({SLEEP}) = 0",
    )
    return mariadb


def start(
    root: Path,
    server: MariaDB,
    table: str,
    acceleration: str | None,
    search: str | None = None,
    **changes: Any,
) -> SidecarProcess:
    port = free_port()
    params = ", ".join(f"{key}: {value}" for key, value in server.params(**changes).items())
    extra = {"acceleration": acceleration, "search": search}
    lines = "".join(f"\n    {key}: {value}" for key, value in extra.items() if value)
    (root / "sidecar.yaml").write_text(
        textwrap.dedent(
            f"""
            runtime: {{http: {{port: {port}}}}}
            datasets:
              - from: mysql:shop.{table}
                name: events
                params: {{{params}, connect_timeout: 1s}}"""
        )
        + lines
        + "\n"
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


def wait_until_stale(process: SidecarProcess, *, retrying: bool = False) -> dict[str, Any]:
    """/v1/ready once it lists the copy as stale (its source's failure is learnt after the
    copy on file already answers), with its next retry when `retrying`."""
    deadline = time.monotonic() + 15
    while True:
        ready = get(process, "/v1/ready").json()
        stale = ready.get("stale", [{}])[0]
        if stale and (stale["next_refresh_at"] or not retrying):
            return ready
        assert time.monotonic() < deadline, ready
        time.sleep(0.05)


def test_ready_waits_for_the_first_copy_of_an_on_load_dataset(
    server: MariaDB, tmp_path: Path
) -> None:
    process = start(tmp_path, server, "ready_slow", "{ready_state: on_load}")
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


@pytest.mark.parametrize("accel", FILE_ENGINES, ids=str)
def test_a_file_copy_is_ready_and_stale_after_a_restart_with_the_source_down(
    server: MariaDB,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    accel: AccelerationEngine,
) -> None:
    acceleration = f"{{engine: {accel}, mode: file, refresh_retry_max_attempts: 0}}"
    process = start(tmp_path, server, "ready_events", acceleration)
    try:
        wait_until_ready(process)
    finally:
        process.stop()
    down = free_port()  # nothing listens there: the source is down when the sidecar restarts
    restarted = start(tmp_path, server, "ready_events", acceleration, port=down)
    try:
        ready = wait_until_stale(restarted)
        assert (ready["ready"], ready["datasets"]) == (True, [])
        assert ready["stale"][0]["name"] == "events"
        assert "connect" in ready["stale"][0]["last_error"].lower()
        assert count(restarted).json() == [{"n": ROWS}]
        dataset = get(restarted, "/v1/status").json()["datasets"][0]
        assert dataset["state"] == "stale" and dataset["available"]
        assert "connect" in dataset["last_error"].lower()
        monkeypatch.setenv("COLUMNS", "250")
        assert main(["status", "--url", restarted.url]) == 0
        shown = capsys.readouterr().out
        line = next(line for line in shown.splitlines() if "events" in line)
        assert "stale" in line and "connect" in line.lower(), shown
    finally:
        restarted.stop()


def test_ready_waits_for_search_indexes_and_reports_a_failed_one(
    server: MariaDB, tmp_path: Path
) -> None:
    """The dataset answers at once (no copy), its index takes the slow view's 2 s to build: ready
    only when a search can answer; an index that cannot be built keeps it 503 with the error."""
    process = start(tmp_path, server, "ready_slow", None, "{text: [status], key: id}")
    try:
        seen_building = False
        deadline = time.monotonic() + 30
        while (ready := get(process, "/v1/ready")).status_code != 200:
            assert time.monotonic() < deadline, get(process, "/v1/status").json()
            if ready.json()["datasets"] == []:  # the dataset is ready, its index is not
                assert ready.json()["search"][0]["name"] == "events"
                assert ready.json()["search"][0]["state"] in ("pending", "building")
                seen_building = True
            time.sleep(0.05)
        assert seen_building, "the 2 s build was never seen by /v1/ready"
        searched = httpx.post(
            f"{process.url}/v1/search", json={"datasets": ["events"], "text": "open"}, timeout=10
        )
        assert searched.status_code == 200 and len(searched.json()["hits"]) > 0
        assert get(process, "/v1/status").json()["ready"]
    finally:
        process.stop()
    broken = start(tmp_path, server, "ready_events", None, "{text: [no_such_column]}")
    try:
        deadline = time.monotonic() + 30
        while (ready := get(process := broken, "/v1/ready")).json().get("search", [{}])[0].get(
            "state"
        ) != "error":
            assert time.monotonic() < deadline, ready.json()
            time.sleep(0.05)
        assert ready.status_code == 503 and not ready.json()["ready"]
        assert "no_such_column" in ready.json()["search"][0]["last_error"]
        assert get(broken, "/v1/status").json()["ready"] is False
    finally:
        broken.stop()


def test_a_stale_copy_without_a_refresh_interval_is_retried_until_it_refreshes(
    server: MariaDB, tmp_path: Path
) -> None:
    """A file copy restarted while its table is gone serves its rows (stale), and with no
    refresh_check_interval nothing retried it: now it is retried with the refresh backoff, the
    next attempt in /v1/ready and /v1/status, and becomes fresh once the table is back."""
    server.execute("DROP TABLE IF EXISTS shop.ready_later")
    acceleration = "{mode: file, refresh_retry_max_attempts: 0, refresh_retry_backoff: 0.2s}"
    process = start(tmp_path, server, "ready_events", acceleration)
    try:
        wait_until_ready(process)
    finally:
        process.stop()
    restarted = start(tmp_path, server, "ready_later", acceleration)
    try:
        ready = wait_until_stale(restarted, retrying=True)
        assert ready["stale"][0]["name"] == "events" and count(restarted).json() == [{"n": ROWS}]
        acceleration_status = get(restarted, "/v1/status").json()["datasets"][0]["acceleration"]
        assert acceleration_status["next_refresh_at"] is not None
        server.execute(
            "CREATE TABLE shop.ready_later (id INT PRIMARY KEY, status VARCHAR(8))",
            "INSERT INTO shop.ready_later VALUES (1, 'late'), (2, 'late')",
        )
        deadline = time.monotonic() + 30
        while (dataset := get(restarted, "/v1/status").json()["datasets"][0])["state"] != "ready":
            assert time.monotonic() < deadline, dataset
            time.sleep(0.1)
        assert count(restarted).json() == [{"n": 2}] and dataset["last_error"] is None
        assert "stale" not in get(restarted, "/v1/ready").json()
    finally:
        restarted.stop()
        server.execute("DROP TABLE IF EXISTS shop.ready_later")
