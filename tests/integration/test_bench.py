"""`sidecar bench` end to end against a MariaDB and a PostgreSQL of this module's own.

Runs are short (about a second each, 1 and 4 agents): what is checked is that every figure is
there and that the replica's counters agree with what the agents did, not the speed.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from sidecar.cli import main
from tests.peers import free_port
from tests.peers import postgres as pg_peer
from tests.peers.mariadb import MariaDB, running
from tests.process import SidecarProcess

WORKLOAD = """
name: test-agent
queries:
  - name: lookup
    weight: 3
    sql: SELECT id, status, amount FROM {orders} WHERE id = :id
    params: {{id: {{sample: {orders}.id, size: 50}}}}
  - name: by_customer
    sql: >-
      SELECT c.name, count(*) AS n FROM {orders} o JOIN {customers} c ON c.id = o.customer_id
      WHERE o.customer_id = :customer GROUP BY c.name
    params: {{customer: {{uniform: [1, 50]}}}}
  - name: recent
    sql: SELECT status, count(*) AS n FROM {orders} WHERE created >= :since GROUP BY status
    params: {{since: {{choice: [2026-03-01, 2026-03-10]}}}}
"""
SCHEMA = (
    "CREATE TABLE {schema}.orders (id INT PRIMARY KEY, customer_id INT NOT NULL, "
    "status VARCHAR(16) NOT NULL, amount DECIMAL(10,2) NOT NULL, created DATE NOT NULL)",
    "CREATE TABLE {schema}.customers (id INT PRIMARY KEY, name VARCHAR(32) NOT NULL)",
)
RUN_FIELDS = {
    "arm", "interface", "agents", "duration_s", "warmup_s", "window_s", "queries", "qps", "rows",
    "rows_per_s", "latency_ms", "errors", "error_count", "error_samples", "by_query",
    "agent_queries", "replica", "sidecar", "client_cpu_seconds",
}  # fmt: skip
REPLICA_FIELDS = {
    "counters", "own_subtracted", "statements", "rows_read", "statements_per_1000",
    "rows_read_per_1000", "error",
}  # fmt: skip
SHORT = ["--agents", "1,4", "--duration", "1s", "--warmup", "0.2s"]


def rows_sql(schema: str) -> list[str]:
    orders = ", ".join(
        f"({i}, {1 + i % 50}, '{('paid', 'failed', 'open')[i % 3]}', {i % 100}.25, "
        f"'2026-03-{1 + i % 28:02d}')"
        for i in range(1, 401)
    )
    customers = ", ".join(f"({i}, 'customer {i}')" for i in range(1, 51))
    return [
        f"INSERT INTO {schema}.orders VALUES {orders}",
        f"INSERT INTO {schema}.customers VALUES {customers}",
    ]


@pytest.fixture(scope="module")
def maria(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDB]:
    with running(tmp_path_factory.mktemp("bench-mariadb"), general_log=False) as server:
        server.execute("CREATE DATABASE benchshop")
        server.execute(*(s.format(schema="benchshop") for s in SCHEMA), *rows_sql("benchshop"))
        yield server


@pytest.fixture(scope="module")
def pg() -> Iterator[pg_peer.Postgres]:
    root = Path(tempfile.mkdtemp(prefix="sidecar-bench-pg-"))  # the postgres user must reach it
    settings = ("shared_preload_libraries=pg_stat_statements",)
    with pg_peer.running(root, log_statements=False, settings=settings) as server:
        server.execute(
            "CREATE EXTENSION pg_stat_statements",
            f"GRANT pg_read_all_stats TO {server.user}",
            f"CREATE SCHEMA benchshop AUTHORIZATION {server.user}",
            *(s.format(schema="benchshop") for s in SCHEMA),
            *rows_sql("benchshop"),
            f"GRANT SELECT ON ALL TABLES IN SCHEMA benchshop TO {server.user}",
        )
        yield server


def datasets(server: MariaDB | pg_peer.Postgres, prefix: str = "") -> list[dict[str, Any]]:
    """The two tables as accelerated datasets of the server's connector."""
    scheme = "mysql" if isinstance(server, MariaDB) else "postgres"
    accelerations = {"orders": {"indexes": {"id": "unique"}}, "customers": {}}
    return [
        {"from": f"{scheme}:benchshop.{table}", "name": f"{prefix}{table}",
         "params": server.params(), "acceleration": acceleration}
        for table, acceleration in accelerations.items()
    ]  # fmt: skip


