"""Refreshes racing queries on every kind of local copy, through every interface.

A source rewritten every few hundred milliseconds (each version's rows all carry its number)
is copied into DuckDB (memory and file), SQLite (memory and file) and Arrow, refreshed on a
short interval and on demand, while clients ask over HTTP, the Postgres wire and Flight SQL for
aggregates, keyed lookups and whole results; every third version is a file cut off half-way,
which every refresh fails on. Every answer must be one version whole: all rows, one number, a
lookup's row of the version it names; never an error from a swap or a failed refresh.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import adbc_driver_flightsql.dbapi as adbc
import httpx
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from tests.process import SidecarProcess, free_port

ROWS = 50_000
COPIES = {
    "duck_memory": {"engine": "duckdb", "primary_key": ["id"]},
    "duck_file": {"engine": "duckdb", "mode": "file", "primary_key": ["id"]},
    "lite_memory": {"engine": "sqlite", "primary_key": ["id"]},
    "lite_file": {"engine": "sqlite", "mode": "file", "primary_key": ["id"]},
    "arrow": {"engine": "arrow"},
}
RACE_SECONDS = 4.0


def write_version(path: Path, version: int) -> None:
    """The whole source at once (a rename), as a writer that replaces its export would."""
    ids = pa.array(range(ROWS), pa.int64())
    labels = pa.array([f"v{version}-{i % 97}" for i in range(ROWS)])
    table = pa.table({"id": ids, "v": pa.array([version] * ROWS, pa.int64()), "label": labels})
    staging = path.with_suffix(".tmp")
    pq.write_table(table, staging, row_group_size=ROWS // 5)
    os.replace(staging, path)


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SidecarProcess]:
    root = tmp_path_factory.mktemp("refresh_races")
    write_version(root / "source.parquet", 0)
    port = free_port()
    config = {
        "name": "races",
        "runtime": {"http": {"port": port}, "results_cache": {"enabled": False}},
        "datasets": [
            {
                "from": "file:source.parquet",
                "name": name,
                "acceleration": {
                    **copy,
                    "refresh_check_interval": "300ms",
                    "refresh_retry_max_attempts": 0,
                },
            }
            for name, copy in COPIES.items()
        ],
    }
    (root / "sidecar.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    process = SidecarProcess(root / "sidecar.yaml")
    process.start(port)
    try:
        yield process
    finally:
        process.stop()


def write_broken(path: Path) -> None:
    """A source that fails to read (its export cut off half-way): the refreshes fail."""
    staging = path.with_suffix(".tmp")
    staging.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    os.replace(staging, path)


def whole(name: str, answer: tuple[int, int, int]) -> str | None:
    count, low, high = answer
    return None if (count, low) == (ROWS, high) else f"{name}: {count} rows of v{low}..v{high}"


def one_row(name: str, rows: list[tuple[int, str]]) -> str | None:
    if len(rows) == 1 and rows[0][1].startswith(f"v{rows[0][0]}-"):
        return None
    return f"{name}: lookup gave {rows}"


def over_http(sidecar: SidecarProcess, name: str) -> Iterator[str | None]:
    with httpx.Client(base_url=sidecar.url, timeout=30) as client:
        while True:
            answer = client.post("/v1/sql", content=f"SELECT count(*), min(v), max(v) FROM {name}")
            if answer.status_code != 200:
                yield f"{name}: HTTP {answer.status_code} {answer.text[:200]}"
                continue
            yield whole(name, tuple(answer.json()[0].values()))  # type: ignore[arg-type]
            key = random.randrange(ROWS)
            answer = client.post("/v1/sql", content=f"SELECT v, label FROM {name} WHERE id = {key}")
            yield one_row(name, [tuple(row.values()) for row in answer.json()])


def over_pg(sidecar: SidecarProcess, name: str) -> Iterator[str | None]:
    dsn = f"host=127.0.0.1 port={sidecar.pg_port} user=agent dbname=races"
    with psycopg.connect(dsn, autocommit=True) as connection:
        while True:
            versions = connection.execute(f"SELECT v FROM {name}").fetchall()
            distinct = {version for (version,) in versions}
            if (len(versions), len(distinct)) != (ROWS, 1):
                yield f"{name}: {len(versions)} rows streamed of versions {sorted(distinct)}"
            key = random.randrange(ROWS)
            sql = f"SELECT v, label FROM {name} WHERE id = %s"
            yield one_row(name, connection.execute(sql, (key,)).fetchall())


def over_flight(sidecar: SidecarProcess, name: str) -> Iterator[str | None]:
    with (
        adbc.connect(sidecar.flight_url, autocommit=True) as connection,
        connection.cursor() as cursor,
    ):
        while True:
            cursor.execute(f"SELECT count(*), min(v), max(v) FROM {name}")
            yield whole(name, cursor.fetchone())  # type: ignore[arg-type]
            cursor.execute(f"SELECT v, label FROM {name} WHERE id = ?", (random.randrange(ROWS),))
            yield one_row(name, cursor.fetchall())


CLIENTS: dict[str, Callable[[SidecarProcess, str], Iterator[str | None]]] = {
    "http": over_http,
    "pg": over_pg,
    "flight": over_flight,
}


def test_every_answer_is_one_version_whole_while_copies_refresh(
    sidecar: SidecarProcess,
) -> None:
    source = sidecar.config.parent / "source.parquet"
    stop = threading.Event()
    wrong: list[str] = []
    answered: dict[str, int] = {}

    def ask(interface: str, name: str) -> None:
        answers = CLIENTS[interface](sidecar, name)
        try:
            while not stop.is_set():
                outcome = next(answers)
                answered[interface] = answered.get(interface, 0) + 1
                if outcome is not None:
                    wrong.append(f"{interface} {outcome}")
        except Exception as error:
            wrong.append(f"{interface} {name}: {type(error).__name__}: {error}")
        finally:
            answers.close()

    clients = [
        threading.Thread(target=ask, args=(interface, name))
        for interface in CLIENTS
        for name in COPIES
    ]
    for client in clients:
        client.start()
    started, version = time.monotonic(), 0
    with httpx.Client(base_url=sidecar.url, timeout=30) as http:
        while time.monotonic() - started < RACE_SECONDS:
            version += 1
            broken = version % 3 == 0  # the copies fail to refresh and answer as before
            write_broken(source) if broken else write_version(source, version)
            name = random.choice(list(COPIES))  # and one refresh on demand, besides the timer
            asked = http.post(f"/v1/datasets/{name}/acceleration/refresh")
            assert asked.status_code == (502 if broken else 200), asked.text
            time.sleep(0.2)
        write_version(source, version + 1)
        for name in COPIES:
            assert http.post(f"/v1/datasets/{name}/acceleration/refresh").status_code == 200
    stop.set()
    for client in clients:
        client.join(timeout=60)
    assert not wrong, "\n".join(wrong[:10])
    assert all(answered.get(interface, 0) > 10 for interface in CLIENTS), answered
    status = httpx.get(f"{sidecar.url}/v1/status").json()
    refreshed = {d["name"]: d["acceleration"]["last_error"] for d in status["datasets"]}
    assert refreshed == dict.fromkeys(COPIES), refreshed
