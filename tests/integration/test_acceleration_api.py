"""Acceleration and the results cache through a running sidecar's HTTP API, for every engine
that keeps its copy in a file."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.acceleration import FILE_ENGINES, AccelerationEngine
from tests.process import SidecarProcess, free_port


@pytest.fixture(scope="module", params=FILE_ENGINES, ids=str)
def sidecar(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path, AccelerationEngine]]:
    accel: AccelerationEngine = request.param
    root = tmp_path_factory.mktemp(f"acceleration-{accel}")
    pq.write_table(pa.table({"id": list(range(10))}), root / "events.parquet")
    port = free_port()
    (root / "sidecar.yaml").write_text(
        textwrap.dedent(
            f"""
            runtime: {{http: {{port: {port}}}, results_cache: {{item_ttl: 1h}}}}
            datasets:
              - from: file:events.parquet
                name: events
                acceleration: {{engine: {accel}, mode: file, refresh_retry_max_attempts: 0}}
              - from: file:events.parquet
                name: plain
            """
        )
    )
    process = SidecarProcess(root / "sidecar.yaml")
    url = process.start(port)
    yield url, root, accel
    process.stop()


def count(url: str) -> tuple[int, str]:
    response = httpx.post(f"{url}/v1/sql", content="SELECT count(*) AS n FROM events")
    assert response.status_code == 200, response.text
    return response.json()[0]["n"], response.headers["Results-Cache-Status"]


def test_refresh_endpoint_status_and_cache_invalidation(
    sidecar: tuple[str, Path, AccelerationEngine],
) -> None:
    url, root, accel = sidecar
    assert count(url) == (10, "MISS")
    assert count(url) == (10, "HIT")
    pq.write_table(pa.table({"id": list(range(15))}), root / "events.parquet")
    refreshed = httpx.post(f"{url}/v1/datasets/events/acceleration/refresh")
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["acceleration"]["rows"] == 15
    assert count(url) == (15, "MISS")
    status = {d["name"]: d for d in httpx.get(f"{url}/v1/status").json()["datasets"]}
    acceleration = status["events"]["acceleration"]
    assert acceleration["mode"] == "file" and acceleration["last_refresh_seconds"] is not None
    assert acceleration["engine"] == accel.name
    assert "acceleration" not in status["plain"]
    assert (root / ".sidecar" / f"events{accel.file_suffix}").exists()


def test_functions_the_copy_lacks_are_answered_by_the_engine(
    sidecar: tuple[str, Path, AccelerationEngine],
) -> None:
    url, _, _ = sidecar
    response = httpx.post(f"{url}/v1/sql", content="SELECT arrow_typeof(id) AS t FROM events")
    assert response.status_code == 200, response.text
    assert {row["t"] for row in response.json()} == {"Int64"}


def test_refresh_errors_are_explained(sidecar: tuple[str, Path, AccelerationEngine]) -> None:
    url, root, _ = sidecar
    plain = httpx.post(f"{url}/v1/datasets/plain/acceleration/refresh")
    assert plain.status_code == 400 and "not accelerated" in plain.json()["error"]["message"]
    unknown = httpx.post(f"{url}/v1/datasets/nope/acceleration/refresh")
    assert unknown.status_code == 404
    (root / "events.parquet").rename(root / "gone.parquet")
    try:
        failed = httpx.post(f"{url}/v1/datasets/events/acceleration/refresh")
        assert failed.status_code == 502
        assert "keeps serving" in failed.json()["error"]["hint"]
        assert count(url)[0] == 15
    finally:
        (root / "gone.parquet").rename(root / "events.parquet")


def test_cli_refresh_and_status_show_the_copy(
    sidecar: tuple[str, Path, AccelerationEngine],
) -> None:
    url, _, accel = sidecar
    refreshed = subprocess.run(
        [sys.executable, "-m", "sidecar", "refresh", "events", "--url", url],
        capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert refreshed.returncode == 0, refreshed.stderr
    assert "events:" in refreshed.stdout and "refreshed 0s ago" in refreshed.stdout
    status = subprocess.run(
        [sys.executable, "-m", "sidecar", "status", "--url", url],
        capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert f"{accel} file, refreshed" in status.stdout
    missing = subprocess.run(
        [sys.executable, "-m", "sidecar", "refresh", "plain", "--url", url],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert missing.returncode == 1 and "not accelerated" in missing.stderr