def files(
    root: Path, datasets: list[dict[str, Any]], prefix: str = "", http_port: int = 0
) -> tuple[Path, Path]:
    root.mkdir(parents=True, exist_ok=True)
    config = root / "sidecar.yaml"
    runtime = {"http": {"port": http_port}}
    config.write_text(
        yaml.safe_dump({"version": 1, "name": "shop", "runtime": runtime, "datasets": datasets})
    )
    workload = root / "workload.yaml"
    workload.write_text(WORKLOAD.format(orders=f"{prefix}orders", customers=f"{prefix}customers"))
    return config, workload


def bench(config: Path, workload: Path, out: Path, *options: str) -> int:
    return main(["bench", "-c", str(config), "--workload", str(workload), "--out", str(out),
                 *options])  # fmt: skip


def results(out: Path) -> dict[str, Any]:
    return json.loads((out / "results.json").read_text())


def check_run(run: dict[str, Any]) -> None:
    assert set(run) >= RUN_FIELDS, RUN_FIELDS - set(run)
    assert set(run["replica"]) >= REPLICA_FIELDS
    assert run["error_count"] == 0, run["error_samples"]
    assert run["queries"] > 0 and run["qps"] > 0 and run["rows"] > 0
    latency = run["latency_ms"]
    assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"] <= latency["max"]
    assert run["by_query"] and set(run["by_query"]) <= {"lookup", "by_customer", "recent"}
    assert run["replica"]["error"] is None
    if run["arm"] != "direct":
        assert run["sidecar"]["cpu_seconds"] > 0 and run["sidecar"]["peak_rss_bytes"] > 50 << 20


def check_png(path: Path) -> None:
    from PIL import Image

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as image:
        image.verify()
        assert image.size[0] > 300


def test_three_arms_over_the_postgres_wire_against_mariadb(maria: MariaDB, tmp_path: Path) -> None:
    config, workload = files(tmp_path / "in", datasets(maria))
    out = tmp_path / "out"
    assert bench(config, workload, out, "--interface", "pg", *SHORT) == 0
    found = results(out)
    assert {"started_at", "finished_at", "command", "machine", "settings", "config", "workload",
            "replica", "arms", "runs", "goals", "errors_total"} <= set(found)  # fmt: skip
    assert found["config"]["sha256"] and found["workload"]["sha256"]
    assert found["machine"]["cpus"] and found["machine"]["load_average_end"]
    assert found["replica"]["statement_counter"] == "Questions"
    assert (
        found["arms"]["federated"]["config_changes"][0] == "acceleration removed from 2 dataset(s)"
    )
    runs = {(run["arm"], run["agents"]): run for run in found["runs"]}
    assert set(runs) == {(a, n) for a in ("direct", "federated", "accelerated") for n in (1, 4)}
    for run in runs.values():
        check_run(run)
    for agents in (1, 4):
        direct = runs["direct", agents]
        # MariaDB's own count of statements is exactly what the agents sent, no more.
        assert direct["replica"]["counters"]["Questions"] == direct["agent_queries"]
        assert direct["replica"]["counters"]["Com_select"] == direct["agent_queries"]
        federated = runs["federated", agents]
        assert federated["replica"]["statements"] >= federated["agent_queries"]
        assert runs["accelerated", agents]["replica"]["statements"] <= 2
    assert len(found["goals"]) == 4
    for name in ("qps", "p99", "replica_statements"):
        check_png(out / f"{name}.png")
    report = (out / "report.md").read_text()
    assert "## Figures" in report and "| accelerated | 4 |" in report


@pytest.fixture(scope="module")
def running_sidecar(
    pg: pg_peer.Postgres, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SidecarProcess]:
    """A sidecar (accelerated) over the PostgreSQL tables, for --url runs."""
    root = tmp_path_factory.mktemp("bench-running")
    port = free_port()
    config, _ = files(root, datasets(pg), "", port)
    process = SidecarProcess(config)
    try:
        process.start(port)
        yield process
    finally:
        process.stop()


