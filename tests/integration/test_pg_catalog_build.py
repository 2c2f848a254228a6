"""The pg_catalog shadow (an in-memory DuckDB holding PostgreSQL's catalog, 0.2-0.5 s to build)
is built on the connection's own thread. It was built on the event loop, at the first catalog
query, and every other Postgres session waited for it.

The sidecar runs in this process so the build can be held (a hook on the shadow's constructor)
for as long as the test needs: another session is answered while it is held, whatever the
machine's speed.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sidecar.config import parse_config
from sidecar.runtime import Sidecar
from sidecar.servers.pgwire import catalog
from tests.process import free_port

HELD = 60.0  # the longest the hook holds the build: released as soon as the test has its answer
ANSWERED = 20.0  # a lookup answered in milliseconds; never answered while the loop is blocked


def test_other_sessions_are_answered_while_the_catalog_shadow_builds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pq.write_table(
        pa.table({"id": range(100), "name": [f"n{i}" for i in range(100)]}), tmp_path / "t.parquet"
    )
    building, release = threading.Event(), threading.Event()
    build = catalog._Shadow.__init__

    def held(shadow: catalog._Shadow) -> None:
        building.set()
        release.wait(HELD)
        build(shadow)

    monkeypatch.setattr(catalog._Shadow, "__init__", held)
    ports = {name: free_port() for name in ("pg", "http")}
    config = parse_config(
        {
            "runtime": {
                "http": {"port": ports["http"]},
                "pg": {"port": ports["pg"]},
                "flight": {"port": 0, "enabled": False},
            },
            "datasets": [{"from": "file:t.parquet", "name": "t"}],
        },
        tmp_path,
    )
    dsn = f"host=127.0.0.1 port={ports['pg']} user=agent dbname=sidecar connect_timeout=10"
    loop_ready, stopped = threading.Event(), threading.Event()
    control: dict[str, Any] = {}

    async def serve() -> None:
        control["loop"], control["stop"] = asyncio.get_running_loop(), asyncio.Event()
        await Sidecar(config).serve(control["stop"], on_ready=lambda _: loop_ready.set())

    server = threading.Thread(target=lambda: (asyncio.run(serve()), stopped.set()), daemon=True)
    server.start()
    answers: dict[str, Any] = {}
    try:
        assert loop_ready.wait(60), "the sidecar did not start"
        with (
            psycopg.connect(dsn, autocommit=True) as first,
            psycopg.connect(dsn, autocommit=True) as second,
        ):

            def catalog_query() -> None:
                rows = first.execute("SELECT relname FROM pg_class WHERE relname = 't'")
                answers["catalog"] = rows.fetchall()

            def lookup() -> None:
                answers["lookup"] = second.execute("SELECT name FROM t WHERE id = 42").fetchall()

            asker = threading.Thread(target=catalog_query)
            asker.start()
            assert building.wait(ANSWERED), "the catalog query did not build the shadow"
            looker = threading.Thread(target=lookup)
            looker.start()
            looker.join(ANSWERED)
            answered = "lookup" in answers
            release.set()
            asker.join(HELD)
            looker.join(HELD)
        assert answered, "another session waited for the shadow catalog's build"
        assert answers == {"catalog": [("t",)], "lookup": [("n42",)]}
    finally:
        release.set()
        if "loop" in control:
            control["loop"].call_soon_threadsafe(control["stop"].set)
        stopped.wait(30)
