"""The `sidecar` command against a real `sidecar run`: start-up, client commands, failures."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.process import free_port


def sidecar(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sidecar", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200", "SIDECAR_URL": ""},
    )


class Running:
    """A `sidecar run` whose console output the test reads once it is serving."""

    def __init__(
        self, args: list[str], cwd: Path, port: int, env: dict[str, str] | None = None
    ) -> None:
        env = env or {}
        self.url = f"http://127.0.0.1:{port}"
        flight_port = free_port()
        self.flight_url = f"grpc://127.0.0.1:{flight_port}"
        self.log = cwd / "run.log"
        self.pg_port = free_port()
        ports = ["--http-port", str(port), "--flight-port", str(flight_port)]
        ports += ["--pg-port", str(self.pg_port)]
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "sidecar", "run", *args, *ports],
                cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                env={**os.environ, "COLUMNS": "200", **env},
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while "is running" not in self.output:
            assert self.process.poll() is None, self.output
            assert time.monotonic() < deadline, self.output
            time.sleep(0.1)

    @property
    def output(self) -> str:
        return self.log.read_text()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Running, Path]]:
    root = tmp_path_factory.mktemp("cli")
    pq.write_table(pa.table({"id": list(range(1234)), "status": ["paid"] * 1234}),
                   root / "orders.parquet")  # fmt: skip
    (root / "sidecar.yaml").write_text(
        textwrap.dedent(
            """
            name: shop
            datasets:
              - {from: "file:missing.parquet", name: tickets}
              - {from: "file:orders.parquet", name: orders, description: Orders of the shop}
            views:
              - {name: paid, sql: "SELECT * FROM orders WHERE status = 'paid'"}
            """
        )
    )
    # every module it imports is listed in its output, so a test can tell what it loaded
    running = Running(["-c", "sidecar.yaml"], root, free_port(), {"PYTHONPROFILEIMPORTTIME": "1"})
    yield running, root
    running.stop()


def test_run_shows_progress_and_a_banner_with_every_endpoint(shop: tuple[Running, Path]) -> None:
    running, _ = shop
    out = running.output
    assert "✗ tickets" in out and "missing.parquet" in out
    assert "✓ orders" in out and "1,234 rows" in out
    assert "sidecar shop is running" in out
    assert running.url in out and running.flight_url in out
    assert "1 failed to load: tickets" in out
    assert "No policies: every identity reads every dataset" in out
    assert f'sidecar sql --url {running.flight_url} -e "SELECT * FROM orders LIMIT 5"' in out


def test_run_writes_plain_lines_to_a_log_without_rich(shop: tuple[Running, Path]) -> None:
    """Off a terminal (a pod's log) the banner is plain lines, and rich, which would hold
    about 3 MiB of the idle sidecar for them, is never imported."""
    running, _ = shop
    lines = running.output.splitlines()
    imported = {line.split("|")[-1].strip() for line in lines if line.startswith("import time:")}
    assert "sidecar.runtime" in imported and "pyarrow.flight" in imported
    assert not {name for name in imported if name.partition(".")[0] == "rich"}
    assert "sidecar shop is running" in lines
    assert "  No policies: every identity reads every dataset (add policies: to restrict)." in lines
    assert not [line for line in lines if "\x1b" in line or "─" in line]


def test_sql_one_shot_status_and_datasets(shop: tuple[Running, Path]) -> None:
    running, root = shop
    result = sidecar("sql", "--url", running.url, "-e", "SELECT count(*) AS n FROM paid", cwd=root)
    assert result.returncode == 0, result.stderr
    assert "1234" in result.stdout
    csv = sidecar("sql", "--url", running.url, "--format", "csv", "-e",
                  "SELECT id FROM orders ORDER BY id LIMIT 2", cwd=root)  # fmt: skip
    assert csv.stdout.split() == ["id", "0", "1"]
    status = sidecar("status", "--url", running.url, cwd=root)
    assert "tickets" in status.stdout and "error" in status.stdout
    datasets = sidecar("datasets", "--url", running.url, cwd=root)
    assert "Orders of the shop" in datasets.stdout and "paid" in datasets.stdout


def test_sql_error_shows_the_position_and_a_hint(shop: tuple[Running, Path]) -> None:
    running, root = shop
    result = sidecar("sql", "--url", running.url, "-e", "SELECT * FROM ordres", cwd=root)
    assert result.returncode == 1
    assert 'relation "ordres" does not exist' in result.stderr
    assert "did you mean orders" in result.stderr
    lines = result.stderr.splitlines()
    caret = next(i for i, line in enumerate(lines) if line.strip() == "^")
    assert lines[caret].index("^") == lines[caret - 1].index("ordres")


def test_sql_reads_statements_from_stdin(shop: tuple[Running, Path]) -> None:
    running, _ = shop
    result = subprocess.run(
        [sys.executable, "-m", "sidecar", "sql", "--url", running.url, "--format", "csv"],
        input="SELECT 1 AS a; SELECT 2 AS b;", capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.stdout.split() == ["a", "1", "b", "2"]


def test_run_without_config_serves_the_demo(tmp_path: Path) -> None:
    running = Running([], tmp_path, free_port())
    try:
        assert "built-in demo" in running.output
        deadline = time.monotonic() + 30
        while httpx.get(f"{running.url}/v1/ready").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        answer = httpx.post(
            f"{running.url}/v1/sql",
            content="SELECT title FROM guides WHERE content ILIKE '%PAYMENT_POOL_SIZE%'",
        ).json()
        assert {"title": "Payment timeouts and connection pool exhaustion"} in answer
    finally:
        running.stop()


def test_run_rejects_an_invalid_config(tmp_path: Path) -> None:
    (tmp_path / "sidecar.yaml").write_text("datasets:\n  - {from: 'myslq:db.t', name: a}\n")
    result = sidecar("run", cwd=tmp_path)
    assert result.returncode == 2
    assert "datasets[0].from: unknown connector 'myslq'" in result.stderr


def test_run_explains_a_port_in_use(shop: tuple[Running, Path], tmp_path: Path) -> None:
    running, _ = shop
    port = running.url.rsplit(":", 1)[1]
    result = sidecar("run", "--http-port", port, cwd=tmp_path)
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_run_explains_a_flight_port_in_use(shop: tuple[Running, Path], tmp_path: Path) -> None:
    running, _ = shop
    port = running.flight_url.rsplit(":", 1)[1]
    free = [str(free_port()), str(free_port())]
    result = sidecar(
        "run", "--http-port", free[0], "--pg-port", free[1], "--flight-port", port, cwd=tmp_path
    )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port} for flight" in result.stderr
    assert "runtime.flight.port" in result.stderr


def test_run_explains_a_missing_secret(tmp_path: Path) -> None:
    (tmp_path / "sidecar.yaml").write_text(
        'runtime: {auth: {api_keys: [{key: "${env:NO_SUCH_KEY_VAR}", identity: a}]}}\n'
    )
    result = sidecar("run", "--http-port", str(free_port()), cwd=tmp_path)
    assert result.returncode == 1
    assert "NO_SUCH_KEY_VAR is not set" in result.stderr