@pytest.mark.parametrize("interface", ["pg", "flight", "http"])
def test_every_interface_against_postgres_and_a_running_sidecar(
    pg: pg_peer.Postgres, running_sidecar: SidecarProcess, tmp_path: Path, interface: str
) -> None:
    config, workload = files(tmp_path / "in", datasets(pg))
    url = {
        "pg": f"127.0.0.1:{running_sidecar.pg_port}",
        "flight": running_sidecar.flight_url,
        "http": running_sidecar.url,
    }[interface]
    arms = "direct,accelerated" if interface == "pg" else "accelerated"
    out = tmp_path / "out"
    options = ["--interface", interface, "--url", url, "--arms", arms, "--settle", "0.3s"]
    assert bench(config, workload, out, *options, *SHORT) == 0
    found = results(out)
    assert found["arms"]["accelerated"]["sidecar"] == "already running"
    assert found["replica"]["statement_counter"] == "pg_stat_statements.calls"
    for run in found["runs"]:
        check_run(run)
        if run["arm"] == "direct":
            # pg_stat_statements' calls are exactly the agents' queries.
            assert run["interface"] == "direct"
            assert run["replica"]["statements"] == run["agent_queries"]
        else:
            assert run["interface"] == interface
            assert run["replica"]["statements"] == 0


def stop_when_busy(server: MariaDB, queries: int = 30) -> None:
    """Take the server down once the agents' queries are flowing."""
    connection = server.connect()
    try:
        for _ in range(600):
            cursor = connection.cursor()
            cursor.execute("SHOW GLOBAL STATUS LIKE 'Com_select'")
            (_, value), *_ = cursor.fetchall()
            cursor.close()
            if int(value) >= queries:
                break
            time.sleep(0.05)
    finally:
        connection.close()
        server.stop_server()


def test_errors_are_counted_when_the_replica_stops_mid_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with running(tmp_path / "mariadb", general_log=False) as server:
        server.execute("CREATE DATABASE benchshop")
        server.execute(*(s.format(schema="benchshop") for s in SCHEMA), *rows_sql("benchshop"))
        config, workload = files(tmp_path / "in", datasets(server))
        stopper = threading.Thread(target=stop_when_busy, args=(server,))
        stopper.start()
        out = tmp_path / "out"
        options = ["--arms", "direct", "--agents", "2", "--duration", "3s", "--warmup", "0s"]
        assert bench(config, workload, out, *options) == 1
        stopper.join()
    run = results(out)["runs"][0]
    assert run["queries"] > 0
    assert run["error_count"] > 0 and run["error_count"] == sum(run["errors"].values())
    assert any(kind.startswith(("MySQL", "connect: MySQL")) for kind in run["errors"])
    assert run["replica"]["error"] and "cannot" in run["replica"]["error"]
    assert results(out)["errors_total"] == run["error_count"]
    err = capsys.readouterr().err
    assert f"{run['error_count']:,} queries failed" in err


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (["--interface", "grpc"], "ERROR: unknown interface 'grpc'; choose pg, flight or http"),
        (["--arms", "direct,cached"], "ERROR: unknown arm 'cached'"),
        (["--url", "grpc://127.0.0.1:1"], "--url grpc://127.0.0.1:1 does not fit --interface pg"),
        (["--workload", "{unknown}"], "reads 'shipments', which sidecar.yaml does not declare"),
        (["--direct", "mysql://agent:pw@127.0.0.1:{port}/shop"], "ERROR: cannot reach the replica"),
        ([], "ERROR: cannot reach the replica mysql://agent@127.0.0.1:"),
    ],
)
def test_bad_input_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: list[str], message: str
) -> None:
    port = free_port()
    params = {"host": "127.0.0.1", "port": port, "user": "agent", "password": "pw"}
    datasets = [
        {"from": f"mysql:shop.{name}", "name": name, "params": params}
        for name in ("orders", "customers")
    ]
    config, workload = files(tmp_path, datasets)
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("queries:\n  - name: q\n    sql: SELECT * FROM shipments\n")
    change = [item.format(unknown=unknown, port=port) for item in change]
    code = main(["bench", "-c", str(config), "--workload", str(workload), "--out",
                 str(tmp_path / "out"), *change])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 2
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert message in lines[0]
    assert "Traceback" not in captured.err + captured.out
